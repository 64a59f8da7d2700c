"""Score one (dataset, tau, seed) job: C_T, class-wise C_T, Frechet distances against train and test
features, FID when asked, and the NN distances behind Bai et al.'s Figs. 1 and 5.

All scores but fid_test use the job's embedding (L2-normalised), C_T after the optional PCA. C_T is also
measured in a second space, the pixels (images flattened, scaled to [0, 1], the same optional
PCA): memorization rejection only looks at the embedding, so a drop of copying that shows in the
pixels too is not an artefact of training against the metric's own features.

The Frechet distances in the embedding are named for it, ``fd_<kind>_*`` (pipeline.frechet): they
are not FID. FID proper (``fid_test``, pipeline.fid) is written only when the job is given the FID
network's pool features of ``mrgan.fid_images`` samples and as many test images.

scores.parquet schema (one row):
    dataset        string   data set name
    tau            float64  rejection threshold used in training
    seed           int64    job seed
    embedding      string   embedding name
    ct             float64  C_T in the embedding (negative: data copying)
    ct_pixels      float64  C_T in pixel space (images flattened, in [0, 1])
    ct_cells_kept  int64    cells with more than 20/m of the samples
    fd_<kind>_train       float64  Frechet distance of samples vs training features in the embedding
    fd_<kind>_test        float64  the same vs test features (kind: mrgan.embedding.kind, e.g. fd_classifier_test)
    fd_<kind>_test_train  float64  the same of test vs training features (the floor for this data size)
    mean_nn_gen    float64  mean 1 - |cos| of samples to their nearest training point
    mean_nn_test   float64  the same for test points
    frac_gen_below_tau    float64  fraction of samples with distance <= tau (not rejected at sampling)
    kept_fraction  float64  fraction of generator-step fakes kept by MR during training
    n_samples      int64    m
    fid_test       float64  FID of fid_images samples vs fid_images test images (only with mrgan.fid_images > 0)
    fid_images     int64    images per side of fid_test (only with fid_test)

classwise.parquet schema (one row per class):
    dataset     string   as in scores.parquet
    tau         float64
    seed        int64
    embedding   string
    label       int64    class
    ct          float64  C_T of the class in the embedding (cells fitted on its training points)
    cells_kept  int64    its cells holding enough samples
    m           int64    samples of the class
    n           int64    test points of the class
    ct_pixels   float64  C_T of the class in pixel space (same cells count)

ct_cells.parquet schema (one row per k-means cell of the job's C_T test in the embedding: these four
columns, then the cell columns of ct_test.py):
    dataset     string   as in scores.parquet
    tau         float64
    seed        int64
    embedding   string

nn_distances.parquet schema (one row per sample or test point):
    dataset     string   as in scores.parquet
    tau         float64
    seed        int64
    embedding   string
    set       string   'generated' or 'test'
    index     int64    position in samples.npy, or in the test split
    label     int64    class
    distance  float64  1 - |cos| to the nearest training point
    nearest   int64    dataset index of that nearest training point (the memorization atlas
                       counts, per training example, the samples it is nearest to)
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from pipeline import cli, io
from pipeline.data.dataset import Dataset
from pipeline.frechet import FID_TEST, fd_column, fid_columns, frechet_distance, read_fid_features
from pipeline.mrgan import EMBEDDING_NAMES
from pipeline.mrgan.ct_test import classwise_ct, ct_statistic
from pipeline.mrgan.spec import SCORE_KEYS
from pipeline.neighbors import knn
from pipeline.progress import get_logger
from pipeline.schema import spec_defaults

log = get_logger("mrgan.score")


def tag(table: pd.DataFrame, dataset: str, tau: float, seed: int, embedding: str) -> pd.DataFrame:
    front = pd.DataFrame({"dataset": pd.array([dataset] * len(table), dtype="string"),
                          "tau": np.full(len(table), float(tau)), "seed": np.full(len(table), int(seed), np.int64),
                          "embedding": pd.array([embedding] * len(table), dtype="string")})
    return pd.concat([front, table.reset_index(drop=True)], axis=1)


def pixels(images: np.ndarray) -> np.ndarray:
    """uint8 (n, H, W, C) images -> (n, H*W*C) float64 rows in [0, 1], the pixel space of ct_pixels."""
    images = np.asarray(images)
    return images.reshape(len(images), -1).astype(np.float64) / 255.0


def score(train_f, train_y, test_f, test_y, gen_f, gen_y, train_log, *, train_images, test_images, gen_images,
          dataset, tau, seed, embedding_kind, kmeans_cells, classwise_cells, pca_dims, cells_seed=0, train_index=None,
          fid_features=None):
    """Return the four tables of one job (see module docstring).

    ``*_images``: the uint8 images behind the features (same rows), for C_T in pixel space.
    ``train_index``: dataset indices of the training features' rows (default: their positions).
    ``fid_features``: (samples', test images') FID network pool features, same count, for ``fid_test``.
    """
    ct = ct_statistic(train_f, test_f, gen_f, kmeans_cells, pca_dims, cells_seed)
    train_px, test_px, gen_px = pixels(train_images), pixels(test_images), pixels(gen_images)
    ct_px = ct_statistic(train_px, test_px, gen_px, kmeans_cells, pca_dims, cells_seed, "pixel C_T")
    cw = classwise_ct(train_f, train_y, test_f, test_y, gen_f, gen_y, classwise_cells, pca_dims, cells_seed)
    cw_px = classwise_ct(train_px, train_y, test_px, test_y, gen_px, gen_y, classwise_cells, pca_dims, cells_seed)
    cw = cw.assign(ct_pixels=cw_px["ct"].to_numpy())  # same classes in the same order
    train_index = np.arange(len(train_f)) if train_index is None else np.asarray(train_index)
    nn_gen, d_gen = (column[:, 0] for column in knn(gen_f, train_f, 1, metric="abscosine"))
    nn_test, d_test = (column[:, 0] for column in knn(test_f, train_f, 1, metric="abscosine"))
    kept = train_log["kept"].sum() / train_log["generated"].sum()
    scores = pd.DataFrame([{
        "ct": ct.ct, "ct_pixels": ct_px.ct, "ct_cells_kept": ct.n_kept,
        fd_column(embedding_kind, "train"): frechet_distance(gen_f, train_f),
        fd_column(embedding_kind, "test"): frechet_distance(gen_f, test_f),
        fd_column(embedding_kind, "test_train"): frechet_distance(test_f, train_f), "mean_nn_gen": float(d_gen.mean()),
        "mean_nn_test": float(d_test.mean()), "frac_gen_below_tau": float((d_gen <= tau).mean()),
        "kept_fraction": float(kept), "n_samples": len(gen_f)}]).astype({"ct_cells_kept": "int64",
                                                                         "n_samples": "int64"})
    if fid_features is not None:
        scores = scores.assign(**fid_columns(*fid_features))
    nn = pd.DataFrame({
        "set": pd.array(["generated"] * len(d_gen) + ["test"] * len(d_test), dtype="string"),
        "index": np.concatenate([np.arange(len(d_gen)), np.arange(len(d_test))]).astype(np.int64),
        "label": np.concatenate([gen_y, test_y]).astype(np.int64),
        "distance": np.concatenate([d_gen, d_test]).astype(np.float64),
        "nearest": train_index[np.concatenate([nn_gen, nn_test])].astype(np.int64)})
    args = (dataset, tau, seed, EMBEDDING_NAMES[embedding_kind])
    return {"scores": tag(scores, *args), "classwise": tag(cw, *args), "ct_cells": tag(ct.cells, *args),
            "nn_distances": tag(nn, *args)}


def main() -> None:
    parser = argparse.ArgumentParser(description="Score one MR-GAN job: C_T, class-wise C_T, Frechet distances, "
                                                 "FID, NN distances.")
    parser.add_argument("--dataset-dir", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--train-features", required=True)
    parser.add_argument("--test-features", required=True)
    parser.add_argument("--sample-features", required=True)
    parser.add_argument("--sample-images", required=True, help="samples.npy, for C_T in pixel space")
    parser.add_argument("--sample-table", required=True)
    parser.add_argument("--train-log", required=True)
    parser.add_argument("--tau", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--embedding-kind", required=True, choices=sorted(EMBEDDING_NAMES))
    parser.add_argument("--spec", type=cli.json_arg, required=True, help="kmeans_cells, classwise_cells, pca_dims")
    parser.add_argument("--fid-sample-features", help="FID network features of the samples (pipeline.fid)")
    parser.add_argument("--fid-test-features", help="FID network features of as many test images")
    for name in ("scores", "classwise", "ct_cells", "nn_distances"):
        parser.add_argument(f"--out-{name.replace('_', '-')}", required=True, help=f"{name}.parquet")
    args = parser.parse_args()
    fid_features = read_fid_features(args.fid_sample_features, args.fid_test_features)
    spec = spec_defaults("mrgan", args.spec, keys=SCORE_KEYS)  # keys it lacks take the schema's defaults
    data = Dataset.load(args.dataset_dir)
    train_images, train_labels, train_index = data.split_arrays("train")
    test_images, test_labels, _ = data.split_arrays("test")
    tables = score(
        io.read_array(args.train_features), train_labels, io.read_array(args.test_features), test_labels,
        io.read_array(args.sample_features), io.read_parquet(args.sample_table, ["label"])["label"].to_numpy(),
        io.read_parquet(args.train_log, ["kept", "generated"]),
        train_images=train_images, test_images=test_images, gen_images=io.read_array(args.sample_images),
        dataset=args.dataset, tau=args.tau, seed=args.seed, embedding_kind=args.embedding_kind,
        kmeans_cells=spec["kmeans_cells"], classwise_cells=spec["classwise_cells"],
        pca_dims=spec["pca_dims"], train_index=train_index, fid_features=fid_features)
    for name, table in tables.items():
        io.write_parquet(table, getattr(args, f"out_{name}"))
    row = tables["scores"].iloc[0]
    log.info("tau=%g: C_T=%.2f C_T(pixels)=%.2f %s=%.4f kept=%.2f%s", args.tau, row.ct, row.ct_pixels,
             fd_column(args.embedding_kind, "test"), row[fd_column(args.embedding_kind, "test")], row.kept_fraction,
             "" if fid_features is None else f" FID({row.fid_images} images)={row[FID_TEST]:.2f}")


if __name__ == "__main__":
    cli.run(main)
