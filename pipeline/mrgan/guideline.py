"""Bai et al.'s threshold guideline: tau ~ mean over training points of the distance
1 - |cos| to their nearest other training point (in the chosen embedding).

Uses the shared exact search (pipeline.neighbors.knn, metric 'abscosine') with k = 2 and
drops each point's own match.

guideline.parquet schema (one row):
    dataset        string   data set name
    embedding      string   embedding name
    tau_guideline  float64  mean NN distance of training points to the rest of the training set
    nn_median      float64  its median
    nn_q10         float64  10% quantile
    nn_q90         float64  90% quantile
    n_train        int64    training points
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from pipeline import cli, io
from pipeline.mrgan import EMBEDDING_NAMES
from pipeline.neighbors import knn
from pipeline.progress import get_logger

log = get_logger("mrgan.guideline")


def train_nn_distances(train_features: np.ndarray) -> np.ndarray:
    """Distance of every training point to its nearest *other* training point."""
    idx, dist = knn(train_features, train_features, k=2, metric="abscosine")
    is_self = idx[:, 0] == np.arange(len(train_features))
    return np.where(is_self, dist[:, 1], dist[:, 0])


def guideline(train_features: np.ndarray) -> dict:
    d = train_nn_distances(train_features)
    return {"tau_guideline": float(d.mean()), "nn_median": float(np.median(d)),
            "nn_q10": float(np.quantile(d, 0.1)), "nn_q90": float(np.quantile(d, 0.9))}


def main() -> None:
    parser = argparse.ArgumentParser(description="Bai et al.'s threshold guideline for tau.")
    parser.add_argument("--train-features", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--embedding-kind", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    features = io.read_array(args.train_features)
    row = {"dataset": args.dataset, "embedding": EMBEDDING_NAMES[args.embedding_kind], **guideline(features),
           "n_train": len(features)}
    table = pd.DataFrame([row]).astype({"dataset": "string", "embedding": "string", "n_train": "int64"})
    io.write_parquet(table, args.out)
    log.info("tau guideline %.5f from %d training points", row["tau_guideline"], len(features))


if __name__ == "__main__":
    cli.run(main)
