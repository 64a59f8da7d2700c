"""Check every claim of the four papers on the result tables and write claims.parquet.

One function per claim. Its parameters are named after the inputs it needs (``pipeline.claims.tables``);
a parameter with a default of None is optional (a data set without canaries: every example is clean).
It returns an Outcome: the headline value, a detail line with every number the criterion uses, and
whether the criterion holds (None: the tables lack what the claim needs, so it is not run). The
criteria are constants here, fixed in advance; see the package docstring for each claim.
"""

from __future__ import annotations

import argparse
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from pipeline import cli, io
from pipeline.atlas import planted
from pipeline.claims.tables import SOURCES, Inputs, add_arguments, canary_groups, read_inputs
from pipeline.errors import PipelineError
from pipeline.feldman.estimate import influence_blocks
from pipeline.frechet import frechet_test_column
from pipeline.progress import get_logger

log = get_logger("claims.evaluate")

TRUE, FALSE, NOT_RUN = "true", "false", "not run"
COLUMNS = ["paper", "id", "claim", "statistic", "value", "detail", "criterion", "passed", "tables"]

TOP_FRACTION = 0.05  # "highly memorized": the top 5 % of a score (KF1, KF3)
LOW_LIKELIHOOD_QUANTILE = 0.1  # KF3: the lowest decile of log p(x)
MEM_SET_THRESHOLD = 0.25  # FZ4: {i : mem_i >= 0.25}
SHARE_TOLERANCE = 0.05  # Y1, Y2: rises of a replicate share up to this are not rises
MC_SHARE = 0.5  # Y2: MC_0.5


@dataclass
class Outcome:
    value: float
    detail: str
    passed: bool | None  # None: not run


@dataclass
class Claim:
    paper: str
    id: str
    claim: str
    statistic: str
    criterion: str
    check: Callable[..., Outcome]

    def needs(self) -> list[str]:
        return [name for name, p in inspect.signature(self.check).parameters.items() if p.default is not None]

    def uses(self) -> list[str]:
        return list(inspect.signature(self.check).parameters)


def not_run(reason: str) -> Outcome:
    return Outcome(float("nan"), reason, None)


# --- statistics ---


def auroc(a, b) -> float:
    """P(random a > random b), ties 1/2: the atlas's AUROC of a against b."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return planted.auroc(np.concatenate([a, b]), np.arange(len(a) + len(b)) < len(a))


def spearman(x, y) -> tuple[float, int]:
    """Spearman correlation over the pairs where both are defined (not NaN), and their count."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = ~np.isnan(x) & ~np.isnan(y)
    if keep.sum() < 3:
        return float("nan"), int(keep.sum())
    return float(spearmanr(x[keep], y[keep]).statistic), int(keep.sum())


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else float("nan")


def top_flags(values) -> np.ndarray:
    """The top TOP_FRACTION of ``values``: at or above their (1 - TOP_FRACTION) quantile."""
    values = np.asarray(values, float)
    return values >= np.nanquantile(values, 1 - TOP_FRACTION)


def median(values) -> float:
    values = np.asarray(values, float)
    values = values[~np.isnan(values)]
    return float(np.median(values)) if len(values) else float("nan")


def capacity_size(sizes, shares, level: float = MC_SHARE) -> float:
    """Where the share first falls below ``level``, linear in log size between the sizes around it.

    0 when it starts below ``level`` (capacity under the smallest size), inf when it never falls
    below (capacity beyond the largest).
    """
    sizes, shares = np.asarray(sizes, float), np.asarray(shares, float)
    if shares[0] < level:
        return 0.0
    for k in range(len(sizes) - 1):
        if shares[k + 1] < level:
            step = (shares[k] - level) / (shares[k] - shares[k + 1])
            return float(np.exp(np.log(sizes[k]) + step * (np.log(sizes[k + 1]) - np.log(sizes[k]))))
    return float("inf")


def fmt(x: float) -> str:
    return f"{x:.3g}"


# --- Feldman & Zhang ---


def _feldman_groups(feldman_index, feldman_mem):
    return canary_groups(feldman_index, feldman_mem["index"]), feldman_mem["mem"].to_numpy(float)


