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
Standard error (``lira_se``, ``lira_fixed_se``): Hanley & McNeil's formula for an AUC of independent
scores gives 0.076 at t = 64 and AUC 0.5, but the models' Lambda share their shadows, and over
repeated simulated runs the per-example AUC of the online variant spreads twice as wide (0.14). So
the error is a bootstrap over the models: SE_RESAMPLES resamples of the t models (multinomial counts
w_r, seeded), each model's copies a target weighted by w_r and the shadows of every other target
weighted alike (never the target's own copies), the AUC weighted by w_r; the standard deviation of
the resampled AUCs. The fixed variant keeps the variances pooled over every example from all the
models (over tens of thousands of examples their resampling noise is negligible). NaN where fewer
than 2 resamples give an AUC. ``per_example_error``; the job pays a LiRA pass per resample.

Against the number of reference models (``membership``, ``ladder``): for a target r and its first
k // 2 reference models with example i and k // 2 without it, mu and the variances as above over those
references alone (the fixed variant: pooled over the examples for each k), so LiRA's power is read
at the same targets, references and k as RMIA's; defined from k = 4 (two models of each group give a
variance).

The ROC of Lambda over every (model, example) pair, every model the target with all the others its
shadows, is membership.parquet's rows of design 'all' (``membership_table``; the table: ``membership``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from pipeline.feldman.columns import column_blocks
from pipeline.feldman.ladder import FPR_GRID, ReferenceBlock
from pipeline.progress import get_logger

log = get_logger("feldman.lira")

VARIANTS = ("online", "fixed")
VAR_FLOOR = 1e-12  # a group of identical phi: a variance of 0 would make the ratio infinite
SE_RESAMPLES = 10  # bootstrap resamples of the models for the per-example standard error
SE_SEED = 0  # their seed: the same runs give the same errors
# membership_table's columns (membership.parquet's rows of design 'all' hold them and more)
MEMBERSHIP_COLUMNS = {"variant": "string", "fpr": "float64", "tpr": "float64", "auc": "float64",
                      "tpr_at_fpr_0_01pct": "float64", "tpr_at_fpr_0_1pct": "float64",
                      "tpr_at_fpr_1pct": "float64", "n_member_pairs": "int64", "n_nonmember_pairs": "int64"}


def _log_normal(square, var):
    """log N(x; mean, var) from the squared deviation (x - mean)^2."""
    return -0.5 * (np.log(2 * np.pi * var) + square / var)


def _column_sums(group: np.ndarray, phi: np.ndarray):
    """Per example (column): the group's count, total, mean and sum of squares over every model."""
    x = np.where(group, phi, 0.0)
    n = group.sum(0, dtype=np.int32).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = x.sum(0)
        mean = total / n
        ss = np.where(group, (phi - mean) ** 2, 0.0).sum(0)
    return n, total, mean, ss


