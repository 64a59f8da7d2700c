"""The C_T data-copying test of Meehan, Chaudhuri & Dasgupta (2020), as stated in pipeline.mrgan.

Cells come from k-means fitted on the training set T (optionally after a PCA fitted on T).
Cells holding more than tau_cells = 20 / m of the m generated samples are kept. In each kept
cell, L(Q) and L(P) are the 1-NN (Euclidean) distances of the cell's generated and test points
to the cell's training points (pipeline.neighbors.knn: exact, and fast in pixel dimensions where a
KD-tree degrades to brute force); U counts pairs with L(Q) > L(P), ties 1/2, and
Z_U = (U - (m_pi n_pi / 2 - 0.5)) / sqrt(m_pi n_pi (m_pi + n_pi + 1) / 12). C_T is the test-mass
weighted mean of Z_U over kept cells; C_T << 0 means the generator copies its training data.

A kept cell with no test points or no training points makes Z_U undefined: PipelineError. So does
m <= 20: a cell is kept when it holds more than 20 generated points, so no number of cells keeps one.

ct_cells.parquet schema (one row per cell):
    cell       int64    k-means cell
    n_train    int64    training points in the cell
    n_test     int64    test points (n_pi)
    n_gen      int64    generated points (m_pi)
    kept       bool     m_pi / m > 20 / m
    u          float64  Mann-Whitney U (NaN if not kept)
    z_u        float64  Z_U (NaN if not kept)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from pipeline.errors import PipelineError
from pipeline.neighbors import knn
from pipeline.points import points
from pipeline.schema import schema_default


def mann_whitney_u(x: np.ndarray, y: np.ndarray) -> float:
    """Number of pairs (i, j) with x_i > y_j, ties counting 1/2."""
    y = np.sort(np.asarray(y, dtype=float))
    x = np.asarray(x, dtype=float)
    below = np.searchsorted(y, x, side="left")
    equal = np.searchsorted(y, x, side="right") - below
    return float(below.sum() + 0.5 * equal.sum())


def z_u(u: float, m: int, n: int) -> float:
    """Z_U of pipeline.mrgan: (U - (m n / 2 - 0.5)) / sqrt(m n (m + n + 1) / 12)."""
    return (u - (m * n / 2.0 - 0.5)) / np.sqrt(m * n * (m + n + 1) / 12.0)


@dataclass
class CTResult:
    ct: float
    cells: pd.DataFrame

    @property
    def n_kept(self) -> int:
        return int(self.cells["kept"].sum())


class Cells:
    """k-means cells (after optional PCA), both fitted on the training set only."""

    def __init__(self, train: np.ndarray, n_cells: int, pca_dims: int = schema_default("mrgan.pca_dims"),
                 seed: int = 0, cells_key: str = "mrgan.kmeans_cells"):
        train = np.asarray(train, dtype=np.float64)
        if n_cells < 1 or n_cells > len(train):
            raise PipelineError(f"{cells_key}: {n_cells} cells need 1..{len(train)} training points")
        self.pca = None
        if pca_dims and pca_dims < train.shape[1]:
            self.pca = PCA(n_components=min(pca_dims, len(train)), random_state=seed).fit(train)
        self.kmeans = KMeans(n_clusters=n_cells, n_init=4, random_state=seed).fit(self.project(train))

    def project(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return self.pca.transform(x) if self.pca is not None else x

    def assign(self, x: np.ndarray) -> np.ndarray:
        return self.kmeans.predict(self.project(x))


MIN_KEPT = 20  # a cell is kept when it holds more than 20 / m of the m generated points


def ct_statistic(train: np.ndarray, test: np.ndarray, generated: np.ndarray, n_cells: int,
                 pca_dims: int = schema_default("mrgan.pca_dims"), seed: int = 0, what: str = "C_T",
                 cells_key: str = "mrgan.kmeans_cells", count_key: str = "mrgan.n_samples") -> CTResult:
    """C_T of ``generated`` against held-out ``test`` relative to ``train`` (rows = points); errors name
    ``what`` and the config key of ``n_cells``, or of the number of generated points (``count_key``)."""
    train, test, generated = (points(x, f"{what}: {name}") for x, name in
                              ((train, "train"), (test, "test"), (generated, "generated")))
    if len(generated) <= MIN_KEPT:
        raise PipelineError(f"{what}: {len(generated)} generated point(s), but C_T scores only cells holding more "
                            f"than {MIN_KEPT}, so no number of cells helps; generate more than {MIN_KEPT} ({count_key})")
    if not train.shape[1] == test.shape[1] == generated.shape[1]:
        raise PipelineError(f"{what}: training, test and generated points have {train.shape[1]}, {test.shape[1]} "
                            f"and {generated.shape[1]} features; they must match")
    cells = Cells(train, n_cells, pca_dims, seed, cells_key)
    t, p, q = cells.project(train), cells.project(test), cells.project(generated)
    ct_, cp, cq = cells.kmeans.labels_, cells.assign(test), cells.assign(generated)
    m, n = len(q), len(p)
    threshold = MIN_KEPT / m
    rows, num, den = [], 0.0, 0.0
    for cell in range(n_cells):
        in_t, in_p, in_q = t[ct_ == cell], p[cp == cell], q[cq == cell]
        kept = len(in_q) / m > threshold
        u = zu = np.nan
        if kept:
            if len(in_p) == 0 or len(in_t) == 0:
                raise PipelineError(
                    f"{what}: cell {cell} holds {len(in_q)} generated points but {len(in_p)} test and "
                    f"{len(in_t)} training points; Z_U is undefined; use fewer cells ({cells_key})"
                )
            lq, lp = knn(in_q, in_t, k=1, metric="l2")[1][:, 0], knn(in_p, in_t, k=1, metric="l2")[1][:, 0]
            u = mann_whitney_u(lq, lp)
            zu = z_u(u, len(in_q), len(in_p))
            num += len(in_p) / n * zu
            den += len(in_p) / n
        rows.append({"cell": cell, "n_train": len(in_t), "n_test": len(in_p), "n_gen": len(in_q),
                     "kept": kept, "u": u, "z_u": zu})
    if den == 0:
        raise PipelineError(f"{what}: no cell holds more than {MIN_KEPT}/m of the {m} generated points; use fewer cells "
                            f"({cells_key}) or generate more points")
    table = pd.DataFrame(rows).astype({"cell": "int64", "n_train": "int64", "n_test": "int64",
                                       "n_gen": "int64", "kept": "bool", "u": "float64", "z_u": "float64"})
    return CTResult(num / den, table)


def classwise_ct(train, train_labels, test, test_labels, generated, generated_labels, n_cells: int,
                 pca_dims: int = schema_default("mrgan.pca_dims"), seed: int = 0) -> pd.DataFrame:
    """C_T within each class (cells fitted on that class's training points): label, ct, cells_kept, m, n."""
    rows = []
    for label in np.unique(train_labels):
        res = ct_statistic(train[train_labels == label], test[test_labels == label],
                           generated[generated_labels == label], n_cells, pca_dims, seed,
                           f"class-wise C_T (class {label})", "mrgan.classwise_cells")
        rows.append({"label": int(label), "ct": res.ct, "cells_kept": res.n_kept,
                     "m": int((generated_labels == label).sum()), "n": int((test_labels == label).sum())})
    return pd.DataFrame(rows)
