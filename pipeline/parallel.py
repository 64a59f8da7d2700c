"""The threads an analysis job computes with beside its main one, in one place.

The Feldman analysis jobs run some loops two items at a time on threads, where each item is numpy
work that releases the GIL: the bootstrap summaries of the membership ladder, the per-run RMIA sorts
of the membership pairs, the halves of a convergence split. Their rules declare the same number as
``threads`` (workflow/rules/feldman.smk), so Snakemake counts the cores they use, a local run does
not put another job on them, and a SLURM job asks for them (the profile's ``cpus_per_task`` is a
job's threads)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

ANALYSIS_THREADS = 2

Item = TypeVar("Item")
Result = TypeVar("Result")


def analysis_pool() -> ThreadPoolExecutor:
    """A pool of ANALYSIS_THREADS workers (close it, or use it in a ``with``)."""
    return ThreadPoolExecutor(ANALYSIS_THREADS)


def thread_map(work: Callable[[Item], Result], items: Iterable[Item]) -> list[Result]:
    """``[work(item) for item in items]``, ANALYSIS_THREADS at a time, in order."""
    with analysis_pool() as pool:
        return list(pool.map(work, items))
