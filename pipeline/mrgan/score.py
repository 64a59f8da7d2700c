"""Score one (dataset, tau, seed) job: C_T, class-wise C_T, FID against train and test
features, and the NN distances behind Bai et al.'s Figs. 1 and 5.

All scores use the job's embedding (L2-normalised), C_T after the optional PCA. C_T is also
measured in a second space, the pixels (images flattened, scaled to [0, 1], the same optional
PCA): memorization rejection only looks at the embedding, so a drop of copying that shows in the
pixels too is not an artefact of training against the metric's own features.

scores.parquet schema (one row):
    dataset        string   data set name
    tau            float64  rejection threshold used in training
    seed           int64    job seed
    embedding      string   embedding name
    ct             float64  C_T in the embedding (negative: data copying)
    ct_pixels      float64  C_T in pixel space (images flattened, in [0, 1])
    ct_cells_kept  int64    cells with more than 20/m of the samples
    fid_train      float64  FID of samples vs training features
    fid_test       float64  FID of samples vs test features
    fid_test_train float64  FID of test vs training features (the floor for this data size)
    mean_nn_gen    float64  mean 1 - |cos| of samples to their nearest training point
    mean_nn_test   float64  the same for test points
    frac_gen_below_tau float64  fraction of samples with distance <= tau (not rejected at sampling)
    kept_fraction  float64  fraction of generator-step fakes kept by MR during training
    n_samples      int64    m

classwise.parquet schema (one row per class): dataset, tau, seed, embedding (as above),
    label int64, ct float64 (embedding), cells_kept int64, m int64 (samples of the class),
    n int64 (test points), ct_pixels float64 (C_T of the class in pixel space, same cells count).

ct_cells.parquet: ct_test.py's cell table plus dataset, tau, seed, embedding.

nn_distances.parquet schema (one row per sample or test point):
    dataset, tau, seed, embedding  (as above)
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
from pipeline.mrgan import EMBEDDING_NAMES
from pipeline.mrgan.ct_test import classwise_ct, ct_statistic
from pipeline.mrgan.fid import frechet_distance
from pipeline.neighbors import knn
from pipeline.progress import get_logger
from pipeline.schema import spec_defaults

log = get_logger("mrgan.score")

SCORE_KEYS = ("kmeans_cells", "classwise_cells", "pca_dims")  # the keys of the mrgan section --spec holds

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
          dataset, tau, seed, embedding, kmeans_cells, classwise_cells, pca_dims, cells_seed=0, train_index=None):
    """Return the four tables of one job (see module docstring).

    ``*_images``: the uint8 images behind the features (same rows), for C_T in pixel space.
    ``train_index``: dataset indices of the training features' rows (default: their positions).
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
        "fid_train": frechet_distance(gen_f, train_f), "fid_test": frechet_distance(gen_f, test_f),
        "fid_test_train": frechet_distance(test_f, train_f), "mean_nn_gen": float(d_gen.mean()),
        "mean_nn_test": float(d_test.mean()), "frac_gen_below_tau": float((d_gen <= tau).mean()),
        "kept_fraction": float(kept), "n_samples": len(gen_f)}]).astype({"ct_cells_kept": "int64",
                                                                         "n_samples": "int64"})
    nn = pd.DataFrame({
        "set": pd.array(["generated"] * len(d_gen) + ["test"] * len(d_test), dtype="string"),
        "index": np.concatenate([np.arange(len(d_gen)), np.arange(len(d_test))]).astype(np.int64),
        "label": np.concatenate([gen_y, test_y]).astype(np.int64),
        "distance": np.concatenate([d_gen, d_test]).astype(np.float64),
        "nearest": train_index[np.concatenate([nn_gen, nn_test])].astype(np.int64)})
    args = (dataset, tau, seed, embedding)
    return {"scores": tag(scores, *args), "classwise": tag(cw, *args), "ct_cells": tag(ct.cells, *args),
            "nn_distances": tag(nn, *args)}


def main() -> None:
    parser = argparse.ArgumentParser(description="Score one MR-GAN job: C_T, class-wise C_T, FID, NN distances.")
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
    parser.add_argument("--embedding-kind", required=True)
    parser.add_argument("--spec", type=cli.json_arg, required=True, help="kmeans_cells, classwise_cells, pca_dims")
    for name in ("scores", "classwise", "ct_cells", "nn_distances"):
        parser.add_argument(f"--out-{name.replace('_', '-')}", required=True, help=f"{name}.parquet")
    args = parser.parse_args()
    spec = spec_defaults("mrgan", args.spec, keys=SCORE_KEYS)  # keys it lacks take the schema's defaults
    data = Dataset.load(args.dataset_dir)
    train_images, train_labels, train_index = data.split_arrays("train")
    test_images, test_labels, _ = data.split_arrays("test")
    tables = score(
        io.read_array(args.train_features), train_labels, io.read_array(args.test_features), test_labels,
        io.read_array(args.sample_features), io.read_parquet(args.sample_table, ["label"])["label"].to_numpy(),
        io.read_parquet(args.train_log, ["kept", "generated"]),
        train_images=train_images, test_images=test_images, gen_images=io.read_array(args.sample_images),
        dataset=args.dataset, tau=args.tau, seed=args.seed, embedding=EMBEDDING_NAMES[args.embedding_kind],
        kmeans_cells=spec["kmeans_cells"], classwise_cells=spec["classwise_cells"],
        pca_dims=spec["pca_dims"], train_index=train_index)
    for name, table in tables.items():
        io.write_parquet(table, getattr(args, f"out_{name}"))
    row = tables["scores"].iloc[0]
    log.info("tau=%g: C_T=%.2f C_T(pixels)=%.2f FID(train)=%.4f FID(test)=%.4f kept=%.2f", args.tau, row.ct,
             row.ct_pixels, row.fid_train, row.fid_test, row.kept_fraction)


if __name__ == "__main__":
    cli.run(main)
