"""Figures of the claims: one per paper with a panel per claim, headed by its outcome, and the table.

Each panel draws the numbers its claim's criterion uses, from the same tables (the same options as
``evaluate``; a panel's function takes the inputs its claim declares) and the same helper functions and
thresholds; a claim that was not run shows why instead.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import cli, io
from pipeline.claims import criteria as cr
from pipeline.claims import evaluate as ev
from pipeline.claims.tables import Inputs, add_arguments, read_inputs
from pipeline.frechet import frechet_test_column
from pipeline.plotting import close, new_figure
from pipeline.targets import CLAIMS_PAPERS

COLOURS = {ev.TRUE: "tab:green", ev.FALSE: "tab:red", ev.NOT_RUN: "tab:gray"}


def _hist(ax, groups: dict, xlabel: str) -> None:
    values = [np.asarray(v, float)[~np.isnan(np.asarray(v, float))] for v in groups.values()]
    edges = np.histogram_bin_edges(np.concatenate(values), bins=30) if sum(map(len, values)) else 10
    for (name, _), v in zip(groups.items(), values):
        ax.hist(v, bins=edges, alpha=0.5, density=True, label=f"{name} ({len(v)})")
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=7)


def _boxes(ax, groups: dict, ylabel: str) -> None:
    names = [name for name, v in groups.items() if len(v)]
    ax.boxplot([np.asarray(groups[n], float)[~np.isnan(np.asarray(groups[n], float))] for n in names])
    ax.set_xticks(range(1, len(names) + 1), names)
    ax.set_ylabel(ylabel)


def draw_fz1(ax, feldman_index, feldman_mem):
    groups, mem = ev._feldman_groups(feldman_index, feldman_mem)
    _hist(ax, {"flipped": mem[groups["flipped"]], "clean": mem[groups["clean"]]}, "mem")
    ax.axvline(cr.FZ1_MIN_MEDIAN_MEM, color="k", ls="--", lw=0.8)


def draw_fz2(ax, feldman_index, feldman_pairs, feldman_shards):
    _hist(ax, {"flipped -> its test copy": ev.copy_influence(feldman_index, feldman_shards)["infl"]}, "infl(i, j)")
    ax.axvline(cr.FZ2_MIN_MEDIAN_INFL, color="k", ls="--", lw=0.8)


def draw_fz3(ax, feldman_index, feldman_mem):
    groups, mem = ev._feldman_groups(feldman_index, feldman_mem)
    _boxes(ax, {kind: mem[groups[kind]] for kind in ("clean", "outlier", "duplicate")}, "mem")


def _mem_scatter(ax, a, b, label_b):
    both = ev._mem_pair(a, b)
    ax.scatter(both["mem_a"], both["mem_b"], s=3, alpha=0.4)
    ax.set_xlabel("mem (arch)")
    ax.set_ylabel(f"mem ({label_b})")


def draw_fz4(ax, feldman_mem, replicate_mem):
    _mem_scatter(ax, feldman_mem, replicate_mem, "replicate")
    for line in (ax.axvline, ax.axhline):
        line(cr.MEM_SET_THRESHOLD, color="k", ls="--", lw=0.8)


def draw_fz5(ax, feldman_mem, other_mem):
    _mem_scatter(ax, feldman_mem, other_mem, "other architecture")


def draw_kf1(ax, kfold_index, kfold_scores):
    groups, m = ev._kfold_groups(kfold_index, kfold_scores)
    _hist(ax, {"outlier": m[groups["outlier"]], "clean": m[groups["clean"]]}, "M")
    ax.axvline(np.nanquantile(m, 1 - cr.TOP_FRACTION), color="k", ls="--", lw=0.8,
               label=f"top {cr.percent(cr.TOP_FRACTION)}")


def draw_kf2(ax, kfold_index, kfold_scores):
    groups, m = ev._kfold_groups(kfold_index, kfold_scores)
    _boxes(ax, {kind: m[groups[kind]] for kind in ("clean", "outlier", "duplicate")}, "M")


def draw_kf3(ax, kfold_scores, kfold_logpx_full, kfold_index=None):
    full = kfold_logpx_full[kfold_logpx_full["epoch"] == kfold_logpx_full["epoch"].max()]
    table = kfold_scores[["index", "M"]].merge(full[["index", "logpx"]], on="index")
    groups, m = ev._kfold_groups(kfold_index, table)
    high = ev.top_flags(m)
    clean = groups["clean"]
    ax.scatter(table["logpx"][clean & ~high], m[clean & ~high], s=3, alpha=0.3, label="clean")
    ax.scatter(table["logpx"][clean & high], m[clean & high], s=6, color="tab:red",
               label=f"clean, top {cr.percent(cr.TOP_FRACTION)} M")
    ax.axvline(np.quantile(table["logpx"], cr.LOW_LIKELIHOOD_QUANTILE), color="k", ls="--", lw=0.8)
    ax.set_xlabel("log p(x), full model")
    ax.set_ylabel("M")
    ax.legend(fontsize=7)


def draw_kf4(ax, kfold_scores, kfold_rho, kfold_index=None):
    table = kfold_scores[["index", "M"]].merge(kfold_rho[["index", "rho"]], on="index")
    groups, m = ev._kfold_groups(kfold_index, table)
    rho = table["rho"][groups["clean"]]
    ax.scatter(rho, m[groups["clean"]], s=3, alpha=0.4)
    finite = rho[np.isfinite(rho) & (rho > 0)]
    if len(finite) and finite.max() > 10 * finite.min():  # a wide range of ratios
        ax.set_xscale("log")
    ax.set_xlabel("rho")
    ax.set_ylabel("M")


def draw_kf5(ax, kfold_scores, kfold_index=None):
    groups, m = ev._kfold_groups(kfold_index, kfold_scores)
    _hist(ax, {"clean": m[groups["clean"]]}, "M")
    ax.axvline(cr.KF5_MEDIAN_M_ABOVE, color="k", ls="--", lw=0.8)


def _shares(ax, shares: pd.DataFrame, xlabel: str, ylabel: str = "replicate share"):
    for width in shares.columns:
        ax.plot(shares.index, shares[width], marker="o", label=f"width {width}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)


def draw_y1(ax, capacity):
    _shares(ax, ev.share_by_size(capacity), "training images")
    ax.set_xscale("log")
    for level in (cr.Y1_MIN_SHARE_SMALLEST, cr.Y1_MAX_SHARE_LARGEST):
        ax.axhline(level, color="k", ls="--", lw=0.8)


def draw_y2(ax, capacity):
    shares = ev.share_by_size(capacity)
    _shares(ax, shares, "training images")
    ax.set_xscale("log")
    ax.axhline(cr.MC_SHARE, color="k", ls="--", lw=0.8)
    for width, line in zip(shares.columns, ax.get_lines()):
        mc = ev.capacity_size(shares.index, shares[width].to_numpy())
        if np.isfinite(mc) and mc > 0:
            ax.axvline(mc, color=line.get_color(), ls=":", lw=1)


def draw_y3(ax, dummies, dummies_class):
    _shares(ax, ev.share_by_size(dummies, dummies_class), "dummies added", f"replicate share, class {dummies_class}")
    twin = ax.twinx()
    counts = ev.share_by_size(dummies, dummies_class, "n_train_replicated")
    for width in counts.columns:
        twin.plot(counts.index, counts[width], ls=":", marker="x", color="tab:gray")
    twin.set_ylabel("images replicated (dotted)")


def draw_y4(ax, minority):
    rows = minority[minority["class"] >= 0]
    per = rows.groupby("class")[["replicate_share", "train_replicated_share"]].mean()
    x = np.arange(len(per))
    ax.bar(x - 0.2, per["replicate_share"], 0.4, label="replicate share")
    ax.bar(x + 0.2, per["train_replicated_share"], 0.4, label="training images replicated")
    ax.set_xticks(x, [f"class {c}" for c in per.index])
    ax.legend(fontsize=7)


def _by_tau(ax, table: pd.DataFrame, ylabel: str):
    ax.errorbar(table.index, table["mean"], yerr=table["se"], marker="o", capsize=3)
    ax.set_xlabel("tau")
    ax.set_ylabel(ylabel)


def draw_b1(ax, mrgan_summary):
    zero = mrgan_summary[mrgan_summary["tau"] == 0]
    ax.scatter(zero["seed"], zero["ct"])
    ax.axhline(cr.B1_MAX_CT, color="k", ls="--", lw=0.8)
    ax.set_xlabel("seed")
    ax.set_ylabel("C_T at tau = 0")


def draw_b2(ax, mrgan_summary):
    _by_tau(ax, ev.ct_by_tau(mrgan_summary), "C_T")


def draw_b3(ax, mrgan_summary):
    column = frechet_test_column(mrgan_summary.columns)
    _by_tau(ax, ev.ct_by_tau(mrgan_summary, column), column)
    ax.axvline(float(mrgan_summary["tau_guideline"].iloc[0]), color="k", ls="--", lw=0.8, label="guideline")


def draw_b4(ax, mrgan_summary):
    _by_tau(ax, ev.ct_by_tau(mrgan_summary, "ct_pixels"), "C_T in pixels")


def draw_b5(ax, mrgan_classwise):
    gains = ev.classwise_gain(mrgan_classwise)
    ax.scatter(gains["ct0"], gains["gain"])
    for label, row in gains.iterrows():
        ax.annotate(str(label), (row["ct0"], row["gain"]), fontsize=6)
    ax.axvline(gains["ct0"].median(), color="k", ls="--", lw=0.8)
    ax.set_xlabel("class-wise C_T at tau = 0")
    ax.set_ylabel("gain at the largest tau")


def draw_b6(ax, mrgan_summary):
    _by_tau(ax, ev.ct_by_tau(mrgan_summary, "kept_fraction"), "kept fraction")


DRAW = {"FZ1": draw_fz1, "FZ2": draw_fz2, "FZ3": draw_fz3, "FZ4": draw_fz4, "FZ5": draw_fz5, "KF1": draw_kf1,
        "KF2": draw_kf2, "KF3": draw_kf3, "KF4": draw_kf4, "KF5": draw_kf5, "Y1": draw_y1, "Y2": draw_y2,
        "Y3": draw_y3, "Y4": draw_y4, "B1": draw_b1, "B2": draw_b2, "B3": draw_b3, "B4": draw_b4, "B5": draw_b5,
        "B6": draw_b6}


def paper_figure(claims: pd.DataFrame, paper: str, inputs: Inputs):
    """A panel per claim of ``paper``: what its criterion looks at, titled with the outcome."""
    rows = claims[claims["paper"] == paper]
    fig, axes = new_figure(1, len(rows), (4.2 * len(rows), 4.2))
    claims_by_id = {claim.id: claim for claim in ev.CLAIMS}
    for ax, row in zip(axes[0], rows.itertuples()):
        ax.set_title(f"{row.id}: {row.passed}\n" + textwrap.fill(row.criterion, 48), fontsize=8,
                     color=COLOURS[row.passed])
        draw = DRAW[row.id]
        if row.passed == ev.NOT_RUN:
            ax.axis("off")
            ax.text(0.5, 0.5, textwrap.fill(row.detail, 40), ha="center", va="center", fontsize=8)
            continue
        draw(ax, **{name: inputs.tables.get(name) for name in claims_by_id[row.id].uses()})
        ax.text(0.02, -0.28, textwrap.fill(row.detail, 60), transform=ax.transAxes, fontsize=6, va="top")
    fig.suptitle(f"{CLAIMS_PAPERS[paper]}: do the claims reproduce?")
    fig.tight_layout()
    return fig


def table_figure(claims: pd.DataFrame):
    """claims.parquet as a table, each outcome in its colour."""
    cells = [[row.id, textwrap.fill(row.claim, 44), textwrap.fill(row.criterion, 44), row.passed,
              textwrap.fill(row.detail, 56)] for row in claims.itertuples()]
    lines = [max(2, *(cell.count("\n") + 1 for cell in row)) for row in cells]
    fig, axes = new_figure(1, 1, (17, 0.6 + 0.17 * sum(lines) + 0.1 * len(lines)))
    ax = axes[0, 0]
    ax.axis("off")
    table = ax.table(cellText=cells, colLabels=["id", "claim", "criterion", "passed", "value and detail"],
                     colWidths=[0.04, 0.24, 0.24, 0.06, 0.42], loc="upper center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    total = sum(lines) + 1
    for (r, c), cell in table.get_celld().items():
        cell.set_height((lines[r - 1] if r else 1) / total)
        if r and c == 3:
            cell.set_facecolor(COLOURS[cells[r - 1][3]])
            cell.get_text().set_color("white")
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description="Figures of the papers' claims.")
    add_arguments(parser)
    parser.add_argument("--claims", required=True, type=Path)
    for paper in CLAIMS_PAPERS:
        parser.add_argument(f"--out-{paper.replace('_', '-')}", required=True, type=Path)
    parser.add_argument("--out-table", required=True, type=Path)
    args = parser.parse_args()
    claims = io.read_parquet(args.claims, ev.COLUMNS)
    inputs = read_inputs(args)
    for paper in CLAIMS_PAPERS:
        fig = paper_figure(claims, paper, inputs)
        io.save_figure(fig, getattr(args, f"out_{paper}"), dpi=110)
        close(fig)
    fig = table_figure(claims)
    io.save_figure(fig, args.out_table, dpi=110)
    close(fig)


if __name__ == "__main__":
    cli.run(main)
