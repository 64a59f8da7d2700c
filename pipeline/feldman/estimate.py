"""Memorization and influence estimates from the shard tables (the estimator: see pipeline.feldman).

With M (t, n) the membership masks and C (t, n) / C' (t, n_test) the 0/1 correctness,
    mem_i      = mean_{r: i in J_r} C[r, i]  - mean_{r: i not in J_r} C[r, i]
    infl(i, j) = mean_{r: i in J_r} C'[r, j] - mean_{r: i not in J_r} C'[r, j]
NaN (never 0) where n_in or n_out is 0. Influence is formed in blocks of training examples, so the
dense n x n_test matrix is never held; only pairs with mem_i >= mem threshold and
infl(i, j) >= infl threshold are kept.

memorization.parquet (one row per training example, in dataset order):
    index   int64    dataset index of the training example
    label   int64    its label
    mem     float64  memorization estimate (NaN if n_in or n_out is 0)
    se      float64  standard error sqrt(p_in(1-p_in)/n_in + p_out(1-p_out)/n_out)
    p_in    float64  accuracy on it of the models trained with it
    p_out   float64  accuracy on it of the models trained without it
    n_in    int32    runs with i in J_r
    n_out   int32    runs with i not in J_r
influence_pairs.parquet (one row per selected pair, by train index then influence, descending):
    train_index  int64    dataset index of training example i
    train_label  int64
    test_index   int64    dataset index of test example j
    test_label   int64
    mem          float64  mem_i
    infl         float64  infl(i, j)
    infl_se      float64  standard error of infl(i, j), as for mem
    n_in         int32
    n_out        int32
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from pipeline import cli, io
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.progress import get_logger
from pipeline.schema import schema_default

log = get_logger("feldman.estimate")


def read_shards(paths: list[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """(member, train_correct, test_correct) stacked over all runs in run order, plus per-run accuracies."""
    tables = [io.read_parquet(p, columns=["run", "member", "train_correct", "test_correct", "train_accuracy",
                                          "test_accuracy"]) for p in paths]
    if not tables:
        raise PipelineError("no shard tables given")
    table = pd.concat(tables, ignore_index=True).sort_values("run", kind="stable")
    if table["run"].duplicated().any():
        raise PipelineError(f"shard tables {paths[0]}...: run(s) {table['run'][table['run'].duplicated()].tolist()} "
                            "appear twice")
    stack = [np.stack([np.asarray(v, dtype=bool) for v in table[col]]) for col in
             ("member", "train_correct", "test_correct")]
    return stack[0], stack[1], stack[2], table[["run", "train_accuracy", "test_accuracy"]].reset_index(drop=True)


def split_means(member: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, ...]:
    """p_in, p_out (NaN where a count is 0), n_in, n_out for each column of ``correct``."""
    member, correct = np.asarray(member, dtype=bool), np.asarray(correct, dtype=bool)
    n_in = member.sum(0, dtype=np.int64).astype(np.float64)  # counts on bools: no (t, n) float copies
    n_out = len(member) - n_in
    hits_in = (member & correct).sum(0, dtype=np.int64)
    hits_out = correct.sum(0, dtype=np.int64) - hits_in
    with np.errstate(invalid="ignore", divide="ignore"):
        p_in = np.where(n_in > 0, hits_in / n_in, np.nan)
        p_out = np.where(n_out > 0, hits_out / n_out, np.nan)
    return p_in, p_out, n_in, n_out


def standard_error(p_in, p_out, n_in, n_out):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(p_in * (1 - p_in) / n_in + p_out * (1 - p_out) / n_out)


def memorization(member: np.ndarray, correct: np.ndarray) -> pd.DataFrame:
    """mem, se, p_in, p_out, n_in, n_out per training example (columns of the (t, n) matrices)."""
    p_in, p_out, n_in, n_out = split_means(member, correct)
    return pd.DataFrame({"mem": p_in - p_out, "se": standard_error(p_in, p_out, n_in, n_out), "p_in": p_in,
                         "p_out": p_out, "n_in": n_in.astype(np.int32), "n_out": n_out.astype(np.int32)})


def influence_blocks(member: np.ndarray, test_correct: np.ndarray, rows: np.ndarray | None = None,
                     block: int = 512) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (train positions, infl (b, n_test), se (b, n_test)) for blocks of training examples.

    Counts are formed as matrix products of 0/1 float32 matrices (exact below 2**24 runs).
    """
    rows = np.arange(member.shape[1]) if rows is None else np.asarray(rows)
    c = test_correct.astype(np.float32)
    total = c.sum(0, dtype=np.float64)  # correct count over all runs, per test example
    for start in range(0, len(rows), block):
        pos = rows[start:start + block]
        m = member[:, pos].astype(np.float32)
        n_in = m.sum(0, dtype=np.float64)[:, None]
        n_out = len(member) - n_in
        hits_in = (m.T @ c).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            p_in = np.where(n_in > 0, hits_in / n_in, np.nan)
            p_out = np.where(n_out > 0, (total[None, :] - hits_in) / n_out, np.nan)
        yield pos, p_in - p_out, standard_error(p_in, p_out, n_in, n_out)


