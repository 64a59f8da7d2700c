"""Logging set-up for jobs: progress lines go to stderr, which rules send to ``results/logs``."""

from __future__ import annotations

import logging
import sys
import time


def get_logger(name: str) -> logging.Logger:
    """A logger that prints timestamped lines to stderr (once per process)."""
    root = logging.getLogger("pipeline")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    return logging.getLogger(name if name.startswith("pipeline") else f"pipeline.{name}")


class Progress:
    """Log ``done/total`` with rate and ETA at most every ``every`` seconds."""

    def __init__(self, logger: logging.Logger, total: int, what: str, every: float = 5.0):
        self.logger, self.total, self.what, self.every = logger, total, what, every
        self.start = self.last = time.monotonic()
        self.done = 0

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every or self.done >= self.total:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            self.logger.info(
                "%s: %d/%d (%.1f%%, %.1f/s, eta %.0fs)",
                self.what, self.done, self.total, 100.0 * self.done / max(self.total, 1), rate, eta,
            )
