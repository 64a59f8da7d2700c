"""Frechet distance between Gaussians fitted to two feature sets (FID when the features are
Inception pool features; here whichever embedding the config chose).

FID = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)); if the matrix square root is not finite,
eps = 1e-6 is added to both diagonals, as in the reference implementation.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

from pipeline.errors import PipelineError


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise PipelineError(f"fid: need at least 2 feature rows, got shape {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    diff = mu1 - mu2
    with warnings.catch_warnings():  # a singular product is handled below, not an error
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = np.eye(len(sigma1)) * eps
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = np.real(covmean)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID between two feature sets (rows = samples)."""
    return frechet_distance(*gaussian_stats(features_a), *gaussian_stats(features_b))
