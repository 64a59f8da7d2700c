"""Score one set of generated images against the data set its model was trained on.

The training split T is the reference (what the model saw), the test split P the held-out set.
Per sample: its k nearest training images in pixels (L2, pixels scaled to [0, 1]) and in the
configured embedding (``mrgan.embedding``; 1 - |cos| of the L2-normalised features, the distance of
pipeline.mrgan), by the exact search of pipeline.neighbors; and whether it is a replicate by Yoon et
al.'s ratio criterion on its two nearest training images in pixels, d1 / d2 < threshold
(pipeline.diffusion.replicates.ratio_flags). Per set: C_T of pipeline.mrgan.ct_test against the
test split, in the embedding and in pixels (pipeline.mrgan.score.pixels; same cells and PCA settings); the Frechet distance
between Gaussians fitted to the sample and test features, ``fd_<kind>_test`` after the embedding kind
(pipeline.frechet: a Frechet distance in that embedding, not FID); FID proper, ``fid_test``, of
``samples.<name>.fid_images`` samples against as many test images in the FID network's pool features
(pipeline.fid), only when that key is above 0; and per training example how many samples have it as
their nearest training image, which the memorization atlas shows.

neighbors.parquet schema (one row per sample, space and rank):
    sample     int64    position in images.npy
    rank       int32    0 = nearest
    ref_index  int64    dataset index of the training image
    distance   float64  pixels: L2 of [0, 1] pixels; embedding: 1 - |cos|
    space      string   'pixels' or 'embedding'

replicates.parquet schema (one row per sample):
    sample         int64    position in images.npy
    label          int64    the sample's conditioning class, -1 without labels
    nearest        int64    dataset index of X1, the nearest training image in pixels
    second         int64    dataset index of X2, the second nearest
    nearest_label  int64    label of X1
    d1, d2         float64  ||W - X1||, ||W - X2|| (pixels in [0, 1])
    ratio          float64  d1 / d2 (0 where d2 = 0)
    replicate      bool     ratio < threshold

nn_counts.parquet schema (one row per training example, in dataset order):
    index               int64  dataset index
    label               int64  class
    nn_count            int64  samples whose nearest training image in pixels is this one
    nn_count_embedding  int64  samples whose nearest training image in the embedding is this one
    replicated          int64  replicate samples whose nearest training image (pixels) is this one

scores.parquet schema (one row):
    sample_set               string   name of the set (config key samples.<name>)
    dataset                  string   the data set the model was trained on
    embedding                string   embedding name (pipeline.mrgan.EMBEDDING_NAMES)
    n_samples                int64    m
    n_train, n_test          int64    sizes of the training and test splits
    threshold                float64  of the ratio criterion
    n_replicates             int64    replicate samples
    replicate_share          float64  n_replicates / n_samples
    n_train_replicated       int64    distinct training images that some replicate copies
    mean_nn_pixels           float64  mean d1 (pixels)
    mean_nn_embedding        float64  mean 1 - |cos| to the nearest training image in the embedding
    ct_embedding             float64  C_T in the embedding (strongly negative: the samples copy T)
    ct_embedding_cells_kept  int64    cells holding more than 20 samples
    ct_pixels                float64  C_T in pixels ([0, 1], flattened)
    ct_pixels_cells_kept     int64
    fd_<kind>_test           float64  Frechet distance of sample vs test features in the embedding (kind:
                                      mrgan.embedding.kind, e.g. fd_classifier_test)
    fd_<kind>_test_train     float64  the same of test vs training features: its floor at this data size
    label_agreement          float64  share of samples whose X1 has the sample's label; NaN without labels
    fid_test                 float64  FID of fid_images samples vs fid_images test images (only with fid_images > 0)
    fid_images               int64    images per side of fid_test (only with fid_test)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from pipeline import cli, io
from pipeline.data.dataset import Dataset
from pipeline.diffusion.replicates import ratio_flags
from pipeline.errors import PipelineError
from pipeline.frechet import FID_TEST, fd_column, fid_columns, frechet_distance, read_fid_features
from pipeline.mrgan import EMBEDDING_NAMES
from pipeline.mrgan.ct_test import ct_statistic
from pipeline.mrgan.score import pixels
from pipeline.neighbors import knn, neighbors_table
from pipeline.progress import get_logger
from pipeline.samples.spec import SCORE_KEYS
from pipeline.schema import schema_default, spec_defaults

log = get_logger("samples.score")

SPACES = ("pixels", "embedding")
SPACE_METRICS = {"pixels": "l2", "embedding": "abscosine"}


def neighbor_rows(positions: np.ndarray, distances: np.ndarray, train_index: np.ndarray, space: str) -> pd.DataFrame:
    """neighbors.parquet rows of one space from knn's (positions in the training split, distances)."""
    table = neighbors_table(positions, distances, np.arange(len(positions)), train_index)
    table = table.rename(columns={"query": "sample"})
    table["space"] = pd.array([space] * len(table), dtype="string")
    return table


