"""Figure of planted.parquet: how well each score finds each kind of planted canary.

Left, per score (one row each) and canary kind (one colour each): the AUROC of canaries against
clean training examples with its bootstrap interval; 0.5 (dashed) is chance, 1 every canary above
every clean example. Right: the kind's share of the score's top set, with the share chance would
give (the kind's share of the training examples where the score is defined) as a black tick.
Each score's name is coloured by what it measures, and the legend at the foot says what that is and
which way each score points (``pipeline.atlas.columns``): a score of atypicality finds the inverted
images without any model memorizing them. With no canary among the training examples it says so
instead of drawing empty axes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import cli, io
from pipeline.atlas.figures import draw_legend, legend_height, measure_colour, short_name
from pipeline.plotting import close, new_figure


def planted_figure(table: pd.DataFrame, title: str):
    if table.empty:
        fig, axes = new_figure(1, 1, (5, 2))
        axes[0, 0].axis("off")
        axes[0, 0].text(0.5, 0.5, "no planted canary among the training examples (or no score)", ha="center",
                        va="center", wrap=True)
        fig.suptitle(title)
        return fig
    scores = list(dict.fromkeys(table["score"]))
    kinds = list(dict.fromkeys(table["kind"]))
    height = 0.8 / len(kinds)
    legend = legend_height(scores, 10)
    fig, axes = new_figure(1, 2, (10, 1.6 + 0.3 * len(scores) * (len(kinds) + 1) + legend))
    left, right = axes[0, 0], axes[0, 1]
    for k, kind in enumerate(kinds):
        rows = table[table["kind"] == kind].set_index("score").reindex(scores)
        y = np.arange(len(scores)) - 0.4 + height * (k + 0.5)
        colour = f"C{k}"
        error = np.vstack([rows["auroc"] - rows["auroc_low"], rows["auroc_high"] - rows["auroc"]])
        left.errorbar(rows["auroc"], y, xerr=error, fmt="o", color=colour, ms=4, capsize=2, label=kind)
        right.barh(y, rows["top_fraction_share"], height=height, color=colour)
        chance = rows["n_kind"] / rows["n_defined"]
        right.scatter(chance, y, marker="|", s=120, color="black", zorder=3,
                      label="chance (share of the examples)" if k == 0 else None)
    left.axvline(0.5, color="grey", ls="--", lw=1)
    left.set_xlim(-0.02, 1.02)
    left.set_xlabel(f"AUROC canaries vs clean [{table['confidence'].iloc[0]:.0%} bootstrap interval]", fontsize=8)
    right.set_xlabel(f"share of the top {table['top_fraction'].iloc[0]:.0%} set", fontsize=8)
    right.set_xlim(0, 1)
    for ax in (left, right):
        ax.set_yticks(range(len(scores)), [short_name(s) for s in scores], fontsize=7)
        for tick, score in zip(ax.get_yticklabels(), scores):
            tick.set_color(measure_colour(score))
        ax.invert_yaxis()
        ax.tick_params(axis="x", labelsize=7)
    handles = [h for ax in (left, right) for h in ax.get_legend_handles_labels()[0]]
    bottom = draw_legend(fig, scores)
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, bottom), ncol=len(handles), fontsize=7,
               frameon=False)
    fig.suptitle(f"{title}: planted canaries against clean training examples", fontsize=9)
    fig.tight_layout(rect=(0, bottom + 0.3 / fig.get_figheight(), 1, 1 - 0.3 / fig.get_figheight()))
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description="Figure of how well the atlas scores detect planted canaries.")
    parser.add_argument("--planted", required=True, type=Path)
    parser.add_argument("--title", required=True)
    parser.add_argument("--out", required=True, type=Path)
    a = parser.parse_args()
    fig = planted_figure(io.read_parquet(a.planted), a.title)
    io.save_figure(fig, a.out, dpi=120)
    close(fig)


if __name__ == "__main__":
    cli.run(main)
