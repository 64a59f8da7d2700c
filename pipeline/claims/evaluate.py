"""Check every claim of the four papers on the result tables and write claims.parquet.

One function per claim; ``CLAIMS`` declares the inputs each reads (names of ``pipeline.claims.tables.INPUTS``):
``needs``, without which it is not run, and ``optional`` ones (a data set without canaries: every example
is clean), passed to the function as keyword arguments of those names. It returns an Outcome: the headline
value, a detail line with every number the criterion uses, and whether the criterion holds (None: the
tables lack what the claim needs, so it is not run). The thresholds are the constants of
``pipeline.claims.criteria``, fixed in advance; each claim's criterion text is written from them.

claims.parquet (one row per claim, in the order of CLAIMS):
    paper      string   feldman / kfold_vae / diffusion / mrgan
    id         string   FZ1 ... B6
    claim      string   the claim in a sentence
    statistic  string   what is measured
    value      float64  the headline number of the statistic (NaN if not run), the one the
                        criterion reads first; ``detail`` shows it among the others
    detail     string   every number the criterion uses, or why the claim was not run
    criterion  string   the criterion, fixed in advance
    passed     string   "true" / "false" / "not run"
    tables     string   the files the claim read, ';'-joined ("" if not run for lack of a table)
"""

from __future__ import annotations

import argparse
import inspect
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from pipeline import cli, io
from pipeline.atlas import planted
from pipeline.claims import criteria as cr
from pipeline.claims.criteria import lowest_quantile, mc_name, number, percent
from pipeline.claims.tables import SOURCES, Inputs, add_arguments, canary_groups, read_inputs
from pipeline.errors import PipelineError
from pipeline.feldman.estimate import influence_blocks
from pipeline.frechet import frechet_test_column
from pipeline.progress import get_logger

log = get_logger("claims.evaluate")

TRUE, FALSE, NOT_RUN = "true", "false", "not run"
COLUMNS = ["paper", "id", "claim", "statistic", "value", "detail", "criterion", "passed", "tables"]


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
    needs: tuple[str, ...]  # inputs without which the claim is not run
    optional: tuple[str, ...] = ()  # inputs it reads when given (absent: passed as None)
    explanation: str = ""  # how the statistic is formed and the criterion applied, beyond ``criterion`` (docs)

    def __post_init__(self) -> None:
        unknown = [name for name in self.uses() if name not in SOURCES]
        params = list(inspect.signature(self.check).parameters)
        if unknown or sorted(params) != sorted(self.uses()):
            raise PipelineError(f"claim {self.id}: declared inputs {self.uses()} must be inputs of "
                                f"pipeline.claims.tables.INPUTS and the parameters of {self.check.__name__}{params}"
                                + (f"; unknown: {', '.join(unknown)}" if unknown else ""))

    def uses(self) -> list[str]:
        return [*self.needs, *self.optional]


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
    """The top cr.TOP_FRACTION of ``values``: at or above their (1 - cr.TOP_FRACTION) quantile."""
    values = np.asarray(values, float)
    return values >= np.nanquantile(values, 1 - cr.TOP_FRACTION)


def median(values) -> float:
    values = np.asarray(values, float)
    values = values[~np.isnan(values)]
    return float(np.median(values)) if len(values) else float("nan")


def capacity_size(sizes, shares, level: float = cr.MC_SHARE) -> float:
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
                   bool(score >= cr.FZ1_MIN_AUROC and mid >= cr.FZ1_MIN_MEDIAN_MEM))


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
                        f"{100 * listed:.1f} % in influence_pairs.parquet",
                   bool(mid >= cr.FZ2_MIN_MEDIAN_INFL and listed >= cr.FZ2_MIN_LISTED_SHARE))


def fz3(feldman_index, feldman_mem) -> Outcome:
    groups, mem = _feldman_groups(feldman_index, feldman_mem)
    if not groups["outlier"].any() or not groups["duplicate"].any():
        return not_run("the data set has no single outlier or no duplicated one")
    single, copies = median(mem[groups["outlier"]]), median(mem[groups["duplicate"]])
    gap = single - copies
    return Outcome(gap, f"median mem single outlier {fmt(single)} - duplicate copies {fmt(copies)} = {fmt(gap)}",
                   bool(gap >= cr.FZ3_MIN_MEDIAN_GAP))


