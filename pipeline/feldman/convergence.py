"""How many models are enough: split-half agreement of each estimator as the number of runs grows,
measured where a user looks, on the memorized tail.

For an estimator and a size t' (8, 16, 32, ... up to t/2), the t runs are shuffled (seeded by
(seed, t', split)) and two disjoint sets of t' runs, the first and the next t', each give a full
estimate of every training example. Their agreement is the estimate's reliability at t' runs,
averaged over ``SPLITS`` seeded splits, on the examples defined in both halves:

* spearman: Spearman rank correlation over all examples. Kept as a column, but it answers for the
  bulk that nothing memorizes (98 % of MNIST): an estimator that ties the bulk at 0 (mem) agrees
  with itself there, one that ranks it by noise (mem_margin) does not, and neither says anything
  about the examples a user looks at.
* jaccard_top1 / jaccard_top5: Jaccard index of the two halves' top 1 % and top 5 % sets, each cut
  where no tie decides it (``top_cut``). Where the k-th largest value is shared by a block of
  examples that straddles the cut, either (a) more runs would break the tie (a tie of too few
  runs: mem at t' = 8 takes few distinct values, so thousands of examples share mem = 1): the block
  is left out and the set is smaller than k, or empty, and then the split gives no Jaccard; or (b)
  the block's examples are tied in the estimate from all t runs too (a tie of the estimand: every
  flipped digit has mem = 1 at any t): the block is taken whole and the set is larger than k. The
  row reports the sets' mean size and the share of halves cut each way, so no Jaccard is ever read
  from two near-complete sets.
* jaccard_memorized: agreement on the examples each estimator calls memorized: mem >= the paper's
  threshold (``feldman.mem_threshold``, 0.25); for every other estimator the analogue is the same
  count: its threshold is the value above which the estimate from all t runs holds as many
  examples as mem from all t runs holds over 0.25 (``memorized_threshold``).
* coverage_95: the share of examples whose two halves differ by less than 1.96 times their combined
  standard error sqrt(se_a^2 + se_b^2), against the nominal 0.95: whether an estimator's standard
  error can be trusted at t' (mem's is 0 wherever p_in and p_out are 0 or 1; a sample variance from
  two or three models without an example is itself noise). Examples whose error is undefined (one
  model in a group) are left out; NaN for an estimator without an error (lira).

Spearman-Brown projects a split-half reliability rho at t' runs to k = t / t' times as many runs,
    rho_t = k rho / (1 + (k - 1) rho),     t_for(target) = t' target (1 - rho) / (rho (1 - target)),
exact for the correlation of means of parallel measurements. Whether that holds for an estimator's
ranks is checked on its own rows: the projection from the previous t' must predict this t' within
``SPEARMAN_BROWN_TOLERANCE`` (0.02) or the splits' own noise; only checked rows get a projection
(``spearman_brown_checked``).

Recommendation (the log and the figure): among the estimators of memorization (``MEMORIZATION``)
whose top 1 % set from all t runs agrees with mem's at a Jaccard of ``STILL_MEMORIZATION`` or more
(they still measure memorization; a block tied at either cut, such as the flipped labels at
mem = 1, chosen towards the other set: ``agreement_with_mem``), the one whose split-half top-1 % Jaccard first reaches
``TAIL_TARGET``, at the smallest t'; if none reaches it, the one highest at the largest t', with
the words that more runs are needed than were measured.

convergence.parquet (one row per estimator and t'):
    estimator               string   pipeline.feldman.estimators.ESTIMATORS
    runs                    int32    t', runs in each half
    runs_total              int32    t, runs of the architecture
    n_splits                int32    seeded splits averaged
    spearman                float64  mean split-half Spearman over all examples
    spearman_sd             float64  its standard deviation over the splits
    spearman_brown_checked  bool     Spearman-Brown from the previous t' predicts this row's spearman
    spearman_brown_full     float64  spearman projected to t runs (NaN unless checked and 0 < spearman < 1)
    runs_for_0_9            float64  runs projected to reach a split-half Spearman of 0.9 (NaN unless checked)
    jaccard_top1            float64  mean Jaccard of the two tie-free top 1 % sets (NaN: no split had both)
    top1_target             float64  1 % of the examples defined in both halves (mean over the splits)
    top1_size               float64  mean size of the halves' top 1 % sets
    top1_tied_runs          float64  share of halves whose cut left out a tie of too few runs
    top1_tied_estimand      float64  share of halves whose cut took a tie of the estimand whole
    top1_splits             int32    splits whose two top 1 % sets were both non-empty
    jaccard_top5            float64  the same at 5 %
    top5_target             float64  5 % of the examples defined in both halves (mean over the splits)
    top5_size               float64  mean size of the halves' top 5 % sets
    top5_tied_runs          float64  share of halves whose cut left out a tie of too few runs
    top5_tied_estimand      float64  share of halves whose cut took a tie of the estimand whole
    top5_splits             int32    splits whose two top 5 % sets were both non-empty
    jaccard_memorized       float64  mean Jaccard of the halves' sets over memorized_threshold
    memorized_threshold     float64  mem: feldman.mem_threshold; others: the same-count value (above)
    memorized_full          int64    examples over it in the estimate from all t runs
    memorized_size          float64  mean size of the halves' sets
    coverage_95             float64  share of examples whose halves differ by < 1.96 combined standard errors
    full_jaccard_top1_mem   float64  Jaccard of the estimator's and mem's top 1 % from all t runs (ties broken towards each other)
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from pipeline import cli, io, plotting
from pipeline.atlas.analysis import jaccard, spearman
from pipeline.feldman.estimators import ESTIMATORS, MEMORIZATION, RECORD_FIELDS, Pieces, recorded
from pipeline.feldman.runs import Runs, read_runs, with_records
from pipeline.parallel import analysis_pool
from pipeline.progress import Progress, get_logger
from pipeline.schema import schema_default

log = get_logger("feldman.convergence")

TARGET = 0.9  # the Spearman reliability runs_for_0_9 speaks of
TAIL_TARGET = 0.8  # the top-1 % split-half Jaccard the recommendation asks for
STILL_MEMORIZATION = 0.8  # an estimator's full-t top 1 % must agree with mem's this well to be recommended
SPEARMAN_BROWN_TOLERANCE = 0.02
Z_95 = 1.959963984540054
TOP_FRACTIONS = {"top1": 0.01, "top5": 0.05}
SMALLEST = 8
# Disjoint halves drawn per t' (their agreement is averaged) and the seed of the draws: the table is
# a summary of the runs, not a setting of the experiment, so they are fixed here, not config keys.
SPLITS = 5
SPLIT_SEED = 0
TOP_COLUMNS = {"jaccard": "float64", "target": "float64", "size": "float64", "tied_runs": "float64",
               "tied_estimand": "float64", "splits": "int32"}
CONVERGENCE_COLUMNS = {
    "estimator": "string", "runs": "int32", "runs_total": "int32", "n_splits": "int32",
    "spearman": "float64", "spearman_sd": "float64", "spearman_brown_checked": "bool",
    "spearman_brown_full": "float64", "runs_for_0_9": "float64",
    **{(f"jaccard_{top}" if key == "jaccard" else f"{top}_{key}"): dtype
       for top in TOP_FRACTIONS for key, dtype in TOP_COLUMNS.items()},
    "jaccard_memorized": "float64", "memorized_threshold": "float64", "memorized_full": "int64",
    "memorized_size": "float64", "coverage_95": "float64", "full_jaccard_top1_mem": "float64"}


def sizes(total: int) -> list[int]:
    """t' = 8, 16, 32, ... and t // 2 itself, the largest two disjoint halves (none when t < 16)."""
    out, size = [], SMALLEST
    while 2 * size <= total:
        out.append(size)
        size *= 2
    if out and out[-1] < total // 2:
        out.append(total // 2)
    return out


def spearman_brown(rho, k):
    """Reliability of k times as many runs, from the reliability rho of one part."""
    rho = np.asarray(rho, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((rho > 0) & (rho < 1), k * rho / (1 + (k - 1) * rho), np.nan)


def runs_for(rho, runs, target: float = TARGET):
    """Runs at which the Spearman-Brown projection from rho at ``runs`` reaches ``target``."""
    rho = np.asarray(rho, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((rho > 0) & (rho < 1), runs * target * (1 - rho) / (rho * (1 - target)), np.nan)


def top_cut(values: np.ndarray, k: int, full: np.ndarray, full_se: np.ndarray | None = None
            ) -> tuple[np.ndarray, str]:
    """The top-k set of ``values`` (bool mask) where no tie decides it, and how the cut fell: 'none'
    (no tie at the k-th value), 'runs' (a block tied at the k-th value that the estimate from all
    runs, ``full``, tells apart: left out, so the set holds fewer than k) or 'estimand' (a block that
    all runs do not tell apart either: taken whole, so the set holds more than k). All runs tell a
    block apart when its values in ``full`` differ by more than 1.96 of their largest standard error
    ``full_se`` (by anything at all where there is none): mem = 0.999 and 1 from 2,000 runs are the
    same flipped label, not two answers."""
    if k < 1 or not len(values):
        return np.zeros(len(values), dtype=bool), "none"
    kth = np.partition(values, len(values) - k)[len(values) - k]
    above, block = values > kth, values == kth
    if above.sum() + block.sum() == k:
        return above | block, "none"
    spread = np.ptp(full[block])
    bound = 0.0 if full_se is None or np.isnan(full_se[block]).all() else Z_95 * np.nanmax(full_se[block])
    if spread <= bound:
        return above | block, "estimand"
    return above, "runs"


def memorized_threshold(name: str, full: dict[str, np.ndarray], mem_threshold: float) -> tuple[float, int]:
    """(threshold, examples over it from all runs): mem's own, or the same-count value of another."""
    count = int(np.sum(np.nan_to_num(full["mem"], nan=-np.inf) >= mem_threshold))
    if name == "mem":
        return mem_threshold, count
    values = full[name][~np.isnan(full[name])]
    if count == 0 or not len(values):
        return float("inf"), 0
    threshold = float(np.sort(values)[::-1][min(count, len(values)) - 1])
    return threshold, int(np.sum(values >= threshold))


def split_agreement(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray],
                    full: tuple[np.ndarray, np.ndarray], threshold: float) -> dict[str, float]:
    """Every agreement measure of one split's two halves and of the estimate from all runs (value,
    standard error each)."""
    both = ~np.isnan(a[0]) & ~np.isnan(b[0])
    (va, sa), (vb, sb), (whole, whole_se) = ((pair[0][both], pair[1][both]) for pair in (a, b, full))
    out = {"spearman": spearman(va, vb)}
    for top, fraction in TOP_FRACTIONS.items():
        k = int(round(fraction * len(va)))
        (set_a, how_a), (set_b, how_b) = top_cut(va, k, whole, whole_se), top_cut(vb, k, whole, whole_se)
        defined = set_a.any() and set_b.any()
        out.update({f"jaccard_{top}": jaccard(set_a, set_b) if defined else np.nan, f"{top}_target": k,
                    f"{top}_size": (set_a.sum() + set_b.sum()) / 2,
                    f"{top}_tied_runs": ((how_a == "runs") + (how_b == "runs")) / 2,
                    f"{top}_tied_estimand": ((how_a == "estimand") + (how_b == "estimand")) / 2,
                    f"{top}_splits": int(defined)})
    over_a, over_b = va >= threshold, vb >= threshold
    out["jaccard_memorized"] = jaccard(over_a, over_b)
    out["memorized_size"] = (over_a.sum() + over_b.sum()) / 2
    bound = Z_95 * np.sqrt(sa ** 2 + sb ** 2)
    known = ~np.isnan(bound)  # an error from one model alone is undefined: no interval
    out["coverage_95"] = float(np.mean(np.abs(va - vb)[known] < bound[known])) if known.any() else np.nan
    return out


def _mean(values: list) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(values)) if not np.isnan(values).all() else float("nan")


def full_top(full: dict[str, tuple[np.ndarray, np.ndarray]], name: str, k: int) -> np.ndarray:
    """The estimator's top k from all runs, a block tied at the cut taken whole (all runs leave it
    tied), on the examples where it and mem are defined."""
    value = full[name][0]
    both = ~np.isnan(value) & ~np.isnan(full["mem"][0])
    mask = np.zeros(len(both), dtype=bool)
    mask[both] = top_cut(value[both], k, value[both])[0]
    return mask


def agreement_with_mem(full: dict[str, tuple[np.ndarray, np.ndarray]], name: str) -> float:
    """Jaccard of the estimator's and mem's top 1 % (k examples) from all runs. Where a block tied at
    a cut makes a set larger than k (35 planted digits at mem = 1 for a top 1 % of 14), any k of the
    block are that estimator's top 1 % alike, so the choice is made towards the other set: with I the
    examples the two sets share, the two size-k sets share min(I, k) and their Jaccard is
    min(I, k) / (2k - min(I, k))."""
    defined = ~np.isnan(full[name][0]) & ~np.isnan(full["mem"][0])
    k = int(round(TOP_FRACTIONS["top1"] * defined.sum()))
    if k < 1:
        return float("nan")
    shared = min(int(np.sum(full_top(full, name, k) & full_top(full, "mem", k))), k)
    return shared / (2 * k - shared)


def check_spearman_brown(rows: list[dict]) -> None:
    """Mark each row whose spearman the previous t' predicts within tolerance (``SPEARMAN_BROWN_TOLERANCE``
    or two standard errors of the difference of the two splits' means, whichever is larger); project
    only from those."""
    for previous, row in zip([None, *rows[:-1]], rows):
        if previous is None:
            checked = False
        else:
            noise = 2 * np.sqrt((previous["spearman_sd"] ** 2 + row["spearman_sd"] ** 2) / row["n_splits"])
            predicted = float(spearman_brown(previous["spearman"], row["runs"] / previous["runs"]))
            checked = abs(predicted - row["spearman"]) <= max(SPEARMAN_BROWN_TOLERANCE, noise)
        row["spearman_brown_checked"] = bool(checked)
        row["spearman_brown_full"] = float(spearman_brown(row["spearman"], row["runs_total"] / row["runs"])) \
            if checked else np.nan
        row["runs_for_0_9"] = float(runs_for(row["spearman"], row["runs"])) if checked else np.nan


# Two halves (or the estimate from all runs and a half) are measured side by side, one per core, while
# the runs held (bool matrices and one float record: 6 bytes per run and example) and two halves'
# working memory (about 70 bytes per run and example each: copies, LiRA's statistics and ratios) stay
# below this; one after the other beyond. The numbers do not depend on it.
SIDE_BY_SIDE_BYTES = 2**31


def side_by_side(size: int, shape: tuple[int, int]) -> bool:
    """Whether two halves of ``size`` runs of (t, n) runs are measured at once (SIDE_BY_SIDE_BYTES)."""
    total, n = shape
    return (6 * total + 2 * 70 * size) * n <= SIDE_BY_SIDE_BYTES


def convergence_table(runs: Runs, estimators: list[str], n_splits: int, seed: int,
                      mem_threshold: float = schema_default("feldman.mem_threshold"),
                      load: Callable[[str], Runs] | None = None) -> pd.DataFrame:
    """convergence.parquet (module docstring). The estimators are measured a record at a time (mem's
    correctness, the cumulative loss, the margins, LiRA's statistic, the per-epoch counts): ``load(field)``
    gives ``runs`` with that record read (``estimators.RECORD_FIELDS``), so a job holds one record and
    its halves, never every record (1 GB each at t = 4,000 runs); an estimator whose record some run
    lacks is then left out. By default ``runs`` holds every record and every estimator named is measured.
    mem_margin_eb's guide, the cumulative loss of the same runs, is kept from the loss's turn."""
    total = len(runs.member)
    steps = sizes(total)
    if not steps:  # only runs brought from a file can be this few (targets.feldman_targets)
        log.warning("%d runs: split-half agreement needs two disjoint halves of at least %d runs; the table is "
                    "empty", total, SMALLEST)
        return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in CONVERGENCE_COLUMNS.items()})
    guide = "mem_margin_eb" in estimators
    turns = {record: [name for name in estimators if ESTIMATORS[name][0] == record] for record in RECORD_FIELDS}
    turns = {record: names for record, names in turns.items()
             if names or record == "correct" or (record == "cum_loss" and guide)}  # mem, the guide: always
    full, thresholds, with_mem, known = {}, {}, {}, {}
    values = {name: {size: [] for size in steps} for name in estimators}
    progress = Progress(log, len(steps) * n_splits * len(turns), "convergence splits")
    pool = analysis_pool()
    for record, names in turns.items():
        part = runs if load is None else load(RECORD_FIELDS[record])
        if load is not None and names and not recorded(part, record):
            log.warning("left out (inputs not recorded by every run): %s", ", ".join(names))
            names = []
        keep = record == "cum_loss" and guide
        orders = {size: [np.random.default_rng([seed, size, split]).permutation(total) for split in range(n_splits)]
                  for size in steps}

        def estimate_all_runs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
            pieces = Pieces(part, known=known.get("full"))
            if keep:
                known["full"] = {"cum_loss": pieces.cum_loss}
            return {name: ESTIMATORS[name][1](pieces) for name in ({"mem", *names} if record == "correct" else names)}

        def measure(size: int, split: int, half: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
            rows = np.sort(orders[size][split][half * size:(half + 1) * size])
            pieces = Pieces(part.take(rows), known=known.get((size, split, half)))
            if keep:
                known[(size, split, half)] = {"cum_loss": pieces.cum_loss}
            return {name: ESTIMATORS[name][1](pieces) for name in names}

        # the estimate from all runs and every half that may run side by side queued at once, two
        # measured at a time; the agreements are formed here meanwhile
        measured = [size for size in steps if names or keep]
        whole = pool.submit(estimate_all_runs)
        queued = {(size, split, half): pool.submit(measure, size, split, half) for size in measured
                  if side_by_side(size, part.member.shape) for split in range(n_splits) for half in (0, 1)}
        full.update(whole.result())
        for name in names:
            thresholds[name] = memorized_threshold(name, {n: v for n, (v, _) in full.items()}, mem_threshold)
            with_mem[name] = agreement_with_mem(full, name)  # from all runs: once each
        for size in measured:
            for split in range(n_splits):
                estimates = [queued.pop((size, split, half)).result() if (size, split, half) in queued else
                             measure(size, split, half) for half in (0, 1)]
                for name in names:
                    values[name][size].append(split_agreement(estimates[0][name], estimates[1][name], full[name],
                                                              thresholds[name][0]))
                progress.update(1)
        progress.update((len(steps) - len(measured)) * n_splits)
        del part
    pool.shutdown()
    by_estimator = {}
    for name in (name for name in estimators if name in thresholds):
        by_estimator[name] = []
        for size in steps:
            splits = values[name][size]
            row = {"estimator": name, "runs": size, "runs_total": total, "n_splits": n_splits,
                   "spearman_sd": float(np.nanstd([s["spearman"] for s in splits]))
                   if not np.isnan([s["spearman"] for s in splits]).all() else np.nan,
                   "memorized_threshold": thresholds[name][0], "memorized_full": thresholds[name][1],
                   "full_jaccard_top1_mem": with_mem[name]}
            for key in splits[0]:
                row[key] = (int(sum(s[key] for s in splits)) if key.endswith("_splits") else
                            _mean([s[key] for s in splits]))
            by_estimator[name].append(row)
    for rows in by_estimator.values():
        check_spearman_brown(rows)
    flat = [row for rows in by_estimator.values() for row in rows]
    return pd.DataFrame(flat, columns=list(CONVERGENCE_COLUMNS)).astype(CONVERGENCE_COLUMNS)


def recommendation(table: pd.DataFrame) -> str:
    """The estimator and t' the tail measures recommend (module docstring), in one sentence."""
    candidates = table[table["estimator"].isin(MEMORIZATION)
                       & (table["full_jaccard_top1_mem"] >= STILL_MEMORIZATION)]
    if candidates.empty or candidates["jaccard_top1"].isna().all():
        return "no estimator of memorization has a defined top 1 % at these runs: no recommendation"
    reached = candidates[candidates["jaccard_top1"] >= TAIL_TARGET]
    if not reached.empty:
        best = reached.sort_values(["runs", "jaccard_top1"], ascending=[True, False]).iloc[0]
        return (f"recommended: {best['estimator']} from t = {best['runs']} runs, where two independent sets of "
                f"{best['runs']} runs agree on the top 1 % at a Jaccard of {best['jaccard_top1']:.2f} "
                f"(>= {TAIL_TARGET:g}); {_others(candidates, best['estimator'], best['runs'])}")
    largest = candidates[candidates["runs"] == candidates["runs"].max()].dropna(subset=["jaccard_top1"])
    best = largest.sort_values("jaccard_top1", ascending=False).iloc[0]
    return (f"recommended: {best['estimator']}, the top 1 % of two independent sets of {best['runs']} runs agreeing "
            f"best (Jaccard {best['jaccard_top1']:.2f}); no estimator reaches {TAIL_TARGET:g} within these runs, so "
            f"the top 1 % needs more than {best['runs']} runs; {_others(candidates, best['estimator'], best['runs'])}")


def _others(candidates: pd.DataFrame, chosen: str, runs: int) -> str:
    at = candidates[(candidates["runs"] == runs) & (candidates["estimator"] != chosen)]
    return ("at that t: " + ", ".join(f"{row['estimator']} " + ("undefined" if np.isnan(row["jaccard_top1"]) else
                                                              f"{row['jaccard_top1']:.2f}") for _, row in at.iterrows())
            if not at.empty else "no other estimator qualifies")


def sentences(table: pd.DataFrame) -> list[str]:
    """One sentence per estimator, from its largest t', then the recommendation."""
    out = []
    for name, rows in table.groupby("estimator", sort=False):
        row = rows.iloc[-1]
        reached = rows[rows["jaccard_top1"] >= TAIL_TARGET]
        tail = (f"top 1 % Jaccard {row['jaccard_top1']:.2f} (sets of {row['top1_size']:.0f} for "
                f"{row['top1_target']:.0f})" if not np.isnan(row["jaccard_top1"]) else
                f"no top 1 % without ties ({row['top1_tied_runs']:.0%} of halves cut at a tie of too few runs)")
        first = f", >= {TAIL_TARGET:g} from t' = {reached['runs'].iloc[0]}" if not reached.empty else ""
        memorized = (f"memorized set (>= {row['memorized_threshold']:.3g}, {row['memorized_full']} from all runs) "
                     f"Jaccard {row['jaccard_memorized']:.2f}")
        coverage = "" if np.isnan(row["coverage_95"]) else f"; 95 % intervals cover {row['coverage_95']:.0%}"
        out.append(f"{name} at t' = {row['runs']}: {tail}{first}; {memorized}; Spearman (all examples) "
                   f"{row['spearman']:.2f}{coverage}")
    if not table.empty:
        out.append(recommendation(table))
    return out


PANELS = (("spearman", "split-half Spearman, all examples"), ("jaccard_top1", "top 1 % Jaccard (tie-free cut)"),
          ("jaccard_top5", "top 5 % Jaccard (tie-free cut)"), ("jaccard_memorized", "memorized-set Jaccard"),
          ("coverage_95", "95 % interval coverage"))


def figure(table: pd.DataFrame, title: str):
    """The agreement measures against t' per estimator, with the sentences and the recommendation."""
    fig, axes = plotting.new_figure(1, len(PANELS), (18, 4.4))
    for name, rows in table.groupby("estimator", sort=False):
        for ax, (column, _) in zip(axes[0], PANELS):
            ax.plot(rows["runs"], rows[column], marker="o", label=name)
    ticks = sorted(table["runs"].unique())
    for ax, (column, label) in zip(axes[0], PANELS):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(v) for v in ticks])
        ax.set_xlabel("runs in each half t'")
        ax.set_ylabel(label)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0, 0].axhline(TARGET, color="grey", ls=":", lw=1)
    axes[0, 1].axhline(TAIL_TARGET, color="grey", ls=":", lw=1)
    axes[0, 4].axhline(0.95, color="grey", ls=":", lw=1)
    if not table.empty:  # an empty table (too few runs) has no lines to name
        axes[0, 0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    lines = sentences(table)
    fig.text(0.01, 0.01, "\n".join(lines), fontsize=7, va="bottom")
    fig.tight_layout(rect=(0, 0.04 + 0.022 * len(lines), 1, 0.95))
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description="Split-half convergence of the Feldman estimators.")
    parser.add_argument("--shards", required=True, nargs="+", type=Path)
    parser.add_argument("--mem-threshold", type=float, default=schema_default("feldman.mem_threshold"))
    parser.add_argument("--title", default="")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--out-figure", required=True, type=Path)
    a = parser.parse_args()
    runs = read_runs(a.shards, scores=False)
    table = convergence_table(runs, list(ESTIMATORS), SPLITS, SPLIT_SEED, a.mem_threshold,
                              load=lambda field: with_records(runs, a.shards, (field,)))
    io.write_parquet(table, a.out)
    for sentence in sentences(table):
        log.info("%s", sentence)
    fig = figure(table, a.title)
    io.save_figure(fig, a.out_figure, dpi=110)
    plotting.close(fig)


if __name__ == "__main__":
    cli.run(main)
