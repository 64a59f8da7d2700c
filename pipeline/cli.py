"""Shared entry-point plumbing: bad input exits with one line naming the file or key."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Callable

from pipeline import paths
from pipeline.errors import CorruptFileError, PipelineError


def set_aside(error: CorruptFileError) -> str:
    """Move the corrupt file to ``<file>.corrupt`` (replacing an older one); say what happened.

    Only the workflow's own outputs (under ``results/``) are moved: a rerun rebuilds them. A
    researcher's file (data, samples, labels, a classifier) cannot be rebuilt, so it stays put.
    """
    if not error.path.resolve().is_relative_to(Path(paths.RESULTS).resolve()):
        return "; left in place (not a workflow output): replace it and rerun"
    aside = error.path.with_name(error.path.name + ".corrupt")
    try:
        os.replace(error.path, aside)
    except OSError as err:
        return f"; could not move it aside ({err.strerror}): delete it and rerun"
    return f"; moved to {aside}, rerun to rebuild it"


def run(main: Callable[[], None], set_aside_corrupt: bool = True) -> None:
    """Call ``main``; turn a PipelineError into a one-line message and exit status 1.

    A corrupt input or checkpoint (CorruptFileError) is moved aside first, unless
    ``set_aside_corrupt`` is false (read-only tools): the workflow jobs' next run then finds it
    missing and rebuilds it.
    """
    try:
        main()
    except CorruptFileError as err:
        print(f"error: {err}{set_aside(err) if set_aside_corrupt else ''}", file=sys.stderr)
        sys.exit(1)
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)


def json_arg(text: str) -> dict:
    """argparse type for a JSON object passed by a rule's params."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise PipelineError(f"malformed JSON argument ({err})") from err
    return value
