"""Figures of one atlas: the score correlation matrix, pairwise scatter plots and an image
grid of the examples flagged by every method and by only one.

- ``correlation_matrix``: Spearman correlation of every pair of scores with its bootstrap
  interval (left) and the Jaccard overlap of their top sets (right), from pairs.parquet.
- ``scatter``: one panel per pair of scores (the first ``max_scores`` scores), examples in
  both top sets in red.
- ``flagged``: a row of examples flagged by every method, then one row per method of those
  only it flags (most memorized first, from flagged.parquet).
With fewer than two scores the first two say so instead of drawing empty axes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import cli, io
from pipeline.atlas.analysis import top_set
from pipeline.atlas.columns import method_of, score_columns
from pipeline.data.dataset import Dataset
from pipeline.plotting import close, new_figure, show_image
from pipeline.schema import schema_default

SHORT = {"feldman_mem_margin_": "mem_margin ", "feldman_lira_fixed_": "lira_fixed ", "feldman_lira_": "lira ",
         "feldman_slowness_": "slowness ", "feldman_mem_": "mem ", "diffusion_replicates_": "diff ", "mrgan_nn_": "gan ", "kfold_": ""}


def short_name(name: str) -> str:
    for prefix, short in SHORT.items():
        if name.startswith(prefix):
            return short + name[len(prefix):]
    return name


def _message(text: str, title: str):
    fig, axes = new_figure(1, 1, (5, 2))
    axes[0, 0].axis("off")
    axes[0, 0].text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    fig.suptitle(title)
    return fig


def correlation_matrix(pairs: pd.DataFrame, scores: list[str], title: str):
    if len(scores) < 2:
        return _message(f"{len(scores)} memorization score(s) in this atlas: nothing to correlate", title)
    k = len(scores)
    position = {name: i for i, name in enumerate(scores)}
    rho, jac = np.eye(k), np.eye(k)
    text_rho = [["1" if i == j else "" for j in range(k)] for i in range(k)]
    text_jac = [["1" if i == j else "" for j in range(k)] for i in range(k)]
    for row in pairs.itertuples():
        i, j = position[row.score_a], position[row.score_b]
        rho[i, j] = rho[j, i] = row.spearman
        jac[i, j] = jac[j, i] = row.jaccard
        text_rho[i][j] = text_rho[j][i] = f"{row.spearman:.2f}\n[{row.ci_low:.2f}, {row.ci_high:.2f}]"
        text_jac[i][j] = text_jac[j][i] = f"{row.jaccard:.2f}\n({row.n_top_both})"
    size = 1.0 + 0.9 * k
    fig, axes = new_figure(1, 2, (2 * size + 2, size + 1))
    labels = [short_name(s) for s in scores]
    for ax, values, text, cmap, vmin, name in [
        (axes[0, 0], rho, text_rho, "RdBu_r", -1,
         f"Spearman rank correlation [{pairs['confidence'].iloc[0]:.0%} bootstrap CI]"),
        (axes[0, 1], jac, text_jac, "viridis", 0, f"Jaccard of top {pairs['top_fraction'].iloc[0]:.0%} sets (shared)"),
    ]:
        image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=vmin, vmax=1)
        for i in range(k):
            for j in range(k):
                ax.text(j, i, text[i][j] or "n/a", ha="center", va="center", fontsize=6)
        ax.set_xticks(range(k), labels, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(k), labels, fontsize=7)
        ax.set_title(name, fontsize=8)
        fig.colorbar(image, ax=ax, shrink=0.7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def scatter(atlas: pd.DataFrame, scores: list[str], top_fraction: float, title: str, max_scores: int = 6):
    if len(scores) < 2:
        return _message(f"{len(scores)} memorization score(s) in this atlas: no pairs to plot", title)
    scores = scores[:max_scores]
    pairs = [(a, b) for i, a in enumerate(scores) for b in scores[i + 1:]]
    cols = min(3, len(pairs))
    rows = -(-len(pairs) // cols)
    fig, axes = new_figure(rows, cols, (3.2 * cols, 3.0 * rows + 0.4))
    values = {s: pd.array(atlas[s], dtype="Float64").to_numpy(dtype=np.float64, na_value=np.nan) for s in scores}
    tops = {s: top_set(values[s], top_fraction) for s in scores}
    for ax, (a, b) in zip(axes.flat, pairs):
        both = ~np.isnan(values[a]) & ~np.isnan(values[b])
        hot = both & tops[a] & tops[b]
        ax.scatter(values[a][both & ~hot], values[b][both & ~hot], s=4, alpha=0.4, color="grey", lw=0)
        ax.scatter(values[a][hot], values[b][hot], s=8, color="red", lw=0, label=f"top {top_fraction:.0%} of both")
        ax.set_xlabel(short_name(a), fontsize=7)
        ax.set_ylabel(short_name(b), fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_title(f"n = {int(both.sum())}, in both top sets: {int(hot.sum())}", fontsize=7)
    for ax in list(axes.flat)[len(pairs):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def flagged_grid(flagged: pd.DataFrame, images: np.ndarray, methods: list[str], per_row: int, title: str):
    groups = [("all methods", flagged[flagged["all_methods"]])] if len(methods) > 1 else []
    groups += [(f"only {m}", flagged[flagged["only_method"] == m]) for m in methods]
    if not groups:
        return _message("no memorization scores in this atlas", title)
    fig, axes = new_figure(len(groups), per_row, (1.1 * per_row + 1.2, 1.3 * len(groups) + 0.5))
    for row, (name, part) in zip(axes, groups):
        row[0].set_ylabel(f"{name}\n({len(part)})", fontsize=8)
        for k, ax in enumerate(row):
            if k < len(part):
                example = part.iloc[k]
                show_image(ax, images[int(example["index"])], f"#{int(example['index'])} y={int(example['label'])}")
            else:
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(k == 0 and len(part) == 0)
                if k == 0 and len(part) == 0:
                    ax.text(0.5, 0.5, "none", ha="center", va="center", fontsize=7, transform=ax.transAxes)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description="Figures of one memorization atlas.")
    parser.add_argument("--atlas", required=True, type=Path)
    parser.add_argument("--pairs", required=True, type=Path)
    parser.add_argument("--flagged", required=True, type=Path)
    parser.add_argument("--dataset-dir", required=True, type=Path)
    parser.add_argument("--title", required=True)
    parser.add_argument("--top-fraction", type=float, default=schema_default("atlas.top_fraction"))
    parser.add_argument("--per-row", type=int, default=schema_default("atlas.grid_examples"))
    parser.add_argument("--out-correlations", required=True, type=Path)
    parser.add_argument("--out-scatter", required=True, type=Path)
    parser.add_argument("--out-flagged", required=True, type=Path)
    a = parser.parse_args()
    atlas = io.read_parquet(a.atlas)
    scores = score_columns(atlas.columns)
    flagged = io.read_parquet(a.flagged)
    methods = list(dict.fromkeys(method_of(s) for s in scores))
    images = Dataset.load(a.dataset_dir, mmap=True).images
    for fig, out in [(correlation_matrix(io.read_parquet(a.pairs), scores, a.title), a.out_correlations),
                     (scatter(atlas, scores, a.top_fraction, a.title), a.out_scatter),
                     (flagged_grid(flagged, images, methods, a.per_row, a.title), a.out_flagged)]:
        io.save_figure(fig, out, dpi=120)
        close(fig)


if __name__ == "__main__":
    cli.run(main)