def _mem_pair(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    both = a[["index", "mem"]].merge(b[["index", "mem"]], on="index", suffixes=("_a", "_b"))
    if len(both) != len(a) or len(both) != len(b):
        raise PipelineError(f"memorization tables cover different training examples ({len(a)}, {len(b)} rows, "
                            f"{len(both)} shared)")
    return both


def fz4(feldman_mem, replicate_mem) -> Outcome:
    both = _mem_pair(feldman_mem, replicate_mem)
    a = set(both.loc[both["mem_a"] >= cr.MEM_SET_THRESHOLD, "index"])
    b = set(both.loc[both["mem_b"] >= cr.MEM_SET_THRESHOLD, "index"])
    score = jaccard(a, b)
    return Outcome(score, f"Jaccard {fmt(score)} of {len(a)} and {len(b)} examples with mem >= "
                          f"{cr.MEM_SET_THRESHOLD} ({len(a & b)} shared)", bool(score >= cr.FZ4_MIN_JACCARD))


def fz5(feldman_mem, other_mem) -> Outcome:
    both = _mem_pair(feldman_mem, other_mem)
    rho, n = spearman(both["mem_a"], both["mem_b"])
    return Outcome(rho, f"Spearman {fmt(rho)} over {n} training examples", bool(rho >= cr.FZ5_MIN_SPEARMAN))


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
                          f"top {100 * cr.TOP_FRACTION:g} % of M",
                   bool(score >= cr.KF1_MIN_AUROC and flagged >= cr.KF1_MIN_TOP_SHARE))


def kf2(kfold_index, kfold_scores) -> Outcome:
    groups, m = _kfold_groups(kfold_index, kfold_scores)
    if not all(groups[kind].any() for kind in ("clean", "outlier", "duplicate")):
        return not_run("the data set lacks clean, single outlier or duplicated examples")
    clean, single, copies = (median(m[groups[kind]]) for kind in ("clean", "outlier", "duplicate"))
    drop = single - copies
    return Outcome(drop, f"median M single outlier - duplicate copies {fmt(drop)} (outlier {fmt(single)}, duplicate "
                         f"{fmt(copies)}, clean {fmt(clean)}; half the gap {fmt((single - clean) / 2)})",
                   bool(copies < single and drop >= cr.KF2_MIN_GAP_FRACTION * (single - clean)))


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
    low = np.quantile(logpx, cr.LOW_LIKELIHOOD_QUANTILE)
    share = float((logpx[high] > low).mean())
    return Outcome(share, f"{100 * share:.1f} % of {high.sum()} highly memorized clean examples have log p(x) > "
                          f"{fmt(low)} ({lowest_quantile(cr.LOW_LIKELIHOOD_QUANTILE)[4:]})",
                   bool(share >= cr.KF3_MIN_SHARE))


def kf4(kfold_scores, kfold_rho, kfold_index=None) -> Outcome:
    table = kfold_scores[["index", "M"]].merge(kfold_rho[["index", "rho"]], on="index", how="left")
    groups, m = _kfold_groups(kfold_index, table)
    rho, n = spearman(table["rho"].to_numpy(float)[groups["clean"]], m[groups["clean"]])
    return Outcome(rho, f"Spearman(rho, M) {fmt(rho)} over {n} clean examples",
                   bool(abs(rho) <= cr.KF4_MAX_ABS_SPEARMAN))


def kf5(kfold_scores, kfold_index=None) -> Outcome:
    groups, m = _kfold_groups(kfold_index, kfold_scores)
    mid = median(m[groups["clean"]])
    return Outcome(mid, f"median M {fmt(mid)} over {groups['clean'].sum()} clean examples",
                   bool(mid > cr.KF5_MEDIAN_M_ABOVE))


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
        ok &= bool(s[0] >= cr.Y1_MIN_SHARE_SMALLEST and s[-1] <= cr.Y1_MAX_SHARE_LARGEST and rise <= cr.SHARE_TOLERANCE)
        parts.append(f"width {width}: {fmt(s[0])} at n={shares.index[0]} -> {fmt(s[-1])} at n={shares.index[-1]}, "
                     f"largest rise {fmt(rise)}")
    worst = float(shares.iloc[-1].max())
    return Outcome(worst, f"largest share at the largest size {fmt(worst)}; " + "; ".join(parts), ok)


