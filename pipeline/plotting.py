"""Figure helpers shared by the methods: a headless backend and image grids."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def new_figure(rows: int = 1, cols: int = 1, size: tuple[float, float] | None = None):
    """A figure and its axes (always a 2-D array) on the Agg backend."""
    fig, axes = plt.subplots(rows, cols, figsize=size or (4 * cols, 3 * rows), squeeze=False)
    return fig, axes


def show_image(ax, image: np.ndarray, title: str | None = None) -> None:
    """Draw one uint8 (H, W, C) or float [0, 1] image without axes; grey for one channel."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255 if image.dtype == np.uint8 else 1)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=7)


def image_grid(images, titles=None, cols: int = 8, scale: float = 1.2):
    """A figure showing ``images`` in a grid of ``cols`` columns, each with an optional title."""
    n = len(images)
    rows = max(1, -(-n // cols))
    fig, axes = new_figure(rows, cols, (scale * cols, scale * rows + 0.3))
    for i, ax in enumerate(axes.flat):
        if i < n:
            show_image(ax, images[i], None if titles is None else titles[i])
        else:
            ax.axis("off")
    fig.tight_layout()
    return fig


def close(fig) -> None:
    plt.close(fig)