def replicate_table(positions: np.ndarray, distances: np.ndarray, sample_labels: np.ndarray,
                    train_index: np.ndarray, train_labels: np.ndarray, threshold: float) -> pd.DataFrame:
    """The ratio criterion on each sample's two nearest training images in pixels (knn's output)."""
    ratio, flag = ratio_flags(distances[:, 0], distances[:, 1], threshold)
    return pd.DataFrame({
        "sample": np.arange(len(positions), dtype=np.int64), "label": np.asarray(sample_labels, dtype=np.int64),
        "nearest": train_index[positions[:, 0]], "second": train_index[positions[:, 1]],
        "nearest_label": train_labels[positions[:, 0]].astype(np.int64),
        "d1": distances[:, 0], "d2": distances[:, 1], "ratio": ratio, "replicate": flag,
    })


def nn_counts(train_index: np.ndarray, train_labels: np.ndarray, nearest_pixels: np.ndarray,
              nearest_embedding: np.ndarray, replicate: np.ndarray) -> pd.DataFrame:
    """Per training example: samples nearest to it (pixels, embedding) and replicates among them.
    ``nearest_*`` are positions in the training split."""
    n = len(train_index)
    return pd.DataFrame({
        "index": np.asarray(train_index, dtype=np.int64), "label": np.asarray(train_labels, dtype=np.int64),
        "nn_count": np.bincount(nearest_pixels, minlength=n).astype(np.int64),
        "nn_count_embedding": np.bincount(nearest_embedding, minlength=n).astype(np.int64),
        "replicated": np.bincount(nearest_pixels[replicate], minlength=n).astype(np.int64),
    })


def score(train_images, train_labels, train_index, test_images, train_features, test_features, sample_images,
          sample_features, sample_labels, *, sample_set: str, dataset: str, embedding_kind: str, threshold: float,
          k: int, kmeans_cells: int, pca_dims: int, backend: str = schema_default("neighbors.*.backend"),
          fid_features=None) -> dict[str, pd.DataFrame]:
    """The four tables of one sample set (module docstring); images uint8 (n, H, W, C), features (n, d)
    in the same row order, ``train_index`` the dataset indices of the training rows; ``fid_features``:
    (samples', test images') FID network pool features, as many of each, for ``fid_test``."""
    train_index, train_labels = np.asarray(train_index, dtype=np.int64), np.asarray(train_labels)
    found = {}
    for space, query, ref in (("pixels", sample_images, train_images), ("embedding", sample_features, train_features)):
        start = time.monotonic()
        found[space] = knn(query, ref, k, SPACE_METRICS[space], backend, k_key=f"samples.{sample_set}.k")
        log.info("%s neighbours of %d samples among %d training images: %.1fs", space, len(query), len(ref),
                 time.monotonic() - start)
    (pix_pos, pix_dist), (emb_pos, emb_dist) = found["pixels"], found["embedding"]
    replicates = replicate_table(pix_pos, pix_dist, sample_labels, train_index, train_labels, threshold)
    neighbors = pd.concat([neighbor_rows(*found[space], train_index, space) for space in SPACES], ignore_index=True)
    counts = nn_counts(train_index, train_labels, pix_pos[:, 0], emb_pos[:, 0], replicates["replicate"].to_numpy())
    start = time.monotonic()
    what = f"samples.{sample_set}: C_T"
    keys = {"cells_key": f"samples.{sample_set}.kmeans_cells", "count_key": f"samples.{sample_set}.path"}
    ct_embedding = ct_statistic(train_features, test_features, sample_features, kmeans_cells, pca_dims,
                                what=f"{what} (embedding)", **keys)
    ct_pixels = ct_statistic(pixels(train_images), pixels(test_images), pixels(sample_images), kmeans_cells,
                             pca_dims, what=f"{what} (pixels)", **keys)
    log.info("C_T in both spaces: %.1fs", time.monotonic() - start)
    labelled = replicates["label"].to_numpy() >= 0
    flags = replicates["replicate"].to_numpy()
    row = {
        "sample_set": sample_set, "dataset": dataset, "embedding": EMBEDDING_NAMES[embedding_kind],
        "n_samples": len(sample_images), "n_train": len(train_images), "n_test": len(test_images),
        "threshold": float(threshold), "n_replicates": int(flags.sum()), "replicate_share": float(flags.mean()),
        "n_train_replicated": int((counts["replicated"] > 0).sum()),
        "mean_nn_pixels": float(pix_dist[:, 0].mean()), "mean_nn_embedding": float(emb_dist[:, 0].mean()),
        "ct_embedding": ct_embedding.ct, "ct_embedding_cells_kept": ct_embedding.n_kept,
        "ct_pixels": ct_pixels.ct, "ct_pixels_cells_kept": ct_pixels.n_kept,
        fd_column(embedding_kind, "test"): frechet_distance(sample_features, test_features),
        fd_column(embedding_kind, "test_train"): frechet_distance(test_features, train_features),
        "label_agreement": float((replicates["label"] == replicates["nearest_label"])[labelled].mean())
        if labelled.any() else float("nan"),
        **(fid_columns(*fid_features) if fid_features is not None else {}),
    }
    scores = pd.DataFrame([row]).astype({"sample_set": "string", "dataset": "string", "embedding": "string"})
    return {"neighbors": neighbors, "replicates": replicates, "scores": scores, "nn_counts": counts}