def y2(capacity) -> Outcome:
    shares = share_by_size(capacity)
    if shares.shape[1] < 2 or len(shares) < 2:
        return not_run("the capacity experiment needs two widths and two sizes")
    if (shares.index <= 0).any():
        return not_run(f"{mc_name()} interpolates in log size: sizes must be positive")
    mc = {w: capacity_size(shares.index, shares[w].to_numpy()) for w in shares.columns}
    widths = list(shares.columns)
    larger = all(mc[b] > mc[a] for a, b in zip(widths, widths[1:]))
    gaps = [float((shares[b] - shares[a]).min()) for a, b in zip(widths, widths[1:])]
    ratio = float(np.min([mc[b] / mc[a] if mc[a] > 0 else float("inf") if mc[b] > 0 else float("nan")
                          for a, b in zip(widths, widths[1:])]))
    detail = (f"smallest {mc_name()} ratio wider/narrower {fmt(ratio)}; {mc_name()} " +
              ", ".join(f"width {w}: {fmt(mc[w])}" for w in widths) +
              f"; smallest share(wider) - share(narrower) {fmt(min(gaps))}")
    return Outcome(ratio, detail, bool(larger and min(gaps) >= -cr.SHARE_TOLERANCE))


def y3(dummies, dummies_class) -> Outcome:
    shares = share_by_size(dummies, dummies_class)
    counts = share_by_size(dummies, dummies_class, "n_train_replicated")
    if len(shares) < 2 or shares.index[0] != 0:
        return not_run("the dummies experiment needs a run without dummies (size 0) and one with")
    parts, ok = [], True
    for width in shares.columns:
        s, c = shares[width].to_numpy(), counts[width].to_numpy()
        ok &= bool(s[0] >= cr.Y3_MIN_SHARE_NO_DUMMIES and s[-1] <= cr.Y3_MAX_SHARE_MOST_DUMMIES
                   and np.all(np.diff(c) <= 0))
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
        ok &= bool(small["replicate_share"] >= cr.Y4_MIN_MINORITY_SHARE
                   and small["train_replicated_share"] >= cr.Y4_MIN_MINORITY_REPLICATED
                   and large["replicate_share"] <= cr.Y4_MAX_MAJORITY_SHARE)
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
                   bool(ct0 <= cr.B1_MAX_CT))


def b2(mrgan_summary) -> Outcome:
    if reason := _needs_zero(mrgan_summary, 2):
        return not_run(reason)
    ct = ct_by_tau(mrgan_summary)
    mean, se = ct["mean"].to_numpy(), ct["se"].to_numpy()
    slack = mean[1:] - mean[:-1] + cr.B2_MAX_FALL_SE * np.sqrt(se[1:] ** 2 + se[:-1] ** 2)  # >= 0: no fall beyond it
    gain = float(mean[-1] - mean[0])
    return Outcome(gain, f"C_T(largest tau) - C_T(0) {fmt(gain)}; mean C_T per tau " +
                   ", ".join(f"{t:g}: {fmt(m)} (se {fmt(s)})" for t, m, s in zip(ct.index, mean, se)),
                   bool(np.all(slack >= 0) and gain >= cr.B2_MIN_GAIN))


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
                          f"{fmt(fd[0.0])} = {fmt(ratio)}", bool(ratio <= cr.B3_MAX_RATIO))


