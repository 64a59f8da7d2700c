"""The design shared by LiRA and RMIA against the number of reference models (``membership``).

Every attack of the ladder attacks the same target models with the same reference models: the
targets are a random sample of at most feldman.rmia.targets of the t models, each target's
references the first k of one random order of the other t - 1 models (drawn once per target, shared
by every attack and k), so the attacks differ only in what they do with the references. "The first
k of a group": where an attack averages over the reference models with an example ("in") or without
it ("out"), the first min(k, available) of that group in the order; online attacks take k // 2 of
each group. Only the k beyond which no example gains a model are computed (``useful_references``).

The ROC of an attack and k is over every (target, example) pair with a score: AUC (P(member pair >
non-member pair), ties 1/2) and the largest TPR at a threshold with FPR at most each bound.
Intervals: a two-way ("pigeonhole") bootstrap that resamples the targets and the examples
independently, each pair weighted by the product of its row's and column's counts (the pairs share
both, so neither alone would do); 95 % percentile intervals over feldman.rmia.bootstrap resamples.
Weights are whole counts, so the weighted sums are exact whatever their order.
"""

from __future__ import annotations

import numpy as np

from pipeline.parallel import thread_map

FPR_GRID = np.concatenate([[0.0], np.logspace(-5, 0, 101)])
POINTS = {"0_01pct": 1e-4, "0_1pct": 1e-3, "1pct": 1e-2}  # the summary columns' FPR bounds
SUMMARIES = ("auc", *(f"tpr_at_fpr_{name}" for name in POINTS))


def reference_grid(t: int, references: list[int] | None = None) -> list[int]:
    """The numbers of reference models k: ``references`` (those below t), else 1, 2, 4, ... below
    t - 1, and t - 1."""
    if references:
        return sorted({int(k) for k in references if 1 <= k <= t - 1})
    grid = [k for k in (2 ** np.arange(int(np.log2(max(t - 1, 1))) + 1)).tolist() if k < t - 1]
    return grid + [t - 1] if t >= 2 else []


def useful_references(member: np.ndarray, stat: np.ndarray, ks: list[int], groups: str) -> list[int]:
    """The k of ``ks`` up to the first at which every example already has every model of the groups
    an attack averages (``groups`` "out": the first k without it; "both": k // 2 of each group): larger
    k would average the same models."""
    defined = ~np.isnan(np.asarray(stat, dtype=np.float32))
    inside = (np.asarray(member, dtype=bool) & defined).sum(0)
    outside = (~np.asarray(member, dtype=bool) & defined).sum(0)
    most = int(outside.max(initial=0)) if groups == "out" else 2 * int(np.maximum(inside, outside).max(initial=0))
    kept = []
    for k in ks:
        kept.append(k)
        if k >= most:
            break
    return kept


def streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """The random generators of the targets and their orders, and of the bootstrap."""
    attack_rng, bootstrap_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    return attack_rng, bootstrap_rng