def influence_pairs(member, test_correct, mem: np.ndarray, mem_threshold: float, infl_threshold: float,
                    block: int = 512) -> pd.DataFrame:
    """Pairs (train position, test position) with mem >= mem_threshold and infl >= infl_threshold."""
    rows = np.flatnonzero(np.nan_to_num(mem, nan=-np.inf) >= mem_threshold)
    n_in = member.sum(0)
    parts = []
    for pos, infl, se in influence_blocks(member, test_correct, rows, block):
        r, j = np.nonzero(np.nan_to_num(infl, nan=-np.inf) >= infl_threshold)
        parts.append(pd.DataFrame({"train_pos": pos[r], "test_pos": j, "infl": infl[r, j], "infl_se": se[r, j]}))
    pairs = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        {"train_pos": np.zeros(0, np.int64), "test_pos": np.zeros(0, np.int64), "infl": [], "infl_se": []})
    pairs["mem"] = mem[pairs["train_pos"]] if len(pairs) else np.zeros(0)
    pairs["n_in"] = n_in[pairs["train_pos"]].astype(np.int32)
    pairs["n_out"] = (len(member) - n_in[pairs["train_pos"]]).astype(np.int32)
    return pairs.sort_values(["train_pos", "infl"], ascending=[True, False], kind="stable").reset_index(drop=True)


def memorization_and_influence(member, train_correct, test_correct, block: int = 512
                               ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The estimator on one's own 0/1 matrices, all influence kept (the workflow keeps only selected pairs).

    ``member``, ``train_correct``: (t, n); ``test_correct``: (t, n_test). Returns the memorization
    table of ``memorization`` (one row per training column) and the dense (n, n_test) influence and
    its standard error, NaN where n_in or n_out is 0.
    """
    member, train_correct, test_correct = (np.asarray(a, dtype=bool) for a in (member, train_correct, test_correct))
    if member.ndim != 2 or member.shape != train_correct.shape:
        raise PipelineError(f"train_correct: shape {train_correct.shape} must equal member's (runs, n_train) "
                            f"shape {member.shape}")
    if test_correct.ndim != 2 or len(test_correct) != len(member):
        raise PipelineError(f"test_correct: shape {test_correct.shape} must be (runs={len(member)}, n_test)")
    infl = np.empty((member.shape[1], test_correct.shape[1]))
    infl_se = np.empty_like(infl)
    for pos, block_infl, block_se in influence_blocks(member, test_correct, block=block):
        infl[pos], infl_se[pos] = block_infl, block_se
    return memorization(member, train_correct), infl, infl_se


def estimate(shards: list[Path], dataset_dir: Path, mem_threshold: float, infl_threshold: float,
             out_mem: Path, out_pairs: Path, block: int = 512) -> None:
    member, train_ok, test_ok, runs = read_shards(shards)
    data = Dataset.load(dataset_dir, mmap=True)
    _, y_train, i_train = data.split_arrays("train")
    _, y_test, i_test = data.split_arrays("test")
    if member.shape[1] != len(i_train) or test_ok.shape[1] != len(i_test):
        raise PipelineError(f"{shards[0]}: shard columns ({member.shape[1]} train, {test_ok.shape[1]} test) do not "
                            f"match {dataset_dir} ({len(i_train)}, {len(i_test)})")
    log.info("%d runs, %d training and %d test examples; mean test accuracy %.4f", len(member), len(i_train),
             len(i_test), runs["test_accuracy"].mean())
    mem = memorization(member, train_ok)
    table = pd.concat([pd.DataFrame({"index": i_train.astype(np.int64), "label": y_train.astype(np.int64)}), mem],
                      axis=1)
    io.write_parquet(table, out_mem)
    log.info("mem: %d examples >= %.2f, %d undefined (NaN)", (table["mem"] >= mem_threshold).sum(), mem_threshold,
             table["mem"].isna().sum())
    pairs = influence_pairs(member, test_ok, table["mem"].to_numpy(), mem_threshold, infl_threshold, block)
    out = pd.DataFrame({
        "train_index": i_train[pairs["train_pos"]].astype(np.int64),
        "train_label": y_train[pairs["train_pos"]].astype(np.int64),
        "test_index": i_test[pairs["test_pos"]].astype(np.int64),
        "test_label": y_test[pairs["test_pos"]].astype(np.int64),
        "mem": pairs["mem"].to_numpy(np.float64), "infl": pairs["infl"].to_numpy(np.float64),
        "infl_se": pairs["infl_se"].to_numpy(np.float64), "n_in": pairs["n_in"], "n_out": pairs["n_out"]})
    io.write_parquet(out, out_pairs)
    log.info("%d high-influence pairs (infl >= %.2f) over %d training examples", len(out), infl_threshold,
             out["train_index"].nunique())


def main() -> None:
    parser = argparse.ArgumentParser(description="Feldman-Zhang memorization and high-influence pairs.")
    parser.add_argument("--shards", required=True, nargs="+", type=Path)
    parser.add_argument("--dataset-dir", required=True, type=Path)
    parser.add_argument("--mem-threshold", type=float, default=schema_default("feldman.mem_threshold"))
    parser.add_argument("--infl-threshold", type=float, default=schema_default("feldman.infl_threshold"))
    parser.add_argument("--block", type=int, default=512, help="training examples per influence block")
    parser.add_argument("--out-mem", required=True, type=Path)
    parser.add_argument("--out-pairs", required=True, type=Path)
    a = parser.parse_args()
    estimate(a.shards, a.dataset_dir, a.mem_threshold, a.infl_threshold, a.out_mem, a.out_pairs, a.block)


if __name__ == "__main__":
    cli.run(main)
