"""Dry-run time and job count of the paper-scale config against the default config.

Each config is copied to a scratch folder as its config.yaml and dry-run there (`snakemake -n`,
no data needed: a missing data set only fails when its prepare job runs). Prints wall time
(median of --repeat runs), the number of jobs per rule and in all, and the ratio against the
default config measured in the same run.
Usage: python benchmarks/dag_scale.py [--config workflow/configs/paper.yaml] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def dry_run(config: Path, folder: Path) -> tuple[float, dict[str, int]]:
    """Seconds of one `snakemake -n` and the jobs per rule it lists."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(config, folder / "config.yaml")
    env = {**os.environ, "PYTHONPATH": str(REPO),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(folder),
               "--cores", "1", "--dry-run", "--quiet", "rules"]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"dry run of {config} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    table = result.stdout.split("Job stats:")[-1]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}
    counts.pop("total", None)
    return seconds, counts


def measure(config: Path, folder: Path, repeat: int) -> tuple[float, dict[str, int]]:
    runs = [dry_run(config, folder / f"run{i}") for i in range(repeat)]
    return statistics.median(seconds for seconds, _ in runs), runs[0][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "workflow/configs/paper.yaml")
    parser.add_argument("--baseline", type=Path, default=REPO / "config.yaml")
    parser.add_argument("--repeat", type=int, default=3)
    a = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dag-scale-"))
    try:
        base_s, base_jobs = measure(a.baseline, folder / "baseline", a.repeat)
        big_s, big_jobs = measure(a.config, folder / "config", a.repeat)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{'rule':28s} {a.baseline.name:>12s} {a.config.name:>12s}")
    for rule in sorted(set(base_jobs) | set(big_jobs), key=lambda r: -big_jobs.get(r, 0)):
        print(f"{rule:28s} {base_jobs.get(rule, 0):12d} {big_jobs.get(rule, 0):12d}")
    n_base, n_big = sum(base_jobs.values()), sum(big_jobs.values())
    print(f"{'jobs':28s} {n_base:12d} {n_big:12d}")
    print(f"{'dry-run seconds (median)':28s} {base_s:12.2f} {big_s:12.2f}")
    print(f"\n{a.config.name}: {n_big} jobs in {big_s:.2f} s; x{n_big / n_base:.1f} the jobs of {a.baseline.name} "
          f"for x{big_s / base_s:.2f} the dry-run time (same run, {a.repeat} repeats each)")


if __name__ == "__main__":
    main()
