"""Peak memory and time of the Feldman estimators beside mem on simulated runs: computed a block of
examples at a time (``columns.BLOCK_BYTES``, what the jobs do) against whole (t, n) matrices at
once (the baseline, measured in the same run).

    python benchmarks/feldman_estimator_memory.py [--runs 2000] [--examples 40000]

Each way and step runs in a fresh process (peak resident memory is a per-process high-water mark);
the steps are what the estimate and membership jobs do after reading the shards: memorization.parquet's new
columns (``estimators.estimator_columns``: mem_margin, LiRA per example, learning_speed, cum_loss,
mem_margin_eb) and
membership.parquet (``lira.membership_table``). It prints each step's seconds and its peak memory
above what the runs themselves hold, in MB and in units of one (t, n) float64 matrix, and the
ratios blocks / whole. At paper scale (t = 4,000 runs, n = 60,000 examples) one such matrix is
1.9 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.feldman import columns, estimators, lira  # noqa: E402
from pipeline.feldman.runs import Runs  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def simulated_runs(t: int, n: int) -> Runs:
    """Runs shaped like a shard table's: 70 % subsets, margins, confidences, losses, 20 epochs."""
    rng = np.random.default_rng(0)
    member = rng.random((t, n)) < 0.7
    margin = (rng.normal(1.0, 2.0, (t, n)) + member).astype(np.float32)
    epoch_correct = np.where(member, rng.integers(0, 21, (t, n)), 0).astype(np.float32)
    cum_loss = np.where(member, 20 * np.logaddexp(0, -margin), 0).astype(np.float32)
    return Runs(member, margin > 0, margin=margin, lira_statistic=margin - np.float32(0.5),
                epoch_correct=epoch_correct, epochs=np.full(t, 20.0), cum_loss=cum_loss)


STEPS = {"estimator_columns": lambda runs: estimators.estimator_columns(runs),
         "membership_table": lambda runs: lira.membership_table(runs.member, runs.lira_statistic)}


def measure(t: int, n: int, whole: bool, step: str) -> dict:
    """Seconds of ``step`` and this process's peak memory above the runs."""
    if whole:
        columns.BLOCK_BYTES = 2**62  # one block: the whole matrices at once
    runs = simulated_runs(t, n)
    before = peak_mb()
    start = time.perf_counter()
    STEPS[step](runs)
    return {"seconds": time.perf_counter() - start, "peak_mb": peak_mb() - before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--examples", type=int, default=40000)
    parser.add_argument("--child", nargs=2, metavar=("WAY", "STEP"), help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.child:
        print(json.dumps(measure(a.runs, a.examples, a.child[0] == "whole", a.child[1])))
        return
    matrix_mb = 8 * a.runs * a.examples / 2**20
    print(f"# t = {a.runs:,} runs x n = {a.examples:,} examples; one (t, n) float64 matrix = {matrix_mb:.0f} MB; "
          f"blocks of {columns.column_blocks(a.runs, a.examples)[0].stop:,} examples")
    print(f"# {platform.node()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    results = {way: {} for way in ("whole", "blocks")}
    for step in STEPS:
        for way in results:
            child = subprocess.run([sys.executable, __file__, "--runs", str(a.runs), "--examples", str(a.examples),
                                    "--child", way, step], check=True, capture_output=True, text=True)
            results[way][step] = json.loads(child.stdout.strip().splitlines()[-1])
    print("| step | whole: s | whole: peak MB (matrices) | blocks: s | blocks: peak MB (matrices) "
          "| memory blocks / whole | time blocks / whole |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for step in STEPS:
        w, b = results["whole"][step], results["blocks"][step]
        print(f"| {step} | {w['seconds']:.1f} | {w['peak_mb']:.0f} ({w['peak_mb'] / matrix_mb:.1f}) | "
              f"{b['seconds']:.1f} | {b['peak_mb']:.0f} ({b['peak_mb'] / matrix_mb:.1f}) | "
              f"{b['peak_mb'] / max(w['peak_mb'], 1):.2f} | {b['seconds'] / w['seconds']:.2f} |")


if __name__ == "__main__":
    main()
