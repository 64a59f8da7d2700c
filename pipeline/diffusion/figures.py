"""Figures of the diffusion memorization experiments (Yoon et al.).

- share_vs_size.png: replicate share (all samples; mean over seeds, min-max as a band) against
  the subset size, one line per width (paper Fig. 1); for a dummy-data experiment the x axis is
  the number of dummies and a dashed line per width shows the kept class alone (Fig. 5).
- per_class.png: replicate share per class for every (size, width) (Fig. 7).
- grid.png: for a few jobs, the samples with the lowest ratio next to their nearest and
  second-nearest training images, titled with the ratio (Figs. 3, 4).
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

log = get_logger("diffusion.figures")


def share_vs_size(summary: pd.DataFrame, x_label: str, keep_label: int | None = None):
    fig, axes = plotting.new_figure(1, 1, (5, 3.5))
    ax = axes[0, 0]
    for i, (width, group) in enumerate(summary.groupby("width")):
        color = f"C{i}"
        for cls, style, label in [(-1, "-o", f"width {width}"), (keep_label, "--s", f"width {width}, class {keep_label}")]:
            if cls is None:
                continue
            rows = group[group["class"] == cls]
            if rows.empty:
                continue
            stats = rows.groupby("size")["replicate_share"].agg(["mean", "min", "max"]).sort_index()
            ax.plot(stats.index, stats["mean"], style, color=color, label=label)
            ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.15)
    if (summary["size"] > 0).all():
        ax.set_xscale("log", base=2)
    ax.set_xlabel(x_label)
    ax.set_ylabel("replicate share (ratio < %.2g)" % summary["threshold"].iloc[0])
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def per_class(summary: pd.DataFrame):
    rows = summary[summary["class"] >= 0]
    if rows.empty:
        rows = summary
    stats = rows.groupby(["size", "width", "class"])["replicate_share"].mean().unstack("class")
    fig, axes = plotting.new_figure(1, 1, (max(4.0, 0.9 * len(stats) + 2), 3.5))
    ax = axes[0, 0]
    n_cls = max(1, stats.shape[1])
    xs = np.arange(len(stats))
    for j, cls in enumerate(stats.columns):
        ax.bar(xs + (j - (n_cls - 1) / 2) * 0.8 / n_cls, stats[cls].to_numpy(), 0.8 / n_cls,
               label="all" if cls == -1 else f"class {cls}")
    ax.set_xticks(xs, [f"n={s}\nw={w}" for s, w in stats.index], fontsize=7)
    ax.set_ylabel("replicate share")
    ax.set_ylim(0, 1.02)
    if n_cls <= 12:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def grid(jobs: list[Path], dataset: Dataset, per_job: int = 4):
    images, titles = [], []
    for job in jobs:
        samples = io.read_array(job / "samples.npy")
        reps = io.read_parquet(job / "replicates.parquet").sort_values("ratio", kind="stable")
        reps = reps.drop_duplicates("nearest").head(per_job)  # distinct training images
        for row in reps.itertuples():
            images += [samples[row.sample], dataset.images[row.nearest], dataset.images[row.second]]
            titles += [f"{job.parent.parent.name} {job.parent.name}\nratio {row.ratio:.2f}", "nearest", "2nd nearest"]
    fig = plotting.image_grid(images, titles, cols=6, scale=1.3)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description="Figures of one diffusion experiment.")
    parser.add_argument("--summary", required=True, type=Path)
    parser.add_argument("--dataset-dir", required=True, type=Path)
    parser.add_argument("--grid-jobs", nargs="+", type=Path, required=True, help="job folders shown in the grid")
    parser.add_argument("--x-label", default=schema_default("diffusion.experiments.*.x_label"))
    parser.add_argument("--keep-label", type=int, default=None)
    parser.add_argument("--out-share", required=True, type=Path)
    parser.add_argument("--out-per-class", required=True, type=Path)
    parser.add_argument("--out-grid", required=True, type=Path)
    a = parser.parse_args()
    summary = io.read_parquet(a.summary)
    for fig, path in [(share_vs_size(summary, a.x_label, a.keep_label), a.out_share),
                      (per_class(summary), a.out_per_class),
                      (grid(a.grid_jobs, Dataset.load(a.dataset_dir)), a.out_grid)]:
        io.save_figure(fig, path, dpi=120)
        plotting.close(fig)
        log.info("wrote %s", path)


if __name__ == "__main__":
    cli.run(main)
