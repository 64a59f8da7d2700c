"""Synthetic image generators of Yoon et al. (see pipeline.diffusion).

All generators return float images in [0, 1] with shape (n, size, size, 3) and are
deterministic given their seed. Mondrian layout (a documented choice): the cross's arms
are ``max(1, size // 8)`` pixels wide, and the first row and column of each arm are drawn
uniformly from the middle half of the image; the four quadrants get one flat colour each.
"""

from __future__ import annotations

import numpy as np

from pipeline.schema import spec_defaults


def mondrian(n: int, size: int, seed: int) -> np.ndarray:
    """Mondrian (MO): iid-uniform RGB cross over four flat, uniformly coloured quadrants."""
    rng = np.random.default_rng(seed)
    width = max(1, size // 8)
    low, high = size // 4, max(size // 4 + 1, (3 * size) // 4 - width + 1)
    rows = rng.integers(low, high, size=n)
    cols = rng.integers(low, high, size=n)
    colours = rng.random((n, 4, 3))
    grid = np.arange(size)
    below = grid[None, :, None] >= rows[:, None, None]  # (n, size, 1): pixel row is below the cross row
    right = grid[None, None, :] >= cols[:, None, None]  # (n, 1, size)
    quadrant = 2 * below.astype(np.int64) + right.astype(np.int64)  # (n, size, size) in 0..3
    images = np.take_along_axis(colours, quadrant.reshape(n, -1, 1).repeat(3, axis=2), axis=1)
    images = images.reshape(n, size, size, 3)
    in_row = (grid[None, :] >= rows[:, None]) & (grid[None, :] < rows[:, None] + width)
    in_col = (grid[None, :] >= cols[:, None]) & (grid[None, :] < cols[:, None] + width)
    cross = in_row[:, :, None] | in_col[:, None, :]
    noise = rng.random((n, size, size, 3))
    images[cross] = noise[cross]
    return images


def gaussian_mixture_centers(size: int, n_centers: int, seed: int) -> np.ndarray:
    """The fixed component means: ``n_centers`` images of iid uniform pixels."""
    return np.random.default_rng(seed).random((n_centers, size, size, 3))


# The schema's defaults of a gaussian_mixture data set (config keys n_centers, sd, center_seed).
_GM = spec_defaults("datasets.*", {"kind": "gaussian_mixture"}, check=False)


def gaussian_mixture(
    n: int, size: int, seed: int, n_centers: int = _GM["n_centers"], sd: float = _GM["sd"],
    center_seed: int = _GM["center_seed"], clip: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian mixture (GM): a uniformly chosen centre plus iid N(0, sd^2) noise, clipped to [0, 1].

    Returns the images and the component index of each (used as its label).
    """
    centers = gaussian_mixture_centers(size, n_centers, center_seed)
    rng = np.random.default_rng(seed)
    component = rng.integers(0, n_centers, size=n)
    images = centers[component] + rng.normal(0.0, sd, size=(n, size, size, 3))
    if clip:
        images = np.clip(images, 0.0, 1.0)
    return images, component


def random_ink(n: int, size: int, seed: int) -> np.ndarray:
    """Random Ink (RI): every RGB value iid Bernoulli(1/2)."""
    return np.random.default_rng(seed).integers(0, 2, size=(n, size, size, 3)).astype(np.float64)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Quantize [0, 1] floats to 8-bit pixels (round to nearest)."""
    return np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)
