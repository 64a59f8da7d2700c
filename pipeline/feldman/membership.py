"""The privacy audit of a Feldman run: LiRA (``lira``) and RMIA (``rmia``) membership inference, and how
their power grows with the number of reference models k (``ladder``). One job (rule
feldman_membership) writes membership.parquet and the per-pair statistics, membership_pairs.parquet.

membership.parquet (one row per attack, variant, design, k and point of its ROC curve over every
(target model, example) pair with a score; the curve's summaries repeated on each of its rows):
    attack                   string   'lira' (Carlini et al. 2022) or 'rmia' (Zarifzadeh et al. 2024)
    variant                  string   lira: 'online' (per-example variances) or 'fixed' (variances
                                      pooled over the examples); rmia: 'online' (reference models with
                                      and without x) or 'offline' (without x only, the linear correction a)
    design                   string   'all': every model the target, all the other t - 1 its shadows
                                      (LiRA's rows as before the ladder; no intervals); 'ladder': the
                                      sampled targets with their first k reference models (``ladder``),
                                      on at most feldman.rmia.examples training examples
    references               int64    k (design 'all': t - 1); online attacks take k // 2 of each group
    references_used          float64  mean over the pairs of the reference models averaged (fewer than
                                      k where a group has fewer models; design 'all': t - 1)
    targets                  int64    target models attacked
    population               float64  rmia: mean over the targets of the population points z (its
                                      non-members with a statistic); scores move in steps of
                                      1 / (population - 1), so an FPR below about 1 / population is out of
                                      reach (TPR 0 there); NaN for lira
    offline_a                float64  a of RMIA's offline Pr(x) (NaN otherwise)
    gamma                    float64  RMIA's likelihood-ratio threshold of the pairwise test (NaN for lira)
    fpr                      float64  false positive rate: a grid of 0 and 101 log-spaced values 1e-5..1
    tpr                      float64  the largest true positive rate at a threshold with FPR <= fpr
    auc                      float64  area under the full ROC (P(member pair > non-member pair), ties 1/2)
    auc_low                  float64  its 95 % bootstrap interval (targets and examples resampled; NaN
                                      for design 'all' and with no resamples)
    auc_high                 float64
    tpr_at_fpr_0_01pct       float64  TPR at 0.01 % FPR (as tpr, at fpr = 0.0001)
    tpr_at_fpr_0_01pct_low   float64
    tpr_at_fpr_0_01pct_high  float64
    tpr_at_fpr_0_1pct        float64  TPR at 0.1 % FPR
    tpr_at_fpr_0_1pct_low    float64
    tpr_at_fpr_0_1pct_high   float64
    tpr_at_fpr_1pct          float64  TPR at 1 % FPR
    tpr_at_fpr_1pct_low      float64
    tpr_at_fpr_1pct_high     float64
    n_member_pairs           int64    (target, example) pairs with the example in the target's subset
    n_nonmember_pairs        int64    pairs without

membership_pairs.parquet (one row per (run, training example), run by run: every run the target in
turn, all the other runs its shadows and reference models; for privacy-auditing tools that set their
own thresholds; the export's membership_scores.parquet is this table):
    run           int32    run r
    index         int64    dataset index of the training example
    member        bool     is it in run r's subset (the ground truth)
    statistic     float32  run r's logit-scaled confidence log(p / (1 - p)) of the true class (the
                           margin where the runs kept none; ``runs.read_runs``), NaN where not kept
    lira          float64  LiRA online's log likelihood ratio Lambda[r, i] (larger: more likely a
                           member), NaN where undefined
    lira_fixed    float64  the same with the fixed (pooled) variances
    rmia_online   float64  RMIA's score (the share of population points z it beats), every other run a
                           reference model, NaN where undefined
    rmia_offline  float64  the same, offline: the other runs without the example, feldman.rmia.offline_a
The AUC of ``lira`` over all pairs is membership.parquet's online AUC of design 'all'.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline import cli, io
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.feldman import ladder, lira, rmia
from pipeline.feldman.columns import column_blocks
from pipeline.feldman.runs import read_runs
from pipeline.parallel import thread_map
from pipeline.progress import get_logger
from pipeline.schema import schema_default

log = get_logger("feldman.membership")

COLUMNS = {"attack": "string", "variant": "string", "design": "string", "references": "int64",
           "references_used": "float64", "targets": "int64", "population": "float64", "offline_a": "float64",
           "gamma": "float64", "fpr": "float64", "tpr": "float64",
           **{f"{name}{end}": "float64" for name in ladder.SUMMARIES for end in ("", "_low", "_high")},
           "n_member_pairs": "int64", "n_nonmember_pairs": "int64"}
PAIR_COLUMNS = {"run": "int32", "index": "int64", "member": "bool", "statistic": "float32", "lira": "float64",
                "lira_fixed": "float64", "rmia_online": "float64", "rmia_offline": "float64"}
LIRA_SMALLEST = 4  # LiRA's variances need two reference models of each group
SIGMOID_BYTES = 2**30
PAIR_BATCH_BYTES = 2**26  # the pair table is formed and written this many bytes of a float64 matrix at a time


def all_rows(member: np.ndarray, phi: np.ndarray) -> pd.DataFrame:
    """LiRA's rows of design 'all' (``lira.membership_table``)."""
    t = member.shape[0]
    table = lira.membership_table(member, phi)
    return table.assign(attack="lira", design="all", references=t - 1, references_used=float(t - 1), targets=t)


