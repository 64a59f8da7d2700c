"""Figures of one atlas: the score correlation matrix, pairwise scatter plots and an image
grid of the examples flagged by every method and by only one.

Not every score measures memorization, so each figure says what each of its scores measures and
which way it points, from ``columns.COLUMNS`` (``score_label``: "rho (atypicality, higher =
farther from validation)"): the scatter plots on their axes, the correlation matrix by the colour
of each score's name and a legend of the colours, the flagged grid beside each row.

- ``correlation_matrix``: Spearman correlation of every pair of scores with its bootstrap
  interval (left) and the Jaccard overlap of their top sets (right), from pairs.parquet.
- ``scatter``: one panel per pair of scores (the first ``max_scores`` scores), examples in
  both top sets in red.
- ``flagged``: a row of examples flagged by every method, then one row per method of those
  only it flags (highest mean quantile first, from flagged.parquet).
With fewer than two scores the first two say so instead of drawing empty axes.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import cli, io
from pipeline.atlas.analysis import top_set
from pipeline.atlas.columns import MEASURES, describe, method_of, score_columns, what_it_measures
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


def score_label(name: str) -> str:
    """The score's short name with what it measures and which way it points."""
    return f"{short_name(name)} ({what_it_measures(name)})"


# One colour per kind of quantity (columns.MEASURES), the same in every figure; none of them the
# colours the planted figure gives the canary kinds (C0-C3) or the scatter's red.
MEASURE_COLOURS = {"memorization": "#000000", "membership": "#6a3d9a", "difficulty to learn": "#8c510a",
                   "atypicality": "#c51b7d", "closeness to samples": "#01665e"}


def measure_colour(name: str) -> str:
    return MEASURE_COLOURS[describe(name).measures]


def measures_legend(scores: list[str], width: int) -> list[tuple[str, str]]:
    """(colour, text) per kind of quantity among ``scores``, in MEASURES' order: what it is, then its
    scores with which way each points."""
    lines = []
    for measure, meaning in MEASURES.items():
        mine = [s for s in scores if describe(s).measures == measure]
        if not mine:
            continue
        directions = {}
        for s in mine:
            directions.setdefault(describe(s).higher, []).append(short_name(s))
        named = "; ".join(f"{', '.join(names)}: higher = {higher}" for higher, names in directions.items())
        text = textwrap.fill(f"{measure} ({meaning}): {named}", width, subsequent_indent="    ")
        lines.append((measure_colour(mine[0]), text))
    return lines


LEGEND_FONT = 7.5  # points
LINE = LEGEND_FONT * 1.4 / 72  # inches per legend line


def legend_width(figure_width: float) -> int:
    """Characters of a legend line across a figure ``figure_width`` inches wide."""
    return int(figure_width * 72 / (0.55 * LEGEND_FONT)) - 6


def legend_height(scores: list[str], figure_width: float) -> float:
    """Inches the measures legend takes under the axes."""
    return sum(text.count("\n") + 1 for _, text in measures_legend(scores, legend_width(figure_width))) * LINE + 0.15


def draw_legend(fig, scores: list[str]) -> float:
    """The measures legend at the foot of ``fig``; returns the share of its height the legend takes."""
    width, height = fig.get_size_inches()
    y = (legend_height(scores, width) - 0.08) / height
    for colour, text in measures_legend(scores, legend_width(width)):
        fig.text(0.01, y, text, color=colour, fontsize=LEGEND_FONT, va="top", ha="left")
        y -= (text.count("\n") + 1) * LINE / height
    return legend_height(scores, width) / height


def _message(text: str, title: str):
    fig, axes = new_figure(1, 1, (5, 2))
    axes[0, 0].axis("off")
    axes[0, 0].text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    fig.suptitle(title)
    return fig


