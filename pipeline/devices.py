"""Turn a config's device string into a torch device, failing clearly when CUDA is missing."""

from __future__ import annotations

import torch

from pipeline.errors import PipelineError


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; an explicit ``cuda`` without a GPU is a one-line error.

    One place for this so every trainer treats the device setting the same way.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise PipelineError(f"device '{name}': not a torch device ({err})") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PipelineError(f"device '{name}': CUDA is not available here; use 'auto' or 'cpu'")
    return device
