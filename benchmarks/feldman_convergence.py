"""Feldman estimators at t = 2,000: how close each is, from its first t' runs, to its own value and to
mem at all t runs, and how well it finds the planted canaries (benchmarks/RESULTS.md).

Reads the shard tables of a finished run of workflow/configs/convergence.yaml (digits_planted, the
default MLP, t = 2,000 runs with margins, per-epoch correctness and losses) and prints, per
estimator and t':
    own       Spearman with the estimator's own value from all t runs
    vs_mem    Spearman with mem from all t runs
    top1_own, top5_own  Jaccard of the top 1 % and 5 % sets (own value at t' against own value at t)
    top5_mem  the top 5 % at t' against mem's top 5 % at t
    flipped, outlier   AUROC of the canaries of that kind against the clean training examples
Top sets are cut where no tie decides them (``convergence.top_cut``, with the estimate from all t
runs telling ties of the estimand from ties of too few runs), so no Jaccard is read from a set a tie
block at the cut inflated.
Then the Spearman-Brown check: the split-half Spearman of two disjoint halves of t/2 runs, measured,
against its projection from two halves of 64 runs. Also two alternatives the docs weigh: the
clipped-margin form of mem_margin, and LiRA online on the margin (``lira_margin``: what LiRA falls
back to for runs without the logit-scaled confidence). One command:
    python benchmarks/feldman_convergence.py --results runs/convergence/results

``--tail`` prints instead the run's own convergence.parquet (any data set, e.g. full MNIST:
``--results runs/mnist/results --dataset mnist --tail``) as the markdown table of RESULTS.md: per
estimator and t', the split-half top 1 % Jaccard on tie-free sets with their mean size, the memorized
set's Jaccard, the coverage of the 95 % intervals and the Spearman over all examples, then the
recommendation the job logged.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline import io  # noqa: E402
from pipeline.atlas.analysis import jaccard, spearman  # noqa: E402
from pipeline.atlas.planted import auroc  # noqa: E402
from pipeline.feldman import convergence, estimators, lira  # noqa: E402
from pipeline.feldman.runs import read_runs  # noqa: E402

SIZES = (8, 16, 32, 64, 128, 256, 512, 1000)
KINDS = ("flipped", "outlier")


ALTERNATIVES = {
    "mem_margin_clipped": lambda runs: estimators.margin_memorization(runs.member, runs.margin, form="clipped")[0],
    "lira_margin": lambda runs: lira.per_example(runs.member, runs.margin)["online"],
}


def estimates(runs, names):
    """convergence's estimators plus the alternatives."""
    out = estimators.estimate_all(runs, [n for n in names if n not in ALTERNATIVES])
    for name in names:
        if name in ALTERNATIVES:
            value = ALTERNATIVES[name](runs)
            out[name] = value, np.full(value.shape, np.nan)
    return {name: out[name] for name in names}


def canary_auroc(value, kinds, kind):
    """AUROC of the canaries of ``kind`` against the clean examples (planted == "")."""
    mask = (kinds == "") | (kinds == kind)
    return auroc(value[mask], kinds[mask] == kind)


def agreement(a, b):
    both = ~np.isnan(a) & ~np.isnan(b)
    return spearman(a[both], b[both])


def top(value, fraction, full):
    """The tie-free top set of ``value`` (NaN never in it), ties told apart by ``full`` (value, standard
    error) from all runs, as in the convergence table."""
    defined = ~np.isnan(value) & ~np.isnan(full[0])
    mask = np.zeros(len(value), dtype=bool)
    mask[defined] = convergence.top_cut(value[defined], int(round(fraction * defined.sum())), full[0][defined],
                                        full[1][defined])[0]
    return mask


def tail_table(path: Path) -> None:
    """convergence.parquet as RESULTS.md's table, and its recommendation."""
    table = io.read_parquet(path)
    print(f"# {path}: t = {table['runs_total'].iloc[0]:,} runs, {table['n_splits'].iloc[0]} splits per t'")
    print("| estimator | t' | top-1 % Jaccard | sets (target) | tied, too few runs | top-5 % Jaccard | memorized Jaccard "
          "| coverage 95 % | Spearman, all |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for _, row in table.iterrows():
        print(f"| {row['estimator']} | {row['runs']} | {row['jaccard_top1']:.3f} | {row['top1_size']:.0f} "
              f"({row['top1_target']:.0f}) | {row['top1_tied_runs']:.2f} | {row['jaccard_top5']:.3f} | "
              f"{row['jaccard_memorized']:.3f} | {row['coverage_95']:.3f} | {row['spearman']:.3f} |")
    print(f"\n{convergence.recommendation(table)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("runs/convergence/results"))
    parser.add_argument("--dataset", default="digits_planted")
    parser.add_argument("--arch", default="mlp")
    parser.add_argument("--tail", action="store_true", help="print the run's convergence.parquet (see above)")
    a = parser.parse_args()
    if a.tail:
        tail_table(a.results / "feldman" / a.dataset / a.arch / "convergence.parquet")
        return
    start = time.time()
    shards = sorted((a.results / "feldman" / a.dataset / a.arch / "shards").glob("shard*.parquet"))
    runs = read_runs(shards)
    total = len(runs.member)
    index = io.read_parquet(a.results / "data" / a.dataset / "index.parquet")
    train = index[index["split"] == "train"]
    kinds = train["planted"].fillna("").astype(str).to_numpy()
    names = estimators.available(runs)
    if "mem_margin" in names:
        names = names[:3] + ["mem_margin_clipped"] + names[3:5] + ["lira_margin"] + names[5:]
    full = estimates(runs, names)
    sizes = [s for s in SIZES if s < total] + [total]
    print(f"# Feldman estimators at t = {total:,} ({a.dataset}, {a.arch}; {len(shards)} shard tables)")
    print(f"# {platform.node()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print("| estimator | t' | own | vs mem | top-1 % Jaccard own | top-5 % Jaccard own | top-5 % Jaccard mem "
          "| AUROC flipped | AUROC outlier |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        part = estimates(runs.take(np.arange(size)), names)
        for name in names:
            value = part[name][0]
            cells = [agreement(value, full[name][0]), agreement(value, full["mem"][0]),
                     jaccard(top(value, 0.01, full[name]), top(full[name][0], 0.01, full[name])),
                     jaccard(top(value, 0.05, full[name]), top(full[name][0], 0.05, full[name])),
                     jaccard(top(value, 0.05, full[name]), top(full["mem"][0], 0.05, full["mem"])),
                     *[canary_auroc(value, kinds, kind) for kind in KINDS]]
            print(f"| {name} | {size} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    half, small = total // 2, min(64, total // 4)
    print(f"\n# Spearman-Brown check: split-half Spearman of runs 0-{half - 1} against {half}-{2 * half - 1}, "
          f"measured, and projected from runs 0-{small - 1} against {small}-{2 * small - 1}")
    print(f"| estimator | split-half at {small} | projected to {half} | measured at {half} |")
    print("|---|---:|---:|---:|")
    first = estimates(runs.take(np.arange(small)), names)
    second = estimates(runs.take(np.arange(small, 2 * small)), names)
    a_half, b_half = estimates(runs.take(np.arange(half)), names), estimates(runs.take(np.arange(half, 2 * half)),
                                                                              names)
    for name in names:
        rho = agreement(first[name][0], second[name][0])
        print(f"| {name} | {rho:.3f} | {float(convergence.spearman_brown(rho, half / small)):.3f} | "
              f"{agreement(a_half[name][0], b_half[name][0]):.3f} |")
    print(f"\n# {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
