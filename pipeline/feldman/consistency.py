"""Agreement of the estimates of two runs A, A' on one data set (the paper's supplement C).

A and A' are entries of ``feldman.architectures``: two architectures trained on the same subsets
(the paper's comparison), or two entries of one architecture with other ``split_seed`` and
``init_seed``: independent replicate runs on other random subsets from other initial weights,
which measure how far the estimates move under resampling alone. Each run's estimates come from its
own membership matrix, so the subsets need not be the same; only the data set must be.

For each threshold theta: I(theta) = {i : mem_i >= theta} (and for influence
I(theta) = {(i, j) : infl(i, j) >= theta and mem_i >= the mem selection threshold}), then
    Jaccard J(theta) = |I ∩ I'| / |I ∪ I'|,   D(theta) = mean over I ∪ I' of |est - est'|.
Influence is formed blockwise over the training examples either architecture selects.

consistency.parquet (one row per quantity and threshold):
    arch_a, arch_b      string   the two architectures
    quantity            string   'mem' or 'infl'
    theta               float64  threshold
    n_a, n_b            int64    |I(theta)|, |I'(theta)|
    n_both, n_either    int64    |I ∩ I'|, |I ∪ I'|
    jaccard             float64  n_both / n_either (NaN if both sets are empty)
    mean_abs_diff       float64  D(theta) (NaN if both sets are empty)
    accuracy_a/_b       float64  mean test accuracy of the runs of each architecture
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import cli, io
from pipeline.errors import PipelineError
from pipeline.feldman.estimate import influence_blocks
from pipeline.feldman.runs import read_runs
from pipeline.progress import get_logger
from pipeline.schema import schema_default

log = get_logger("feldman.consistency")


def _row(quantity, theta, sel_a, sel_b, diff_sum):
    both, either = int((sel_a & sel_b).sum()), int((sel_a | sel_b).sum())
    return {"quantity": quantity, "theta": float(theta), "n_a": int(sel_a.sum()), "n_b": int(sel_b.sum()),
            "n_both": both, "n_either": either, "jaccard": both / either if either else np.nan,
            "mean_abs_diff": diff_sum / either if either else np.nan}


def mem_consistency(mem_a: np.ndarray, mem_b: np.ndarray, thetas) -> list[dict]:
    a, b = np.nan_to_num(mem_a, nan=-np.inf), np.nan_to_num(mem_b, nan=-np.inf)
    rows = []
    for theta in thetas:
        sa, sb = a >= theta, b >= theta
        union = sa | sb
        rows.append(_row("mem", theta, sa, sb, float(np.nansum(np.abs(mem_a - mem_b)[union]))))
    return rows


def infl_consistency(member_a, test_a, mem_a, member_b, test_b, mem_b, thetas, mem_threshold: float,
                     block: int = 512) -> list[dict]:
    keep_a = np.nan_to_num(mem_a, nan=-np.inf) >= mem_threshold
    keep_b = np.nan_to_num(mem_b, nan=-np.inf) >= mem_threshold
    rows = np.flatnonzero(keep_a | keep_b)
    thetas = list(thetas)
    counts = np.zeros((len(thetas), 5))  # n_a, n_b, both, either, sum |diff|
    blocks_b = influence_blocks(member_b, test_b, rows, block)
    for (pos, infl_a, _), (_, infl_b, _) in zip(influence_blocks(member_a, test_a, rows, block), blocks_b):
        ia, ib = np.nan_to_num(infl_a, nan=-np.inf), np.nan_to_num(infl_b, nan=-np.inf)
        diff = np.abs(infl_a - infl_b)
        for k, theta in enumerate(thetas):
            sa = (ia >= theta) & keep_a[pos, None]
            sb = (ib >= theta) & keep_b[pos, None]
            union = sa | sb
            counts[k] += [sa.sum(), sb.sum(), (sa & sb).sum(), union.sum(), np.nansum(diff[union])]
    out = []
    for k, theta in enumerate(thetas):
        n_a, n_b, both, either, diff_sum = counts[k]
        out.append({"quantity": "infl", "theta": float(theta), "n_a": int(n_a), "n_b": int(n_b), "n_both": int(both),
                    "n_either": int(either), "jaccard": both / either if either else np.nan,
                    "mean_abs_diff": diff_sum / either if either else np.nan})
    return out


def consistency(shards_a: list[Path], mem_a: Path, shards_b: list[Path], mem_b: Path, arch_a: str, arch_b: str,
                thetas: list[float], mem_threshold: float, out: Path, block: int = 512) -> None:
    runs_a, runs_b = read_runs(shards_a, scores=False), read_runs(shards_b, scores=False)
    (member_a, test_a), (member_b, test_b) = (runs_a.member, runs_a.test_correct), (runs_b.member, runs_b.test_correct)
    if member_a.shape[1] != member_b.shape[1] or test_a.shape[1] != test_b.shape[1]:
        raise PipelineError(f"{shards_a[0]} and {shards_b[0]}: not of one data set ({member_a.shape[1]} vs "
                            f"{member_b.shape[1]} training, {test_a.shape[1]} vs {test_b.shape[1]} test examples)")
    log.info("%s vs %s: %s subsets", arch_a, arch_b,
             "the same" if member_a.shape == member_b.shape and (member_a == member_b).all() else "other")
    ma = io.read_parquet(mem_a, columns=["mem"])["mem"].to_numpy()
    mb = io.read_parquet(mem_b, columns=["mem"])["mem"].to_numpy()
    rows = mem_consistency(ma, mb, thetas)
    rows += infl_consistency(member_a, test_a, ma, member_b, test_b, mb, thetas, mem_threshold, block)
    table = pd.DataFrame(rows)
    table.insert(0, "arch_b", arch_b)
    table.insert(0, "arch_a", arch_a)
    table["accuracy_a"] = runs_a.test_accuracy.mean()
    table["accuracy_b"] = runs_b.test_accuracy.mean()
    io.write_parquet(table, out)
    for quantity in ("mem", "infl"):
        part = table[table["quantity"] == quantity]
        log.info("%s vs %s, %s: Jaccard %s", arch_a, arch_b, quantity,
                 " ".join(f"{t:.2f}:{j:.2f}" for t, j in zip(part["theta"], part["jaccard"])))


def main() -> None:
    parser = argparse.ArgumentParser(description="Consistency of Feldman estimates between two runs.")
    parser.add_argument("--shards-a", required=True, nargs="+", type=Path)
    parser.add_argument("--mem-a", required=True, type=Path)
    parser.add_argument("--shards-b", required=True, nargs="+", type=Path)
    parser.add_argument("--mem-b", required=True, type=Path)
    parser.add_argument("--arch-a", required=True)
    parser.add_argument("--arch-b", required=True)
    parser.add_argument("--thetas", required=True, type=float, nargs="+")
    parser.add_argument("--mem-threshold", type=float, default=schema_default("feldman.mem_threshold"))
    parser.add_argument("--out", required=True, type=Path)
    a = parser.parse_args()
    consistency(a.shards_a, a.mem_a, a.shards_b, a.mem_b, a.arch_a, a.arch_b, a.thetas, a.mem_threshold, a.out)


if __name__ == "__main__":
    cli.run(main)