def b4(mrgan_summary) -> Outcome:
    if "ct_pixels" not in mrgan_summary.columns:
        return not_run("the MR-GAN summary has no C_T in a second space (column ct_pixels)")
    if reason := _needs_zero(mrgan_summary, 2):
        return not_run(reason)
    ct = ct_by_tau(mrgan_summary, "ct_pixels")["mean"]
    gain = float(ct.iloc[-1] - ct.iloc[0])
    return Outcome(gain, f"C_T in pixels at tau = {ct.index[-1]:g} - at tau = 0: {fmt(ct.iloc[-1])} - "
                         f"{fmt(ct.iloc[0])} = {fmt(gain)}", bool(gain > cr.B4_GAIN_ABOVE))


def classwise_gain(mrgan_classwise: pd.DataFrame) -> pd.DataFrame:
    """Per class: mean C_T at tau = 0 (ct0) and its gain at the largest tau (mean over seeds)."""
    ct = mrgan_classwise.groupby(["tau", "label"])["ct"].mean().unstack("tau").sort_index(axis=1)
    return pd.DataFrame({"ct0": ct.iloc[:, 0], "gain": ct.iloc[:, -1] - ct.iloc[:, 0]}).dropna()


SEED_DRAWS = 2000  # bootstrap draws of the GAN seeds for B5's interval (reported beside it, not judged)


def b5_seed_interval(mrgan_classwise: pd.DataFrame, draws: int = SEED_DRAWS) -> tuple[float, float]:
    """95 % percentile interval of B5's statistic over bootstrap draws of the seeds: how far its sign
    is from chance. A draw takes each drawn seed's GANs at every tau, so each keeps its own series."""
    ct = mrgan_classwise.groupby(["seed", "tau", "label"])["ct"].mean().unstack(["tau", "label"])
    ct = ct.reindex(columns=pd.MultiIndex.from_product(ct.columns.levels)).sort_index(axis=1)
    seeds, taus = len(ct), len(ct.columns.levels[0])
    values = ct.to_numpy().reshape(seeds, taus, -1)  # (seed, tau, label); NaN: a class without C_T
    drawn = np.random.default_rng(0).integers(0, seeds, (draws, seeds))
    with warnings.catch_warnings():  # a class without C_T in every drawn seed: NaN, dropped below
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values[drawn], axis=1)  # (draw, tau, label)
    ct0, gain = mean[:, 0], mean[:, -1] - mean[:, 0]
    ct0 = np.where(np.isnan(gain), np.nan, ct0)  # as classwise_gain: a class needs both
    mid = np.nanmedian(ct0, axis=1, keepdims=True)
    lower, upper = ct0 < mid, ct0 > mid
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = (np.where(lower, gain, 0).sum(1) / lower.sum(1)) - (np.where(upper, gain, 0).sum(1) / upper.sum(1))
    low, high = np.nanquantile(diff, [0.025, 0.975])
    return float(low), float(high)


def b5(mrgan_classwise) -> Outcome:
    if reason := _needs_zero(mrgan_classwise, 2):
        return not_run(reason)
    gains = classwise_gain(mrgan_classwise)
    mid = gains["ct0"].median()
    lower, upper = gains.loc[gains["ct0"] < mid, "gain"], gains.loc[gains["ct0"] > mid, "gain"]
    if not len(lower) or not len(upper):
        return not_run("too few classes with a class-wise C_T to split at the median")
    diff = float(lower.mean() - upper.mean())
    low, high = b5_seed_interval(mrgan_classwise)
    seeds = mrgan_classwise["seed"].nunique()
    return Outcome(diff, f"mean gain lower half - upper half {fmt(diff)} ({fmt(lower.mean())} over {len(lower)} "
                         f"classes, {fmt(upper.mean())} over {len(upper)}); 95 % interval over the {seeds} seed{'' if seeds == 1 else 's'} "
                         f"[{fmt(low)}, {fmt(high)}]; lower half: classes {', '.join(map(str, lower.index))}",
                   bool(diff > cr.B5_GAIN_DIFF_ABOVE))


def b6(mrgan_summary) -> Outcome:
    if reason := _needs_zero(mrgan_summary, 2):
        return not_run(reason)
    kept = ct_by_tau(mrgan_summary, "kept_fraction")["mean"]
    all_kept = bool((mrgan_summary.loc[mrgan_summary["tau"] == 0, "kept_fraction"] == cr.B6_KEPT_AT_ZERO).all())
    return Outcome(float(kept.iloc[0]), "kept fraction per tau " +
                   ", ".join(f"{t:g}: {fmt(k)}" for t, k in kept.items()),
                   bool(all_kept and np.all(np.diff(kept.to_numpy()) <= 0)))


