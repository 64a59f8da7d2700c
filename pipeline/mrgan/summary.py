"""One table across a data set's tau x seed sweep, with the threshold guideline beside it.

summary.parquet: every column of score.py's scores.parquet (one row per (tau, seed) job) plus
    tau_guideline  float64  the data set's threshold guideline (guideline.py)
classwise_summary.parquet: the class-wise tables of all jobs stacked (score.py's schema).
"""

from __future__ import annotations

import argparse

import pandas as pd

from pipeline import cli, io
from pipeline.progress import get_logger

log = get_logger("mrgan.summary")


def summarize(score_files, guideline_file) -> pd.DataFrame:
    table = pd.concat([io.read_parquet(f) for f in score_files], ignore_index=True)
    guide = io.read_parquet(guideline_file, ["tau_guideline"])["tau_guideline"].iloc[0]
    return table.assign(tau_guideline=float(guide)).sort_values(["tau", "seed"], ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Stack the per-job MR-GAN scores of one data set.")
    parser.add_argument("--scores", nargs="+", required=True)
    parser.add_argument("--classwise", nargs="+", required=True)
    parser.add_argument("--guideline", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--out-classwise", required=True)
    args = parser.parse_args()
    table = summarize(args.scores, args.guideline)
    io.write_parquet(table, args.out)
    classwise = pd.concat([io.read_parquet(f) for f in args.classwise], ignore_index=True)
    io.write_parquet(classwise.sort_values(["tau", "seed", "label"], ignore_index=True), args.out_classwise)
    log.info("wrote %s (%d jobs)", args.out, len(table))


if __name__ == "__main__":
    cli.run(main)
