"""The device setting every trainer shares."""

import pytest
import torch

from pipeline.devices import resolve_device
from pipeline.errors import PipelineError


def test_auto_picks_cuda_only_when_present():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_explicit_cuda_without_gpu_is_a_one_line_error():
    with pytest.raises(PipelineError, match="cuda:1.*not available"):
        resolve_device("cuda:1")


def test_nonsense_device_names_the_value():
    with pytest.raises(PipelineError, match="'gpu0'"):
        resolve_device("gpu0")