def _standard_errors(n: float) -> str:
    return "one standard error" if n == 1 else f"{number(n)} standard errors"


_N, _P, _Q = number, percent, lowest_quantile
_TOP = f"the top {_P(cr.TOP_FRACTION)}"
CLAIMS = [
    Claim("feldman", "FZ1", "A mislabelled training example can only be fit by memorizing it",
          "AUROC(mem; flipped vs clean); median mem of flipped",
          f"AUROC >= {_N(cr.FZ1_MIN_AUROC)} and median >= {_N(cr.FZ1_MIN_MEDIAN_MEM)}", fz1,
          needs=("feldman_index", "feldman_mem"),
          explanation="Fitting a mislabelled example takes memorizing it: the flipped examples' mem against the "
                      "clean ones'."),
    Claim("feldman", "FZ2", "A memorized example influences its copy in the test set",
          "infl(i, j) of each flipped i and its test copy j",
          f"median >= {_N(cr.FZ2_MIN_MEDIAN_INFL)}, and >= {_P(cr.FZ2_MIN_LISTED_SHARE)} of the (i, j) in "
          "influence_pairs.parquet", fz2,
          needs=("feldman_index", "feldman_pairs", "feldman_shards"),
          explanation="infl(i, j) of every flipped training example i and its test copy j is computed from the "
                      "shard tables (not only the selected pairs); the share says how many of these pairs the "
                      "workflow's own selection (influence_pairs.parquet) keeps."),
    Claim("feldman", "FZ3", "An atypical example with copies in the training set is not memorized; alone it is",
          "median mem of duplicate copies vs of single outliers",
          f"median(single outlier) - median(duplicate) >= {_N(cr.FZ3_MIN_MEDIAN_GAP)}", fz3,
          needs=("feldman_index", "feldman_mem")),
    Claim("feldman", "FZ4", "Estimates are consistent under resampling (same architecture, independent runs)",
          f"Jaccard of {{i : mem_i >= {_N(cr.MEM_SET_THRESHOLD)}}} between two independent runs",
          f"J_mem({_N(cr.MEM_SET_THRESHOLD)}) >= {_N(cr.FZ4_MIN_JACCARD)}", fz4,
          needs=("feldman_mem", "replicate_mem"),
          explanation="The two runs are claims.feldman.arch and claims.feldman.replicate: one architecture on "
                      "other random subsets from other initial weights."),
    Claim("feldman", "FZ5", "Estimates agree across architectures", "Spearman of mem between two architectures",
          f">= {_N(cr.FZ5_MIN_SPEARMAN)}", fz5,
          needs=("feldman_mem", "other_mem"),
          explanation="claims.feldman.arch against claims.feldman.other_arch, over the training examples where "
                      "both estimates are defined."),
    Claim("kfold_vae", "KF1", "Atypical observations get a high K-fold memorization score",
          f"AUROC(M; outlier vs clean); share of outliers in {_TOP} of M",
          f"AUROC >= {_N(cr.KF1_MIN_AUROC)} and share >= {_N(cr.KF1_MIN_TOP_SHARE)}", kf1,
          needs=("kfold_index", "kfold_scores"),
          explanation=f"{_TOP[0].upper()}{_TOP[1:]} of M: M at or above its {_N(1 - cr.TOP_FRACTION)} quantile over "
                      "the training split."),
    Claim("kfold_vae", "KF2", "An observation whose copies are in the training set gets a low score",
          "median M of duplicate copies vs single outliers",
          "median(duplicate) < median(single outlier), by at least "
          f"{'half' if cr.KF2_MIN_GAP_FRACTION == 0.5 else _N(cr.KF2_MIN_GAP_FRACTION) + ' times'} the gap "
          "median(single outlier) - median(clean)", kf2,
          needs=("kfold_index", "kfold_scores")),
    Claim("kfold_vae", "KF3", "High memorization is not exclusive to observations of low probability",
          f"share of {_TOP} M clean examples whose full-model log p(x) lies above {_Q(cr.LOW_LIKELIHOOD_QUANTILE)}",
          f">= {_N(cr.KF3_MIN_SHARE)}", kf3,
          needs=("kfold_scores", "kfold_logpx_full"), optional=("kfold_index",),
          explanation=f"Of the clean examples in {_TOP} of M, the share whose log p(x) under the full-data model "
                      f"(last epoch) lies above its {_N(cr.LOW_LIKELIHOOD_QUANTILE)} quantile over the training "
                      "split."),
    Claim("kfold_vae", "KF4", "On MNIST, no clear relation between the nearest-neighbour ratio rho and M",
          "Spearman(rho, M) over clean examples", f"absolute value <= {_N(cr.KF4_MAX_ABS_SPEARMAN)}", kf4,
          needs=("kfold_scores", "kfold_rho"), optional=("kfold_index",)),
    Claim("kfold_vae", "KF5", "Models fit their training folds better than held-out ones",
          "median M over clean examples", f"> {_N(cr.KF5_MEDIAN_M_ABOVE)}", kf5,
          needs=("kfold_scores",), optional=("kfold_index",)),
    Claim("diffusion", "Y1", "Memorization capacity exists: below it the model replicates, past it replication drops",
          "replicate share per (size, width)",
          f"for every width: share >= {_N(cr.Y1_MIN_SHARE_SMALLEST)} at the smallest size, "
          f"<= {_N(cr.Y1_MAX_SHARE_LARGEST)} "
          f"at the largest, and non-increasing in size (tolerance {_N(cr.SHARE_TOLERANCE)})", y1,
          needs=("capacity",),
          explanation="The replicate share over all classes (mean over seeds); non-increasing: never rising by more "
                      "than the tolerance from one size to the next."),
    Claim("diffusion", "Y2", "Capacity grows with width",
          f"{mc_name()} = the training-set size where the share crosses {_N(cr.MC_SHARE)} (log-size interpolation), "
          "per width",
          f"strictly larger for each wider model; and at every size share(wider) >= share(narrower) - "
          f"{_N(cr.SHARE_TOLERANCE)}", y2,
          needs=("capacity",),
          explanation=f"{mc_name()} is the size where the share falls through {_N(cr.MC_SHARE)}, linear in log size "
                      "between the two sizes around the first crossing; +inf if it never falls below, 0 if it "
                      "starts below."),
    Claim("diffusion", "Y3", "Dummy data induces generalization",
          "share of replicates among samples of the fixed class, and its training images replicated at least once, "
          "as dummies grow",
          f"share >= {_N(cr.Y3_MIN_SHARE_NO_DUMMIES)} with no dummies, "
          f"<= {_N(cr.Y3_MAX_SHARE_MOST_DUMMIES)} with the most; "
          "the replicated-image count non-increasing", y3,
          needs=("dummies", "dummies_class"),
          explanation="The fixed class is the experiment's keep_label; per width, from its run without dummies "
                      "(size 0) to the run with the most."),
    Claim("diffusion", "Y4", "The dichotomy appears per class",
          "per-class share of replicates and share of training images replicated, minority vs majority",
          f"minority: share >= {_N(cr.Y4_MIN_MINORITY_SHARE)} and >= {_P(cr.Y4_MIN_MINORITY_REPLICATED)} of its images "
          f"replicated; majority: share <= {_N(cr.Y4_MAX_MAJORITY_SHARE)}", y4,
          needs=("minority",),
          explanation="At every (size, width): the minority class has the fewest training images, the majority "
                      "class the most."),
    Claim("mrgan", "B1", "Without rejection the GAN copies its training data", "C_T at tau = 0, mean over seeds",
          f"<= {_N(cr.B1_MAX_CT)}", b1,
          needs=("mrgan_summary",),
          explanation="Every MR-GAN claim needs tau = 0 (the run without rejection) among mrgan.taus."),
    Claim("mrgan", "B2", "Memorization rejection reduces copying, more with larger tau", "mean C_T per tau",
          f"non-decreasing in tau (tolerance: {_standard_errors(cr.B2_MAX_FALL_SE)} over seeds), and "
          f"C_T(largest tau) - C_T(0) >= {_N(cr.B2_MIN_GAIN)}", b2,
          needs=("mrgan_summary",),
          explanation="Mean C_T never falls from one tau to the next by more than the tolerance times the standard "
                      "error of the difference, sqrt(se_a^2 + se_b^2) (se over seeds, 0 with one seed)."),
    Claim("mrgan", "B3", "Moderate rejection costs little quality",
          "FID at the guideline tau vs at tau = 0 (the Frechet distance in the embedding when the run has no FID)",
          f"ratio <= {_N(cr.B3_MAX_RATIO)}", b3,
          needs=("mrgan_summary",),
          explanation="The Frechet distance to the test split at the non-zero tau closest to the threshold guideline "
                      "over that at tau = 0: FID proper (fid_test, with mrgan.fid_images > 0) when the summary has "
                      "it, else the Frechet distance in the embedding (fd_<kind>_test); the detail names the column."),
    Claim("mrgan", "B4", "The reduction is real, not an artifact of the rejection embedding",
          "C_T measured in a second space not used for rejection",
          "C_T_alt(largest tau) > C_T_alt(0)" if cr.B4_GAIN_ABOVE == 0 else
          f"C_T_alt(largest tau) - C_T_alt(0) > {_N(cr.B4_GAIN_ABOVE)}", b4,
          needs=("mrgan_summary",),
          explanation="The second space is pixels (column ct_pixels of the MR-GAN summary)."),
    Claim("mrgan", "B5", "Rejection acts on the memorized classes",
          "class-wise C_T gain from tau = 0 to the largest tau: classes below the median C_T at tau = 0 vs above",
          "mean gain of the lower half > mean gain of the upper half" if cr.B5_GAIN_DIFF_ABOVE == 0 else
          f"mean gain of the lower half - mean gain of the upper half > {_N(cr.B5_GAIN_DIFF_ABOVE)}", b5,
          needs=("mrgan_classwise",),
          explanation="Class-wise C_T, mean over seeds; the classes are split at the median of their C_T at "
                      "tau = 0 (the lower half copies most)."),
    Claim("mrgan", "B6", "Rejection does what it says", "kept fraction of generator batches per tau",
          f"{cr.B6_KEPT_AT_ZERO:.1f} at tau = 0 and non-increasing in tau", b6,
          needs=("mrgan_summary",),
          explanation="The kept fraction at tau = 0 holds for every seed; non-increasing needs a second tau."),
]


