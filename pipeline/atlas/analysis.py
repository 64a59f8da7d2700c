"""Compare the scores of one atlas: rank correlations with bootstrap confidence intervals, overlap of
the top sets, and the examples every method flags.

The scores are the atlas columns ``columns.COLUMNS`` says what they measure (``columns.score_columns``),
each ranked in its own direction: higher = more of what it measures. Not all measure memorization
(Feldman's mem and mem_margin, K-fold M and the replicate counts do; LiRA measures membership,
slowness difficulty to learn, rho atypicality, the nearest-sample counts closeness to samples), so a
correlation between two scores says how far two quantities go together, not that two estimates of
one agree. Every pair is compared on the examples where both are defined (a diffusion model only
scores its training subset).

Top set of a score: the examples whose score is at least the (1 - top_fraction) quantile of
its defined values (``method="higher"``, ties at the threshold included), excluding those at
the column's minimum, so a count that is 0 for 97 % of the examples flags only the non-zero
ones and a constant column flags none. An example is flagged by a method if any of that
method's primary scores, whatever they measure, puts it in its top set: Feldman's secondary scores
(mem_margin, LiRA, slowness; ``columns.Column.alternative``) are compared in pairs.parquet but flag
nothing, so the flagged set of a method does not grow with the number of its estimators.

pairs.parquet schema (one row per unordered pair of scores, atlas column order; no rows when
the atlas has fewer than two scores):
    score_a, score_b      string   atlas column names
    method_a, method_b    string   their methods (feldman, kfold, diffusion, mrgan, samples)
    n                     int64    examples where both are defined
    spearman              float64  Spearman rank correlation (average ranks for ties); NaN if
                                   either is constant on those examples or n < 3
    ci_low, ci_high       float64  percentile bootstrap interval (n_boot resamples of the examples, the
                                   same resamples for every pair defined on the same examples)
    n_boot                int64    bootstrap resamples
    confidence            float64  interval level
    top_fraction          float64
    n_top_a, n_top_b      int64    top-set sizes on the shared examples
    n_top_both            int64    examples in both top sets
    jaccard               float64  n_top_both / |union| (NaN if both top sets are empty)

flagged.parquet schema (one row per example in the top set of at least one score, most
flagged first):
    index, label          int64
    n_scores              int64    scores whose top set holds the example
    scores                string   those scores, comma separated
    n_methods             int64    methods flagging it
    methods               string   those methods, comma separated
    n_methods_total       int64    methods with at least one score in the atlas
    all_methods           bool     flagged by every such method (trivially true with one method)
    only_method           string   the single flagging method, <NA> when several flag it
    mean_quantile         float64  mean over the atlas's defined primary scores of the example's quantile
                                   rank (0..1, 1 = highest); orders examples within a group
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from pipeline import cli, io
from pipeline.atlas.columns import method_of, score_columns
from pipeline.errors import PipelineError
from pipeline.progress import get_logger
from pipeline.schema import schema_default

log = get_logger("atlas.analysis")

PAIR_COLUMNS = {"score_a": "string", "score_b": "string", "method_a": "string", "method_b": "string",
                "n": "int64", "spearman": "float64", "ci_low": "float64", "ci_high": "float64", "n_boot": "int64",
                "confidence": "float64", "top_fraction": "float64", "n_top_a": "int64", "n_top_b": "int64",
                "n_top_both": "int64", "jaccard": "float64"}
FLAGGED_COLUMNS = {"index": "int64", "label": "int64", "n_scores": "int64", "scores": "string",
                   "n_methods": "int64", "methods": "string", "n_methods_total": "int64", "all_methods": "bool",
                   "only_method": "string", "mean_quantile": "float64"}


def _rank_correlation(rx: np.ndarray, ry: np.ndarray) -> np.ndarray:
    """Pearson correlation of rank arrays along the last axis; NaN where one is constant."""
    rx = rx - rx.mean(axis=-1, keepdims=True)
    ry = ry - ry.mean(axis=-1, keepdims=True)
    denominator = np.sqrt((rx * rx).sum(axis=-1) * (ry * ry).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (rx * ry).sum(axis=-1) / denominator
    return np.where(denominator > 1e-12, np.clip(r, -1.0, 1.0), np.nan)


def spearman(x, y) -> float:
    """Spearman rank correlation (average ranks for ties); NaN for a constant input or n < 3."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 3:
        return float("nan")
    return float(_rank_correlation(rankdata(x), rankdata(y)))


def bootstrap_spearman(x, y, n_boot: int, confidence: float, rng: np.random.Generator,
                       chunk: int = 100) -> tuple[float, float]:
    """Percentile bootstrap interval of the Spearman correlation (resampling examples)."""
    return bootstrap_intervals(np.stack([np.asarray(x, np.float64), np.asarray(y, np.float64)]), [(0, 1)], n_boot,
                               confidence, rng, chunk)[0]