def _curve(attack: str, variant: str, k: int, used: float, targets: int, row: dict, **extra) -> pd.DataFrame:
    return pd.DataFrame({"attack": attack, "variant": variant, "design": "ladder", "references": k,
                         "references_used": used, "targets": targets, **extra, **row})


def ladder_rows(member: np.ndarray, stat: np.ndarray, references: list[int] | None, targets: int, offline_a: float,
                gamma: float, bootstrap: int, seed: int) -> pd.DataFrame:
    """RMIA's and LiRA's rows of design 'ladder': the same targets and reference models (``ladder``),
    RMIA's curves first (their resamples drawn first), then LiRA's."""
    t, n = member.shape
    attack_rng, bootstrap_rng = ladder.streams(seed)
    chosen, orders = ladder.draw_targets(t, targets, attack_rng)
    grid = ladder.reference_grid(t, references)
    rmia_ks = rmia.ladder_references(member, stat, grid)
    lira_ks = ladder.useful_references(member, stat, [k for k in grid if k >= LIRA_SMALLEST], "both")
    scores = rmia.Accumulator(member, chosen, rmia_ks, gamma)
    # every target's blocks read the models' sigmoid(phi): formed once when both fit SIGMOID_BYTES
    sigmoid = rmia.sigmoids(stat) if 2 * 8 * member.size <= SIGMOID_BYTES else None
    lira_scores = {name: np.full((len(lira_ks), len(chosen), n), np.nan) for name in lira.VARIANTS}
    lira_used = {name: np.zeros(len(lira_ks)) for name in lira.VARIANTS}
    for row, (target, others) in enumerate(zip(chosen, orders)):
        ratios = {variant: (np.full((len(ks), n), np.nan), np.zeros((len(ks), n))) for variant, ks in rmia_ks.items()}
        sums = {group: tuple(np.zeros((len(lira_ks), n)) for _ in range(3)) for group in ("in", "out")}
        for cols in column_blocks(len(others), n):
            block = ladder.ReferenceBlock(member, stat, target, others, cols, sigmoid)
            for variant, (ratio, used) in rmia.block_ratios(block, rmia_ks, offline_a).items():
                ratios[variant][0][:, cols], ratios[variant][1][:, cols] = ratio, used
            if lira_ks:
                for group, parts in lira.block_sums(block, lira_ks).items():
                    for whole, part in zip(sums[group], parts):
                        whole[:, cols] = part
        scores.add(row, ratios)
        if lira_ks:
            for name, (ratio, used) in lira.ladder_ratios(sums, ~np.isnan(stat[target])).items():
                lira_scores[name][:, row] = ratio
                lira_used[name] += used.sum(1)
    positive = member[chosen]
    parts = []
    for result in scores.results():
        row = ladder.roc_rows(result.scores, positive, bootstrap, bootstrap_rng)
        parts.append(_curve("rmia", result.variant, result.references, result.references_used, len(chosen), row,
                            population=result.population,
                            offline_a=offline_a if result.variant == "offline" else np.nan, gamma=gamma))
        _log("RMIA", result.variant, result.references, result.references_used, len(chosen), row)
    for name in lira.VARIANTS:
        for j, k in enumerate(lira_ks):
            defined = int(np.count_nonzero(~np.isnan(lira_scores[name][j])))
            used = lira_used[name][j] / defined if defined else float("nan")
            row = ladder.roc_rows(lira_scores[name][j], positive, bootstrap, bootstrap_rng)
            parts.append(_curve("lira", name, k, used, len(chosen), row, population=np.nan, offline_a=np.nan,
                                gamma=np.nan))
            _log("LiRA", name, k, used, len(chosen), row)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _log(attack: str, variant: str, k: int, used: float, targets: int, row: dict) -> None:
    log.info("%s %s, %d reference models (%.1f used) against %d targets: AUC %.3f [%.3f, %.3f], TPR %.4f at "
             "0.1 %% FPR, %.4f at 1 %% FPR", attack, variant, k, used, targets, row["auc"], row["auc_low"],
             row["auc_high"], row["tpr_at_fpr_0_1pct"], row["tpr_at_fpr_1pct"])


