"""Memorization and influence estimates from the shard tables (the estimator: see pipeline.feldman).

With M (t, n) the membership masks and C (t, n) / C' (t, n_test) the 0/1 correctness,
    mem_i      = mean_{r: i in J_r} C[r, i]  - mean_{r: i not in J_r} C[r, i]
    infl(i, j) = mean_{r: i in J_r} C'[r, j] - mean_{r: i not in J_r} C'[r, j]
NaN (never 0) where n_in or n_out is 0. Influence is formed in blocks of training examples, so the
dense n x n_test matrix is never held; only pairs with mem_i >= mem threshold and
infl(i, j) >= infl threshold are kept.

Noise. With t = 64 runs only about 19 models miss i, so a pair with no influence at all still
reaches infl >= 0.15 now and then; among the ~10^5 candidate pairs some do. Each pair is therefore
tested against infl(i, j) = 0, i.e. against correctness on j being independent of membership of i.
Given the t runs, n_in of them with i, and K_j of them right on j, the count h of runs with i that
are right on j is then hypergeometric (t, K_j, n_in) (drawing n_in of the t runs at random), so
    p_value = P(H >= h)                     (one-sided exact test: Fisher's, conditional on K_j)
    z       = infl / sqrt(pbar (1 - pbar) (1 / n_in + 1 / n_out)),  pbar = K_j / t
z is the two-proportion z statistic: infl over its standard error when the true influence is 0
(the pooled pbar; unlike infl_se it is not 0 when p_in and p_out are 0 or 1). Pairs are kept when
p_value <= influence_max_p as well (1, the default, keeps all). infl >= threshold is the event
h >= h_thr(n_in, K_j), so the number of pairs expected over the thresholds by chance alone, if no
candidate pair (mem_i >= mem threshold, any j) had any influence, is exact:
    expected = sum over candidate pairs of P(H >= max(h_thr, h_p))
h_p the smallest count with p_value <= influence_max_p. Set beside the number selected (in
influence_chance.parquet and the log), it says how many selected pairs noise alone explains.

memorization.parquet (one row per training example, in dataset order):
    index   int64    dataset index of the training example
    label   int64    its label
    mem     float64  memorization estimate (NaN if n_in or n_out is 0)
    se      float64  standard error sqrt(p_in(1-p_in)/n_in + p_out(1-p_out)/n_out)
    p_in    float64  accuracy on it of the models trained with it
    p_out   float64  accuracy on it of the models trained without it
    n_in    int32    runs with i in J_r
    n_out   int32    runs with i not in J_r
    mem_margin         float64  sigma(margin) in minus out (pipeline.feldman.estimators; NaN without margins)
    mem_margin_se      float64  its standard error
    lira               float64  LiRA online, per-example leave-one-model-out AUC (pipeline.feldman.lira)
    lira_se            float64  its standard error (a bootstrap over the models; lira)
    lira_fixed         float64  the same with the fixed (global) variances, for small t
    lira_fixed_se      float64  its standard error
    learning_speed     float64  share of epochs in which the models holding i got it right (Jiang et al. 2021)
    learning_speed_se  float64  its standard error over those models
    cum_loss           float64  training loss summed over its steps, mean over the models holding i (Ravikumar et al. 2025)
    cum_loss_se        float64  its standard error over those models
    mem_margin_eb      float64  mem_margin shrunk towards examples of like cum_loss (empirical Bayes; estimators)
    mem_margin_eb_se   float64  its standard error (sampling error of the shrunk estimate)
influence_pairs.parquet (one row per selected pair, by train index then influence, descending):
    train_index  int64    dataset index of training example i
    train_label  int64
    test_index   int64    dataset index of test example j
    test_label   int64
    mem          float64  mem_i
    infl         float64  infl(i, j)
    infl_se      float64  standard error of infl(i, j), as for mem
    z            float64  infl over its standard error under zero influence (pooled, see above; NaN
                          if every run or none is right on j, where infl is 0)
    p_value      float64  one-sided exact p-value of infl(i, j) > 0 (hypergeometric, see above)
    n_in         int32
    n_out        int32
influence_chance.parquet (one row: what noise alone would select):
    runs                int32    t
    mem_threshold       float64  the thresholds and the p-value bound used
    infl_threshold      float64
    influence_max_p     float64
    n_candidate_train   int64    training examples with mem_i >= mem_threshold
    n_candidate_pairs   int64    n_candidate_train x n_test
    n_threshold         int64    candidate pairs with infl >= infl_threshold
    expected_threshold  float64  of those, expected if no candidate pair had any influence
    n_selected          int64    pairs also with p_value <= influence_max_p (rows of influence_pairs)
    expected_selected   float64  of those, expected if no candidate pair had any influence
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
from scipy.stats import hypergeom

from pipeline import cli, io
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.feldman.estimators import estimator_columns, memorization, standard_error
from pipeline.feldman.runs import read_runs, with_records
from pipeline.progress import get_logger
from pipeline.schema import schema_default

log = get_logger("feldman.estimate")


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


def candidate_rows(mem: np.ndarray, mem_threshold: float) -> np.ndarray:
    """Positions of the training examples whose pairs are candidates: mem_i >= mem_threshold; never an
    undefined mem (NaN: i in every subset or in none), whatever the threshold."""
    mem = np.asarray(mem, dtype=np.float64)
    return np.flatnonzero(~np.isnan(mem) & (np.nan_to_num(mem, nan=-np.inf) >= mem_threshold))


def pair_hits(member, test_correct, train_pos, test_pos, chunk: int = 4096) -> np.ndarray:
    """h per pair: runs that trained on i and are right on j (chunks of pairs bound the (t, chunk) copies)."""
    hits = np.zeros(len(train_pos), dtype=np.int64)
    for start in range(0, len(train_pos), chunk):
        i, j = train_pos[start:start + chunk], test_pos[start:start + chunk]
        hits[start:start + chunk] = (member[:, i] & test_correct[:, j]).sum(0)
    return hits


def null_pvalue(hits_in, total, n_in, n_runs):
    """P(H >= hits_in) for H ~ hypergeometric(n_runs, total, n_in): the one-sided exact p-value of
    infl > 0 when correctness on j is independent of membership of i."""
    return hypergeom.sf(np.asarray(hits_in) - 1, n_runs, total, n_in)


def null_z(infl, total, n_in, n_runs):
    """infl over its standard error under zero influence, from the pooled accuracy total / n_runs."""
    pooled = np.asarray(total, dtype=np.float64) / n_runs
    n_in = np.asarray(n_in, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return infl / np.sqrt(pooled * (1 - pooled) * (1 / n_in + 1 / (n_runs - n_in)))


def infl_of_count(hits_in, total, n_in, n_runs):
    """infl for a count h of runs with i right on j, in the arithmetic of ``influence_blocks``."""
    return hits_in / n_in - (total - hits_in) / (n_runs - n_in)


def threshold_count(total, n_in, n_runs, infl_threshold: float) -> np.ndarray:
    """The smallest h with infl_of_count(h) >= infl_threshold (from the closed form, then corrected
    by one either way so it agrees with the float comparison the selection makes)."""
    h = np.ceil((infl_threshold * (n_runs - n_in) + total) * n_in / n_runs)
    h = np.where(infl_of_count(h - 1, total, n_in, n_runs) >= infl_threshold, h - 1, h)
    return np.where(infl_of_count(h, total, n_in, n_runs) >= infl_threshold, h, h + 1)


def pvalue_count(total, n_in, n_runs, max_p: float) -> np.ndarray:
    """The smallest h with null_pvalue(h) <= max_p (bisection on the p-value itself; 0 if max_p >= 1)."""
    low = np.zeros(np.broadcast(total, n_in).shape)  # p(low) may exceed max_p
    high = np.broadcast_to(n_in, low.shape) + 1.0  # p(n_in + 1) = 0 <= max_p
    if max_p >= 1:
        return low
    while (high - low > 1).any():
        mid = np.floor((low + high) / 2)
        ok = null_pvalue(mid, total, n_in, n_runs) <= max_p
        high, low = np.where(ok, mid, high), np.where(ok, low, mid)
    return np.where(null_pvalue(low, total, n_in, n_runs) <= max_p, low, high)


def expected_by_chance(n_in_rows, test_totals, n_runs: int, infl_threshold: float,
                       max_p: float) -> tuple[float, float]:
    """(pairs expected over infl_threshold, pairs expected over it and with p_value <= max_p) among
    all pairs of the candidate rows (runs with i: ``n_in_rows``) and the test examples (runs right on
    j: ``test_totals``), if no pair had any influence. Exact under the hypergeometric null; summed over
    the distinct (n_in, K) values, so it costs nothing next to the influence itself."""
    n_values, n_counts = np.unique(np.asarray(n_in_rows, dtype=np.int64), return_counts=True)
    k_values, k_counts = np.unique(np.asarray(test_totals, dtype=np.int64), return_counts=True)
    n, k = n_values[:, None].astype(np.float64), k_values[None, :].astype(np.float64)
    weight = n_counts[:, None] * k_counts[None, :]
    h_thr = threshold_count(k, n, n_runs, infl_threshold)
    h_sel = np.maximum(h_thr, pvalue_count(k, n, n_runs, max_p))
    return (float((weight * null_pvalue(h_thr, k, n, n_runs)).sum()),
            float((weight * null_pvalue(h_sel, k, n, n_runs)).sum()))


def influence_pairs(member, test_correct, mem: np.ndarray, mem_threshold: float, infl_threshold: float,
                    block: int = 512) -> pd.DataFrame:
    """Pairs (train position, test position) with mem >= mem_threshold and infl >= infl_threshold,
    with z and p_value (``significant`` keeps those distinguishable from zero influence)."""
    rows = candidate_rows(mem, mem_threshold)
    n_runs, n_in = len(member), member.sum(0)
    parts = []
    for pos, infl, se in influence_blocks(member, test_correct, rows, block):
        r, j = np.nonzero(np.nan_to_num(infl, nan=-np.inf) >= infl_threshold)
        parts.append(pd.DataFrame({"train_pos": pos[r], "test_pos": j, "infl": infl[r, j], "infl_se": se[r, j]}))
    pairs = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        {"train_pos": np.zeros(0, np.int64), "test_pos": np.zeros(0, np.int64), "infl": [], "infl_se": []})
    train_pos, test_pos = pairs["train_pos"].to_numpy(np.int64), pairs["test_pos"].to_numpy(np.int64)
    total = test_correct.sum(0, dtype=np.int64)[test_pos]
    pairs["z"] = null_z(pairs["infl"].to_numpy(np.float64), total, n_in[train_pos], n_runs)
    pairs["p_value"] = null_pvalue(pair_hits(member, test_correct, train_pos, test_pos), total, n_in[train_pos],
                                   n_runs).astype(np.float64)
    pairs["mem"] = mem[pairs["train_pos"]] if len(pairs) else np.zeros(0)
    pairs["n_in"] = n_in[pairs["train_pos"]].astype(np.int32)
    pairs["n_out"] = (n_runs - n_in[pairs["train_pos"]]).astype(np.int32)
    return pairs.sort_values(["train_pos", "infl"], ascending=[True, False], kind="stable").reset_index(drop=True)


def significant(pairs: pd.DataFrame, influence_max_p: float) -> pd.DataFrame:
    """The pairs with p_value <= influence_max_p (all of them for 1)."""
    return pairs[pairs["p_value"] <= influence_max_p].reset_index(drop=True)


def chance_table(member, test_correct, mem: np.ndarray, mem_threshold: float, infl_threshold: float,
                 influence_max_p: float, n_threshold: int, n_selected: int) -> pd.DataFrame:
    """influence_chance.parquet's one row: the pairs selected against those noise alone would select."""
    rows = candidate_rows(mem, mem_threshold)
    n_runs = len(member)
    expected_threshold, expected_selected = expected_by_chance(
        member[:, rows].sum(0), test_correct.sum(0), n_runs, infl_threshold, influence_max_p)
    return pd.DataFrame({
        "runs": np.array([n_runs], np.int32), "mem_threshold": [float(mem_threshold)],
        "infl_threshold": [float(infl_threshold)], "influence_max_p": [float(influence_max_p)],
        "n_candidate_train": np.array([len(rows)], np.int64),
        "n_candidate_pairs": np.array([len(rows) * test_correct.shape[1]], np.int64),
        "n_threshold": np.array([n_threshold], np.int64), "expected_threshold": [expected_threshold],
        "n_selected": np.array([n_selected], np.int64), "expected_selected": [expected_selected]})