def _ranking(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sort order, each value's position among the distinct values, the sorted position of each
    distinct value's last copy)."""
    order = np.argsort(values, kind="stable")
    distinct, position, counts = np.unique(values, return_inverse=True, return_counts=True)
    return order, position, np.cumsum(counts) - 1


def bootstrap_intervals(columns: np.ndarray, pairs: list[tuple[int, int]], n_boot: int, confidence: float,
                        rng: np.random.Generator, chunk: int = 100) -> list[tuple[float, float]]:
    """Percentile bootstrap interval of the Spearman correlation of each pair (a, b) of rows of
    ``columns`` (scores x examples), all pairs from the same ``n_boot`` resamples of the examples.

    A resample enters as each example's count w in it: the average rank of a value in the resample is
    the count of resampled values up to it less half its own copies, one cumulative sum per score
    instead of a sort per pair, and with z = rank - (n + 1) / 2 a pair's correlation is
    sum w z_a z_b / sqrt(sum w z_a^2 sum w z_b^2). Those sums are of quarter-integers and exact (up to
    n of about 300,000), so each value is bit for bit the one that ranking the resampled copy gives
    (the resamples are drawn as ``rng.integers(0, n, (chunk, n))``, as that way drew them)."""
    n = columns.shape[1]
    if n < 3 or n_boot < 1 or not pairs:
        return [(float("nan"), float("nan"))] * len(pairs)
    rankings = [_ranking(column) for column in columns]
    center = (n + 1) / 2
    step = max(1, 2**26 // (8 * len(columns) * n))  # resamples per (step, scores, n) float64 block: 64 MB
    a, b = (np.array(side) for side in zip(*pairs))
    z, weighted = np.empty((step, len(columns), n)), np.empty((step, len(columns), n))
    values = []
    for begin in range(0, n_boot, chunk):
        rows = rng.integers(0, n, size=(min(chunk, n_boot - begin), n))
        counts = np.bincount((rows + n * np.arange(len(rows))[:, None]).ravel(), minlength=rows.size)
        counts = counts.reshape(rows.shape).astype(np.int32)
        for first in range(0, len(rows), step):
            w = counts[first:first + step]
            for k, (order, position, last) in enumerate(rankings):
                upto = np.cumsum(w[:, order], axis=1)[:, last]
                own = np.diff(upto, axis=1, prepend=0)
                np.subtract(np.take(upto - (own - 1) / 2, position, axis=1), center, out=z[:len(w), k])
            np.multiply(z[:len(w)], w[:, None, :], out=weighted[:len(w)])
            gram = np.matmul(weighted[:len(w)], z[:len(w)].transpose(0, 2, 1))
            with np.errstate(invalid="ignore", divide="ignore"):
                denominator = np.sqrt(gram[:, a, a] * gram[:, b, b])
                r = gram[:, a, b] / denominator
            values.append(np.where(denominator > 1e-12, np.clip(r, -1.0, 1.0), np.nan))
    values = np.concatenate(values)
    alpha = 1.0 - confidence
    out = []
    for column in values.T:
        column = column[~np.isnan(column)]
        out.append(tuple(float(v) for v in np.quantile(column, [alpha / 2, 1 - alpha / 2])) if len(column)
                   else (float("nan"), float("nan")))
    return out


def top_set(values, fraction: float) -> np.ndarray:
    """Boolean mask of the top set (see module docstring); missing values are never in it."""
    values = np.asarray(pd.array(values, dtype="Float64").to_numpy(dtype=np.float64, na_value=np.nan))
    defined = ~np.isnan(values)
    mask = np.zeros(len(values), dtype=bool)
    if not defined.any():
        return mask
    v = values[defined]
    threshold = np.quantile(v, 1.0 - fraction, method="higher")
    mask[defined] = (v >= threshold) & (v > v.min())
    return mask


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = int(np.sum(a | b))
    return float("nan") if union == 0 else float(np.sum(a & b)) / union


def _as_float(series: pd.Series) -> np.ndarray:
    return pd.array(series, dtype="Float64").to_numpy(dtype=np.float64, na_value=np.nan)


def pairs_table(atlas: pd.DataFrame, top_fraction: float, n_boot: int, confidence: float, seed: int) -> pd.DataFrame:
    """One row per pair of scores (module docstring); deterministic given ``seed``. The pairs defined on
    the same examples share their resamples (``bootstrap_intervals``), drawn from the seed and the
    first such pair's positions (i, j)."""
    scores = score_columns(atlas.columns)
    values = {name: _as_float(atlas[name]) for name in scores}
    tops = {name: top_set(values[name], top_fraction) for name in scores}
    pairs = [(i, j) for i in range(len(scores)) for j in range(i + 1, len(scores))]
    shared: dict[bytes, list[tuple[int, int]]] = {}
    for i, j in pairs:
        both = ~np.isnan(values[scores[i]]) & ~np.isnan(values[scores[j]])
        shared.setdefault(np.packbits(both).tobytes(), []).append((i, j))
    intervals = {}
    for group in shared.values():
        both = ~np.isnan(values[scores[group[0][0]]]) & ~np.isnan(values[scores[group[0][1]]])
        used = sorted({k for pair in group for k in pair})
        columns = np.stack([values[scores[k]][both] for k in used])
        local = [(used.index(i), used.index(j)) for i, j in group]
        found = bootstrap_intervals(columns, local, n_boot, confidence, np.random.default_rng([seed, *group[0]]))
        intervals.update(zip(group, found))
    rows = []
    for i, j in pairs:
        a, b = scores[i], scores[j]
        both = ~np.isnan(values[a]) & ~np.isnan(values[b])
        x, y = values[a][both], values[b][both]
        low, high = intervals[(i, j)]
        top_a, top_b = tops[a][both], tops[b][both]
        rows.append({"score_a": a, "score_b": b, "method_a": method_of(a), "method_b": method_of(b),
                     "n": int(both.sum()), "spearman": spearman(x, y), "ci_low": low, "ci_high": high,
                     "n_boot": n_boot, "confidence": confidence, "top_fraction": top_fraction,
                     "n_top_a": int(top_a.sum()), "n_top_b": int(top_b.sum()),
                     "n_top_both": int((top_a & top_b).sum()), "jaccard": jaccard(top_a, top_b)})
        log.info("%s vs %s: n=%d spearman %.3f [%.3f, %.3f], top-set Jaccard %.3f", a, b, rows[-1]["n"],
                 rows[-1]["spearman"], low, high, rows[-1]["jaccard"])
    return pd.DataFrame(rows, columns=list(PAIR_COLUMNS)).astype(PAIR_COLUMNS)


def flagged_table(atlas: pd.DataFrame, top_fraction: float) -> pd.DataFrame:
    """Examples in the top set of at least one primary score (module docstring)."""
    scores = score_columns(atlas.columns, primary_only=True)
    methods = list(dict.fromkeys(method_of(name) for name in scores))
    n = len(atlas)
    top = np.zeros((n, len(scores)), dtype=bool)
    quantiles = np.full((n, len(scores)), np.nan)
    for k, name in enumerate(scores):
        values = _as_float(atlas[name])
        top[:, k] = top_set(values, top_fraction)
        defined = ~np.isnan(values)
        if defined.sum() > 1:
            quantiles[defined, k] = (rankdata(values[defined]) - 1) / (defined.sum() - 1)
    by_method = np.stack([top[:, [method_of(s) == m for s in scores]].any(axis=1) for m in methods], axis=1) \
        if methods else np.zeros((n, 0), dtype=bool)
    keep = np.flatnonzero(top.any(axis=1))
    with np.errstate(all="ignore"):
        mean_quantile = np.nanmean(quantiles[keep], axis=1) if len(keep) else np.empty(0)
    n_methods = by_method[keep].sum(axis=1)
    table = pd.DataFrame({
        "index": atlas["index"].to_numpy()[keep],
        "label": atlas["label"].to_numpy()[keep],
        "n_scores": top[keep].sum(axis=1),
        "scores": [",".join(s for s, t in zip(scores, row) if t) for row in top[keep]],
        "n_methods": n_methods,
        "methods": [",".join(m for m, t in zip(methods, row) if t) for row in by_method[keep]],
        "n_methods_total": np.full(len(keep), len(methods)),
        "all_methods": n_methods == len(methods),
        "only_method": [(",".join(m for m, t in zip(methods, row) if t) if row.sum() == 1 else None)
                        for row in by_method[keep]],
        "mean_quantile": mean_quantile,
    }, columns=list(FLAGGED_COLUMNS)).astype(FLAGGED_COLUMNS)
    return table.sort_values(["n_methods", "n_scores", "mean_quantile", "index"],
                             ascending=[False, False, False, True], kind="stable").reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Rank correlations, top-set overlap and flagged examples of an atlas.")
    parser.add_argument("--atlas", required=True, type=Path)
    parser.add_argument("--top-fraction", type=float, default=schema_default("atlas.top_fraction"))
    parser.add_argument("--n-boot", type=int, default=schema_default("atlas.bootstrap"))
    parser.add_argument("--confidence", type=float, default=schema_default("atlas.confidence"))
    parser.add_argument("--seed", type=int, default=schema_default("atlas.seed"))
    parser.add_argument("--out-pairs", required=True, type=Path)
    parser.add_argument("--out-flagged", required=True, type=Path)
    a = parser.parse_args()
    atlas = io.read_parquet(a.atlas)
    for column in ["index", "label"]:
        if column not in atlas:
            raise PipelineError(f"{a.atlas}: missing column '{column}'; not an atlas table")
    scores = score_columns(atlas.columns)
    log.info("%s: %d examples, %d scores (%s)", a.atlas, len(atlas), len(scores), ", ".join(scores))
    io.write_parquet(pairs_table(atlas, a.top_fraction, a.n_boot, a.confidence, a.seed), a.out_pairs)
    flagged = flagged_table(atlas, a.top_fraction)
    io.write_parquet(flagged, a.out_flagged)
    log.info("flagged: %d examples, %d by every method", len(flagged), int(flagged["all_methods"].sum()))


if __name__ == "__main__":
    cli.run(main)
