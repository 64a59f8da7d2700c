"""Resume checkpoints of the training jobs: one file name, one fingerprint, one save/load routine.

A training job keeps its progress in ``<output>.resume.pt`` beside its main output (``resume_path``)
and deletes it once the final output is written (``Checkpoint.remove``). The file holds whatever
payload the trainer hands to ``Checkpoint.save`` (model and optimiser state, RNG state, rows so
far, finished work) plus a fingerprint of what the job trains with: its settings as canonical
JSON and the bytes (with dtype and shape) of the arrays it trains on (``fingerprint``). A
checkpoint whose fingerprint differs (other settings, or other data at the same path) is ignored
with a log line and the job trains from the start; an unreadable one raises CorruptFileError
naming it (``pipeline.io.load_checkpoint``), which the entry point answers by moving it aside.

Saves are atomic (``pipeline.io.atomic_path``): a job killed while saving leaves the previous
checkpoint. When to save is the trainer's choice, helped by ``Checkpoint.due``: every ``every``
steps, or, with ``cost_ratio``, only once the time since the last save is at least
``cost_ratio`` times what that save took (for states that take seconds to write; before the
first save, what its size would take at ``FIRST_SAVE_BYTES_PER_SECOND``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from pipeline import io
from pipeline.progress import get_logger

log = get_logger("checkpoints")

SUFFIX = ".resume.pt"
# what the first save of a state is assumed to write per second, until a save has been timed: a
# local SSD's rate (network file systems are slower; the first timed save corrects the estimate)
FIRST_SAVE_BYTES_PER_SECOND = 1e9


def resume_path(output: str | os.PathLike) -> Path:
    """The resume checkpoint of the job whose main output is ``output``: ``<output>.resume.pt``."""
    return Path(f"{os.fspath(output)}{SUFFIX}")


def remove(output: str | os.PathLike) -> None:
    """Delete the resume checkpoint of ``output`` (once the job's final output is written)."""
    resume_path(output).unlink(missing_ok=True)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"checkpoint settings: cannot fingerprint a {type(value).__name__}")


def canonical_json(settings: Any) -> str:
    """``settings`` as JSON with sorted keys and no whitespace: equal settings give equal text."""
    return json.dumps(settings, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True,
                      default=_jsonable)


def fingerprint(settings: Any, arrays: Iterable = ()) -> str:
    """sha256 of the settings (canonical JSON) and of each array's dtype, shape and bytes.

    ``arrays``: numpy arrays (or torch tensors) in a fixed order, e.g. images, labels, masks. Any
    change of a setting, or of one array element at the same shape, gives another fingerprint.
    """
    digest = hashlib.sha256(canonical_json(settings).encode())
    for array in arrays:
        if hasattr(array, "detach"):  # a torch tensor
            array = array.detach().cpu().numpy()
        array = np.ascontiguousarray(array)
        digest.update(f"\0{array.dtype.str}{list(array.shape)}\0".encode())
        digest.update(array.reshape(-1).view(np.uint8) if array.size else b"")
    return digest.hexdigest()


def state_bytes(state: Any) -> int:
    """Bytes of the tensors in a (nested) checkpoint payload: what a save will write, near enough."""
    if isinstance(state, dict):
        return sum(state_bytes(value) for value in state.values())
    if isinstance(state, (list, tuple)):
        return sum(state_bytes(value) for value in state)
    if hasattr(state, "element_size") and hasattr(state, "numel"):  # a torch tensor
        return state.numel() * state.element_size()
    return int(getattr(state, "nbytes", 0))  # numpy arrays; other values are small


class Checkpoint:
    """The resume checkpoint of one job: ``<output>.resume.pt``, valid for one fingerprint.

    ``every``: ``due(step, total)`` holds every ``every`` steps before the last. ``cost_ratio``:
    ``due()`` holds only once the time since the last save (or since this object was made) is at
    least ``cost_ratio`` times what the last save took, so saving costs at most about
    1/cost_ratio of the training time.
    """

    def __init__(self, output: str | os.PathLike, settings: Any, arrays: Iterable = (), *,
                 every: int | None = None, cost_ratio: float | None = None):
        self.path = resume_path(output)
        self.settings = settings
        self.fingerprint = fingerprint(settings, arrays)
        self.every, self.cost_ratio = every, cost_ratio
        self.last_save, self.save_seconds = time.monotonic(), None  # seconds the last save took

    def load(self, describe: Callable[[dict], str] | None = None) -> dict | None:
        """The saved payload, or None when there is no checkpoint or it was written for another
        fingerprint (logged); an unreadable file raises CorruptFileError naming it.

        Always onto the CPU: torch's RNG states must be CPU tensors (a state mapped to CUDA makes
        ``set_rng_state`` raise), and ``load_state_dict`` copies weights and optimiser state to the
        device of the model they are loaded into."""
        state = io.load_checkpoint(self.path)
        if state is None:
            return None
        if state.get("fingerprint") != self.fingerprint:
            log.info("ignoring %s: written for other settings or data", self.path)
            return None
        log.info("resuming from %s%s", self.path, f": {describe(state)}" if describe is not None else "")
        return state

    def due(self, step: int | None = None, total: int | None = None, nbytes: int = 0) -> bool:
        """Whether to save now (``step`` of ``total`` done), by ``every`` and ``cost_ratio``; ``nbytes``:
        the state's size, which sets the first save's expected cost (thousands of stacked models
        are gigabytes, their first epoch seconds)."""
        if self.every is not None:
            if step is None or step % self.every != 0 or (total is not None and step >= total):
                return False
        if self.cost_ratio is not None:
            cost = nbytes / FIRST_SAVE_BYTES_PER_SECOND if self.save_seconds is None else self.save_seconds
            return time.monotonic() - self.last_save >= self.cost_ratio * cost
        return True

    def save(self, payload: dict) -> None:
        """Write ``payload`` and the fingerprint atomically (torch.save)."""
        import torch

        start = time.monotonic()
        with io.atomic_path(self.path) as tmp:
            torch.save({**payload, "fingerprint": self.fingerprint}, tmp)
        self.last_save = time.monotonic()
        self.save_seconds = self.last_save - start

    def remove(self) -> None:
        """Delete the checkpoint (call once the job's final output is written)."""
        self.path.unlink(missing_ok=True)