def evaluate_claim(claim: Claim, inputs: Inputs) -> dict:
    """One row of claims.parquet: the claim checked on ``inputs``, or not run for lack of a table."""
    row = {"paper": claim.paper, "id": claim.id, "claim": claim.claim, "statistic": claim.statistic,
           "criterion": claim.criterion}
    missing = [name for name in claim.needs if name not in inputs.tables]
    if missing:
        outcome, files = not_run("not configured: needs " + ", ".join(dict.fromkeys(SOURCES[n] for n in missing))), []
    else:
        used = [name for name in claim.uses() if name in inputs.tables]
        files = [path for name in used for path in inputs.files[name]]
        try:
            outcome = claim.check(**{name: inputs.tables.get(name) for name in claim.uses()})
        except PipelineError as err:  # tables that do not fit together: name them
            raise PipelineError(f"{claim.id} on {', '.join(files)}: {err}") from err
    passed = NOT_RUN if outcome.passed is None else TRUE if outcome.passed else FALSE
    return {**row, "value": float(outcome.value), "detail": outcome.detail, "passed": passed,
            "tables": ";".join(files)}


def evaluate(inputs: Inputs) -> pd.DataFrame:
    undeclared = [name for name in inputs.tables if name not in SOURCES]
    if undeclared:  # no claim would read it: its claims would be `not run` without a word
        raise PipelineError(f"claims: undeclared inputs: {', '.join(undeclared)} (see pipeline.claims.tables.INPUTS)")
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
