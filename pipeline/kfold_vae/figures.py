"""The supplement-C figures of van den Burg & Williams, one function per figure.

- ``examples_figure``: training images with low, median and high memorization score M.
- ``logpx_histogram_figure``: histogram of log p(x) (U, the log-likelihood under the models
  that trained on x) for highly memorized vs regular points, the number of highly memorized
  points written over each bin, and the proportion of each group per bin.
- ``rho_figure``: mean nearest-neighbour ratio rho per M bin with standard-error bars, and the
  distribution of rho for highly memorized vs regular points.
- ``quantiles_figure``: quantiles of M against training epoch.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import cli, io, plotting
from pipeline.data.dataset import Dataset
from pipeline.progress import get_logger
from pipeline.schema import schema_default

log = get_logger("kfold_vae.figures")
HIGH_COLOR, REGULAR_COLOR = "#e6a700", "#3a6ea5"
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def example_groups(scores: pd.DataFrame, n: int) -> dict[str, pd.DataFrame]:
    """The n lowest, the n around the median and the n highest scores, each sorted by M."""
    ordered = scores.sort_values(["M", "index"]).reset_index(drop=True)
    n = min(n, len(ordered))
    middle = max(0, len(ordered) // 2 - n // 2)
    return {"low": ordered.iloc[:n], "median": ordered.iloc[middle : middle + n], "high": ordered.iloc[len(ordered) - n :]}


def examples_figure(scores: pd.DataFrame, images: np.ndarray, n: int = 16, cols: int = 4):
    groups = example_groups(scores, n)
    rows = -(-n // cols)
    fig = plotting.plt.figure(figsize=(3 * 1.1 * cols, 1.2 * rows + 0.6))
    for subfig, (name, group) in zip(fig.subfigures(1, 3), groups.items()):
        axes = subfig.subplots(rows, cols, squeeze=False)
        for ax, (_, row) in zip(axes.flat, group.iterrows()):
            plotting.show_image(ax, images[int(row["index"])], f"M={row['M']:.1f}")
        for ax in axes.flat[len(group):]:
            ax.axis("off")
        subfig.suptitle(f"{name} memorization", fontsize=9)
    return fig


def logpx_histogram_figure(scores: pd.DataFrame, bins: int = schema_default("kfold_vae.histogram_bins")):
    fig, axes = plotting.new_figure(1, 2, (10, 3.5))
    edges = np.histogram_bin_edges(scores["U"], bins=bins)
    high = scores["high"].to_numpy()
    n_high, _ = np.histogram(scores.loc[high, "U"], edges)
    n_reg, _ = np.histogram(scores.loc[~high, "U"], edges)
    width, left = np.diff(edges), edges[:-1]
    ax = axes[0, 0]
    ax.bar(left, n_reg, width, align="edge", color=REGULAR_COLOR, label="regular")
    ax.bar(left, n_high, width, bottom=n_reg, align="edge", color=HIGH_COLOR, label="highly memorized")
    for x, w, h, total in zip(left, width, n_high, n_high + n_reg):
        if total:
            ax.text(x + w / 2, total, str(h), ha="center", va="bottom", fontsize=6)
    ax.set_xlabel("log p(x) under models trained on x (U)")
    ax.set_ylabel("count")
    ax.set_title("(a) histogram")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    total = np.maximum(n_high + n_reg, 1)
    ax.bar(left, n_reg / total, width, align="edge", color=REGULAR_COLOR, label="regular")
    ax.bar(left, n_high / total, width, bottom=n_reg / total, align="edge", color=HIGH_COLOR,
           label="highly memorized")
    ax.set_xlabel("log p(x) under models trained on x (U)")
    ax.set_ylabel("proportion")
    ax.set_title("(b) proportions")
    fig.tight_layout()
    return fig


def rho_by_bin(merged: pd.DataFrame, bins: int) -> pd.DataFrame:
    """Mean rho, its standard error and count per equal-width bin of M."""
    finite = merged[np.isfinite(merged["rho"])]
    edges = np.histogram_bin_edges(finite["M"], bins=bins)
    which = np.clip(np.searchsorted(edges, finite["M"], side="right") - 1, 0, bins - 1)
    grouped = finite.groupby(which)["rho"].agg(["mean", "std", "count"])
    grouped["sem"] = grouped["std"].fillna(0.0) / np.sqrt(grouped["count"])
    grouped["center"] = (edges[grouped.index] + edges[grouped.index + 1]) / 2
    return grouped.reset_index(drop=True)


def rho_figure(scores: pd.DataFrame, rho: pd.DataFrame, bins: int = schema_default("kfold_vae.histogram_bins")):
    merged = scores[["index", "M", "high"]].merge(rho[["index", "rho"]], on="index")
    fig, axes = plotting.new_figure(1, 2, (10, 3.5))
    table = rho_by_bin(merged, bins)
    ax = axes[0, 0]
    ax.errorbar(table["center"], table["mean"], yerr=table["sem"], fmt="o", ms=3, capsize=2, color=REGULAR_COLOR)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("memorization score M")
    ax.set_ylabel("mean rho (± s.e.)")
    ax.set_title("(a) rho per M bin")
    ax = axes[0, 1]
    finite = merged[np.isfinite(merged["rho"])]
    edges = np.histogram_bin_edges(finite["rho"], bins=30)
    for flag, color, name in ((False, REGULAR_COLOR, "regular"), (True, HIGH_COLOR, "highly memorized")):
        values = finite.loc[finite["high"] == flag, "rho"]
        if len(values):
            ax.hist(values, edges, density=True, alpha=0.6, color=color, label=f"{name} (n={len(values)})")
    ax.axvline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("rho = d(nearest validation) / d(nearest sample)")
    ax.set_ylabel("density")
    ax.set_title("(b) distribution of rho")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def quantiles_figure(by_epoch: pd.DataFrame, quantiles=QUANTILES):
    table = by_epoch.groupby("epoch")["M"].quantile(list(quantiles)).unstack()
    fig, axes = plotting.new_figure(1, 1, (5, 3.5))
    ax = axes[0, 0]
    for q in quantiles:
        ax.plot(table.index, table[q], marker="o", ms=3, label=f"q={q:g}")
    ax.axhline(0.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("epoch")
    ax.set_ylabel("memorization score M")
    ax.set_title("quantiles of M over training")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def save(fig, path: Path) -> None:
    io.save_figure(fig, path, dpi=120)
    plotting.close(fig)
    log.info("wrote %s", path)


def main() -> None:
    parser = argparse.ArgumentParser(description="Supplement-C figures of the K-fold VAE study.")
    parser.add_argument("--scores", required=True, type=Path)
    parser.add_argument("--scores-by-epoch", required=True, type=Path)
    parser.add_argument("--rho", required=True, type=Path)
    parser.add_argument("--dataset-dir", required=True, type=Path)
    parser.add_argument("--bins", type=int, default=schema_default("kfold_vae.histogram_bins"))
    parser.add_argument("--out-examples", required=True, type=Path)
    parser.add_argument("--out-histogram", required=True, type=Path)
    parser.add_argument("--out-rho", required=True, type=Path)
    parser.add_argument("--out-quantiles", required=True, type=Path)
    a = parser.parse_args()
    scores = io.read_parquet(a.scores)
    images = Dataset.load(a.dataset_dir, mmap=True).images
    save(examples_figure(scores, images), a.out_examples)
    save(logpx_histogram_figure(scores, a.bins), a.out_histogram)
    save(rho_figure(scores, io.read_parquet(a.rho), a.bins), a.out_rho)
    save(quantiles_figure(io.read_parquet(a.scores_by_epoch)), a.out_quantiles)


if __name__ == "__main__":
    cli.run(main)