def fz1(feldman_index, feldman_mem) -> Outcome:
    groups, mem = _feldman_groups(feldman_index, feldman_mem)
    if not groups["flipped"].any() or not groups["clean"].any():
        return not_run("the data set has no flipped or no clean training example")
    score, mid = auroc(mem[groups["flipped"]], mem[groups["clean"]]), median(mem[groups["flipped"]])
    return Outcome(score, f"AUROC {fmt(score)}; median mem of {groups['flipped'].sum()} flipped {fmt(mid)}",
                   bool(score >= 0.95 and mid >= 0.5))


def copy_pairs(index: pd.DataFrame) -> pd.DataFrame:
    """(train_index, test_index) of each flipped training example and its test copy."""
    train = index[(index["split"] == "train") & (index["planted"] == "flipped")]
    test = index[(index["split"] == "test") & (index["planted"] == "test_copy")]
    pairs = train[["index", "source_index"]].merge(test[["index", "source_index"]], on="source_index",
                                                    suffixes=("_train", "_test"))
    return pairs.rename(columns={"index_train": "train_index", "index_test": "test_index"})[
        ["train_index", "test_index"]].sort_values(["train_index", "test_index"], ignore_index=True)


def copy_influence(feldman_index, feldman_shards) -> pd.DataFrame:
    """copy_pairs with infl(i, j) from the shard tables (positions: dataset order within each split)."""
    pairs = copy_pairs(feldman_index)
    train = np.sort(feldman_index.loc[feldman_index["split"] == "train", "index"].to_numpy())
    test = np.sort(feldman_index.loc[feldman_index["split"] == "test", "index"].to_numpy())
    shards = feldman_shards
    if shards.member.shape[1] != len(train) or shards.test_correct.shape[1] != len(test):
        raise PipelineError(f"Feldman shard tables ({shards.member.shape[1]} train, {shards.test_correct.shape[1]} "
                            f"test columns) do not match the data set's index.parquet ({len(train)}, {len(test)})")
    rows, cols = np.searchsorted(train, pairs["train_index"]), np.searchsorted(test, pairs["test_index"])
    infl = np.full(len(pairs), np.nan)
    for pos, block, _ in influence_blocks(shards.member, shards.test_correct, np.unique(rows)):
        mine = np.isin(rows, pos)
        infl[mine] = block[np.searchsorted(pos, rows[mine]), cols[mine]]
    return pairs.assign(infl=infl)


def fz2(feldman_index, feldman_pairs, feldman_shards) -> Outcome:
    pairs = copy_influence(feldman_index, feldman_shards)
    if not len(pairs):
        return not_run("no flipped training example has a test copy")
    kept = set(zip(feldman_pairs["train_index"], feldman_pairs["test_index"]))
    listed = float(np.mean([pair in kept for pair in zip(pairs["train_index"], pairs["test_index"])]))
    mid = median(pairs["infl"])
    return Outcome(mid, f"median infl(i, copy of i) {fmt(mid)} over {len(pairs)} pairs; "
                        f"{100 * listed:.1f} % in influence_pairs.parquet", bool(mid >= 0.5 and listed >= 0.8))


def fz3(feldman_index, feldman_mem) -> Outcome:
    groups, mem = _feldman_groups(feldman_index, feldman_mem)
    if not groups["outlier"].any() or not groups["duplicate"].any():
        return not_run("the data set has no single outlier or no duplicated one")
    single, copies = median(mem[groups["outlier"]]), median(mem[groups["duplicate"]])
    gap = single - copies
    return Outcome(gap, f"median mem single outlier {fmt(single)} - duplicate copies {fmt(copies)} = {fmt(gap)}",
                   bool(gap >= 0.3))


