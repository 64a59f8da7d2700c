"""Figures of the MR-GAN sweep, one function each, read from the summary tables.

- ``fd_vs_ct``: a Frechet distance to the test split against C_T, one point per tau (mean +- sd over
  seeds), as Bai et al. Fig. 6: FID proper (``fid_test``) when the sweep computed it, else the
  Frechet distance in the embedding (``fd_<kind>_test``); the axis label says which.
- ``classwise_ct``: class-wise C_T against tau, one line per class (Fig. 8).
- ``nn_distances``: distributions of the distance to the nearest training point for test points,
  samples of the tau = 0 baseline and of each MR run (Figs. 1, 5), with the guideline marked.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from pipeline import cli, io, plotting
from pipeline.errors import PipelineError
from pipeline.frechet import FID_TEST, frechet_test_column


def distance_label(summary: pd.DataFrame, column: str) -> str:
    """What the Frechet column of the summary is: FID and its image count, or the embedding it is in."""
    if column == FID_TEST:
        return f"FID vs test (Inception, {int(summary['fid_images'].iloc[0])} images)"
    return f"Frechet distance vs test ({summary['embedding'].iloc[0]}, not FID)"


def fd_vs_ct(summary: pd.DataFrame):
    column = frechet_test_column(summary.columns)
    if column is None:
        raise PipelineError("MR-GAN summary: no Frechet distance to the test split (fid_test or fd_<kind>_test)")
    fig, axes = plotting.new_figure(size=(4.5, 3.5))
    ax = axes[0, 0]
    stats = summary.groupby("tau").agg(ct=("ct", "mean"), ct_sd=("ct", "std"), fd=(column, "mean"),
                                       fd_sd=(column, "std")).reset_index().fillna({"ct_sd": 0, "fd_sd": 0})
    ax.errorbar(stats["ct"], stats["fd"], xerr=stats["ct_sd"], yerr=stats["fd_sd"], fmt="o-", capsize=2)
    for row in stats.itertuples():
        ax.annotate(f"tau={row.tau:g}", (row.ct, row.fd), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.axvline(0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("C_T (negative: data copying)")
    ax.set_ylabel(distance_label(summary, column), fontsize=8)
    name = "FID" if column == FID_TEST else "Frechet distance"
    ax.set_title(f"{summary['dataset'].iloc[0]}: {name} vs C_T across tau", fontsize=9)
    fig.tight_layout()
    return fig


def classwise_ct(classwise: pd.DataFrame):
    fig, axes = plotting.new_figure(size=(4.5, 3.5))
    ax = axes[0, 0]
    mean = classwise.groupby(["label", "tau"])["ct"].mean().unstack("label")
    for label in mean.columns:
        ax.plot(mean.index, mean[label], "o-", ms=3, lw=1, label=str(label))
    ax.axhline(0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("tau")
    ax.set_ylabel("class-wise C_T")
    ax.legend(fontsize=6, ncol=2, title="class", title_fontsize=7)
    ax.set_title(f"{classwise['dataset'].iloc[0]}: class-wise C_T vs tau", fontsize=9)
    fig.tight_layout()
    return fig


def nn_distances(tables: pd.DataFrame, tau_guideline: float):
    fig, axes = plotting.new_figure(size=(5, 3.5))
    ax = axes[0, 0]
    seed = tables["seed"].min()
    tables = tables[tables["seed"] == seed]
    test = tables[(tables["set"] == "test")]
    test = test[test["tau"] == test["tau"].min()]
    upper = np.quantile(tables["distance"], 0.99)
    bins = np.linspace(0, upper, 40)
    ax.hist(test["distance"], bins=bins, density=True, histtype="step", color="black", lw=1.5, label="test")
    for tau, part in tables[tables["set"] == "generated"].groupby("tau"):
        label = "generated (no MR, tau=0)" if tau == 0 else f"MR, tau={tau:g}"
        ax.hist(part["distance"], bins=bins, density=True, histtype="step", lw=1, label=label)
    ax.axvline(tau_guideline, color="grey", ls="--", lw=0.8, label="guideline")
    ax.set_xlabel("1 - |cos| to nearest training point")
    ax.set_ylabel("density")
    ax.legend(fontsize=6)
    ax.set_title(f"{tables['dataset'].iloc[0]}: NN distances (seed {seed})", fontsize=9)
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description="Figures of one data set's MR-GAN sweep.")
    parser.add_argument("--summary", required=True)
    parser.add_argument("--classwise", required=True)
    parser.add_argument("--nn-distances", nargs="+", required=True)
    parser.add_argument("--out-fd-ct", required=True)
    parser.add_argument("--out-classwise", required=True)
    parser.add_argument("--out-nn", required=True)
    args = parser.parse_args()
    summary = io.read_parquet(args.summary)
    nn = pd.concat([io.read_parquet(f) for f in args.nn_distances], ignore_index=True)
    for fig, out in [(fd_vs_ct(summary), args.out_fd_ct),
                     (classwise_ct(io.read_parquet(args.classwise)), args.out_classwise),
                     (nn_distances(nn, summary["tau_guideline"].iloc[0]), args.out_nn)]:
        io.save_figure(fig, out, dpi=120)
        plotting.close(fig)


if __name__ == "__main__":
    cli.run(main)
