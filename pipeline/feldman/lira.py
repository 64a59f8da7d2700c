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
from pipeline.feldman.columns import by_column_blocks, column_blocks
from pipeline.feldman.runs import read_runs
from pipeline.progress import get_logger

log = get_logger("feldman.lira")

VARIANTS = ("online", "fixed")
VAR_FLOOR = 1e-12  # a group of identical phi: a variance of 0 would make the ratio infinite
FPR_GRID = np.concatenate([[0.0], np.logspace(-5, 0, 101)])
MEMBERSHIP_COLUMNS = {"variant": "string", "fpr": "float64", "tpr": "float64", "auc": "float64",
                      "tpr_at_fpr_0_1pct": "float64", "tpr_at_fpr_1pct": "float64",
                      "n_member_pairs": "int64", "n_nonmember_pairs": "int64"}


def _log_normal(x, mean, var):
    return -0.5 * (np.log(2 * np.pi * var) + (x - mean) ** 2 / var)


def _leave_one_out(group: np.ndarray, phi: np.ndarray):
    """Per (target r, example i): the group's count, mean and sum of squares over the shadows
    (the group's members other than r). ``group`` (t, n) bool, phi NaN outside where defined."""
    x = np.where(group, phi, 0.0)
    n = group.sum(0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = x.sum(0) / n
        ss = (np.where(group, phi - mean, 0.0) ** 2).sum(0)
        own = group.astype(np.float64)  # 1 where r itself is in the group (and so left out)
        n_r = n - own
        mean_r = np.where(group, (x.sum(0) - x) / n_r, mean)
        ss_r = np.where(group, ss - (phi - mean) ** 2 * n / (n - 1), ss)
    return n_r, mean_r, np.maximum(ss_r, 0.0)


def _group_stats(member: np.ndarray, phi: np.ndarray) -> dict[str, tuple]:
    """``_leave_one_out`` of the models with ("in") and without ("out") each example."""
    phi = np.asarray(phi, dtype=np.float64)
    defined = ~np.isnan(phi)
    return {name: _leave_one_out(group & defined, phi) for name, group in (("in", member), ("out", ~member))}


def pooled_variances(member: np.ndarray, phi: np.ndarray) -> dict[str, np.ndarray]:
    """The fixed variant's global variance of each group, per target model r, (t, 1): sum_i SS_i /
    sum_i (n_i - 1) over the examples with at least 2 shadows in the group, summed a block of
    examples at a time (``columns.column_blocks``)."""
    member = np.asarray(member, dtype=bool)
    sums = {name: np.zeros((2, len(member))) for name in ("in", "out")}
    for cols in column_blocks(*member.shape):
        for name, (n_r, _, ss_r) in _group_stats(member[:, cols], phi[:, cols]).items():
            usable = n_r >= 2
            sums[name] += [np.where(usable, ss_r, 0.0).sum(1), np.where(usable, n_r - 1, 0.0).sum(1)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return {name: np.maximum(ss / dof, VAR_FLOOR)[:, None] for name, (ss, dof) in sums.items()}


def log_ratios(member: np.ndarray, phi: np.ndarray, pooled: dict | None = None) -> dict[str, np.ndarray]:
    """Lambda[r, i] of each variant (module docstring), NaN where it cannot be formed. ``pooled``: the
    fixed variant's variances over every example when ``member`` and ``phi`` are a block of them
    (``pooled_variances``); by default those of the examples given."""
    member = np.asarray(member, dtype=bool)
    phi = np.asarray(phi, dtype=np.float64)
    pooled = pooled_variances(member, phi) if pooled is None else pooled
    stats = _group_stats(member, phi)
    online, fixed = np.zeros(phi.shape), np.zeros(phi.shape)
    for sign, name in ((1.0, "in"), (-1.0, "out")):
        n_r, mean_r, ss_r = stats[name]
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.where(n_r >= 2, np.maximum(ss_r / (n_r - 1), VAR_FLOOR), np.nan)
            online += sign * _log_normal(phi, mean_r, var)
            fixed += sign * _log_normal(phi, np.where(n_r >= 1, mean_r, np.nan), pooled[name])
    defined = ~np.isnan(phi)
    return {"online": np.where(defined, online, np.nan), "fixed": np.where(defined, fixed, np.nan)}


def column_auc(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Per column: P(score of a positive row > score of a negative row), ties 1/2, NaN rows left out;
    NaN where a column has no positive or no negative row. Ranked with NaN as +inf, so the defined
    entries' ranks are their ranks among the defined entries alone."""
    scores = np.asarray(scores, dtype=np.float64)
    defined = ~np.isnan(scores)
    positive = np.asarray(positive, dtype=bool) & defined
    n_pos = positive.sum(0).astype(np.float64)
    n_neg = defined.sum(0) - n_pos
    ranks = rankdata(np.where(defined, scores, np.inf), axis=0)
    u = np.where(positive, ranks, 0.0).sum(0) - n_pos * (n_pos + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)


def per_example(member: np.ndarray, phi: np.ndarray) -> dict[str, np.ndarray]:
    """The leave-one-model-out AUC of each example, per variant (memorization.parquet's lira columns),
    a block of examples at a time."""
    member, phi = np.asarray(member, dtype=bool), np.asarray(phi)
    pooled = pooled_variances(member, phi)
    return by_column_blocks(lambda m, p: {name: column_auc(ratio, m) for name, ratio in
                                          log_ratios(m, p, pooled).items()}, member, phi)


def roc(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) at every distinct threshold, from the highest score down, starting at (0, 0). Written
    for every (model, example) pair at once: one sort, one running count, no negated copy (the order
    within tied scores does not matter, only where each distinct score ends)."""
    order = np.argsort(scores)[::-1]
    s, p = scores[order], positive[order]
    del order
    last = np.flatnonzero(np.r_[s[1:] != s[:-1], True])  # last position of each distinct score
    del s
    tp = np.cumsum(p, dtype=np.int64)[last]
    n_pos, n_neg = int(p.sum()), len(p) - int(p.sum())
    del p
    fp = np.add(last, 1, out=last)  # in place: pairs above the threshold
    fp -= tp
    fpr = np.empty(len(fp) + 1)
    fpr[0] = 0.0
    np.divide(fp, max(1, n_neg), out=fpr[1:])
    del fp, last
    tpr = np.empty(len(tp) + 1)
    tpr[0] = 0.0
    np.divide(tp, max(1, n_pos), out=tpr[1:])
    return fpr, tpr


def tpr_at(fpr: np.ndarray, tpr: np.ndarray, fpr_max) -> np.ndarray:
    """The largest TPR of a threshold whose FPR is at most ``fpr_max`` (the paper's 'TPR at low FPR')."""
    return np.maximum.accumulate(tpr)[np.searchsorted(fpr, np.asarray(fpr_max), side="right") - 1]


def membership_table(member: np.ndarray, phi: np.ndarray) -> pd.DataFrame:
    """membership.parquet (module docstring): each variant's ROC over all (model, example) pairs. Lambda
    is formed a block of examples at a time; the AUC is the area under the ROC's steps (trapezoids,
    so tied scores count 1/2, as in ``column_auc``), which needs no second sort of every pair."""
    member, phi = np.asarray(member, dtype=bool), np.asarray(phi)
    pooled = pooled_variances(member, phi)
    ratios = by_column_blocks(lambda m, p: log_ratios(m, p, pooled), member, phi)
    parts = []
    for name in VARIANTS:
        ratio = ratios.pop(name)
        defined = ~np.isnan(ratio)
        scores, positive = ratio[defined], member[defined]
        del ratio, defined
        n_pos, n_neg = int(positive.sum()), int((~positive).sum())
        if n_pos and n_neg:
            fpr, tpr = roc(scores, positive)
            del scores, positive
            auc = float(np.dot(np.diff(fpr), tpr[1:] + tpr[:-1]) / 2)
            points = tpr_at(fpr, tpr, np.r_[FPR_GRID, 0.001, 0.01])
            grid, low, one = points[:-2], float(points[-2]), float(points[-1])
            del fpr, tpr
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
    runs = read_runs(a.shards)
    if np.isnan(runs.lira_statistic).all():
        log.warning("%s...: no confidences or margins in the shard tables; membership.parquet has no defined pair",
                    a.shards[0])
    io.write_parquet(membership_table(runs.member, runs.lira_statistic), a.out)


if __name__ == "__main__":
    cli.run(main)