def ladder_examples(n: int, examples: int, seed: int) -> slice | np.ndarray:
    """The columns the attacks against k run on: every one when n <= ``examples`` (the tables of such
    runs do not depend on the cap), else ``examples`` of them drawn at random, in order."""
    if n <= examples:
        return slice(None)
    return np.sort(np.random.default_rng([seed, n]).choice(n, examples, replace=False))


def membership_table(member: np.ndarray, stat: np.ndarray,
                     references: list[int] | None = schema_default("feldman.rmia.references"),
                     targets: int = schema_default("feldman.rmia.targets"),
                     offline_a: float = schema_default("feldman.rmia.offline_a"),
                     gamma: float = schema_default("feldman.rmia.gamma"),
                     bootstrap: int = schema_default("feldman.rmia.bootstrap"),
                     seed: int = schema_default("feldman.seed"),
                     examples: int = schema_default("feldman.rmia.examples")) -> pd.DataFrame:
    """membership.parquet (module docstring) from the (t, n) membership and statistic matrices. The
    attacks against k run on at most ``examples`` training examples drawn once (``ladder_examples``):
    their cost, targets x n per curve and resample, would otherwise grow with the data set."""
    member = np.asarray(member, dtype=bool)
    if member.shape[0] < 2:
        raise PipelineError(f"membership inference needs at least 2 runs (a target and a reference model); "
                            f"the shards hold {member.shape[0]}")
    if not 0 <= offline_a <= 1 or gamma <= 0:
        raise PipelineError(f"RMIA: feldman.rmia.offline_a must lie in [0, 1] and feldman.rmia.gamma be positive "
                            f"(got {offline_a}, {gamma})")
    cols = ladder_examples(member.shape[1], examples, seed)
    parts = [all_rows(member, stat),
             ladder_rows(member[:, cols], stat[:, cols], references, targets, offline_a, gamma, bootstrap, seed)]
    table = pd.concat([part for part in parts if len(part)], ignore_index=True)
    return table.reindex(columns=list(COLUMNS)).astype(COLUMNS)


