"""How many models are enough: split-half agreement of each estimator as the number of runs grows.

For an estimator and a size t' (8, 16, 32, ... up to t/2), the t runs are shuffled (seeded by
(seed, t', split)) and two disjoint sets of t' runs, the first and the next t', each give a full
estimate of every training example. Their agreement is the estimate's reliability at t' runs:
    spearman     Spearman rank correlation of the two estimates (examples defined in both)
    jaccard_top1 / jaccard_top5   Jaccard index of their top 1 % and top 5 % sets (the atlas's
                 ``top_set``: ties included, never the minimum)
each averaged over ``n_splits`` seeded splits. Spearman-Brown projects a split-half reliability rho
at t' runs to k = t / t' times as many runs, and gives the runs needed for a target reliability:
    rho_t = k rho / (1 + (k - 1) rho),     t_for(target) = t' target (1 - rho) / (rho (1 - target))
(exact for the correlation of means of parallel measurements; for ranks it is the usual
approximation, checked against the t = 2,000 run in benchmarks/feldman_convergence.py). The log
and the figure say it in one sentence per estimator, from its largest t'.

Estimators (higher = more memorized; docs/feldman-estimators.md): ``mem`` (0/1 correctness, in minus
out), ``mem_margin`` (sigma(margin), in minus out), ``lira`` and ``lira_fixed`` (per-example
leave-one-model-out AUC of LiRA online, per-example or global variances) and ``slowness``
(1 - learning_speed). An estimator whose inputs the runs lack (no margins, no per-epoch record) is
left out, and the log says so; LiRA needs the logit-scaled confidences or the margins.

convergence.parquet (one row per estimator and t'):
    estimator            string   as above
    runs                 int32    t', runs in each half
    runs_total           int32    t, runs of the architecture
    n_splits             int32    seeded splits averaged
    spearman             float64  mean split-half Spearman
    spearman_sd          float64  its standard deviation over the splits
    jaccard_top1         float64  mean Jaccard of the two top 1 % sets
    jaccard_top5         float64  mean Jaccard of the two top 5 % sets
    spearman_brown_full  float64  spearman projected to t runs (NaN unless 0 < spearman < 1)
    runs_for_0_9         float64  runs projected to reach a split-half Spearman of 0.9 (from this t')
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from pipeline import cli, io, plotting
from pipeline.atlas.analysis import jaccard, spearman, top_set
from pipeline.feldman import lira
from pipeline.feldman.estimators import Runs, learning_speed, margin_memorization, read_runs
from pipeline.feldman.estimate import split_means
from pipeline.progress import Progress, get_logger

log = get_logger("feldman.convergence")

TARGET = 0.9  # the reliability the sentence and runs_for_0_9 speak of
SMALLEST = 8
# Disjoint halves drawn per t' (their agreement is averaged) and the seed of the draws: the table is
# a summary of the runs, not a setting of the experiment, so they are fixed here, not config keys.
SPLITS = 5
SPLIT_SEED = 0
CONVERGENCE_COLUMNS = {"estimator": "string", "runs": "int32", "runs_total": "int32", "n_splits": "int32",
                       "spearman": "float64", "spearman_sd": "float64", "jaccard_top1": "float64",
                       "jaccard_top5": "float64", "spearman_brown_full": "float64", "runs_for_0_9": "float64"}


def _mem(runs: Runs) -> np.ndarray:
    p_in, p_out, _, _ = split_means(runs.member, runs.correct)
    return p_in - p_out


ESTIMATORS: dict[str, tuple[str, Callable[[Runs], np.ndarray]]] = {
    "mem": ("correct", _mem),
    "mem_margin": ("margin", lambda runs: margin_memorization(runs.member, runs.margin)[0]),
    # estimate_all computes LiRA's two variants in one pass; these two are its single-estimator form
    "lira": ("lira", lambda runs: lira.per_example(runs.member, runs.lira_statistic)["online"]),
    "lira_fixed": ("lira", lambda runs: lira.per_example(runs.member, runs.lira_statistic)["fixed"]),
    "slowness": ("epoch_correct", lambda runs: 1.0 - learning_speed(runs.member, runs.epoch_correct, runs.epochs)[0]),
}


def estimate_all(runs: Runs, names: list[str]) -> dict[str, np.ndarray]:
    """Each estimator of ``names`` on ``runs`` (LiRA's two variants from one pass)."""
    out = {}
    if {"lira", "lira_fixed"} & set(names):
        scores = lira.per_example(runs.member, runs.lira_statistic)
        out.update({"lira": scores["online"], "lira_fixed": scores["fixed"]})
    for name in names:
        if name not in out:
            out[name] = ESTIMATORS[name][1](runs)
    return {name: out[name] for name in names}


def available(runs: Runs) -> list[str]:
    """The estimators whose inputs every run recorded."""
    recorded = {"correct": True, "margin": not np.isnan(runs.margin).any(),
                "lira": not np.isnan(runs.lira_statistic).any(),
                "epoch_correct": not (np.isnan(runs.epoch_correct).any() or np.isnan(runs.epochs).any())}
    return [name for name, (needs, _) in ESTIMATORS.items() if recorded[needs]]


def sizes(total: int) -> list[int]:
    """t' = 8, 16, 32, ... and t // 2 itself, the largest two disjoint halves (none when t < 16)."""
    out, size = [], SMALLEST
    while 2 * size <= total:
        out.append(size)
        size *= 2
    if out and out[-1] < total // 2:
        out.append(total // 2)
    return out


def spearman_brown(rho, k):
    """Reliability of k times as many runs, from the reliability rho of one part."""
    rho = np.asarray(rho, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((rho > 0) & (rho < 1), k * rho / (1 + (k - 1) * rho), np.nan)


def runs_for(rho, runs, target: float = TARGET):
    """Runs at which the Spearman-Brown projection from rho at ``runs`` reaches ``target``."""
    rho = np.asarray(rho, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((rho > 0) & (rho < 1), runs * target * (1 - rho) / (rho * (1 - target)), np.nan)


def agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(Spearman, top-1 % Jaccard, top-5 % Jaccard) of two estimates, on the examples defined in both."""
    both = ~np.isnan(a) & ~np.isnan(b)
    a, b = a[both], b[both]
    return (spearman(a, b), jaccard(top_set(a, 0.01), top_set(b, 0.01)),
            jaccard(top_set(a, 0.05), top_set(b, 0.05)))


def convergence_table(runs: Runs, estimators: list[str], n_splits: int, seed: int) -> pd.DataFrame:
    """convergence.parquet (module docstring)."""
    total = len(runs.member)
    steps = sizes(total)
    if not steps:  # only runs brought from a file can be this few (targets.feldman_targets)
        log.warning("%d runs: split-half agreement needs two disjoint halves of at least %d runs; the table is "
                    "empty", total, SMALLEST)
    rows = []
    progress = Progress(log, len(steps) * n_splits, "convergence splits")
    for size in steps:
        values = {name: [] for name in estimators}
        for split in range(n_splits):
            order = np.random.default_rng([seed, size, split]).permutation(total)
            halves = runs.take(np.sort(order[:size])), runs.take(np.sort(order[size:2 * size]))
            estimates = [estimate_all(half, estimators) for half in halves]
            for name in estimators:
                values[name].append(agreement(estimates[0][name], estimates[1][name]))
            progress.update(1)
        for name in estimators:
            v = np.array(values[name], dtype=np.float64)
            rho = float(np.nanmean(v[:, 0])) if not np.isnan(v[:, 0]).all() else float("nan")
            rows.append({"estimator": name, "runs": size, "runs_total": total, "n_splits": n_splits,
                         "spearman": rho, "spearman_sd": float(np.nanstd(v[:, 0])) if not np.isnan(rho) else np.nan,
                         "jaccard_top1": float(np.nanmean(v[:, 1])) if not np.isnan(v[:, 1]).all() else np.nan,
                         "jaccard_top5": float(np.nanmean(v[:, 2])) if not np.isnan(v[:, 2]).all() else np.nan,
                         "spearman_brown_full": float(spearman_brown(rho, total / size)),
                         "runs_for_0_9": float(runs_for(rho, size))})
    return pd.DataFrame(rows, columns=list(CONVERGENCE_COLUMNS)).astype(CONVERGENCE_COLUMNS)


def sentences(table: pd.DataFrame) -> list[str]:
    """One sentence per estimator, from its largest t': its split-half Spearman and the runs a
    split-half Spearman of 0.9 needs, by Spearman-Brown."""
    out = []
    for name, rows in table.groupby("estimator", sort=False):
        row = rows.iloc[-1]
        if np.isnan(row["spearman"]):
            out.append(f"{name}: split-half Spearman undefined at t = {row['runs']}")
            continue
        needed = row["runs_for_0_9"]
        reach = (f"t = {row['runs']} already reaches {TARGET:g}" if row["spearman"] >= TARGET else
                 f"about t = {needed:,.0f} would reach {TARGET:g}" if np.isfinite(needed) else
                 f"no projection reaches {TARGET:g}")
        out.append(f"at t = {row['runs']} {name}'s split-half Spearman is {row['spearman']:.2f}; {reach} "
                   f"(all {row['runs_total']} runs: {row['spearman_brown_full']:.2f} projected)")
    return out


def figure(table: pd.DataFrame, title: str):
    """Split-half Spearman and top-set Jaccards against t' per estimator, with the sentences."""
    fig, axes = plotting.new_figure(1, 3, (13, 4.2))
    for name, rows in table.groupby("estimator", sort=False):
        for ax, column in zip(axes[0], ("spearman", "jaccard_top1", "jaccard_top5")):
            ax.plot(rows["runs"], rows[column], marker="o", label=name)
    for ax, label in zip(axes[0], ("split-half Spearman", "Jaccard of the top 1 % sets", "Jaccard of the top 5 % sets")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(table["runs"].unique()), [str(v) for v in sorted(table["runs"].unique())])
        ax.set_xlabel("runs in each half t'")
        ax.set_ylabel(label)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0, 0].axhline(TARGET, color="grey", ls=":", lw=1)
    if not table.empty:  # an empty table (too few runs) has no lines to name
        axes[0, 0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.text(0.01, 0.01, "\n".join(sentences(table)), fontsize=7, va="bottom")
    fig.tight_layout(rect=(0, 0.05 + 0.025 * table["estimator"].nunique(), 1, 0.95))
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description="Split-half convergence of the Feldman estimators.")
    parser.add_argument("--shards", required=True, nargs="+", type=Path)
    parser.add_argument("--title", default="")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--out-figure", required=True, type=Path)
    a = parser.parse_args()
    runs = read_runs(a.shards)
    names = available(runs)
    left_out = [name for name in ESTIMATORS if name not in names]
    if left_out:
        log.warning("left out (inputs not recorded by every run): %s", ", ".join(left_out))
    table = convergence_table(runs, names, SPLITS, SPLIT_SEED)
    io.write_parquet(table, a.out)
    for sentence in sentences(table):
        log.info("%s", sentence)
    fig = figure(table, a.title)
    io.save_figure(fig, a.out_figure, dpi=110)
    plotting.close(fig)


if __name__ == "__main__":
    cli.run(main)
