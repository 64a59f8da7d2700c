"""One exception type for bad input, so entry points can print it as one line; and the check of a
training loss every training loop makes, which raises it."""

from __future__ import annotations

import math
from pathlib import Path


class PipelineError(Exception):
    """Bad input or configuration; the message names the file or config key."""


class CorruptFileError(PipelineError):
    """A file exists but cannot be read (truncated, overwritten, not the expected format).

    ``path`` is the file. Entry points (``pipeline.cli.run``) move it aside to
    ``<path>.corrupt`` before exiting, so the next ``snakemake`` run finds it missing and rebuilds
    it (a workflow output) or trains from scratch (a resume checkpoint); a researcher's own file,
    outside ``results/``, stays where it is.
    """

    def __init__(self, path: str | Path, what: str, reason: object):
        self.path = Path(path)
        first_line = str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
        super().__init__(f"{self.path}: not a readable {what} ({first_line[:300]})")


def check_finite_loss(loss: float, key: str, when: str) -> None:
    """Stop a training job whose loss is NaN or inf (a learning rate too large, bad outputs): its
    model would otherwise enter the tables as if trained. ``key`` names the config entry."""
    if not math.isfinite(loss):
        raise PipelineError(f"{key}: training loss is {loss:g} {when}; the training diverged: lower its lr, or "
                            f"check that the model's outputs are finite")