def pair_batches(member: np.ndarray, stat: np.ndarray, train_index: np.ndarray, offline_a: float,
                 gamma: float) -> Iterator[pd.DataFrame]:
    """membership_pairs.parquet (module docstring), a few runs at a time, in run order: LiRA's Lambda of
    those runs (``lira.ratio_blocks`` over their rows; the pooled variances and the groups' column sums
    are every run's) and RMIA's scores with all the other runs as references (``rmia.all_reference_ratios``)."""
    member = np.asarray(member, dtype=bool)
    t, n = member.shape
    pooled = lira.pooled_variances(member, stat) if t >= 3 else None
    sums = lira.column_group_sums(member, stat) if t >= 3 else None
    totals = rmia.group_totals(member, stat) if t >= 2 else None
    step = max(1, PAIR_BATCH_BYTES // (8 * max(n, 1)))
    for start in range(0, t, step):
        rows = slice(start, min(start + step, t))
        count = rows.stop - rows.start
        values = {name: np.full((count, n), np.nan) for name in ("lira", "lira_fixed", "rmia_online", "rmia_offline")}
        if pooled is not None:
            for cols, ratios in lira.row_ratio_blocks(member, stat, rows, pooled, sums):
                values["lira"][:, cols], values["lira_fixed"][:, cols] = ratios["online"], ratios["fixed"]
        if totals is not None:
            for variant, ratio in rmia.all_reference_ratios(member, stat, rows, offline_a, totals).items():
                # run by run, two at a time (pipeline.parallel; the sort and search of each release the GIL)
                values[f"rmia_{variant}"][:] = thread_map(
                    lambda j: rmia.pairwise_scores(ratio[j], ~member[rows.start + j], gamma), range(count))
        yield pd.DataFrame({
            "run": np.repeat(np.arange(rows.start, rows.stop), n), "index": np.tile(np.asarray(train_index), count),
            "member": member[rows].ravel(), "statistic": np.asarray(stat[rows], np.float32).ravel(),
            **{name: value.ravel() for name, value in values.items()}}).astype(PAIR_COLUMNS)


def write_pairs(member: np.ndarray, stat: np.ndarray, train_index: np.ndarray, offline_a: float, gamma: float,
                out: Path) -> None:
    """membership_pairs.parquet, written a batch of runs at a time (one row group each)."""
    schema = pa.Schema.from_pandas(pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in PAIR_COLUMNS.items()}),
                                   preserve_index=False)
    with io.parquet_writer(out, schema) as write:
        for batch in pair_batches(member, stat, train_index, offline_a, gamma):
            write(pa.Table.from_pandas(batch, schema=schema, preserve_index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description="LiRA and RMIA over a Feldman run, against the number of "
                                                 "reference models.")
    parser.add_argument("--shards", required=True, nargs="+", type=Path)
    parser.add_argument("--dataset-dir", required=True, type=Path)
    parser.add_argument("--references", nargs="*", type=int, default=schema_default("feldman.rmia.references"),
                        help="numbers of reference models (default: 1, 2, 4, ... and t - 1)")
    parser.add_argument("--targets", type=int, default=schema_default("feldman.rmia.targets"))
    parser.add_argument("--offline-a", type=float, default=schema_default("feldman.rmia.offline_a"))
    parser.add_argument("--gamma", type=float, default=schema_default("feldman.rmia.gamma"))
    parser.add_argument("--bootstrap", type=int, default=schema_default("feldman.rmia.bootstrap"))
    parser.add_argument("--examples", type=int, default=schema_default("feldman.rmia.examples"),
                        help="training examples the attacks against k run on (drawn at random when more)")
    parser.add_argument("--seed", type=int, default=schema_default("feldman.seed"),
                        help="seeds the draw of the targets, their reference models and the bootstrap")
    parser.add_argument("--out", required=True, type=Path, help="membership.parquet")
    parser.add_argument("--out-pairs", required=True, type=Path, help="membership_pairs.parquet")
    a = parser.parse_args()
    runs = read_runs(a.shards, ("lira_statistic",))
    if np.isnan(runs.lira_statistic).all():
        log.warning("%s...: no confidences or margins in the shard tables; membership.parquet has no defined pair",
                    a.shards[0])
    train_index = Dataset.load(a.dataset_dir, mmap=True).indices("train")
    if len(train_index) != runs.member.shape[1]:
        raise PipelineError(f"{a.shards[0]}...: the runs hold {runs.member.shape[1]} training examples, the data "
                            f"set {a.dataset_dir} {len(train_index)}")
    io.write_parquet(membership_table(runs.member, runs.lira_statistic, a.references, a.targets, a.offline_a,
                                      a.gamma, a.bootstrap, a.seed, a.examples), a.out)
    write_pairs(runs.member, runs.lira_statistic, train_index, a.offline_a, a.gamma, a.out_pairs)


if __name__ == "__main__":
    cli.run(main)
