"""K-fold memorization score M_i = U_i - V_i from the per-model log p(x) tables.

U_i = logmeanexp of log p(x_i) over the models that trained on x_i ((K - 1) R of them),
V_i = logmeanexp over the models that held it out (R of them); averaging happens in
probability space: logmeanexp(a) = logsumexp(a) - log len(a). An example is "highly
memorized" when M_i is at or above the ``high_quantile`` quantile (0.95: the top 5%).

kfold_scores.parquet (one row per training example, at the last evaluated epoch):
    index      int64    dataset index
    label      int64    class label from the data set's index.parquet
    U          float64  log p(x_i) averaged over models trained on x_i (nats)
    V          float64  log p(x_i) averaged over models that held x_i out (nats)
    M          float64  U - V, the K-fold memorization score
    n_in       int32    number of models that trained on x_i
    n_out      int32    number of models that held x_i out
    high       bool     M >= the high_quantile quantile of M
    epoch      int32    epoch the scores were computed at
kfold_scores_by_epoch.parquet: epoch, index, U, V, M, n_in, n_out (no ``label`` or ``high``) for every
evaluated epoch.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from pipeline import cli, io
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.progress import get_logger
from pipeline.schema import schema_default

log = get_logger("kfold_vae.score")
LOGPX_COLUMNS = ["index", "repeat", "fold", "in_training", "epoch", "logpx"]


def logmeanexp(values: np.ndarray) -> float:
    return float(logsumexp(values) - np.log(len(values))) if len(values) else np.nan


def memorization_scores(logpx: pd.DataFrame) -> pd.DataFrame:
    """Per (epoch, index): U, V, M, n_in, n_out from rows of the logpx tables."""
    frame = logpx.copy()
    # logmeanexp per group, vectorized: subtract the group maximum before exponentiating
    keys = ["epoch", "index", "in_training"]
    peak = frame.groupby(keys)["logpx"].transform("max")
    frame["w"] = np.exp(frame["logpx"] - peak)
    frame["peak"] = peak
    grouped = frame.groupby(keys).agg(w=("w", "mean"), peak=("peak", "first"), n=("w", "size")).reset_index()
    grouped["lme"] = grouped["peak"] + np.log(grouped["w"])
    wide = grouped.pivot(index=["epoch", "index"], columns="in_training", values=["lme", "n"])
    out = pd.DataFrame(index=wide.index).reset_index()
    out["U"] = wide[("lme", True)].to_numpy() if ("lme", True) in wide else np.nan
    out["V"] = wide[("lme", False)].to_numpy() if ("lme", False) in wide else np.nan
    out["M"] = out["U"] - out["V"]
    out["n_in"] = np.nan_to_num(wide[("n", True)].to_numpy() if ("n", True) in wide else 0).astype(np.int32)
    out["n_out"] = np.nan_to_num(wide[("n", False)].to_numpy() if ("n", False) in wide else 0).astype(np.int32)
    out["epoch"] = out["epoch"].astype(np.int32)
    out["index"] = out["index"].astype(np.int64)
    return out[["epoch", "index", "U", "V", "M", "n_in", "n_out"]]


def kfold_scores(index, in_training, logpx) -> pd.DataFrame:
    """U, V, M, n_in, n_out per example (sorted by index) from one evaluation's log p(x) values.

    Equal-length 1-D arrays, one entry per (example, model): the example's id, whether that model
    trained on it, and log p(x) under that model. Repeats and folds need no labels: every model
    counts once. The same computation as ``memorization_scores``, for a single epoch.
    """
    columns = {"index": np.asarray(index), "in_training": np.asarray(in_training, dtype=bool),
               "logpx": np.asarray(logpx, dtype=np.float64)}
    lengths = {name: values.shape for name, values in columns.items()}
    if len(set(lengths.values())) != 1 or len(columns["index"].shape) != 1:
        raise PipelineError(f"kfold_scores: index, in_training and logpx must be 1-D of one length, got {lengths}")
    scores = memorization_scores(pd.DataFrame(columns).assign(epoch=0))
    return scores.drop(columns="epoch")


def final_scores(by_epoch: pd.DataFrame, labels: pd.Series, high_quantile: float) -> pd.DataFrame:
    """Scores at the last epoch with labels and the high-memorization flag."""
    last = by_epoch[by_epoch["epoch"] == by_epoch["epoch"].max()].copy()
    last["label"] = labels.reindex(last["index"]).to_numpy().astype(np.int64)
    last["high"] = last["M"] >= np.nanquantile(last["M"], high_quantile)
    return last[["index", "label", "U", "V", "M", "n_in", "n_out", "high", "epoch"]].reset_index(drop=True)


def load_logpx(paths: list[Path]) -> pd.DataFrame:
    tables = [io.read_parquet(path, columns=LOGPX_COLUMNS) for path in paths]
    table = pd.concat(tables, ignore_index=True)
    duplicated = table.duplicated(["index", "repeat", "fold", "epoch"])
    if duplicated.any():
        raise PipelineError(f"{paths[0].parent}: the logpx tables overlap (same repeat, fold and epoch twice)")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description="K-fold memorization scores from per-model log p(x) tables.")
    parser.add_argument("--logpx", required=True, nargs="+", type=Path)
    parser.add_argument("--dataset-dir", required=True, type=Path)
    parser.add_argument("--high-quantile", type=float, default=schema_default("kfold_vae.high_quantile"))
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--out-by-epoch", required=True, type=Path)
    a = parser.parse_args()
    table = load_logpx(a.logpx)
    by_epoch = memorization_scores(table)
    bad = by_epoch[(by_epoch["n_in"] == 0) | (by_epoch["n_out"] == 0)]
    if len(bad):
        raise PipelineError(f"{a.logpx[0].parent}: {len(bad)} (example, epoch) pairs lack a model that trained "
                            "on them or one that held them out; are all folds' tables listed?")
    labels = Dataset.load(a.dataset_dir, mmap=True).table.set_index("index")["label"]
    scores = final_scores(by_epoch, labels, a.high_quantile)
    log.info("%d examples from %d tables: median M %.3f, %d highly memorized (M >= %.3f)", len(scores),
             len(a.logpx), scores["M"].median(), int(scores["high"].sum()), scores.loc[scores["high"], "M"].min())
    io.write_parquet(by_epoch, a.out_by_epoch)
    io.write_parquet(scores, a.out)
    log.info("wrote %s and %s", a.out, a.out_by_epoch)


if __name__ == "__main__":
    cli.run(main)
