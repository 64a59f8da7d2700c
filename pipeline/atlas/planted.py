"""How well each score of an atlas finds the canaries planted in its data set.

A data set of kind ``planted`` marks its canaries in ``index.parquet``: column ``planted`` is ""
for a clean example, else the kind of canary (``flipped`` label, ``outlier``, ``duplicate``, or
``test_copy``, which sits in the test split and so never appears in the atlas). A score that
measures memorization should put the training canaries above the clean training examples; one that
measures something else finds the kinds that have more of it (rho, atypicality, finds the inverted
images, not the flipped labels). Per score (``columns.score_columns``, each in its own direction,
``columns.COLUMNS``) and per kind present among the training examples, on the examples where the
score is defined:

- AUROC = P(score of a random canary > score of a random clean example), ties counting 1/2:
  the Mann-Whitney statistic from mid-ranks, U / (n_kind n_clean), with
  U = sum of the canaries' ranks in the pooled sample - n_kind (n_kind + 1) / 2.
  0.5 = no better than chance, 1 = every canary above every clean example.
- Its percentile bootstrap interval: ``n_boot`` resamples drawing the canaries and the clean
  examples separately with replacement (their counts stay fixed, as in the design), level
  ``confidence``, seeded by ``seed`` and the score and kind names, so adding a score elsewhere
  changes no interval.
- Ranks among all training examples with a defined score, rank 1 = the highest score (ties share
  their mean rank), and the kind's share of the score's top set (``analysis.top_set``: the top
  ``top_fraction``, ties included, never the score's minimum).

planted.parquet schema (one row per score and kind, atlas column order, kinds in KIND_ORDER; no
rows when no training example is a canary):
    dataset              string   data set name
    score                string   atlas column
    kind                 string   canary kind (``planted`` value)
    n_kind               int64    training canaries of the kind where the score is defined
    n_clean              int64    clean training examples (planted == "") where it is defined
    auroc                float64  as above; NaN if n_kind or n_clean is 0
    auroc_low            float64  bootstrap interval of auroc
    auroc_high           float64
    median_score_kind    float64  median score of the kind's canaries
    median_score_clean   float64  median score of the clean examples
    median_rank          float64  median rank of the kind's canaries (1 = the highest score of the
                                  n_defined training examples)
    n_defined            int64    training examples where the score is defined (ranks run 1..n_defined)
    n_top                int64    size of the score's top set
    n_kind_top           int64    canaries of the kind in it
    top_fraction_share   float64  n_kind_top / n_top: the kind's share of the top set (NaN when empty)
    flagged_share        float64  n_kind_top / n_kind: share of the kind's canaries the top set flags
    n_boot               int64    bootstrap resamples
    confidence           float64  interval level
    top_fraction         float64  atlas.top_fraction
"""

from __future__ import annotations

import argparse
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from pipeline import cli, io
from pipeline.atlas.analysis import top_set
from pipeline.atlas.columns import score_columns
from pipeline.data import planted as planted_data
from pipeline.errors import PipelineError
from pipeline.progress import get_logger
from pipeline.schema import schema_default

log = get_logger("atlas.planted")

CLEAN = ""
KIND_ORDER = ("flipped", "outlier", "duplicate", "test_copy")  # table and figure order; others follow by name
PLANTED_COLUMNS = {"dataset": "string", "score": "string", "kind": "string", "n_kind": "int64", "n_clean": "int64",
                   "auroc": "float64", "auroc_low": "float64", "auroc_high": "float64",
                   "median_score_kind": "float64", "median_score_clean": "float64", "median_rank": "float64",
                   "n_defined": "int64", "n_top": "int64", "n_kind_top": "int64", "top_fraction_share": "float64", "flagged_share": "float64",
                   "n_boot": "int64", "confidence": "float64", "top_fraction": "float64"}


def _defined(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)[~np.isnan(np.asarray(values, dtype=np.float64))]


def auroc(scores, positive_mask) -> float:
    """P(random positive scores above random negative), ties 1/2, NaN scores left out; from
    mid-ranks in O(n log n). Equals ``sklearn.metrics.roc_auc_score(positive_mask, scores)``."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive_mask, dtype=bool)
    defined = ~np.isnan(scores)
    scores, positive = scores[defined], positive[defined]
    n_pos = int(positive.sum())
    n_neg = len(scores) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    u = rankdata(scores)[positive].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def bootstrap_auroc(positives, negatives, n_boot: int, confidence: float,
                    rng: np.random.Generator) -> tuple[float, float]:
    """Percentile interval of the AUROC, resampling positives and negatives separately.

    A resample only reweights the examples, so each positive's wins against the sorted negatives
    (negatives below it, plus half of those tied) are cumulative sums of the negatives' draw
    counts at positions found once: O(n) per resample instead of a sort."""
    positives, negatives = _defined(positives), np.sort(_defined(negatives))
    n_pos, n_neg = len(positives), len(negatives)
    if n_pos == 0 or n_neg == 0 or n_boot < 1:
        return float("nan"), float("nan")
    below = np.searchsorted(negatives, positives, side="left")
    at_or_below = np.searchsorted(negatives, positives, side="right")
    chunk = max(1, 4_000_000 // (n_pos + n_neg))  # resamples at once: arrays of a few tens of MB
    values = []
    for begin in range(0, n_boot, chunk):
        size = min(chunk, n_boot - begin)
        offsets = np.arange(size)[:, None]
        neg_counts = np.bincount((offsets * n_neg + rng.integers(0, n_neg, (size, n_neg))).ravel(),
                                 minlength=size * n_neg).reshape(size, n_neg)
        pos_counts = np.bincount((offsets * n_pos + rng.integers(0, n_pos, (size, n_pos))).ravel(),
                                 minlength=size * n_pos).reshape(size, n_pos)
        cumulative = np.concatenate([np.zeros((size, 1), np.int64), np.cumsum(neg_counts, axis=1)], axis=1)
        wins = (cumulative[:, below] + cumulative[:, at_or_below]) / 2
        values.append((pos_counts * wins).sum(axis=1) / (n_pos * n_neg))
    alpha = 1.0 - confidence
    low, high = np.quantile(np.concatenate(values), [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def memorization_ranks(scores) -> np.ndarray:
    """Rank of each example, 1 = highest score, ties sharing their mean rank; NaN where undefined."""
    scores = np.asarray(scores, dtype=np.float64)
    ranks = np.full(len(scores), np.nan)
    defined = ~np.isnan(scores)
    ranks[defined] = rankdata(-scores[defined])
    return ranks


def training_canaries(index_table: pd.DataFrame, atlas: pd.DataFrame, path) -> np.ndarray:
    """The ``planted`` value of each atlas row, from the data set's index table at ``path``."""
    if "planted" not in index_table:
        raise PipelineError(f"{path}: no column 'planted'; planted canaries need a data set of kind 'planted'")
    return planted_data.training_kinds(index_table, atlas["index"].to_numpy(), f"atlas beside {path}")


