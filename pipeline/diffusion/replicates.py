"""Replicates by Yoon et al.'s ratio criterion, per job and summarised across a sweep.

A sample W with nearest and second-nearest training images X1, X2 (pixel L2, from the shared
``pipeline.neighbors`` stage run against the job's exact training subset) is a replicate if
||W - X1|| / ||W - X2|| < threshold (default 1/3). If ||W - X2|| = 0 (W equals two identical
training images) the ratio is taken as 0. A sample's class is the class it was conditioned on
or, for an unconditional model, the label of its nearest training image.

replicates.parquet schema (one row per sample):
    sample          int64    position in samples.npy
    class           int64    conditioning class, or the nearest training image's label
    nearest         int64    dataset index of X1
    second          int64    dataset index of X2
    nearest_label   int64    label of X1
    d1, d2          float64  ||W - X1||, ||W - X2|| (pixels in [0, 1])
    ratio           float64  d1 / d2
    replicate       bool     ratio < threshold

scores.parquet / summary.parquet schema (one row per job and class; class -1 = all samples, then
one row per class of the training subset or of the samples):
    experiment, dataset       string
    size                      int64    the subset size of the sweep (dummies added, for keep_label runs)
    n_train                   int64    training images the model saw
    width, seed               int64
    class                     int64    -1 for the whole job
    n_samples                 int64    samples of the class
    n_replicates              int64    of them replicates
    replicate_share           float64  n_replicates / n_samples (NaN if no samples)
    n_train_class             int64    training images of the class (all, for class -1)
    n_train_replicated        int64    distinct training images of the class replicated >= once
    train_replicated_share    float64  n_train_replicated / n_train_class
    threshold                 float64
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import cli, io
from pipeline.errors import PipelineError
from pipeline.neighbors import knn
from pipeline.progress import get_logger
from pipeline.schema import schema_default

log = get_logger("diffusion.replicates")

SCORE_COLUMNS = ["experiment", "dataset", "size", "n_train", "width", "seed", "class", "n_samples", "n_replicates",
                 "replicate_share", "n_train_class", "n_train_replicated", "train_replicated_share", "threshold"]


def ratio_flags(d1: np.ndarray, d2: np.ndarray, threshold: float = schema_default("diffusion.threshold")
                ) -> tuple[np.ndarray, np.ndarray]:
    """(ratio, replicate flag) of the ratio criterion; ratio 0 where d2 == 0."""
    d1, d2 = np.asarray(d1, dtype=np.float64), np.asarray(d2, dtype=np.float64)
    if d1.shape != d2.shape:
        raise PipelineError(f"ratio criterion: d1 of shape {d1.shape} and d2 of shape {d2.shape} must match")
    if not (np.isfinite(d1).all() and np.isfinite(d2).all() and (0 <= d1).all() and (d1 <= d2).all()):
        raise PipelineError("ratio criterion: distances must be finite with 0 <= d1 <= d2 (d1 to the nearest "
                            "training image, d2 to the second nearest)")
    if not 0 < threshold <= 1:
        raise PipelineError(f"ratio criterion: threshold {threshold} must be in (0, 1]")
    ratio = np.divide(d1, d2, out=np.zeros_like(d1), where=d2 > 0)
    return ratio, ratio < threshold


def replicates(samples: np.ndarray, train: np.ndarray, threshold: float = schema_default("diffusion.threshold"),
               backend: str = schema_default("neighbors.*.backend")) -> pd.DataFrame:
    """The ratio criterion from images: each sample's two nearest training images (pixel L2, the
    workflow's ``pipeline.neighbors.knn``), then ``ratio_flags``.

    Rows of either array are images of any shape (uint8 scaled to [0, 1], floats taken as they are).
    Columns: nearest, second (row positions in ``train``), d1, d2, ratio, replicate.
    """
    positions, distances = knn(samples, train, 2, metric="l2", backend=backend)
    ratio, flag = ratio_flags(distances[:, 0], distances[:, 1], threshold)
    return pd.DataFrame({"nearest": positions[:, 0], "second": positions[:, 1], "d1": distances[:, 0],
                         "d2": distances[:, 1], "ratio": ratio, "replicate": flag})


def replicate_table(neighbors: pd.DataFrame, subset: pd.DataFrame, samples: pd.DataFrame,
                    threshold: float = schema_default("diffusion.threshold")) -> pd.DataFrame:
    """Per-sample replicate table from a k>=2 neighbour table whose ref_index is a subset position."""
    nn = neighbors.sort_values(["query", "rank"])
    first, second = nn[nn["rank"] == 0], nn[nn["rank"] == 1]
    if len(first) != len(samples) or len(second) != len(samples):
        raise PipelineError(f"neighbour table has {len(first)} queries with 2 neighbours, expected {len(samples)} "
                            "(k must be >= 2 and the subset hold >= 2 images)")
    pos_index = subset["index"].to_numpy()
    pos_label = subset["label"].to_numpy()
    p1, p2 = first["ref_index"].to_numpy(), second["ref_index"].to_numpy()
    if p1.max(initial=0) >= len(subset) or p2.max(initial=0) >= len(subset):
        raise PipelineError("neighbour table refers to positions outside the training subset")
    ratio, flag = ratio_flags(first["distance"].to_numpy(), second["distance"].to_numpy(), threshold)
    cond = samples.sort_values("sample")["label"].to_numpy()
    nearest_label = pos_label[p1]
    return pd.DataFrame({
        "sample": first["query"].to_numpy(dtype=np.int64),
        "class": np.where(cond >= 0, cond, nearest_label).astype(np.int64),
        "nearest": pos_index[p1], "second": pos_index[p2], "nearest_label": nearest_label.astype(np.int64),
        "d1": first["distance"].to_numpy(dtype=np.float64), "d2": second["distance"].to_numpy(dtype=np.float64),
        "ratio": ratio, "replicate": flag,
    })


def job_scores(replicates: pd.DataFrame, subset: pd.DataFrame, threshold: float, **job) -> pd.DataFrame:
    """Replicate share and training images replicated, for all samples (class -1) and per class."""
    rows = []
    classes = sorted(set(subset["label"].tolist()) | set(replicates["class"].tolist()))
    for cls in [-1, *classes]:
        reps = replicates if cls == -1 else replicates[replicates["class"] == cls]
        train = subset if cls == -1 else subset[subset["label"] == cls]
        hit = reps.loc[reps["replicate"], "nearest"]
        n_hit = int(np.isin(train["index"].to_numpy(), hit.to_numpy()).sum())
        rows.append({**job, "n_train": len(subset), "class": cls, "n_samples": len(reps),
                     "n_replicates": int(reps["replicate"].sum()),
                     "replicate_share": float(reps["replicate"].mean()) if len(reps) else float("nan"),
                     "n_train_class": len(train), "n_train_replicated": n_hit,
                     "train_replicated_share": n_hit / len(train) if len(train) else float("nan"),
                     "threshold": threshold})
    table = pd.DataFrame(rows)[SCORE_COLUMNS]
    return table.astype({"size": "int64", "width": "int64", "seed": "int64", "class": "int64", "n_train": "int64"})


def falls_with_size(summary: pd.DataFrame) -> pd.DataFrame:
    """Per (experiment, width): replicate share (all classes, mean over seeds) at the smallest and largest size."""
    rows = []
    overall = summary[summary["class"] == -1]
    for (exp, width), group in overall.groupby(["experiment", "width"]):
        by_size = group.groupby("size")["replicate_share"].mean().sort_index()
        rows.append({"experiment": exp, "width": width, "smallest": by_size.index[0], "largest": by_size.index[-1],
                     "share_smallest": by_size.iloc[0], "share_largest": by_size.iloc[-1],
                     "falls": bool(len(by_size) > 1 and by_size.iloc[-1] < by_size.iloc[0])})
    return pd.DataFrame(rows)


def main_score(a) -> None:
    subset = io.read_parquet(a.subset, columns=["position", "index", "label"])
    samples = io.read_parquet(a.samples, columns=["sample", "label"])
    neighbors = io.read_parquet(a.neighbors, columns=["query", "rank", "ref_index", "distance"])
    reps = replicate_table(neighbors, subset, samples, a.threshold)
    scores = job_scores(reps, subset, a.threshold, experiment=a.experiment, dataset=a.dataset, size=a.size,
                        width=a.width, seed=a.seed)
    io.write_parquet(reps, a.out_replicates)
    io.write_parquet(scores, a.out_scores)
    log.info("%s n=%d w=%d seed=%d: %d/%d replicates (share %.3f), %d training images replicated",
             a.experiment, a.size, a.width, a.seed, scores["n_replicates"].iloc[0], len(reps),
             scores["replicate_share"].iloc[0], scores["n_train_replicated"].iloc[0])


def main_summary(a) -> None:
    summary = pd.concat([io.read_parquet(path, columns=SCORE_COLUMNS) for path in a.scores], ignore_index=True)
    summary = summary.sort_values(["experiment", "width", "size", "seed", "class"]).reset_index(drop=True)
    io.write_parquet(summary, a.out)
    for row in falls_with_size(summary).itertuples():
        message = (f"{row.experiment} width {row.width}: replicate share {row.share_smallest:.3f} at size "
                   f"{row.smallest} -> {row.share_largest:.3f} at size {row.largest}")
        if row.falls:
            log.info("%s (falls with train-set size, as Yoon et al. report)", message)
        else:
            log.warning("%s: does NOT fall with train-set size; train longer or use a wider size range", message)
    log.info("wrote %s (%d rows)", a.out, len(summary))


def main() -> None:
    parser = argparse.ArgumentParser(description="Ratio-criterion replicates: score one job or summarise a sweep.")
    sub = parser.add_subparsers(dest="command", required=True)
    score = sub.add_parser("score")
    score.add_argument("--neighbors", required=True, type=Path)
    score.add_argument("--subset", required=True, type=Path)
    score.add_argument("--samples", required=True, type=Path, help="samples.parquet")
    score.add_argument("--threshold", type=float, default=schema_default("diffusion.threshold"))
    for key in ("experiment", "dataset"):
        score.add_argument(f"--{key}", required=True)
    for key in ("size", "width", "seed"):
        score.add_argument(f"--{key}", required=True, type=int)
    score.add_argument("--out-replicates", required=True, type=Path)
    score.add_argument("--out-scores", required=True, type=Path)
    summary = sub.add_parser("summary")
    summary.add_argument("--scores", required=True, nargs="+", type=Path)
    summary.add_argument("--out", required=True, type=Path)
    a = parser.parse_args()
    (main_score if a.command == "score" else main_summary)(a)


if __name__ == "__main__":
    cli.run(main)
