"""Frechet distance between Gaussians fitted to two feature sets, in whatever feature space the
caller gives. It is FID only when the features are Inception pool features; the workflow passes
the job's configured embedding, so its ``fid_*`` columns are Frechet distances in that embedding.

d = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)); if the matrix square root is not finite,
eps = 1e-6 is added to both diagonals, as in the reference FID implementation.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

from pipeline.errors import PipelineError


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise PipelineError(f"frechet_distance: need at least 2 feature rows, got shape {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def gaussian_frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    diff = mu1 - mu2
    with warnings.catch_warnings():  # a singular product is handled below, not an error
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = np.eye(len(sigma1)) * eps
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = np.real(covmean)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (rows = points, same columns)."""
    a, b = np.asarray(features_a), np.asarray(features_b)
    if a.ndim == 2 and b.ndim == 2 and a.shape[1] != b.shape[1]:
        raise PipelineError(f"frechet_distance: feature dimensions differ ({a.shape[1]} != {b.shape[1]})")
    return gaussian_frechet_distance(*gaussian_stats(a), *gaussian_stats(b))