def kinds_present(planted: np.ndarray) -> list[str]:
    kinds = set(planted.tolist()) - {CLEAN}
    return [k for k in KIND_ORDER if k in kinds] + sorted(kinds - set(KIND_ORDER))


def _as_float(series: pd.Series) -> np.ndarray:
    return pd.array(series, dtype="Float64").to_numpy(dtype=np.float64, na_value=np.nan)


def _median(values: np.ndarray) -> float:
    values = _defined(values)
    return float(np.median(values)) if len(values) else float("nan")


def _seed(seed: int, score: str, kind: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(score.encode()), zlib.crc32(kind.encode())])


def planted_table(atlas: pd.DataFrame, planted: np.ndarray, dataset: str, top_fraction: float, n_boot: int,
                  confidence: float, seed: int) -> pd.DataFrame:
    """One row per score and canary kind (module docstring); ``planted`` is aligned to the atlas rows."""
    clean = planted == CLEAN
    rows = []
    for score in score_columns(atlas.columns):
        values = _as_float(atlas[score])
        defined = ~np.isnan(values)
        ranks = memorization_ranks(values)
        top = top_set(values, top_fraction)
        for kind in kinds_present(planted):
            is_kind = planted == kind
            kind_values, clean_values = values[is_kind & defined], values[clean & defined]
            compared = is_kind | clean
            low, high = bootstrap_auroc(kind_values, clean_values, n_boot, confidence, _seed(seed, score, kind))
            n_top, n_kind_top = int(top.sum()), int((top & is_kind).sum())
            rows.append({"dataset": dataset, "score": score, "kind": kind, "n_kind": len(kind_values),
                         "n_clean": len(clean_values), "auroc": auroc(values[compared], is_kind[compared]),
                         "auroc_low": low, "auroc_high": high, "median_score_kind": _median(kind_values),
                         "median_score_clean": _median(clean_values), "median_rank": _median(ranks[is_kind]),
                         "n_defined": int(defined.sum()), "n_top": n_top, "n_kind_top": n_kind_top,
                         "top_fraction_share": n_kind_top / n_top if n_top else float("nan"),
                         "flagged_share": n_kind_top / len(kind_values) if len(kind_values) else float("nan"),
                         "n_boot": n_boot,
                         "confidence": confidence, "top_fraction": top_fraction})
            log.info("%s / %s: n=%d vs %d clean, AUROC %.3f [%.3f, %.3f], median rank %.1f of %d, top-set share %.3f",
                     score, kind, rows[-1]["n_kind"], rows[-1]["n_clean"], rows[-1]["auroc"], low, high,
                     rows[-1]["median_rank"], rows[-1]["n_defined"], rows[-1]["top_fraction_share"])
    return pd.DataFrame(rows, columns=list(PLANTED_COLUMNS)).astype(PLANTED_COLUMNS)


def main() -> None:
    parser = argparse.ArgumentParser(description="How well each atlas score detects the planted canaries.")
    parser.add_argument("--atlas", required=True, type=Path)
    parser.add_argument("--index", required=True, type=Path, help="the data set's index.parquet")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--top-fraction", type=float, default=schema_default("atlas.top_fraction"))
    parser.add_argument("--n-boot", type=int, default=schema_default("atlas.bootstrap"))
    parser.add_argument("--confidence", type=float, default=schema_default("atlas.confidence"))
    parser.add_argument("--seed", type=int, default=schema_default("atlas.seed"))
    parser.add_argument("--out", required=True, type=Path)
    a = parser.parse_args()
    atlas = io.read_parquet(a.atlas)
    if "index" not in atlas:
        raise PipelineError(f"{a.atlas}: missing column 'index'; not an atlas table")
    index_table = io.read_parquet(a.index)
    for column in ["index", "split"]:
        if column not in index_table:
            raise PipelineError(f"{a.index}: missing column '{column}'; not a data set index")
    planted = training_canaries(index_table, atlas, a.index)
    log.info("%s: %d training examples, canaries %s", a.dataset, len(atlas),
             {k: int((planted == k).sum()) for k in kinds_present(planted)} or "none")
    table = planted_table(atlas, planted, a.dataset, a.top_fraction, a.n_boot, a.confidence, a.seed)
    io.write_parquet(table, a.out)


if __name__ == "__main__":
    cli.run(main)
