"""Figures of the Feldman estimates: mem histogram, most/least memorized images, high-influence pairs
(each selected train image beside the test images it influences most), consistency curves, and the
membership attacks' ROC curves on log-log axes (membership.parquet: LiRA and RMIA at a few numbers of
reference models k, so the low-FPR region where the attacks differ is visible).

The high-influence figure draws only the selected pairs that beat chance (pipeline.feldman.chance:
the smallest p-values, up to where noise alone would explain ``--influence-fdr`` of them), each test image
titled with its infl and p-value, and heads the figure with the counts: the pairs beyond chance and
the noise expected among them, against all the selected pairs and the noise expected among those
(influence_chance.parquet). Most selected pairs of a run of the default size are noise; how many
it can trust: docs/running.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from pipeline import cli, io, plotting
from pipeline.data.dataset import Dataset
from pipeline.feldman.chance import FDR, Chance, beyond_chance
from pipeline.feldman.runs import read_runs
from pipeline.progress import get_logger
from pipeline.schema import schema_default

log = get_logger("feldman.figures")


def mem_histogram(mem: pd.DataFrame, threshold: float, title: str):
    fig, axes = plotting.new_figure(1, 1, (5, 3.2))
    ax = axes[0, 0]
    values = mem["mem"].dropna().to_numpy()
    ax.hist(values, bins=np.linspace(-0.2, 1.0, 49), color="tab:blue")
    ax.axvline(threshold, color="tab:red", ls="--", label=f"mem >= {threshold:g}: {(values >= threshold).sum()}")
    ax.set_yscale("log")
    ax.set_xlabel("memorization estimate mem_i")
    ax.set_ylabel("training examples")
    ax.set_title(f"{title} ({len(values)} examples, {mem['mem'].isna().sum()} undefined)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def extremes_grid(mem: pd.DataFrame, images: np.ndarray, per_side: int = 16):
    """Top rows: the most memorized training images; bottom rows: the least. Title: mem and label."""
    ranked = mem.dropna(subset=["mem"]).sort_values("mem", ascending=False, kind="stable")
    top, bottom = ranked.head(per_side), ranked.tail(per_side).iloc[::-1]
    shown = pd.concat([top, bottom])
    titles = [f"{'most' if k < len(top) else 'least'} {m:.2f}\ny={y}"
              for k, (m, y) in enumerate(zip(shown["mem"], shown["label"]))]
    return plotting.image_grid(images[shown["index"].to_numpy()], titles, cols=8, scale=1.3)


def pick_train_examples(pairs: pd.DataFrame, n: int = 5) -> list[int]:
    """The paper's unbiased pick (supplement D): evenly spaced in the order of max influence."""
    best = pairs.groupby("train_index")["infl"].max().sort_values(ascending=False, kind="stable")
    if len(best) <= n:
        return best.index.tolist()
    return best.index[np.linspace(0, len(best) - 1, n).astype(int)].tolist()


def chance_heading(chance: Chance) -> str:
    """The counts the high-influence figure is headed with."""
    return (f"{chance.n_beyond} of {chance.n_selected} selected pairs beat chance (noise alone: "
            f"{chance.expected_beyond:.1f} of them expected at FDR {chance.fdr:g}; "
            f"{chance.expected_selected:.1f} of all {chance.n_selected})")


