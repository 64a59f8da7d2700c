"""Shared entry-point plumbing: bad input exits with one line naming the file or key."""

from __future__ import annotations

import json
import sys
from typing import Callable

from pipeline.errors import PipelineError


def run(main: Callable[[], None]) -> None:
    """Call ``main``; turn a PipelineError into a one-line message and exit status 1."""
    try:
        main()
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