def memorization_and_influence(member, train_correct, test_correct, block: int = 512
                               ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The estimator on one's own 0/1 matrices, all influence kept (the workflow keeps only selected pairs).

    ``member``, ``train_correct``: (t, n); ``test_correct``: (t, n_test). Returns the memorization
    table of ``memorization`` (one row per training column) and the dense (n, n_test) influence and
    its standard error, NaN where n_in or n_out is 0.
    """
    for name, matrix in (("member", member), ("train_correct", train_correct), ("test_correct", test_correct)):
        values = np.asarray(matrix)
        other = values[~np.isin(values, (0, 1))] if values.dtype != bool else values[:0]
        if len(other):  # a cast to bool would turn 0.3 or NaN into True
            raise PipelineError(f"{name}: entries must be 0/1 (or bool), found {np.unique(other)[:5]}")
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
             influence_max_p: float, out_mem: Path, out_pairs: Path, out_chance: Path, block: int = 512) -> None:
    runs = read_runs(shards, scores=False)  # the float records are read one at a time, when needed
    member, train_ok, test_ok = runs.member, runs.correct, runs.test_correct
    data = Dataset.load(dataset_dir, mmap=True)
    _, y_train, i_train = data.split_arrays("train")
    _, y_test, i_test = data.split_arrays("test")
    if member.shape[1] != len(i_train) or test_ok.shape[1] != len(i_test):
        raise PipelineError(f"{shards[0]}: shard columns ({member.shape[1]} train, {test_ok.shape[1]} test) do not "
                            f"match {dataset_dir} ({len(i_train)}, {len(i_test)})")
    log.info("%d runs, %d training and %d test examples; mean test accuracy %.4f", len(member), len(i_train),
             len(i_test), runs.test_accuracy.mean())
    mem = memorization(member, train_ok)
    table = pd.concat([pd.DataFrame({"index": i_train.astype(np.int64), "label": y_train.astype(np.int64)}), mem,
                       estimator_columns(runs, load=lambda field: with_records(runs, shards, (field,)))], axis=1)
    io.write_parquet(table, out_mem)
    log.info("mem: %d examples >= %.2f, %d undefined (NaN)", (table["mem"] >= mem_threshold).sum(), mem_threshold,
             table["mem"].isna().sum())
    over_threshold = influence_pairs(member, test_ok, table["mem"].to_numpy(), mem_threshold, infl_threshold, block)
    pairs = significant(over_threshold, influence_max_p)
    out = pd.DataFrame({
        "train_index": i_train[pairs["train_pos"]].astype(np.int64),
        "train_label": y_train[pairs["train_pos"]].astype(np.int64),
        "test_index": i_test[pairs["test_pos"]].astype(np.int64),
        "test_label": y_test[pairs["test_pos"]].astype(np.int64),
        "mem": pairs["mem"].to_numpy(np.float64), "infl": pairs["infl"].to_numpy(np.float64),
        "infl_se": pairs["infl_se"].to_numpy(np.float64), "z": pairs["z"].to_numpy(np.float64),
        "p_value": pairs["p_value"].to_numpy(np.float64), "n_in": pairs["n_in"], "n_out": pairs["n_out"]})
    io.write_parquet(out, out_pairs)
    chance = chance_table(member, test_ok, table["mem"].to_numpy(), mem_threshold, infl_threshold, influence_max_p,
                          len(over_threshold), len(out))
    io.write_parquet(chance, out_chance)
    row = chance.iloc[0]
    log.info("%d high-influence pairs (infl >= %.2f, p <= %g) over %d training examples; noise alone: %.1f "
             "expected at t = %d (of %d candidate pairs; over the thresholds alone %d, %.1f expected)", len(out),
             infl_threshold, influence_max_p, out["train_index"].nunique(), row["expected_selected"], len(member),
             row["n_candidate_pairs"], row["n_threshold"], row["expected_threshold"])


def main() -> None:
    parser = argparse.ArgumentParser(description="Feldman-Zhang memorization and high-influence pairs.")
    parser.add_argument("--shards", required=True, nargs="+", type=Path)
    parser.add_argument("--dataset-dir", required=True, type=Path)
    parser.add_argument("--mem-threshold", type=float, default=schema_default("feldman.mem_threshold"))
    parser.add_argument("--infl-threshold", type=float, default=schema_default("feldman.infl_threshold"))
    parser.add_argument("--influence-max-p", type=float, default=schema_default("feldman.influence_max_p"),
                        help="keep pairs with a one-sided p-value of infl > 0 at most this")
    parser.add_argument("--block", type=int, default=512, help="training examples per influence block")
    parser.add_argument("--out-mem", required=True, type=Path)
    parser.add_argument("--out-pairs", required=True, type=Path)
    parser.add_argument("--out-chance", required=True, type=Path)
    a = parser.parse_args()
    estimate(a.shards, a.dataset_dir, a.mem_threshold, a.infl_threshold, a.influence_max_p, a.out_mem, a.out_pairs,
             a.out_chance, a.block)


if __name__ == "__main__":
    cli.run(main)