def read_features(path, rows: int, what: str) -> np.ndarray:
    """A features array with one row per image of ``what``."""
    features = io.read_array(path)
    if features.ndim != 2 or len(features) != rows:
        raise PipelineError(f"{path}: features of shape {features.shape}, expected one row for each of {rows} {what}")
    return features


def main() -> None:
    parser = argparse.ArgumentParser(description="Score a set of generated images against its training data.")
    parser.add_argument("--dataset-dir", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--sample-set", required=True)
    parser.add_argument("--train-features", required=True)
    parser.add_argument("--test-features", required=True)
    parser.add_argument("--sample-features", required=True)
    parser.add_argument("--sample-images", required=True)
    parser.add_argument("--sample-table", required=True, help="samples.parquet (labels)")
    parser.add_argument("--embedding-kind", required=True, choices=sorted(EMBEDDING_NAMES))
    parser.add_argument("--spec", type=cli.json_arg, required=True, help="threshold, k, kmeans_cells, pca_dims")
    parser.add_argument("--fid-sample-features", help="FID network features of fid_images samples (pipeline.fid)")
    parser.add_argument("--fid-test-features", help="FID network features of as many test images")
    for name in ("neighbors", "replicates", "scores", "nn_counts"):
        parser.add_argument(f"--out-{name.replace('_', '-')}", required=True)
    a = parser.parse_args()
    fid_features = read_fid_features(a.fid_sample_features, a.fid_test_features)
    spec = spec_defaults("samples.*", a.spec, keys=SCORE_KEYS, where=f"samples.{a.sample_set}")
    data = Dataset.load(a.dataset_dir)
    train_images, train_labels, train_index = data.split_arrays("train")
    test_images = data.split_arrays("test")[0]
    if len(test_images) == 0:
        raise PipelineError(f"config key 'samples.{a.sample_set}.dataset': data set '{a.dataset}' has no test split "
                            f"to hold out ({a.dataset_dir})")
    sample_images = io.read_array(a.sample_images)
    labels = io.read_parquet(a.sample_table, ["sample", "label"]).sort_values("sample")["label"].to_numpy()
    tables = score(train_images, train_labels, train_index, test_images,
                   read_features(a.train_features, len(train_images), "training images"),
                   read_features(a.test_features, len(test_images), "test images"), sample_images,
                   read_features(a.sample_features, len(sample_images), "samples"), labels,
                   sample_set=a.sample_set, dataset=a.dataset, embedding_kind=a.embedding_kind,
                   fid_features=fid_features, **spec)
    for name, table in tables.items():
        io.write_parquet(table, getattr(a, f"out_{name}"))
    row = tables["scores"].iloc[0]
    fd = fd_column(a.embedding_kind, "test")
    log.info("%s: %d samples, replicate share %.3f, C_T %.2f (embedding) %.2f (pixels), %s %.4f%s", a.sample_set,
             row.n_samples, row.replicate_share, row.ct_embedding, row.ct_pixels, fd, row[fd],
             "" if fid_features is None else f", FID ({row.fid_images} images) {row[FID_TEST]:.2f}")


if __name__ == "__main__":
    cli.run(main)
