"""Wall-clock timing shared by the benchmarks: a GPU runs the work it is given later, so a clock is
read only once the device has finished it."""

from __future__ import annotations

import time


def sync(device) -> None:
    """Wait for a CUDA device's queued work (the CPU's is done when its call returns)."""
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)


def timed(fn, device="cpu"):
    """(seconds, result) of ``fn()``, the device's work for it included."""
    sync(device)
    start = time.perf_counter()
    result = fn()
    sync(device)
    return time.perf_counter() - start, result
