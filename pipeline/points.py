"""Point sets (rows = points, columns = features) handed to the estimators, checked in one place:
a bad one stops with one line naming it, not an error from deep inside numpy or scikit-learn."""

from __future__ import annotations

import numpy as np

from pipeline.errors import PipelineError


def points(x, what: str, min_rows: int = 1) -> np.ndarray:
    """``x`` as an (n, d) float64 array of finite numbers with n >= ``min_rows``."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < min_rows:
        raise PipelineError(f"{what}: points of shape {x.shape}; expected (n, d) with n >= {min_rows}")
    return finite_rows(x, what)


def finite_rows(x: np.ndarray, what: str) -> np.ndarray:
    """``x`` (n, d), unchanged, if every entry is finite; else an error naming the first bad rows."""
    if not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
        raise PipelineError(f"{what}: rows {bad[:5].tolist()} hold NaN or inf")
    return x
