"""Nearest-neighbour distance ratio rho_i for every training example (paper eq. 6).

rho_i = dist(x_i, nearest validation image) / dist(x_i, nearest model sample), in pixel L2
after area-downsampling to ``resize`` x ``resize`` (pixels scaled to [0, 1]); samples come
from the model trained on all training data. rho_i > 1: x_i is closer to a sample than to
any held-out image. Distances are the row minimum over all references, found by the shared
exact search of ``pipeline.neighbors`` (the reference code took the first image of each
batch instead).

rho.parquet (one row per training example):
    index               int64    dataset index of the training example
    label               int64    its class label
    nearest_validation  int64    dataset index of the nearest validation image
    d_validation        float64  distance to it
    nearest_sample      int64    row of the nearest model sample in samples.npy
    d_sample            float64  distance to it
    rho                 float64  d_validation / d_sample (inf when d_sample is 0)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import cli, io
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.neighbors import knn, resize_images
from pipeline.progress import get_logger
from pipeline.schema import schema_default

log = get_logger("kfold_vae.rho")


def distance_ratio(train: np.ndarray, validation: np.ndarray, samples: np.ndarray, resize: int):
    """(nearest validation, its distance, nearest sample, its distance) per training image."""
    if resize:
        train, validation, samples = (resize_images(x, resize) for x in (train, validation, samples))
    val_idx, val_dist = knn(train, validation, k=1, metric="l2")
    sample_idx, sample_dist = knn(train, samples, k=1, metric="l2")
    return val_idx[:, 0], val_dist[:, 0], sample_idx[:, 0], sample_dist[:, 0]


def main() -> None:
    parser = argparse.ArgumentParser(description="Nearest-neighbour distance ratio of training examples.")
    parser.add_argument("--dataset-dir", required=True, type=Path)
    parser.add_argument("--samples", required=True, type=Path)
    parser.add_argument("--validation-split", default=schema_default("kfold_vae.validation_split"))
    parser.add_argument("--resize", type=int, default=schema_default("kfold_vae.rho_resize"))
    parser.add_argument("--out", required=True, type=Path)
    a = parser.parse_args()
    dataset = Dataset.load(a.dataset_dir)
    train, labels, train_index = dataset.split_arrays("train")
    validation, _, val_index = dataset.split_arrays(a.validation_split)
    if len(validation) == 0:
        raise PipelineError(f"{a.dataset_dir}: no '{a.validation_split}' images "
                            "(config key kfold_vae.validation_split)")
    samples = io.read_array(a.samples)
    if samples.shape[1:] != train.shape[1:]:
        raise PipelineError(f"{a.samples}: sample shape {samples.shape[1:]} != image shape {train.shape[1:]}")
    log.info("%d training images vs %d validation images and %d samples at %dx%d", len(train), len(validation),
             len(samples), a.resize, a.resize)
    vi, vd, si, sd = distance_ratio(train, validation, samples, a.resize)
    with np.errstate(divide="ignore"):
        rho = np.where(sd > 0, vd / np.where(sd > 0, sd, 1.0), np.inf)
    table = pd.DataFrame({"index": train_index.astype(np.int64), "label": labels.astype(np.int64),
                          "nearest_validation": val_index[vi].astype(np.int64), "d_validation": vd,
                          "nearest_sample": si.astype(np.int64), "d_sample": sd, "rho": rho})
    io.write_parquet(table, a.out)
    log.info("median rho %.3f, %.1f%% above 1; wrote %s", float(np.median(rho)), 100 * float(np.mean(rho > 1)), a.out)


if __name__ == "__main__":
    cli.run(main)