def influence_grid(pairs: pd.DataFrame, images: np.ndarray, chance: Chance | None = None, n_train: int = 5,
                   n_test: int = 4):
    """One row per picked training example: it (index, mem, label) then its most influenced test
    images (index, infl, p-value, label); with ``chance``, only the pairs beyond chance, headed by the counts."""
    heading = None
    if chance is not None:
        pairs, heading = pairs[chance.mask], chance_heading(chance)
    picked = pick_train_examples(pairs, n_train)
    if not picked:
        fig, axes = plotting.new_figure(1, 1, (7, 1.5))
        axes[0, 0].axis("off")
        empty = "no pair passes the mem and influence thresholds" if chance is None or not chance.n_selected \
            else "no selected pair beats chance"
        axes[0, 0].text(0.5, 0.5, empty if heading is None else f"{empty}\n{heading}", ha="center", va="center",
                        fontsize=8)
        return fig
    n_test = min(n_test, int(pairs[pairs["train_index"].isin(picked)].groupby("train_index").size().max()))
    fig, axes = plotting.new_figure(len(picked), n_test + 1, (max(1.5 * (n_test + 1), 5.5), 1.6 * len(picked) + 0.4))
    for row, train_index in zip(axes, picked):
        part = pairs[pairs["train_index"] == train_index].sort_values("infl", ascending=False).head(n_test)
        plotting.show_image(row[0], images[train_index],
                            f"train {train_index} mem {part['mem'].iloc[0]:.2f}\ny={part['train_label'].iloc[0]}")
        for ax in row[1:]:
            ax.axis("off")
        for ax, (_, pair) in zip(row[1:], part.iterrows()):
            ax.axis("on")
            plotting.show_image(ax, images[int(pair["test_index"])],
                                f"test {int(pair['test_index'])} infl {pair['infl']:.2f}\n"
                                f"p {pair['p_value']:.1e} y={int(pair['test_label'])}")
    if heading is not None:
        fig.suptitle(heading.replace(" (", "\n("), fontsize=8)
    fig.tight_layout()
    return fig


def consistency_curves(table: pd.DataFrame):
    """Jaccard and mean |difference| against the threshold, for mem (left) and influence (right)."""
    fig, axes = plotting.new_figure(2, 2, (8, 5.5))
    for col, quantity in enumerate(["mem", "infl"]):
        for (a, b), part in table[table["quantity"] == quantity].groupby(["arch_a", "arch_b"], sort=False):
            label = f"{a} vs {b} (test acc {part['accuracy_a'].iloc[0]:.3f} / {part['accuracy_b'].iloc[0]:.3f})"
            axes[0, col].plot(part["theta"], part["jaccard"], marker="o", ms=3, label=label)
            axes[1, col].plot(part["theta"], part["mean_abs_diff"], marker="o", ms=3, label=label)
        axes[0, col].set_ylabel(f"Jaccard J_{quantity}(theta)")
        axes[1, col].set_ylabel(f"D_{quantity}(theta)")
        axes[1, col].set_xlabel(f"threshold theta_{quantity}")
        axes[0, col].set_ylim(0, 1.05)
        axes[0, col].legend(fontsize=7)
    fig.tight_layout()
    return fig


MEMBERSHIP_PANELS = (("lira", "online"), ("lira", "fixed"), ("rmia", "online"), ("rmia", "offline"))
ROC_FLOOR = 1e-5  # the log axes' lower end (FPR_GRID's smallest positive value); TPR 0 is drawn there


def shown_references(ks: list[int], most: int = 4) -> list[int]:
    """At most ``most`` of the ladder's k, evenly spread over it, always the smallest and the largest."""
    ks = sorted(ks)
    if len(ks) <= most:
        return ks
    return [ks[i] for i in sorted({round(j * (len(ks) - 1) / (most - 1)) for j in range(most)})]


