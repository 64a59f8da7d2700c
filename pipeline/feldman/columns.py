"""Per-example statistics over the runs, a block of examples at a time: the helpers every estimator
shares (``estimators``, ``lira``).

Every estimator is computed per example (column of the (t, n) run matrices) from its t runs. A
(t, block) float64 temporary holds at most BLOCK_BYTES (512 KB), so at paper scale (4,000 runs x
60,000 examples, 1.9 GB per float64 matrix) a job needs a few megabytes of temporaries, not a dozen
whole matrices. So small a block keeps a chain of elementwise steps in the cores' caches: the
estimators are bound by memory bandwidth, and two threads on two cores ran 1.2x faster than one at
16 MB blocks, 1.8x at 512 KB, one thread no slower (numbers in benchmarks/RESULTS.md, "Analysis jobs
at full-data scale"). Only LiRA's pooled variances add over blocks, in block order; no table changed
with the block size (full MNIST at t = 256: one block of 128 MB before, 235 of 512 KB now).
"""

from __future__ import annotations

import numpy as np

BLOCK_BYTES = 2**19


def column_blocks(n_rows: int, n_columns: int) -> list[slice]:
    """Consecutive column slices whose (n_rows, width) float64 matrices hold at most BLOCK_BYTES."""
    width = max(1, BLOCK_BYTES // (8 * max(n_rows, 1)))
    return [slice(start, start + width) for start in range(0, max(n_columns, 1), width)]


def by_column_blocks(fn, *matrices: np.ndarray):
    """``fn`` applied to the same column block of each (t, n) matrix in turn, its per-column results
    (an array, a tuple or a dict of arrays, columns last) written into arrays of all n columns: what
    ``fn`` gives on the whole matrices when it treats each column alone, with its temporaries bounded
    by BLOCK_BYTES and no copy of the results."""
    n, out = matrices[0].shape[1], None
    for cols in column_blocks(*matrices[0].shape):
        part = fn(*(m[:, cols] for m in matrices))
        named = part if isinstance(part, dict) else dict(enumerate(part)) if isinstance(part, tuple) else {0: part}
        if out is None:
            out = {key: np.empty(value.shape[:-1] + (n,), value.dtype) for key, value in named.items()}
        for key, value in named.items():
            out[key][..., cols] = value
    if isinstance(part, dict):
        return out
    return tuple(out.values()) if isinstance(part, tuple) else out[0]


def group_mean(group: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, sample variance and count per column of float64 ``values`` over the rows where ``group``
    (bool, NaN values already excluded from it) holds."""
    n = group.sum(0, dtype=np.int32).astype(np.float64)
    x = np.where(group, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, x.sum(0) / n, np.nan)
        var = np.where(n > 1, (np.where(group, values - mean, 0.0) ** 2).sum(0) / (n - 1), np.nan)
    return mean, var, n


def group_means(member: np.ndarray, values: np.ndarray, groups: int = 2) -> tuple[np.ndarray, ...]:
    """Mean, sample variance and count of ``values`` over the runs with and without each example,
    runs where a value is NaN left out: (mean_in, mean_out, var_in, var_out, n_in, n_out); with
    ``groups`` = 1 those of the runs with it alone, (mean_in, var_in, n_in)."""
    values = np.asarray(values, dtype=np.float64)
    defined = ~np.isnan(values)
    member = np.asarray(member, dtype=bool)
    if groups == 1:
        return group_mean(member & defined, values)
    (m_in, v_in, n_in), (m_out, v_out, n_out) = (group_mean(group, values)
                                                 for group in (member & defined, ~member & defined))
    return m_in, m_out, v_in, v_out, n_in, n_out
