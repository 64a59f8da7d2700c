"""Time spent in short jobs, from the per-job benchmark files of one or two workflow runs.

    python benchmarks/short_jobs.py --run [--configfile config.yaml] [--out results/short_jobs]
    python benchmarks/short_jobs.py BEFORE/results [AFTER/results] [--wall 475 300] [--under 8] [--list]

``--run`` measures the job server (``pipeline/jobserver.py``) against its baseline in one command:
the workflow runs twice on 2 cores in fresh folders under ``--out``, first with every job as its
own process (``PIPELINE_JOBSERVER=off``, the baseline), then with the server; it prints the table
below for the two and whether every table and array of the two runs is the same.

Reads every ``<results>/benchmarks/**/*.tsv`` (Snakemake's ``benchmark:`` files; column ``s`` is
the job's wall time) and prints the number of jobs, their total seconds, and the number and total
seconds of jobs under ``--under`` seconds. The run's wall time is ``--wall`` (one value per tree,
e.g. measured with ``/usr/bin/time``); without it, the span from the first job's start to the last
job's end (from the files' modification times) is shown instead, which leaves out Snakemake's
start-up. With two trees it also prints after/before ratios and the seconds of the jobs that were
short in the first run (the same jobs in both, so a job that slows down past the limit still
counts); ``--list`` prints every short job.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from gpu_suite import REPO, identical, run_snakemake
from pipeline import paths


def read_jobs(results: Path) -> dict[str, tuple[float, float]]:
    """Benchmark file (relative to ``results/benchmarks``) -> (seconds, end time as mtime)."""
    root = results / "benchmarks"
    jobs = {}
    for path in sorted(root.rglob("*.tsv")):
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        if rows:  # one row per repeat; a job is its last
            jobs[str(path.relative_to(root))] = (float(rows[-1]["s"]), path.stat().st_mtime)
    if not jobs:
        raise SystemExit(f"{root}: no benchmark files")
    return jobs


def summary(jobs: dict[str, tuple[float, float]], under: float, wall: float | None,
            first_short: set[str] | None) -> dict[str, float]:
    seconds = [s for s, _ in jobs.values()]
    short = [s for s in seconds if s < under]
    span = max(end for _, end in jobs.values()) - min(end - s for s, end in jobs.values())
    table = {"jobs": len(seconds), "job seconds": sum(seconds), f"jobs under {under:g} s": len(short),
             f"seconds in jobs under {under:g} s": sum(short)}
    if first_short is not None:
        table[f"seconds in the first run's jobs under {under:g} s"] = sum(jobs[j][0] for j in first_short if j in jobs)
    table["wall seconds" if wall is not None else "job span seconds"] = wall if wall is not None else span
    return table


def run_both(config_path: Path, out: Path) -> tuple[list[Path], list[float]]:
    """The workflow with plain processes, then with the job server: results folders and wall seconds."""
    config = yaml.safe_load(config_path.read_text())
    # torch and the other libraries read from disk once before either run, so neither pays it alone
    subprocess.run([sys.executable, "-c", "import torch, pandas, scipy.stats, sklearn.cluster, matplotlib.pyplot"],
                   check=True)
    folders, walls = [], []
    for name, server in (("plain", "off"), ("server", "")):
        workdir = out / name
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"running {config_path} in {workdir} ({'job server' if not server else 'PIPELINE_JOBSERVER=off'})",
              flush=True)
        extra = {"PIPELINE_JOBSERVER": server} if server else {}
        walls.append(run_snakemake(workdir, config, cores=2, **extra))
        folders.append(workdir / paths.RESULTS)
    compared, differ = identical(*folders)
    print(f"tables and arrays compared: {compared}; different: {differ or 'none'}\n")
    return folders, walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="*", type=Path, help="one or two results folders (before, after)")
    parser.add_argument("--run", action="store_true", help="run the workflow without and with the job server")
    parser.add_argument("--configfile", type=Path, default=REPO / "config.yaml", help="with --run: the experiment")
    parser.add_argument("--out", type=Path, default=Path(paths.RESULTS) / "short_jobs", help="with --run: scratch folder")
    parser.add_argument("--wall", nargs="+", type=float, help="measured wall seconds, one per results folder")
    parser.add_argument("--under", type=float, default=8.0, help="a job shorter than this is short (seconds)")
    parser.add_argument("--list", action="store_true", help="print every job that is short in some run")
    args = parser.parse_args()
    if args.run:
        if args.results or args.wall:
            parser.error("--run measures its own runs: give no results folders or --wall")
        args.results, args.wall = run_both(args.configfile, args.out.resolve())
    if not 1 <= len(args.results) <= 2 or (args.wall and len(args.wall) != len(args.results)):
        parser.error("give one or two results folders and, optionally, one --wall value for each")
    runs = [read_jobs(path) for path in args.results]
    walls = args.wall or [None] * len(runs)
    first_short = {job for job, (seconds, _) in runs[0].items() if seconds < args.under} if len(runs) == 2 else None
    tables = [summary(jobs, args.under, wall, first_short) for jobs, wall in zip(runs, walls)]

    pair = ["plain", "server"] if args.run else ["before", "after"]
    names = pair if len(runs) == 2 else [str(args.results[0])]
    print(f"{'':44}" + "".join(f"{name:>12}" for name in names) + (f"{pair[1] + '/' + pair[0]:>17}" if len(runs) == 2 else ""))
    for key in tables[0]:
        values = [table[key] for table in tables]
        line = f"{key:44}" + "".join(f"{v:12.1f}" if isinstance(v, float) else f"{v:12d}" for v in values)
        if len(values) == 2:
            line += f"{values[1] / values[0]:17.2f}" if values[0] else f"{'-':>17}"
        print(line)
    if args.list:
        print()
        for job in sorted(set().union(*runs)):
            seconds = [run[job][0] if job in run else float("nan") for run in runs]
            if min(seconds) < args.under:
                print(f"{job:70}" + "".join(f"{s:8.2f}" for s in seconds))


if __name__ == "__main__":
    main()
