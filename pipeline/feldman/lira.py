"""LiRA online (Carlini et al. 2022) on Feldman's runs: how well each example's membership is inferred.

Paper: N. Carlini, S. Chien, M. Nasr, S. Song, A. Terzis and F. Tramer, "Membership Inference Attacks
From First Principles", IEEE S&P 2022. Its online attack trains shadow models with and without each
example; Feldman's design (t models on random subsets J_r) is exactly that setting, so every model
can be the target in turn with the other t - 1 as its shadows.

Statistic. The paper scores a model by the logit-scaled true-class confidence
phi = log(p / (1 - p)), p the softmax probability of the true class, which equals
z_y - logsumexp_{k != y} z_k for logits z; ``train_shard`` records it for every model and training
example (``train_logit_conf``). Like the margin it is a difference of logits, unbounded both ways, so
its per-example distributions are close to Gaussian, which is what the test needs (p itself, squeezed
against 0 and 1, would not be). Runs brought from a file without it (``runs_file``), or shards
written before it was recorded, keep only the margin m = z_y - max_{k != y} z_k: LiRA then uses m
for every run (``runs.read_runs`` decides once and logs it), which is the logit-scaled
confidence of the two-class reduction (true class against its strongest rival) and within
log(K - 1) of phi (phi <= m <= phi + log(K - 1)), equal when one rival dominates.

Online test, for target model r and example i (the shadows: the other t - 1 models):
    mu_in, s_in   = mean and standard deviation of phi[r', i] over shadows r' with i in J_r'
    mu_out, s_out = the same over shadows without i
    Lambda[r, i]  = log N(phi[r, i]; mu_in, s_in^2) - log N(phi[r, i]; mu_out, s_out^2)
(the log of the paper's likelihood ratio; larger = more likely a member). Fixed variance (the
paper's choice with few shadow models, about 64 or fewer): s_in^2 and s_out^2 are replaced by
global variances pooled over every example, sum_i SS_i / sum_i (n_i - 1) of each group over the
shadows, so only the two means are per example. Everything of model r is left out of its own test.

Per example (memorization.parquet's ``lira``, ``lira_fixed``): the AUC over the t models of
Lambda[r, i] against membership of i in J_r, i.e. P(Lambda of a model trained on i > Lambda of one
not), ties 1/2: 0.5 when i leaves no trace, 1 when every model trained on it is told apart. NaN
where it cannot be formed (a group of fewer than 2 shadows, 3 for the online variances, or no statistic).
No standard error is given: Hanley & McNeil's formula for an AUC of independent scores gives 0.076
at t = 64 and AUC 0.5, but the models' Lambda share their shadows, and over repeated simulated runs
the per-example AUC of the online variant spreads twice as wide (0.14); a resampling error would
cost the job a LiRA pass per resample.

membership.parquet (one row per LiRA variant and point of its ROC curve over every (model, example)
pair with Lambda defined; the run-level summary repeated on each row of a variant):
    variant              string   'online' (per-example variances) or 'fixed' (global variances)
    fpr                  float64  false positive rate: a grid of 0 and 101 log-spaced values 1e-5..1
    tpr                  float64  the largest true positive rate at a threshold with FPR <= fpr
    auc                  float64  area under the full ROC (P(member pair > non-member pair), ties 1/2)
    tpr_at_fpr_0_1pct    float64  TPR at 0.1 % FPR (as tpr, at fpr = 0.001)
    tpr_at_fpr_1pct      float64  TPR at 1 % FPR
    n_member_pairs       int64    (model, example) pairs with the example in the model's subset
    n_nonmember_pairs    int64    pairs without
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from pipeline import cli, io
from pipeline.feldman.columns import column_blocks
from pipeline.feldman.runs import read_runs
from pipeline.progress import get_logger

log = get_logger("feldman.lira")

VARIANTS = ("online", "fixed")
VAR_FLOOR = 1e-12  # a group of identical phi: a variance of 0 would make the ratio infinite
FPR_GRID = np.concatenate([[0.0], np.logspace(-5, 0, 101)])
MEMBERSHIP_COLUMNS = {"variant": "string", "fpr": "float64", "tpr": "float64", "auc": "float64",
                      "tpr_at_fpr_0_1pct": "float64", "tpr_at_fpr_1pct": "float64",
                      "n_member_pairs": "int64", "n_nonmember_pairs": "int64"}


def _log_normal(square, var):
    """log N(x; mean, var) from the squared deviation (x - mean)^2."""
    return -0.5 * (np.log(2 * np.pi * var) + square / var)


def _leave_one_out(group: np.ndarray, phi: np.ndarray):
    """Per (target r, example i): the group's count, mean and sum of squares over the shadows
    (the group's members other than r). ``group`` (t, n) bool, phi NaN outside where defined. Where r
    is not in the group, x = 0 leaves the column's own mean and SS; an example with fewer than 2 in
    the group is never read for its SS (``log_ratios``, ``_pooled_sums`` ask for 2 shadows)."""
    x = np.where(group, phi, 0.0)
    n = group.sum(0, dtype=np.int32).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = x.sum(0)
        mean = total / n
        square = np.where(group, (phi - mean) ** 2, 0.0)
        ss = square.sum(0)
        n_r = n - group  # r itself left out of its group
        mean_r = (total - x) / n_r
        ss_r = ss - square * n / (n - 1)
    return n_r, mean_r, np.maximum(ss_r, 0.0)


def _group_stats(member: np.ndarray, phi: np.ndarray) -> dict[str, tuple]:
    """``_leave_one_out`` of the models with ("in") and without ("out") each example."""
    phi = np.asarray(phi, dtype=np.float64)
    defined = ~np.isnan(phi)
    return {name: _leave_one_out(group & defined, phi) for name, group in (("in", member), ("out", ~member))}


def _pooled_sums(stats: dict[str, tuple]) -> dict[str, np.ndarray]:
    """Per group, (t,) sums over a block's examples of SS and of n - 1 where a group has 2 shadows."""
    sums = {}
    for name, (n_r, _, ss_r) in stats.items():
        usable = n_r >= 2
        sums[name] = np.stack([np.where(usable, ss_r, 0.0).sum(1), np.where(usable, n_r - 1, 0.0).sum(1)])
    return sums


def _pooled(sums: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        return {name: np.maximum(ss / dof, VAR_FLOOR)[:, None] for name, (ss, dof) in sums.items()}


def pooled_variances(member: np.ndarray, phi: np.ndarray) -> dict[str, np.ndarray]:
    """The fixed variant's global variance of each group, per target model r, (t, 1): sum_i SS_i /
    sum_i (n_i - 1) over the examples with at least 2 shadows in the group, summed a block of
    examples at a time (``columns.column_blocks``)."""
    member = np.asarray(member, dtype=bool)
    sums = {name: np.zeros((2, len(member))) for name in ("in", "out")}
    for cols in column_blocks(*member.shape):
        for name, part in _pooled_sums(_group_stats(member[:, cols], phi[:, cols])).items():
            sums[name] += part
    return _pooled(sums)


def log_ratios(member: np.ndarray, phi: np.ndarray, pooled: dict | None = None,
               stats: dict | None = None) -> dict[str, np.ndarray]:
    """Lambda[r, i] of each variant (module docstring), NaN where it cannot be formed. ``pooled``: the
    fixed variant's variances over every example when ``member`` and ``phi`` are a block of them
    (``pooled_variances``); by default those of the examples given. ``stats``: their ``_group_stats``,
    if already formed."""
    member = np.asarray(member, dtype=bool)
    phi = np.asarray(phi, dtype=np.float64)
    pooled = pooled_variances(member, phi) if pooled is None else pooled
    stats = _group_stats(member, phi) if stats is None else stats
    terms = {}
    for name in ("in", "out"):
        n_r, mean_r, ss_r = stats[name]
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.where(n_r >= 2, np.maximum(ss_r / (n_r - 1), VAR_FLOOR), np.nan)
            # NaN where phi is undefined, and for the fixed variant where the group has no shadow
            # (mean_r = 0 / 0 there)
            square = (phi - mean_r) ** 2
            terms[name] = _log_normal(square, var), _log_normal(square, pooled[name])
    return {variant: terms["in"][k] - terms["out"][k] for k, variant in enumerate(VARIANTS)}


# the group statistics of every block are kept for the second pass when they hold at most this
KEEP_STATS_BYTES = 2**30


def ratio_blocks(member: np.ndarray, phi: np.ndarray):
    """Yield (columns, ``log_ratios`` of those columns) for each block of examples (``column_blocks``):
    one pass for the pooled variances, a second for the ratios. The first pass's group statistics
    (six (t, n) float64 matrices) are kept for the second when they hold at most KEEP_STATS_BYTES
    (t = 256 runs of 60,000 examples: 0.7 GB), and formed again otherwise (t = 4,000: 11 GB)."""
    member = np.asarray(member, dtype=bool)
    blocks = column_blocks(*member.shape)
    keep = 6 * 8 * member.size <= KEEP_STATS_BYTES
    sums = {name: np.zeros((2, len(member))) for name in ("in", "out")}
    kept = []
    for cols in blocks:
        block = np.asarray(phi[:, cols], dtype=np.float64)
        stats = _group_stats(member[:, cols], block)
        for name, part in _pooled_sums(stats).items():
            sums[name] += part
        kept.append((block, stats) if keep else (None, None))
    pooled = _pooled(sums)
    for cols, (block, stats) in zip(blocks, kept):
        yield cols, log_ratios(member[:, cols], phi[:, cols] if block is None else block, pooled, stats)


def rank_sums(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Per column, the sum of the positive rows' ranks among all rows (average ranks for ties), NaN
    ranked as +inf: one sort of each column. A positive row whose value no other row shares has its
    position as its rank; the columns where one does are ranked by ``rankdata``. Ranks are
    half-integers, so the sums are exact and equal ``rankdata``'s whatever the order of summing."""
    keyed = np.array(scores.T, dtype=np.float64, order="C")
    keyed[np.isnan(keyed)] = np.inf  # after every defined value: their ranks are theirs alone
    flags = np.ascontiguousarray(positive.T)
    order = np.argsort(keyed, axis=1)
    ordered = np.take_along_axis(keyed, order, axis=1)
    hits = np.take_along_axis(flags, order, axis=1)
    del order
    tied = ((ordered[:, 1:] == ordered[:, :-1]) & (hits[:, 1:] | hits[:, :-1])).any(1)
    sums = (hits * np.arange(1.0, keyed.shape[1] + 1)).sum(1)  # not a BLAS product: its idle threads spin
    if tied.any():
        sums[tied] = np.where(flags[tied], rankdata(keyed[tied], axis=1), 0.0).sum(1)
    return sums


def column_auc(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Per column: P(score of a positive row > score of a negative row), ties 1/2, NaN rows left out;
    NaN where a column has no positive or no negative row. Ranked with NaN as +inf, so the defined
    entries' ranks are their ranks among the defined entries alone."""
    scores = np.asarray(scores, dtype=np.float64)
    defined = ~np.isnan(scores)
    positive = np.asarray(positive, dtype=bool) & defined
    n_pos = positive.sum(0, dtype=np.int32).astype(np.float64)
    n_neg = defined.sum(0, dtype=np.int32) - n_pos
    u = rank_sums(scores, positive) - n_pos * (n_pos + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)


def per_example(member: np.ndarray, phi: np.ndarray) -> dict[str, np.ndarray]:
    """The leave-one-model-out AUC of each example, per variant (memorization.parquet's lira columns),
    a block of examples at a time."""
    member, phi = np.asarray(member, dtype=bool), np.asarray(phi)
    out = {name: np.empty(member.shape[1]) for name in VARIANTS}
    for cols, ratios in ratio_blocks(member, phi):
        for name, ratio in ratios.items():
            out[name][cols] = column_auc(ratio, member[:, cols])
    return out


def tpr_counts(fpr_max: np.ndarray, n_neg: int) -> np.ndarray:
    """For each FPR bound, the most false positives a threshold may have: the largest c with
    c / n_neg <= fpr_max, the float division deciding it as it decides a threshold's FPR."""
    c = np.clip(np.floor(np.asarray(fpr_max) * n_neg), 0, n_neg)
    c = np.where((c + 1 <= n_neg) & ((c + 1) / n_neg <= fpr_max), c + 1, c)
    return np.where(c / n_neg > fpr_max, c - 1, c).astype(np.int64)


def _sorted_nonmembers(member: np.ndarray, blocks) -> dict[str, np.ndarray]:
    """Per variant, the sorted Lambda of every non-member pair where it is defined."""
    values = {name: np.empty(int((~member).sum())) for name in VARIANTS}
    filled = dict.fromkeys(VARIANTS, 0)
    for cols, ratios in blocks:
        for name, ratio in ratios.items():
            part = ratio[~member[:, cols] & ~np.isnan(ratio)]
            values[name][filled[name]:filled[name] + len(part)] = part
            filled[name] += len(part)
    for name in VARIANTS:
        values[name] = values[name][:filled[name]]
        values[name].sort()
    return values


def _member_counts(member: np.ndarray, blocks, negatives: dict, thresholds: dict,
                   batch: int = 2**22) -> dict[str, dict]:
    """Per variant: the member pairs where Lambda is defined, twice their Mann-Whitney count against
    the non-members (below: 2, equal: 1) and how many lie above each threshold; placed ``batch`` at a
    time (sorted, so each search starts where the last ended)."""
    counts = {name: {"n_pos": 0, "u2": 0, "above": np.zeros(len(thresholds[name]), np.int64)} for name in VARIANTS}
    pending = {name: [] for name in VARIANTS}

    def place(name: str) -> None:
        values, count = np.sort(np.concatenate(pending.pop(name))), counts[name]
        pending[name] = []
        count["n_pos"] += len(values)
        count["u2"] += sum(int(np.searchsorted(negatives[name], values, side=side).sum(dtype=np.int64))
                           for side in ("left", "right"))
        count["above"] += len(values) - np.searchsorted(values, thresholds[name], side="right")

    for cols, ratios in blocks:
        for name, ratio in ratios.items():
            pending[name].append(ratio[member[:, cols] & ~np.isnan(ratio)])
            if sum(map(len, pending[name])) >= batch:
                place(name)
    for name in VARIANTS:
        place(name)
    return counts


def membership_table(member: np.ndarray, phi: np.ndarray) -> pd.DataFrame:
    """membership.parquet (module docstring): each variant's ROC over all (model, example) pairs,
    without holding every pair's Lambda. Lambda is formed a block of examples at a time, twice
    (``ratio_blocks``; kept between the passes when every pair's Lambda fits KEEP_STATS_BYTES, as at
    t = 256 runs of 60,000 examples): the first pass keeps the non-member pairs' values and sorts them,
    the second places each block's member pairs among them. The TPR at an FPR bound f is the share of
    member pairs above the (c + 1)-th largest non-member value, c the most false positives f allows
    (``tpr_counts``): the largest TPR of a threshold with FPR <= f. The AUC is the Mann-Whitney count,
    sum over member pairs of (non-members below + half those equal) / (n_pos n_neg), in integers: the
    area under the ROC's steps (trapezoids where pairs tie)."""
    member, phi = np.asarray(member, dtype=bool), np.asarray(phi)
    kept = list(ratio_blocks(member, phi)) if 2 * 8 * member.size <= KEEP_STATS_BYTES else None
    negatives = _sorted_nonmembers(member, kept or ratio_blocks(member, phi))
    bounds = np.r_[FPR_GRID, 0.001, 0.01]
    thresholds = {}
    for name, values in negatives.items():  # -inf: every pair above it (c = n_neg)
        c = tpr_counts(bounds, max(1, len(values)))
        thresholds[name] = np.where(c < len(values), values[np.clip(len(values) - 1 - c, 0, None)], -np.inf) \
            if len(values) else np.full(len(bounds), -np.inf)
    counts = _member_counts(member, kept or ratio_blocks(member, phi), negatives, thresholds)
    parts = []
    for name in VARIANTS:
        (n_pos, u2, above), n_neg = counts[name].values(), len(negatives[name])
        if n_pos and n_neg:
            auc = u2 / (2 * n_pos * n_neg)
            points = np.where(thresholds[name] == -np.inf, n_pos, above) / n_pos
            grid, low, one = points[:-2], float(points[-2]), float(points[-1])
        else:
            auc, grid, low, one = float("nan"), np.full(len(FPR_GRID), np.nan), float("nan"), float("nan")
        parts.append(pd.DataFrame({"variant": name, "fpr": FPR_GRID, "tpr": grid, "auc": auc,
                                   "tpr_at_fpr_0_1pct": low, "tpr_at_fpr_1pct": one,
                                   "n_member_pairs": n_pos, "n_nonmember_pairs": n_neg}))
        log.info("LiRA %s over %d member and %d non-member pairs: AUC %.3f, TPR %.4f at 0.1 %% FPR, %.4f at "
                 "1 %% FPR", name, n_pos, n_neg, auc, low, one)
    return pd.concat(parts, ignore_index=True).astype(MEMBERSHIP_COLUMNS)


def main() -> None:
    parser = argparse.ArgumentParser(description="LiRA online over every (model, example) pair of a Feldman run.")
    parser.add_argument("--shards", required=True, nargs="+", type=Path)
    parser.add_argument("--out", required=True, type=Path)
    a = parser.parse_args()
    runs = read_runs(a.shards, ("lira_statistic",))
    if np.isnan(runs.lira_statistic).all():
        log.warning("%s...: no confidences or margins in the shard tables; membership.parquet has no defined pair",
                    a.shards[0])
    io.write_parquet(membership_table(runs.member, runs.lira_statistic), a.out)


if __name__ == "__main__":
    cli.run(main)
