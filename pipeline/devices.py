"""Turn the config's device settings into a torch device and a training precision, failing clearly
when CUDA is missing.

One place for this so every trainer treats ``device``, ``tf32`` and ``precision`` (top-level config
keys, passed to each job as ``--device``, ``--tf32`` and ``--precision``) the same way.

Precision. ``bf16`` trains under ``torch.autocast`` with bfloat16: matrix products and convolutions
take bfloat16 inputs (8-bit mantissa) and accumulate in float32, while the weights, the optimizer
state, the loss and every number a job records stay float32 (each trainer casts its network's
output to float32 before the loss, and measurements such as margins are taken without autocast).
``auto`` is bf16 where the hardware multiplies bfloat16 natively (a CUDA GPU that supports it, a CPU
with AVX-512 BF16 or AMX) and float32 elsewhere, where bfloat16 would be emulated and slower; it
says which once in the job's log.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from contextlib import contextmanager
from functools import cache

import torch

from pipeline.errors import PipelineError
from pipeline.progress import get_logger
from pipeline.schema import schema_default

log = get_logger("devices")

PRECISIONS = ("auto", "bf16", "float32")
# CPU flags (Linux /proc/cpuinfo) of native bfloat16 matrix products: x86's AVX-512 BF16 and AMX, Arm's BF16
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


def resolve_device(name: str, tf32: bool = schema_default("tf32")) -> torch.device:
    """``auto`` picks CUDA when present; an explicit ``cuda`` without a GPU is a one-line error.

    On CUDA, ``tf32`` lets float32 matrix products and convolutions use the TensorFloat-32 units
    (10-bit mantissa inputs, float32 accumulation): several times faster on Ampere and later GPUs,
    with relative errors near 1e-3 instead of 1e-6. It has no effect on the CPU.
    """
    device = device_here(name)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    return device


def device_here(name: str) -> torch.device:
    """The device config key ``device`` names on this machine, or a one-line error where it has none.

    Separate from resolve_device so that a local run can ask at start-up, before any job, whether
    the GPU it names is here (Snakefile); a cluster's jobs ask on their own nodes.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise PipelineError(f"config key 'device': '{name}' is not a torch device ({err})") from err
    if device.type not in ("cpu", "cuda"):  # mps, xpu, meta...: the jobs run on neither
        raise PipelineError(f"config key 'device': '{name}': the jobs run on auto, cpu, cuda or cuda:<k>")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PipelineError(f"config key 'device': '{name}': CUDA is not available here; use 'auto' or 'cpu'")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise PipelineError(f"config key 'device': '{name}': this machine has {count} GPU"
                            f"{'' if count == 1 else 's'} (cuda:0 to cuda:{count - 1})")
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


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (empty where /proc/cpuinfo is not there)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.split(":")[0].strip() in ("flags", "Features"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def native_bf16(device: torch.device) -> bool:
    """Does ``device`` multiply bfloat16 in hardware (so bf16 autocast is faster, not emulated)?"""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return device.type == "cpu" and any(flag in cpu_flags() for flag in CPU_BF16_FLAGS)


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """The dtype training multiplies in on ``device``: torch.bfloat16 or torch.float32 (config key
    ``precision``; ``auto``: bfloat16 where ``native_bf16``, said once in the log either way)."""
    if name not in PRECISIONS:
        raise PipelineError(f"config key precision: {name!r} is not one of {', '.join(PRECISIONS)}")
    if name == "auto":
        native = native_bf16(device)
        log.info("precision auto: %s on %s (%s)", "bf16" if native else "float32", device,
                 "native bfloat16 matrix products" if native else "no native bfloat16 here; bf16 would be emulated")
        return torch.bfloat16 if native else torch.float32
    return torch.bfloat16 if name == "bf16" else torch.float32


def autocast(device: torch.device, dtype: torch.dtype):
    """The training step's context: bfloat16 autocast on ``device`` for ``dtype`` bfloat16, else nothing.
    Whatever runs inside returns bfloat16 from its matrix products; cast to float32 before a loss."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def add_device_args(parser: argparse.ArgumentParser, training: bool = False) -> None:
    """The ``--device`` and ``--tf32`` options every job that runs torch models takes, and, for a
    training job (``training``), ``--precision``."""
    parser.add_argument("--device", default=schema_default("device"), help="auto (cuda if available), cpu or cuda[:k]")
    parser.add_argument("--tf32", choices=("on", "off"), default="on" if schema_default("tf32") else "off",
                        help="TensorFloat-32 matrix products on CUDA (config key tf32)")
    if training:
        parser.add_argument("--precision", choices=PRECISIONS, default=schema_default("precision"),
                            help="training's matrix products: bf16 autocast, float32, or auto (config key precision)")


def device_from_args(args: argparse.Namespace) -> torch.device:
    return resolve_device(args.device, args.tf32 == "on")


def precision_from_args(args: argparse.Namespace, device: torch.device) -> torch.dtype:
    return resolve_precision(args.precision, device)


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