def _mem_pair(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    both = a[["index", "mem"]].merge(b[["index", "mem"]], on="index", suffixes=("_a", "_b"))
    if len(both) != len(a) or len(both) != len(b):
        raise PipelineError(f"memorization tables cover different training examples ({len(a)}, {len(b)} rows, "
                            f"{len(both)} shared)")
    return both


def fz4(feldman_mem, replicate_mem) -> Outcome:
    both = _mem_pair(feldman_mem, replicate_mem)
    a = set(both.loc[both["mem_a"] >= MEM_SET_THRESHOLD, "index"])
    b = set(both.loc[both["mem_b"] >= MEM_SET_THRESHOLD, "index"])
    score = jaccard(a, b)
    return Outcome(score, f"Jaccard {fmt(score)} of {len(a)} and {len(b)} examples with mem >= "
                          f"{MEM_SET_THRESHOLD} ({len(a & b)} shared)", bool(score >= 0.7))


def fz5(feldman_mem, other_mem) -> Outcome:
    both = _mem_pair(feldman_mem, other_mem)
    rho, n = spearman(both["mem_a"], both["mem_b"])
    return Outcome(rho, f"Spearman {fmt(rho)} over {n} training examples", bool(rho >= 0.5))


# --- van den Burg & Williams ---


def _kfold_groups(kfold_index, kfold_scores):
    return canary_groups(kfold_index, kfold_scores["index"]), kfold_scores["M"].to_numpy(float)


def kf1(kfold_index, kfold_scores) -> Outcome:
    groups, m = _kfold_groups(kfold_index, kfold_scores)
    if not groups["outlier"].any() or not groups["clean"].any():
        return not_run("the data set has no single outlier or no clean training example")
    score = auroc(m[groups["outlier"]], m[groups["clean"]])
    flagged = float(top_flags(m)[groups["outlier"]].mean())
    return Outcome(score, f"AUROC {fmt(score)}; {100 * flagged:.1f} % of {groups['outlier'].sum()} outliers in the "
                          f"top {100 * TOP_FRACTION:g} % of M", bool(score >= 0.9 and flagged >= 0.5))


def kf2(kfold_index, kfold_scores) -> Outcome:
    groups, m = _kfold_groups(kfold_index, kfold_scores)
    if not all(groups[kind].any() for kind in ("clean", "outlier", "duplicate")):
        return not_run("the data set lacks clean, single outlier or duplicated examples")
    clean, single, copies = (median(m[groups[kind]]) for kind in ("clean", "outlier", "duplicate"))
    drop = single - copies
    return Outcome(drop, f"median M single outlier - duplicate copies {fmt(drop)} (outlier {fmt(single)}, duplicate "
                         f"{fmt(copies)}, clean {fmt(clean)}; half the gap {fmt((single - clean) / 2)})",
                   bool(copies < single and drop >= 0.5 * (single - clean)))


def kf3(kfold_scores, kfold_logpx_full, kfold_index=None) -> Outcome:
    full = kfold_logpx_full[kfold_logpx_full["epoch"] == kfold_logpx_full["epoch"].max()]
    table = kfold_scores[["index", "M"]].merge(full[["index", "logpx"]], on="index", how="left")
    if table["logpx"].isna().any():
        raise PipelineError("full-model log p(x) table lacks training examples of kfold_scores.parquet")
    groups, m = _kfold_groups(kfold_index, table)
    logpx = table["logpx"].to_numpy(float)
    high = top_flags(m) & groups["clean"]
    if not high.any():
        return not_run("no clean example is among the most memorized")
    low = np.quantile(logpx, LOW_LIKELIHOOD_QUANTILE)
    share = float((logpx[high] > low).mean())
    return Outcome(share, f"{100 * share:.1f} % of {high.sum()} highly memorized clean examples have log p(x) > "
                          f"{fmt(low)} (lowest decile)", bool(share >= 0.25))


def kf4(kfold_scores, kfold_rho, kfold_index=None) -> Outcome:
    table = kfold_scores[["index", "M"]].merge(kfold_rho[["index", "rho"]], on="index", how="left")
    groups, m = _kfold_groups(kfold_index, table)
    rho, n = spearman(table["rho"].to_numpy(float)[groups["clean"]], m[groups["clean"]])
    return Outcome(rho, f"Spearman(rho, M) {fmt(rho)} over {n} clean examples", bool(abs(rho) <= 0.3))


def kf5(kfold_scores, kfold_index=None) -> Outcome:
    groups, m = _kfold_groups(kfold_index, kfold_scores)
    mid = median(m[groups["clean"]])
    return Outcome(mid, f"median M {fmt(mid)} over {groups['clean'].sum()} clean examples", bool(mid > 0))


# --- Yoon et al. ---


def share_by_size(summary: pd.DataFrame, cls: int = -1, column: str = "replicate_share") -> pd.DataFrame:
    """``column`` of class ``cls`` (-1: all samples), mean over seeds: one row per size, one column per width."""
    rows = summary[summary["class"] == cls]
    return rows.groupby(["size", "width"])[column].mean().unstack("width").sort_index()


def y1(capacity) -> Outcome:
    shares = share_by_size(capacity)
    if len(shares) < 2:
        return not_run("the capacity experiment has fewer than two sizes")
    parts, ok = [], True
    for width in shares.columns:
        s = shares[width].to_numpy()
        rise = float(np.max(np.diff(s)))
        ok &= bool(s[0] >= 0.9 and s[-1] <= 0.1 and rise <= SHARE_TOLERANCE)
        parts.append(f"width {width}: {fmt(s[0])} at n={shares.index[0]} -> {fmt(s[-1])} at n={shares.index[-1]}, "
                     f"largest rise {fmt(rise)}")
    worst = float(shares.iloc[-1].max())
    return Outcome(worst, f"largest share at the largest size {fmt(worst)}; " + "; ".join(parts), ok)


def y2(capacity) -> Outcome:
    shares = share_by_size(capacity)
    if shares.shape[1] < 2 or len(shares) < 2:
        return not_run("the capacity experiment needs two widths and two sizes")
    if (shares.index <= 0).any():
        return not_run("MC_0.5 interpolates in log size: sizes must be positive")
    mc = {w: capacity_size(shares.index, shares[w].to_numpy()) for w in shares.columns}
    widths = list(shares.columns)
    larger = all(mc[b] > mc[a] for a, b in zip(widths, widths[1:]))
    gaps = [float((shares[b] - shares[a]).min()) for a, b in zip(widths, widths[1:])]
    ratio = float(np.min([mc[b] / mc[a] if mc[a] > 0 else float("inf") if mc[b] > 0 else float("nan")
                          for a, b in zip(widths, widths[1:])]))
    detail = (f"smallest MC_0.5 ratio wider/narrower {fmt(ratio)}; MC_0.5 " +
              ", ".join(f"width {w}: {fmt(mc[w])}" for w in widths) +
              f"; smallest share(wider) - share(narrower) {fmt(min(gaps))}")
    return Outcome(ratio, detail, bool(larger and min(gaps) >= -SHARE_TOLERANCE))


def y3(dummies, dummies_class) -> Outcome:
    shares = share_by_size(dummies, dummies_class)
    counts = share_by_size(dummies, dummies_class, "n_train_replicated")
    if len(shares) < 2 or shares.index[0] != 0:
        return not_run("the dummies experiment needs a run without dummies (size 0) and one with")
    parts, ok = [], True
    for width in shares.columns:
        s, c = shares[width].to_numpy(), counts[width].to_numpy()
        ok &= bool(s[0] >= 0.8 and s[-1] <= 0.1 and np.all(np.diff(c) <= 0))
        parts.append(f"width {width}: share {fmt(s[0])} -> {fmt(s[-1])}, images replicated "
                     + " -> ".join(fmt(x) for x in c))
    first = float(shares.iloc[0].min())
    return Outcome(first, f"smallest share without dummies {fmt(first)} (class {dummies_class}, dummies "
                          + ", ".join(str(n) for n in shares.index) + "); " + "; ".join(parts), ok)


def y4(minority) -> Outcome:
    rows = minority[minority["class"] >= 0]
    per = rows.groupby(["size", "width", "class"])[["replicate_share", "train_replicated_share",
                                                    "n_train_class"]].mean()
    parts, ok, worst = [], True, float("inf")
    for (size, width), group in per.groupby(level=["size", "width"]):
        group = group.droplevel(["size", "width"]).sort_values("n_train_class", kind="stable")
        if len(group) < 2:
            return not_run("the minority experiment has a single class")
        small, large = group.iloc[0], group.iloc[-1]
        ok &= bool(small["replicate_share"] >= 0.5 and small["train_replicated_share"] >= 0.5
                   and large["replicate_share"] <= 0.1)
        worst = min(worst, float(small["replicate_share"]))
        parts.append(f"n={size} width {width}: minority class {group.index[0]} share {fmt(small['replicate_share'])}, "
                     f"{100 * small['train_replicated_share']:.1f} % of its images replicated; majority class "
                     f"{group.index[-1]} share {fmt(large['replicate_share'])}")
    if not parts:
        return not_run("the minority experiment has no per-class rows")
    return Outcome(worst, f"smallest minority share {fmt(worst)}; " + "; ".join(parts), ok)


# --- Bai et al. ---


def ct_by_tau(summary: pd.DataFrame, column: str = "ct") -> pd.DataFrame:
    """mean and standard error over seeds of ``column`` per tau (se 0 with one seed), by tau."""
    grouped = summary.groupby("tau")[column]
    table = pd.DataFrame({"mean": grouped.mean(), "n": grouped.count(), "sd": grouped.std(ddof=1)}).sort_index()
    table["se"] = np.where(table["n"] > 1, table["sd"] / np.sqrt(table["n"]), 0.0)
    return table


def _needs_zero(summary: pd.DataFrame, at_least: int = 1) -> str | None:
    taus = sorted(summary["tau"].unique())
    if not taus or taus[0] != 0:
        return "mrgan.taus has no tau = 0 (the run without rejection)"
    if len(taus) < at_least:
        return f"mrgan.taus needs {at_least} values, tau = 0 among them"
    return None


def b1(mrgan_summary) -> Outcome:
    if reason := _needs_zero(mrgan_summary):
        return not_run(reason)
    ct0 = float(ct_by_tau(mrgan_summary)["mean"].iloc[0])
    return Outcome(ct0, f"mean C_T at tau = 0 {fmt(ct0)} over {(mrgan_summary['tau'] == 0).sum()} seeds",
                   bool(ct0 <= -3))


def b2(mrgan_summary) -> Outcome:
    if reason := _needs_zero(mrgan_summary, 2):
        return not_run(reason)
    ct = ct_by_tau(mrgan_summary)
    mean, se = ct["mean"].to_numpy(), ct["se"].to_numpy()
    slack = mean[1:] - mean[:-1] + np.sqrt(se[1:] ** 2 + se[:-1] ** 2)  # >= 0: no fall beyond one se
    gain = float(mean[-1] - mean[0])
    return Outcome(gain, f"C_T(largest tau) - C_T(0) {fmt(gain)}; mean C_T per tau " +
                   ", ".join(f"{t:g}: {fmt(m)} (se {fmt(s)})" for t, m, s in zip(ct.index, mean, se)),
                   bool(np.all(slack >= 0) and gain >= 3))


def b3(mrgan_summary) -> Outcome:
    if reason := _needs_zero(mrgan_summary, 2):
        return not_run(reason)
    column = frechet_test_column(mrgan_summary.columns)  # FID proper when the run computed it
    if column is None:
        return not_run("the MR-GAN summary has no Frechet distance to the test split (fid_test / fd_<kind>_test)")
    fd = ct_by_tau(mrgan_summary, column)["mean"]
    guideline = float(mrgan_summary["tau_guideline"].iloc[0])
    taus = fd.index[fd.index > 0]
    tau = float(taus[np.argmin(np.abs(taus - guideline))])
    ratio = float(fd[tau] / fd[0.0])
    return Outcome(ratio, f"{column} at tau = {tau:g} (guideline {guideline:.3g}) / at tau = 0: {fmt(fd[tau])} / "
                          f"{fmt(fd[0.0])} = {fmt(ratio)}", bool(ratio <= 1.5))


def b4(mrgan_summary) -> Outcome:
    if "ct_pixels" not in mrgan_summary.columns:
        return not_run("the MR-GAN summary has no C_T in a second space (column ct_pixels)")
    if reason := _needs_zero(mrgan_summary, 2):
        return not_run(reason)
    ct = ct_by_tau(mrgan_summary, "ct_pixels")["mean"]
    gain = float(ct.iloc[-1] - ct.iloc[0])
    return Outcome(gain, f"C_T in pixels at tau = {ct.index[-1]:g} - at tau = 0: {fmt(ct.iloc[-1])} - "
                         f"{fmt(ct.iloc[0])} = {fmt(gain)}", bool(gain > 0))


def classwise_gain(mrgan_classwise: pd.DataFrame) -> pd.DataFrame:
    """Per class: mean C_T at tau = 0 (ct0) and its gain at the largest tau (mean over seeds)."""
    ct = mrgan_classwise.groupby(["tau", "label"])["ct"].mean().unstack("tau").sort_index(axis=1)
    return pd.DataFrame({"ct0": ct.iloc[:, 0], "gain": ct.iloc[:, -1] - ct.iloc[:, 0]}).dropna()


def b5(mrgan_classwise) -> Outcome:
    if reason := _needs_zero(mrgan_classwise, 2):
        return not_run(reason)
    gains = classwise_gain(mrgan_classwise)
    mid = gains["ct0"].median()
    lower, upper = gains.loc[gains["ct0"] < mid, "gain"], gains.loc[gains["ct0"] > mid, "gain"]
    if not len(lower) or not len(upper):
        return not_run("too few classes with a class-wise C_T to split at the median")
    diff = float(lower.mean() - upper.mean())
    return Outcome(diff, f"mean gain lower half - upper half {fmt(diff)} ({fmt(lower.mean())} over {len(lower)} "
                         f"classes, {fmt(upper.mean())} over {len(upper)})", bool(diff > 0))


def b6(mrgan_summary) -> Outcome:
    if reason := _needs_zero(mrgan_summary, 2):
        return not_run(reason)
    kept = ct_by_tau(mrgan_summary, "kept_fraction")["mean"]
    all_kept = bool((mrgan_summary.loc[mrgan_summary["tau"] == 0, "kept_fraction"] == 1.0).all())
    return Outcome(float(kept.iloc[0]), "kept fraction per tau " +
                   ", ".join(f"{t:g}: {fmt(k)}" for t, k in kept.items()),
                   bool(all_kept and np.all(np.diff(kept.to_numpy()) <= 0)))


CLAIMS = [
    Claim("feldman", "FZ1", "A mislabelled training example can only be fit by memorizing it",
          "AUROC(mem; flipped vs clean); median mem of flipped", "AUROC >= 0.95 and median >= 0.5", fz1),
    Claim("feldman", "FZ2", "A memorized example influences its copy in the test set",
          "infl(i, j) of each flipped i and its test copy j", "median >= 0.5, and >= 80 % of the (i, j) in "
          "influence_pairs.parquet", fz2),
    Claim("feldman", "FZ3", "An atypical example with copies in the training set is not memorized; alone it is",
          "median mem of duplicate copies vs of single outliers", "median(single outlier) - median(duplicate) >= 0.3",
          fz3),
    Claim("feldman", "FZ4", "Estimates are consistent under resampling (same architecture, independent runs)",
          "Jaccard of {i : mem_i >= 0.25} between two independent runs", "J_mem(0.25) >= 0.7", fz4),
    Claim("feldman", "FZ5", "Estimates agree across architectures", "Spearman of mem between two architectures",
          ">= 0.5", fz5),
    Claim("kfold_vae", "KF1", "Atypical observations get a high K-fold memorization score",
          "AUROC(M; outlier vs clean); share of outliers in the top 5 % of M", "AUROC >= 0.9 and share >= 0.5", kf1),
    Claim("kfold_vae", "KF2", "An observation whose copies are in the training set gets a low score",
          "median M of duplicate copies vs single outliers", "median(duplicate) < median(single outlier), by at least "
          "half the gap median(single outlier) - median(clean)", kf2),
    Claim("kfold_vae", "KF3", "High memorization is not exclusive to observations of low probability",
          "share of the top 5 % M clean examples whose full-model log p(x) lies above the lowest decile", ">= 0.25",
          kf3),
    Claim("kfold_vae", "KF4", "On MNIST, no clear relation between the nearest-neighbour ratio rho and M",
          "Spearman(rho, M) over clean examples", "absolute value <= 0.3", kf4),
    Claim("kfold_vae", "KF5", "Models fit their training folds better than held-out ones",
          "median M over clean examples", "> 0", kf5),
    Claim("diffusion", "Y1", "Memorization capacity exists: below it the model replicates, past it replication drops",
          "replicate share per (size, width)", "for every width: share >= 0.9 at the smallest size, <= 0.1 at the "
          "largest, and non-increasing in size (tolerance 0.05)", y1),
    Claim("diffusion", "Y2", "Capacity grows with width",
          "MC_0.5 = the training-set size where the share crosses 0.5 (log-size interpolation), per width",
          "strictly larger for each wider model; and at every size share(wider) >= share(narrower) - 0.05", y2),
    Claim("diffusion", "Y3", "Dummy data induces generalization",
          "share of replicates among samples of the fixed class, and its training images replicated at least once, "
          "as dummies grow", "share >= 0.8 with no dummies, <= 0.1 with the most; the replicated-image count "
          "non-increasing", y3),
    Claim("diffusion", "Y4", "The dichotomy appears per class",
          "per-class share of replicates and share of training images replicated, minority vs majority",
          "minority: share >= 0.5 and >= 50 % of its images replicated; majority: share <= 0.1", y4),
    Claim("mrgan", "B1", "Without rejection the GAN copies its training data", "C_T at tau = 0, mean over seeds",
          "<= -3", b1),
    Claim("mrgan", "B2", "Memorization rejection reduces copying, more with larger tau", "mean C_T per tau",
          "non-decreasing in tau (tolerance: one standard error over seeds), and C_T(largest tau) - C_T(0) >= 3", b2),
    Claim("mrgan", "B3", "Moderate rejection costs little quality",
          "FID at the guideline tau vs at tau = 0 (the Frechet distance in the embedding when the run has no FID)",
          "ratio <= 1.5", b3),
    Claim("mrgan", "B4", "The reduction is real, not an artifact of the rejection embedding",
          "C_T measured in a second space not used for rejection", "C_T_alt(largest tau) > C_T_alt(0)", b4),
    Claim("mrgan", "B5", "Rejection acts on the memorized classes",
          "class-wise C_T gain from tau = 0 to the largest tau: classes below the median C_T at tau = 0 vs above",
          "mean gain of the lower half > mean gain of the upper half", b5),
    Claim("mrgan", "B6", "Rejection does what it says", "kept fraction of generator batches per tau",
          "1.0 at tau = 0 and non-increasing in tau", b6),
]


def evaluate_claim(claim: Claim, inputs: Inputs) -> dict:
    """One row of claims.parquet: the claim checked on ``inputs``, or not run for lack of a table."""
    row = {"paper": claim.paper, "id": claim.id, "claim": claim.claim, "statistic": claim.statistic,
           "criterion": claim.criterion}
    missing = [name for name in claim.needs() if name not in inputs.tables]
    if missing:
        outcome, files = not_run("not configured: needs " + ", ".join(dict.fromkeys(SOURCES[n] for n in missing))), []
    else:
        used = [name for name in claim.uses() if name in inputs.tables]
        files = [path for name in used for path in inputs.files[name]]
        try:
            outcome = claim.check(**{name: inputs.tables[name] for name in used})
        except PipelineError as err:  # tables that do not fit together: name them
            raise PipelineError(f"{claim.id} on {', '.join(files)}: {err}") from err
    passed = NOT_RUN if outcome.passed is None else TRUE if outcome.passed else FALSE
    return {**row, "value": float(outcome.value), "detail": outcome.detail, "passed": passed,
            "tables": ";".join(files)}


def evaluate(inputs: Inputs) -> pd.DataFrame:
    return pd.DataFrame([evaluate_claim(claim, inputs) for claim in CLAIMS])[COLUMNS]


def main() -> None:
    parser = argparse.ArgumentParser(description="Check the papers' claims on the workflow's result tables.")
    add_arguments(parser)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    table = evaluate(read_inputs(args))
    io.write_parquet(table, args.out)
    for row in table.itertuples():
        log.info("%s %s: %s (%s)", row.id, row.passed, row.detail, row.criterion)


if __name__ == "__main__":
    cli.run(main)