def draw_targets(t: int, targets: int, rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
    """The target models (sorted) and, per target, its random order of the other t - 1 models."""
    chosen = np.sort(rng.choice(t, size=min(targets, t), replace=False))
    return chosen, [rng.permutation(np.delete(np.arange(t), target)) for target in chosen]


def group_rows(group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of ``group`` (m, b) its count, and every column's group rows in order, column after column."""
    _, rows = np.nonzero(group.T)
    return group.sum(0), rows


class FirstOfGroup:
    """The first min(k, available) rows of ``group`` (m, b) in each column, rows in order, for each k of
    ``ks``: ``used`` (len(ks), b) counts them, ``sums(values)`` sums ``values`` over them (prefix sums
    in row order: a sum of the same rows is the same float whichever k asks for it)."""

    def __init__(self, group: np.ndarray, ks, rows: tuple[np.ndarray, np.ndarray] | None = None):
        self.group = group
        counts, ordered = rows if rows is not None else group_rows(group)
        self.used = np.minimum(np.asarray(ks, dtype=np.int64)[:, None], counts[None, :])
        start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        # the row of each column's used-th group row (0 where none is used: never read)
        position = np.where(self.used > 0, start[None, :] + self.used - 1, 0)
        self.last = ordered[position] if len(ordered) else np.zeros_like(position)
        self.columns = np.arange(group.shape[1])
        self.some = self.used > 0
        self._prefix = {}

    def sums(self, values: np.ndarray, key: str) -> np.ndarray:
        """(len(ks), b) sums of ``values`` (m, b) over the first rows, NaN where none is used; ``key``
        names ``values`` so that their prefix sums are formed once."""
        if key not in self._prefix:
            self._prefix[key] = np.cumsum(np.where(self.group, values, 0.0), axis=0)
        return np.where(self.some, self._prefix[key][self.last, self.columns[None, :]], np.nan)

    def means(self, values: np.ndarray, key: str) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sums(values, key) / np.where(self.some, self.used, np.nan)


class Pairs:
    """The defined (target, example) pairs of a score matrix, grouped by tied score in descending
    order, for weighted ROCs (the bootstrap's resamples weigh pairs by row and column counts). The pairs
    are kept in the order of their group, so a resample's sums per group are sums of consecutive
    weights (whole counts: exact in any order)."""

    def __init__(self, scores: np.ndarray, positive: np.ndarray):
        defined = ~np.isnan(scores)
        rows, cols = np.nonzero(defined)
        values = scores[defined]
        self.positive = np.asarray(positive, dtype=bool)[defined]
        distinct, inverse = np.unique(-values, return_inverse=True)  # ascending -score: descending score
        self.n_groups = len(distinct)
        slot = inverse.ravel() + self.n_groups * self.positive  # non-members' groups first, then members'
        order = np.argsort(slot, kind="stable")
        self.rows, self.cols = rows[order].astype(np.int32), cols[order].astype(np.int32)
        ordered = slot[order]
        self.starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(ordered) else np.zeros(0, int)
        self.slots = ordered[self.starts]
        self.counts = np.diff(np.r_[self.starts, len(ordered)]).astype(np.float64)
        self.shape = scores.shape

    def summary(self, row_weight: np.ndarray | None = None, col_weight: np.ndarray | None = None,
                grid: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """AUC (ties 1/2) and the TPR at each FPR bound of ``grid`` (the largest TPR of a threshold
        with FPR <= the bound), each pair weighted by its row's and column's weights."""
        grid = np.asarray(grid if grid is not None else [], dtype=np.float64)
        sums = np.zeros(2 * self.n_groups)
        if row_weight is None:
            sums[self.slots] = self.counts
        elif len(self.rows):
            weight = np.take(row_weight, self.rows) * np.take(col_weight, self.cols)
            sums[self.slots] = np.add.reduceat(weight, self.starts)
        neg, pos = sums[:self.n_groups], sums[self.n_groups:]
        total_pos, total_neg = pos.sum(), neg.sum()
        if total_pos <= 0 or total_neg <= 0:
            return float("nan"), np.full(len(grid), np.nan)
        tp, fp = np.cumsum(pos), np.cumsum(neg)
        auc = float((pos * (total_neg - fp + neg / 2)).sum() / (total_pos * total_neg))
        last = np.searchsorted(fp / total_neg, grid, side="right") - 1  # fp / total_neg rises with the group
        tpr = np.where(last >= 0, tp[np.maximum(last, 0)] / total_pos, 0.0)
        return auc, tpr


def roc_rows(scores: np.ndarray, positive: np.ndarray, bootstrap: int, rng: np.random.Generator) -> dict:
    """One attack's and k's columns of membership.parquet: the ROC on FPR_GRID of ``scores`` (targets,
    n) against ``positive``, the summaries and their bootstrap intervals."""
    pairs = Pairs(scores, positive)
    grid = np.r_[FPR_GRID, list(POINTS.values())]
    auc, tpr = pairs.summary(grid=grid)
    values = {"auc": auc, **{f"tpr_at_fpr_{name}": tpr[len(FPR_GRID) + j] for j, name in enumerate(POINTS)}}
    n_rows, n_cols = pairs.shape
    weights = [(rng.multinomial(n_rows, np.full(n_rows, 1 / n_rows)).astype(np.float64),
                rng.multinomial(n_cols, np.full(n_cols, 1 / n_cols)).astype(np.float64)) for _ in range(bootstrap)]
    points = np.array(list(POINTS.values()))
    # the resamples drawn in order above, their summaries two at a time (pipeline.parallel; numpy's
    # passes over the pairs release the GIL): the same numbers in half the time on two cores
    summaries = thread_map(lambda weight: pairs.summary(*weight, points), weights)
    draws = np.array([[b_auc, *b_tpr] for b_auc, b_tpr in summaries]).reshape(bootstrap, len(SUMMARIES))
    row = {"fpr": FPR_GRID, "tpr": tpr[:len(FPR_GRID)]}
    for j, name in enumerate(SUMMARIES):
        row[name] = values[name]
        kept = draws[:, j][~np.isnan(draws[:, j])]
        low, high = np.percentile(kept, [2.5, 97.5]) if len(kept) else (np.nan, np.nan)
        row[f"{name}_low"], row[f"{name}_high"] = low, high
    row["n_member_pairs"] = int(pairs.positive.sum())
    row["n_nonmember_pairs"] = int((~pairs.positive).sum())
    return row


class ReferenceBlock:
    """One target's reference models (rows ``others``, in order) over a block of examples (``cols``): their
    statistic in float64, which of them hold each example ("in") and which do not ("out") among those with
    a statistic, and the first k of each group (``first``, formed once per group and list of k)."""

    def __init__(self, member: np.ndarray, stat: np.ndarray, target: int, others: np.ndarray, cols: slice,
                 sigmoid: tuple[np.ndarray, np.ndarray] | None = None):
        self.phi = np.asarray(stat[others, cols], dtype=np.float64)
        if sigmoid is not None:  # sigmoid(phi) and sigmoid(-phi) of every model, formed once for all targets
            self.p, self.q = sigmoid[0][others, cols], sigmoid[1][others, cols]
        defined = ~np.isnan(self.phi)
        inside = np.asarray(member[others, cols], dtype=bool)
        self.groups = {"in": inside & defined, "out": ~inside & defined}
        self.target_phi = np.asarray(stat[target, cols], dtype=np.float64)
        self._first, self._rows = {}, {}

    def first(self, group: str, ks) -> FirstOfGroup:
        key = (group, tuple(int(k) for k in ks))
        if key not in self._first:
            # a group's rows and prefix sums are shared by every list of k
            shared = next((f for (g, _), f in self._first.items() if g == group), None)
            rows = self._rows.setdefault(group, group_rows(self.groups[group]))
            self._first[key] = FirstOfGroup(self.groups[group], ks, rows)
            if shared is not None:
                self._first[key]._prefix = shared._prefix
        return self._first[key]
