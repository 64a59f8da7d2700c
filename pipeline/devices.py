"""Turn the config's device settings into a torch device, failing clearly when CUDA is missing.

One place for this so every trainer treats ``device`` and ``tf32`` (top-level config keys, passed to
each job as ``--device`` and ``--tf32``) the same way.
"""

from __future__ import annotations

import argparse
import os
from contextlib import contextmanager

import torch

from pipeline.errors import PipelineError
from pipeline.schema import schema_default


def resolve_device(name: str, tf32: bool = schema_default("tf32")) -> torch.device:
    """``auto`` picks CUDA when present; an explicit ``cuda`` without a GPU is a one-line error.

    On CUDA, ``tf32`` lets float32 matrix products and convolutions use the TensorFloat-32 units
    (10-bit mantissa inputs, float32 accumulation): several times faster on Ampere and later GPUs,
    with relative errors near 1e-3 instead of 1e-6. It has no effect on the CPU.
    """
    if name == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            device = torch.device(name)
        except RuntimeError as err:
            raise PipelineError(f"device '{name}': not a torch device ({err})") from err
        if device.type == "cuda" and not torch.cuda.is_available():
            raise PipelineError(f"device '{name}': CUDA is not available here; use 'auto' or 'cpu'")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    return device


@contextmanager
def full_float32():
    """float32 matrix products and convolutions at full precision inside, whatever ``tf32`` says.

    TF32 is for training throughput. Features and distances are measurements compared against a
    threshold or across devices (memorization rejection's tau, FID), so they are computed in plain
    float32 (no effect on the CPU, where TF32 never applies)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def add_device_args(parser: argparse.ArgumentParser) -> None:
    """The ``--device`` and ``--tf32`` options every job that runs torch models takes."""
    parser.add_argument("--device", default=schema_default("device"), help="auto (cuda if available), cpu or cuda[:k]")
    parser.add_argument("--tf32", choices=("on", "off"), default="on" if schema_default("tf32") else "off",
                        help="TensorFloat-32 matrix products on CUDA (config key tf32)")


def device_from_args(args: argparse.Namespace) -> torch.device:
    return resolve_device(args.device, args.tf32 == "on")


def free_memory_bytes(device: torch.device) -> int:
    """Memory a job may still take on ``device``: free GPU memory, or the host's available memory."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    pages = os.sysconf("SC_AVPHYS_PAGES") if hasattr(os, "sysconf") else 0
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(pages * os.sysconf("SC_PAGE_SIZE"))