def _leave_one_out(group: np.ndarray, phi: np.ndarray, sums: tuple | None = None):
    """Per (target r, example i): the group's count, mean and sum of squares over the shadows
    (the group's members other than r). ``group`` (rows, n) bool, phi NaN outside where defined; ``sums``:
    the columns' ``_column_sums`` over every model when the rows are some of them (by default these rows'
    own). Where r is not in the group, x = 0 leaves the column's own mean and SS; an example with fewer
    than 2 in the group is never read for its SS (``log_ratios``, ``_pooled_sums`` ask for 2 shadows)."""
    x = np.where(group, phi, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if sums is None:
            n = group.sum(0, dtype=np.int32).astype(np.float64)
            total = x.sum(0)
            mean = total / n
        else:
            n, total, mean, ss = sums
        square = np.where(group, (phi - mean) ** 2, 0.0)
        if sums is None:
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


def column_group_sums(member: np.ndarray, phi: np.ndarray) -> dict[str, tuple]:
    """Per group ("in", "out"), the ``_column_sums`` of every example over every model, a block at a time."""
    member = np.asarray(member, dtype=bool)
    n = member.shape[1]
    out = {name: tuple(np.empty(n) for _ in range(4)) for name in ("in", "out")}
    for cols in column_blocks(*member.shape):
        block = np.asarray(phi[:, cols], dtype=np.float64)
        defined = ~np.isnan(block)
        for name, group in (("in", member[:, cols]), ("out", ~member[:, cols])):
            for whole, part in zip(out[name], _column_sums(group & defined, block)):
                whole[cols] = part
    return out


def row_ratio_blocks(member: np.ndarray, phi: np.ndarray, rows: slice, pooled: dict, sums: dict):
    """Yield (columns, ``log_ratios`` of the models ``rows``) for each block of examples, every other
    model a shadow: the groups' column sums over every model (``column_group_sums``) less each row's
    own term, as ``ratio_blocks`` forms them (the same floats)."""
    member = np.asarray(member, dtype=bool)
    pooled_rows = {name: value[rows] for name, value in pooled.items()}
    for cols in column_blocks(rows.stop - rows.start, member.shape[1]):
        block = np.asarray(phi[rows, cols], dtype=np.float64)
        defined = ~np.isnan(block)
        inside = member[rows, cols]
        stats = {name: _leave_one_out(group & defined, block, tuple(part[cols] for part in sums[name]))
                 for name, group in (("in", inside), ("out", ~inside))}
        yield cols, log_ratios(inside, block, pooled_rows, stats)


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
    bounds = np.r_[FPR_GRID, 0.0001, 0.001, 0.01]
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
            grid, lowest, low, one = points[:-3], float(points[-3]), float(points[-2]), float(points[-1])
        else:
            auc, grid = float("nan"), np.full(len(FPR_GRID), np.nan)
            lowest = low = one = float("nan")
        parts.append(pd.DataFrame({"variant": name, "fpr": FPR_GRID, "tpr": grid, "auc": auc,
                                   "tpr_at_fpr_0_01pct": lowest, "tpr_at_fpr_0_1pct": low, "tpr_at_fpr_1pct": one,
                                   "n_member_pairs": n_pos, "n_nonmember_pairs": n_neg}))
        log.info("LiRA %s over %d member and %d non-member pairs: AUC %.3f, TPR %.4f at 0.1 %% FPR, %.4f at "
                 "1 %% FPR", name, n_pos, n_neg, auc, low, one)
    return pd.concat(parts, ignore_index=True).astype(MEMBERSHIP_COLUMNS)


# ---------------------------------------------------------------- the per-example standard error

def _weighted_leave_one_out(group: np.ndarray, phi: np.ndarray, weight: np.ndarray):
    """``_leave_one_out`` with model r counted ``weight[r]`` times (a bootstrap resample): per (r, i) the
    weight, mean and sum of squares of the group's other models, all copies of r left out."""
    w = np.where(group, weight[:, None], 0.0)
    x = np.where(group, phi, 0.0)
    n = w.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = (w * x).sum(0)
        mean = total / n
        square = np.where(group, (phi - mean) ** 2, 0.0)
        ss = (w * square).sum(0)
        n_r = n - w
        mean_r = (total - w * x) / n_r
        ss_r = ss - w * square * n / n_r
    return n_r, mean_r, np.maximum(ss_r, 0.0)


def weighted_column_auc(scores: np.ndarray, positive: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``column_auc`` with row r counted ``weight[r]`` times: per column, the weighted share of (positive,
    negative) row pairs with the positive above, ties 1/2; NaN rows and rows of weight 0 left out."""
    keyed = np.array(scores.T, dtype=np.float64, order="C")
    defined = ~np.isnan(keyed)
    keyed[~defined] = np.inf
    w = np.where(defined, weight[None, :], 0.0)
    flags = np.ascontiguousarray(positive.T)
    order = np.argsort(keyed, axis=1)
    ordered = np.take_along_axis(keyed, order, axis=1)
    w = np.take_along_axis(w, order, axis=1)
    positive_sorted = np.take_along_axis(flags, order, axis=1)
    w_pos, w_neg = np.where(positive_sorted, w, 0.0), np.where(positive_sorted, 0.0, w)
    cum_neg = np.cumsum(w_neg, axis=1)
    below = cum_neg - w_neg  # negatives' weight strictly before each position
    equal = w_neg
    tied = ordered[:, 1:] == ordered[:, :-1]
    if tied.any():  # a run of tied values: each its run's negatives below and half of those in the run
        positions = np.arange(keyed.shape[1])
        starts = np.maximum.accumulate(np.where(np.c_[np.ones(len(keyed), bool), ~tied], positions, 0), axis=1)
        ends = np.minimum.accumulate(np.where(np.c_[~tied, np.ones(len(keyed), bool)], positions,
                                              keyed.shape[1])[:, ::-1], axis=1)[:, ::-1]
        below = np.take_along_axis(below, starts, axis=1)
        equal = np.take_along_axis(cum_neg, ends, axis=1) - below
    total_pos, total_neg = w_pos.sum(1), w_neg.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (w_pos * (below + equal / 2)).sum(1) / (total_pos * total_neg)
    return np.where((total_pos > 0) & (total_neg > 0), auc, np.nan)


def _resampled_auc(member: np.ndarray, phi: np.ndarray, weight: np.ndarray, pooled: dict) -> dict[str, np.ndarray]:
    """Each variant's per-example AUC on a resample of the models (``weight``: each model's count), a block
    of examples at a time; the fixed variant with ``pooled`` (the variances pooled from all the models)."""
    n = member.shape[1]
    out = {name: np.empty(n) for name in VARIANTS}
    for cols in column_blocks(*member.shape):
        block = np.asarray(phi[:, cols], dtype=np.float64)
        inside = member[:, cols]
        defined = ~np.isnan(block)
        terms = {}
        for name, group in (("in", inside & defined), ("out", ~inside & defined)):
            n_r, mean_r, ss_r = _weighted_leave_one_out(group, block, weight)
            with np.errstate(invalid="ignore", divide="ignore"):
                var = np.where(n_r >= 2, np.maximum(ss_r / (n_r - 1), VAR_FLOOR), np.nan)
                square = np.where(n_r > 0, (block - mean_r) ** 2, np.nan)
                terms[name] = _log_normal(square, var), _log_normal(square, pooled[name])
        for k, name in enumerate(VARIANTS):
            out[name][cols] = weighted_column_auc(terms["in"][k] - terms["out"][k], inside, weight)
    return out


def per_example_error(member: np.ndarray, phi: np.ndarray, n_resamples: int = SE_RESAMPLES,
                      resample_seed: int = SE_SEED) -> dict[str, np.ndarray]:
    """Each variant's per-example bootstrap standard error of ``per_example`` (module docstring): the
    standard deviation of the AUC over ``n_resamples`` multinomial resamples of the t models."""
    member, phi = np.asarray(member, dtype=bool), np.asarray(phi)
    t, n = member.shape
    rng = np.random.default_rng(resample_seed)
    pooled = pooled_variances(member, phi)
    draws = {name: np.full((n_resamples, n), np.nan) for name in VARIANTS}
    for b in range(n_resamples):
        weight = rng.multinomial(t, np.full(t, 1 / t)).astype(np.float64)
        drawn = weight > 0  # a model not drawn is neither a target nor a shadow
        for name, auc in _resampled_auc(member[drawn], phi[drawn], weight[drawn],
                                        {group: value[drawn] for group, value in pooled.items()}).items():
            draws[name][b] = auc
    out = {}
    for name, values in draws.items():
        finite = np.isfinite(values)
        count = finite.sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(finite, values, 0.0).sum(0) / count
            var = np.where(finite, (values - mean) ** 2, 0.0).sum(0) / (count - 1)
        out[name] = np.where(count >= 2, np.sqrt(var), np.nan)
    return out


# ---------------------------------------------------------------- against the number of reference models

def block_sums(block, ks) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per group ("in", "out") of a ``ladder.ReferenceBlock``: for each k of ``ks`` the count, sum and sum
    of squares of phi' - phi_r over the first k // 2 references of the group, phi_r the target's own
    statistic (0 where it has none): Lambda needs only the deviations from it."""
    shift = np.where(np.isnan(block.target_phi), 0.0, block.target_phi)
    x = block.phi - shift[None, :]
    half = [k // 2 for k in ks]
    out = {}
    for group in ("in", "out"):
        first = block.first(group, half)
        out[group] = first.used, first.sums(x, "lira_x"), first.sums(x * x, "lira_x2")
    return out


def ladder_ratios(sums: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                  target_defined: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Lambda of one target against every example for each k, per variant ((len(ks), n), NaN where
    undefined), and the references used, from ``block_sums`` of every block: the fixed variant's
    variances pooled over the examples at each k."""
    terms, used = {}, 0
    for group, (count, total, squares) in sums.items():
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / count  # phi_r - mu = -mean
            ss = np.maximum(squares - total * mean, 0.0)
            usable = count >= 2
            pooled = np.maximum(np.where(usable, ss, 0.0).sum(1) / np.where(usable, count - 1, 0).sum(1),
                                VAR_FLOOR)[:, None]
            var = np.where(usable, np.maximum(ss / (count - 1), VAR_FLOOR), np.nan)
        square = np.where(target_defined[None, :], mean ** 2, np.nan)
        terms[group] = _log_normal(square, var), _log_normal(square, pooled)
        used = used + count
    ratios = {name: terms["in"][k] - terms["out"][k] for k, name in enumerate(VARIANTS)}
    return {name: (ratio, np.where(np.isnan(ratio), 0, used)) for name, ratio in ratios.items()}


def ladder_log_ratios(member: np.ndarray, stat: np.ndarray, target: int, others: np.ndarray,
                      ks: list[int]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Lambda of every example for target model ``target`` with the first k // 2 reference models of each
    group among ``others`` (row indices, in order), per variant and k: (len(ks), n) ratios and counts of
    reference models used, a block of examples at a time (``membership`` forms the same with RMIA's)."""
    n = member.shape[1]
    sums = {group: tuple(np.zeros((len(ks), n)) for _ in range(3)) for group in ("in", "out")}
    for cols in column_blocks(len(others), n):
        for group, parts in block_sums(ReferenceBlock(member, stat, target, others, cols), ks).items():
            for whole, part in zip(sums[group], parts):
                whole[:, cols] = part
    return ladder_ratios(sums, ~np.isnan(np.asarray(stat[target], dtype=np.float64)))
