"""The device setting every trainer shares."""

import numpy as np
import pytest
import torch

from pipeline.devices import full_float32, resolve_device
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


def test_a_gpu_the_machine_lacks_is_a_one_line_error_naming_the_key(monkeypatch):
    """How many GPUs there are is known where the job runs only (the config check, at start-up, takes the
    spelling): cuda:7 on a machine of 2 GPUs."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(PipelineError, match=r"^config key 'device': 'cuda:7': this machine has 2 GPUs "
                                            r"\(cuda:0 to cuda:1\)$"):
        resolve_device("cuda:7")


@pytest.mark.parametrize("name", ["mps", "meta", "xpu"])
def test_a_device_the_jobs_do_not_run_on_is_a_one_line_error(name):
    with pytest.raises(PipelineError, match=rf"^config key 'device': '{name}': the jobs run on auto, cpu, cuda"):
        resolve_device(name)


class FlagRecorder(torch.nn.Module):
    """Identity that records whether TF32 was allowed when it ran."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
        return x.flatten(1)


@pytest.fixture
def tf32_on():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_features_and_distances_are_measured_without_tf32(tf32_on, monkeypatch):
    """Training may use TF32; rejection's features and distances, and FID's features, may not (errors
    near 1e-4 against taus of a few 1e-3). The setting comes back afterwards, after an error too."""
    from pipeline import fid
    from pipeline.mrgan import rejection
    from pipeline.mrgan.embed import Embedder

    recorder = FlagRecorder()
    Embedder("probe", recorder, lambda x: x)(torch.rand(2, 1, 4, 4))
    normalize = rejection.F.normalize
    monkeypatch.setattr(rejection.F, "normalize", lambda t, **k: recorder(normalize(t, **k)))
    rejection.nn_distance(torch.rand(3, 8), torch.rand(5, 8))
    monkeypatch.setattr(fid, "load_network", lambda device: recorder)
    fid.pool_features(np.zeros((2, 8, 8, 1), np.uint8))
    assert len(recorder.seen) == 4 and set(recorder.seen) == {(False, False)}
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    with pytest.raises(ZeroDivisionError), full_float32():
        1 / 0
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
