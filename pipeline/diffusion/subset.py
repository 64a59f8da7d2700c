"""Nested training subsets: prefixes of one seeded permutation of the training split.

For a data set and ``subset_seed``, the training split (in array order) is permuted once with
``numpy.random.default_rng(subset_seed).permutation``; the subset of size n is the first n
entries, so every smaller subset is contained in every larger one (Yoon et al. train on
growing subsets). With ``keep_label`` set, all training images of that label are always kept
and n counts the others (the dummy-data experiment: a fixed Mondrian set plus n dummies).

subset.parquet schema (one row per training image, in training order):
    position  int64   row in train_images.npy (and in the neighbour table's ref_index)
    index     int64   dataset index (row of results/data/{dataset}/images.npy)
    label     int64   class label from the data set's index.parquet
    source    string  data set the image came from
train_images.npy: uint8 (n, H, W, C), the subset's images in the same order.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import cli, io
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.progress import get_logger
from pipeline.schema import schema_default

log = get_logger("diffusion.subset")


def nested_subset(train_indices: np.ndarray, labels: np.ndarray, n: int, seed: int,
                  keep_label: int | None = None, experiment: str = "*") -> np.ndarray:
    """Dataset indices of the size-n nested subset (plus every image of ``keep_label``); errors name
    the keys of ``experiment`` (diffusion.experiments.<experiment>)."""
    order = np.random.default_rng(seed).permutation(len(train_indices))
    if keep_label is None:
        pool = order
        kept = np.empty(0, dtype=np.int64)
    else:
        kept = order[labels[order] == keep_label]
        pool = order[labels[order] != keep_label]
        if not len(kept):
            raise PipelineError(f"config key 'diffusion.experiments.{experiment}.keep_label': no training image has label "
                                f"{keep_label} (labels present: {np.unique(labels)[:20].tolist()})")
    if n > len(pool):
        besides = "" if keep_label is None else f" besides those of label {keep_label}"
        raise PipelineError(f"config key 'diffusion.experiments.{experiment}.sizes': subset size {n} exceeds the {len(pool)} "
                            f"training images available{besides}")
    return np.asarray(train_indices, dtype=np.int64)[np.concatenate([kept, pool[:n]])]


def build_subset(dataset: Dataset, n: int, seed: int, keep_label: int | None = None,
                 experiment: str = "*") -> tuple[pd.DataFrame, np.ndarray]:
    images, labels, ids = dataset.split_arrays("train")
    chosen = nested_subset(ids, labels, n, seed, keep_label, experiment)
    table = dataset.table.set_index("index").loc[chosen]
    out = pd.DataFrame({
        "position": np.arange(len(chosen), dtype=np.int64),
        "index": chosen,
        "label": table["label"].to_numpy(dtype=np.int64),
        "source": pd.array(table["source"].to_numpy(dtype=str), dtype="string"),
    })
    return out, dataset.images[chosen]


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a nested training subset of a prepared data set.")
    parser.add_argument("--dataset-dir", required=True, type=Path)
    parser.add_argument("--n", required=True, type=int)
    parser.add_argument("--seed", type=int, default=schema_default("diffusion.experiments.*.subset_seed"))
    parser.add_argument("--keep-label", type=int, default=None)
    parser.add_argument("--experiment", default="*", help="its name in diffusion.experiments (for errors)")
    parser.add_argument("--out-table", required=True, type=Path)
    parser.add_argument("--out-images", required=True, type=Path)
    a = parser.parse_args()
    table, images = build_subset(Dataset.load(a.dataset_dir), a.n, a.seed, a.keep_label, a.experiment)
    if len(table) == 0:
        raise PipelineError(f"{a.dataset_dir}: empty training subset (n={a.n}, keep_label={a.keep_label})")
    io.write_array(images, a.out_images)
    io.write_parquet(table, a.out_table)
    log.info("subset of %d training images (%d kept by label) -> %s", len(table), len(table) - a.n, a.out_table)


if __name__ == "__main__":
    cli.run(main)