def membership_roc(table: pd.DataFrame, title: str):
    """One panel per attack and variant: TPR against FPR on log-log axes for a few k of the ladder (and
    LiRA's curve with every model a target and all the others its shadows, dashed), each labelled with
    its AUC, its 95 % interval and its TPR at 0.1 % FPR; the diagonal is chance."""
    fig, axes = plotting.new_figure(2, 2, (9, 7.5))
    grid = np.array([ROC_FLOOR, 1.0])
    for ax, (attack, variant) in zip(axes.ravel(), MEMBERSHIP_PANELS):
        part = table[(table["attack"] == attack) & (table["variant"] == variant)]
        ladder = part[part["design"] == "ladder"]
        ax.plot(grid, grid, color="0.6", ls=":", lw=1, label="chance")
        ks = shown_references(ladder["references"].unique().tolist())
        colors = matplotlib.colormaps["viridis"](np.linspace(0.1, 0.85, max(len(ks), 1)))
        for color, k in zip(colors, ks):
            curve = ladder[ladder["references"] == k]
            first = curve.iloc[0]
            ax.plot(curve["fpr"].clip(lower=ROC_FLOOR), curve["tpr"].clip(lower=ROC_FLOOR), color=color, lw=1.3,
                    label=f"k = {k}: AUC {first['auc']:.3f} [{first['auc_low']:.3f}, {first['auc_high']:.3f}], "
                          f"TPR@0.1% {first['tpr_at_fpr_0_1pct']:.3f}")
        for _, curve in part[part["design"] == "all"].groupby("references"):
            first = curve.iloc[0]
            ax.plot(curve["fpr"].clip(lower=ROC_FLOOR), curve["tpr"].clip(lower=ROC_FLOOR), color="k", ls="--",
                    lw=1, label=f"all {int(first['targets'])} targets, k = {int(first['references'])}: "
                                f"AUC {first['auc']:.3f}, TPR@0.1% {first['tpr_at_fpr_0_1pct']:.3f}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(ROC_FLOOR, 1)
        ax.set_ylim(ROC_FLOOR, 1.05)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        targets = f", {int(ladder['targets'].iloc[0])} targets" if len(ladder) else ""
        ax.set_title(f"{'LiRA' if attack == 'lira' else 'RMIA'} {variant}{targets}", fontsize=9)
        if len(part):
            ax.legend(fontsize=6, loc="lower right")
        else:
            ax.text(0.5, 0.5, "not defined for these runs", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle(f"{title}: membership inference against the number of reference models k", fontsize=10)
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description="Figures of the Feldman-Zhang estimates.")
    commands = parser.add_subparsers(dest="command", required=True)
    arch = commands.add_parser("estimates")
    arch.add_argument("--memorization", required=True, type=Path)
    arch.add_argument("--pairs", required=True, type=Path)
    arch.add_argument("--chance", required=True, type=Path, help="influence_chance.parquet of the pairs")
    arch.add_argument("--shards", required=True, nargs="+", type=Path, help="the shard tables the pairs came from")
    arch.add_argument("--influence-fdr", type=float, default=FDR,
                      help=f"share of the pairs drawn that noise alone may explain, in expectation (config key "
                           f"feldman.influence_fdr, default {FDR})")
    arch.add_argument("--dataset-dir", required=True, type=Path)
    arch.add_argument("--mem-threshold", type=float, default=schema_default("feldman.mem_threshold"))
    arch.add_argument("--title", default="")
    arch.add_argument("--out-histogram", required=True, type=Path)
    arch.add_argument("--out-extremes", required=True, type=Path)
    arch.add_argument("--out-influence", required=True, type=Path)
    cons = commands.add_parser("consistency")
    cons.add_argument("--tables", required=True, nargs="+", type=Path)
    cons.add_argument("--out", required=True, type=Path)
    roc = commands.add_parser("membership")
    roc.add_argument("--membership", required=True, type=Path, help="membership.parquet")
    roc.add_argument("--title", default="")
    roc.add_argument("--out", required=True, type=Path)
    a = parser.parse_args()
    if a.command == "estimates":
        mem, pairs = io.read_parquet(a.memorization), io.read_parquet(a.pairs)
        runs = read_runs(a.shards, scores=False)
        chance = beyond_chance(pairs, runs.member, runs.test_correct, mem["mem"].to_numpy(), io.read_parquet(a.chance),
                               a.influence_fdr)
        log.info("%s", chance_heading(chance))
        images = Dataset.load(a.dataset_dir, mmap=True).images
        for fig, out in [(mem_histogram(mem, a.mem_threshold, a.title), a.out_histogram),
                         (extremes_grid(mem, images), a.out_extremes),
                         (influence_grid(pairs, images, chance), a.out_influence)]:
            io.save_figure(fig, out, dpi=110)
            plotting.close(fig)
    elif a.command == "membership":
        fig = membership_roc(io.read_parquet(a.membership), a.title)
        io.save_figure(fig, a.out, dpi=110)
        plotting.close(fig)
    else:
        fig = consistency_curves(pd.concat([io.read_parquet(p) for p in a.tables], ignore_index=True))
        io.save_figure(fig, a.out, dpi=110)
        plotting.close(fig)


if __name__ == "__main__":
    cli.run(main)