def correlation_matrix(pairs: pd.DataFrame, scores: list[str], title: str):
    if len(scores) < 2:
        return _message(f"{len(scores)} score(s) in this atlas: nothing to correlate", title)
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
    width = max(2 * size + 2, 9.0)
    fig, axes = new_figure(1, 2, (width, size + 1 + legend_height(scores, width)))
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
        for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
            for tick, score in zip(ticks, scores):
                tick.set_color(measure_colour(score))
        ax.set_title(name, fontsize=8)
        fig.colorbar(image, ax=ax, shrink=0.7)
    fig.suptitle(f"{title}: scores coloured by what they measure")
    fig.tight_layout(rect=(0, draw_legend(fig, scores), 1, 1))
    return fig


def scatter(atlas: pd.DataFrame, scores: list[str], top_fraction: float, title: str, max_scores: int = 6):
    if len(scores) < 2:
        return _message(f"{len(scores)} score(s) in this atlas: no pairs to plot", title)
    scores = scores[:max_scores]
    pairs = [(a, b) for i, a in enumerate(scores) for b in scores[i + 1:]]
    cols = min(3, len(pairs))
    rows = -(-len(pairs) // cols)
    fig, axes = new_figure(rows, cols, (3.6 * cols, 3.1 * rows + 0.4))
    values = {s: pd.array(atlas[s], dtype="Float64").to_numpy(dtype=np.float64, na_value=np.nan) for s in scores}
    tops = {s: top_set(values[s], top_fraction) for s in scores}
    for ax, (a, b) in zip(axes.flat, pairs):
        both = ~np.isnan(values[a]) & ~np.isnan(values[b])
        hot = both & tops[a] & tops[b]
        ax.scatter(values[a][both & ~hot], values[b][both & ~hot], s=4, alpha=0.4, color="grey", lw=0)
        ax.scatter(values[a][hot], values[b][hot], s=8, color="red", lw=0, label=f"top {top_fraction:.0%} of both")
        ax.set_xlabel(_wrapped(score_label(a)), fontsize=6.5, color=measure_colour(a))
        ax.set_ylabel(_wrapped(score_label(b)), fontsize=6.5, color=measure_colour(b))
        ax.tick_params(labelsize=6)
        ax.set_title(f"n = {int(both.sum())}, in both top sets: {int(hot.sum())}", fontsize=7)
    for ax in list(axes.flat)[len(pairs):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _wrapped(text: str, chars: int = 44) -> str:
    return textwrap.fill(text, chars)


def flagged_by(method: str, scores: list[str]) -> str:
    """What a method's flags stand for: each kind of quantity its primary ``scores`` measure, with them."""
    kinds = {}
    for s in scores:
        if method_of(s) == method:
            kinds.setdefault(describe(s).measures, []).append(short_name(s))
    return "\n".join(textwrap.fill(f"{kind}: {', '.join(names)}", 26) for kind, names in kinds.items())


def flagged_grid(flagged: pd.DataFrame, images: np.ndarray, methods: list[str], per_row: int, title: str,
                 scores: list[str]):
    """``scores``: the primary scores that flag (their kinds are written beside each method's row)."""
    groups = [("all methods", flagged[flagged["all_methods"]], "")] if len(methods) > 1 else []
    groups += [(f"only {m}", flagged[flagged["only_method"] == m], flagged_by(m, scores)) for m in methods]
    if not groups:
        return _message("no scores in this atlas", title)
    fig, axes = new_figure(len(groups), per_row, (1.1 * per_row + 2.0, 1.4 * len(groups) + 0.5))
    for row, (name, part, kinds) in zip(axes, groups):
        row[0].set_ylabel(f"{name} ({len(part)})" + (f"\nflagged by\n{kinds}" if kinds else ""), fontsize=6.5)
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
    fig.suptitle(f"{title}: top-set examples of each method's primary scores, by what the scores measure",
                 fontsize=9)
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description="Figures of one atlas: its scores compared, the examples they flag.")
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
                     (flagged_grid(flagged, images, methods, a.per_row, a.title,
                                   score_columns(atlas.columns, primary_only=True)), a.out_flagged)]:
        io.save_figure(fig, out, dpi=120)
        close(fig)


if __name__ == "__main__":
    cli.run(main)
