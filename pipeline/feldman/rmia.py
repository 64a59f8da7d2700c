"""RMIA (Zarifzadeh et al. 2024) on Feldman's runs: how the attack's power grows with the number of
reference models.

Paper: S. Zarifzadeh, P. Liu, R. Mohammed and R. Shokri, "Low-Cost High-Power Membership Inference
Attacks", ICML 2024 (privacy_meter's default attack). As for LiRA (``lira``), Feldman's design (t
models on random subsets J_r) is the attack's setting: every model can be the target in turn, with
other models as its references, and the auditor's question is how many reference models the attack
needs (the paper: CIFAR-10 AUC 68.6 with 1 reference model, 71.0 with 4, 71.7 with 127).

Statistic. Pr(x | theta) is the target's softmax probability of x's true class,
p = sigmoid(phi) from the logit-scaled confidence phi = log(p / (1 - p)) the shards record
(``train_logit_conf``; runs without it: the margin, whose sigmoid is the true class's probability
against its strongest rival alone, as ``runs.read_runs`` logs). Probabilities near 1 are handled as
1 - p = sigmoid(-phi), so no precision is lost where the models are sure.

Attack, for target model r and training example x, with k reference models (never r):
    Pr(x)       online:  (mean_IN + mean_OUT) / 2, means of Pr(x | theta') over the first k // 2
                         reference models trained with x and the first k // 2 trained without it
                offline: ((1 + a) / 2) mean_OUT + (1 - a) / 2, mean_OUT over the first k reference
                         models trained without x (the paper's linear correction for the missing IN
                         models; a = feldman.rmia.offline_a)
    LR(x)       = Pr(x | theta_r) / Pr(x)
    score(x)    = share of population points z != x with LR(x) / LR(z) > gamma
The population z is the training examples r was not trained on (known non-members, drawn like the
paper's population data), their Pr(z) formed by the same rule from their own reference models, so a
non-member x and a population point are exchangeable and a non-member's score is uniform. "The
first" models are those of a random order of the t - 1 other models, drawn once per target: what an
auditor who trained k reference models (the online ones with each x in half of them, as the paper
trains them) would hold. Where fewer models of a group exist (Feldman's subsets hold 70 % of the
examples, so about 0.3 (t - 1) models miss each one), all of them are averaged, and
``references_used`` says how many were; the online attack needs one model of each group, the
offline one a model without x. Only the k beyond which no example gains a model are computed. The
targets are a random sample of at most feldman.rmia.targets models.

Scores are compared over every (target, example) pair at once, as ``lira``'s membership.parquet
does: AUC (P(member pair > non-member pair), ties 1/2) and the largest TPR at a threshold with FPR at
most 0.01 %, 0.1 % and 1 %. Intervals: a two-way ("pigeonhole") bootstrap that resamples the target
models and the examples independently, each pair weighted by the product of its row's and column's
counts (the pairs share both, so neither alone would do); 95 % percentile intervals over
feldman.rmia.bootstrap resamples (NaN with 0).

rmia.parquet (one row per attack variant, number of reference models and point of its ROC curve over
every (target model, example) pair with a score; the summaries repeated on each row of a curve):
    variant                  string   'online' (reference models with and without x) or 'offline'
                                      (without x only, the linear correction a)
    references               int64    k: reference models per example (online: k // 2 of each group)
    references_used          float64  mean over the pairs of the reference models averaged (fewer than
                                      k where a group has fewer models)
    targets                  int64    target models attacked (each with leave-one-out references)
    population               float64  mean over the targets of the population points z (its non-members
                                      with a statistic); scores move in steps of 1 / (population - 1),
                                      and about one non-member per target has the top score, so an FPR
                                      below about 1 / population is out of reach (TPR 0 there)
    offline_a                float64  a of the offline Pr(x) (NaN for online)
    gamma                    float64  the likelihood-ratio threshold of the pairwise test
    fpr                      float64  false positive rate: a grid of 0 and 101 log-spaced values 1e-5..1
    tpr                      float64  the largest true positive rate at a threshold with FPR <= fpr
    auc                      float64  area under the full ROC
    auc_low                  float64  its 95 % bootstrap interval (targets and examples resampled)
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
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, log_expit

from pipeline import cli, io
from pipeline.errors import PipelineError
from pipeline.feldman.columns import column_blocks
from pipeline.feldman.lira import FPR_GRID
from pipeline.feldman.runs import read_runs
from pipeline.progress import get_logger
from pipeline.schema import schema_default

log = get_logger("feldman.rmia")

VARIANTS = ("online", "offline")
POINTS = {"0_01pct": 1e-4, "0_1pct": 1e-3, "1pct": 1e-2}  # the summary columns' FPR bounds
SUMMARIES = ("auc", *(f"tpr_at_fpr_{name}" for name in POINTS))
RMIA_COLUMNS = {"variant": "string", "references": "int64", "references_used": "float64", "targets": "int64",
                "population": "float64",
                "offline_a": "float64", "gamma": "float64", "fpr": "float64", "tpr": "float64",
                **{f"{name}{end}": "float64" for name in SUMMARIES for end in ("", "_low", "_high")},
                "n_member_pairs": "int64", "n_nonmember_pairs": "int64"}


def reference_grid(t: int, references: list[int] | None = None) -> list[int]:
    """The numbers of reference models k: ``references`` (those below t), else 1, 2, 4, ... below
    t - 1, and t - 1."""
    if references:
        return sorted({int(k) for k in references if 1 <= k <= t - 1})
    grid = [k for k in (2 ** np.arange(int(np.log2(max(t - 1, 1))) + 1)).tolist() if k < t - 1]
    return grid + [t - 1] if t >= 2 else []


def _first_means(p: np.ndarray, q: np.ndarray, group: np.ndarray, ks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per k, (mean p, mean q, count) over the first min(k, available) rows of ``group`` in each
    column, rows in order; NaN where a column has none. ``p``, ``q``: (m, b); returns (len(ks), b)."""
    counts = np.cumsum(group, axis=0, dtype=np.int32)
    sum_p = np.cumsum(np.where(group, p, 0.0), axis=0)
    sum_q = np.cumsum(np.where(group, q, 0.0), axis=0)
    used = np.minimum(np.asarray(ks, dtype=np.int32)[:, None], counts[-1][None, :])
    columns = np.arange(group.shape[1])
    mean_p, mean_q = np.full(used.shape, np.nan), np.full(used.shape, np.nan)
    for j in range(len(used)):
        last = np.argmax(counts >= used[j], axis=0)  # the row at which the group's count reaches used
        some = used[j] > 0
        mean_p[j, some] = sum_p[last, columns][some] / used[j, some]
        mean_q[j, some] = sum_q[last, columns][some] / used[j, some]
    return mean_p, mean_q, used


def _log_probability(prob: np.ndarray, complement: np.ndarray) -> np.ndarray:
    """log Pr from Pr and 1 - Pr, each formed directly: the one of the two that loses no precision."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(prob <= 0.5, np.log(prob), np.log1p(-complement))


def log_ratios(member: np.ndarray, stat: np.ndarray, target: int, others: np.ndarray,
               references: dict[str, list[int]], offline_a: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """log LR(x) of every example for target model ``target`` with the reference models ``others``
    (row indices, in the order "first" refers to), per variant and each of its k (``references``:
    variant -> list of k): (len(ks), n) log ratios, NaN where undefined, and the (len(ks), n) counts
    of reference models averaged. A block of examples at a time (``columns.column_blocks``)."""
    n = member.shape[1]
    out = {variant: (np.full((len(ks), n), np.nan), np.zeros((len(ks), n))) for variant, ks in references.items()}
    for cols in column_blocks(len(others), n):
        phi = np.asarray(stat[others, cols], dtype=np.float64)
        defined = ~np.isnan(phi)
        p, q = expit(phi), expit(-phi)
        inside = np.asarray(member[others, cols], dtype=bool)
        with np.errstate(invalid="ignore"):
            log_target = log_expit(np.asarray(stat[target, cols], dtype=np.float64))
        for variant, ks in references.items():
            if variant == "online":
                half = [k // 2 for k in ks]
                p_in, q_in, n_in = _first_means(p, q, inside & defined, half)
                p_out, q_out, n_out = _first_means(p, q, ~inside & defined, half)
                prob, complement = (p_in + p_out) / 2, (q_in + q_out) / 2
                used = np.where((n_in > 0) & (n_out > 0), n_in + n_out, 0)
            elif variant == "offline":
                p_out, q_out, used = _first_means(p, q, ~inside & defined, ks)
                prob, complement = (1 + offline_a) / 2 * p_out + (1 - offline_a) / 2, (1 + offline_a) / 2 * q_out
            else:
                raise ValueError(f"unknown RMIA variant {variant!r}")
            ratio = log_target[None, :] - _log_probability(prob, complement)
            out[variant][0][:, cols] = np.where(used > 0, ratio, np.nan)
            out[variant][1][:, cols] = used
    return out


def pairwise_scores(log_ratio: np.ndarray, population: np.ndarray,
                    gamma: float = schema_default("feldman.rmia.gamma")) -> np.ndarray:
    """score(x) = share of population points z != x with LR(x) / LR(z) > gamma, i.e. with
    log LR(z) < log LR(x) - log gamma, for every x with a log ratio (NaN otherwise, and where no
    other population point has one). ``log_ratio`` (n,), ``population`` (n,) bool."""
    log_ratio = np.asarray(log_ratio, dtype=np.float64)
    defined = ~np.isnan(log_ratio)
    pool = population & defined
    values = np.sort(log_ratio[pool])
    below = np.searchsorted(values, log_ratio - np.log(gamma), side="left").astype(np.float64)
    # x among the population: its own comparison LR(x) / LR(x) = 1 > gamma counted only for gamma < 1
    below -= pool & (gamma < 1)
    others = len(values) - pool
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(defined & (others > 0), below / others, np.nan)


@dataclass
class Scores:
    """The scores of every (target, example) pair for one variant and k: (targets, n), NaN where
    undefined, with the mean count of reference models averaged over the defined pairs."""
    variant: str
    references: int
    scores: np.ndarray
    references_used: float
    population: float


def attack(member: np.ndarray, stat: np.ndarray, targets: np.ndarray, references: dict[str, list[int]],
           offline_a: float, gamma: float, rng: np.random.Generator) -> list[Scores]:
    """RMIA of each variant and k (``references``: variant -> list of k) against each of ``targets``
    (module docstring): per target one random order of the other models, shared by the variants, the
    first k of each group its references."""
    member = np.asarray(member, dtype=bool)
    t, n = member.shape
    keys = [(variant, k) for variant, ks in references.items() for k in ks]
    scores = {key: np.full((len(targets), n), np.nan) for key in keys}
    used = dict.fromkeys(keys, 0.0)  # reference models averaged, summed over the defined pairs
    population = dict.fromkeys(keys, 0)
    for row, target in enumerate(targets):
        others = rng.permutation(np.delete(np.arange(t), target))
        for variant, (ratios, counts) in log_ratios(member, stat, target, others, references, offline_a).items():
            for j, k in enumerate(references[variant]):
                values = scores[variant, k][row] = pairwise_scores(ratios[j], ~member[target], gamma)
                used[variant, k] += float(counts[j][~np.isnan(values)].sum())
                population[variant, k] += int(np.count_nonzero(~member[target] & ~np.isnan(ratios[j])))
    out = []
    for key in keys:
        defined = int(np.count_nonzero(~np.isnan(scores[key])))
        out.append(Scores(*key, scores[key], used[key] / defined if defined else float("nan"),
                          population[key] / max(len(targets), 1)))
    return out


def useful_references(member: np.ndarray, stat: np.ndarray, ks: list[int], variant: str) -> list[int]:
    """The k of ``ks`` up to the first at which every example already has every model of the groups
    the variant averages (offline: without it; online: k // 2 of each group): larger k would average
    the same models."""
    defined = ~np.isnan(np.asarray(stat, dtype=np.float32))
    inside = (np.asarray(member, dtype=bool) & defined).sum(0)
    outside = (~np.asarray(member, dtype=bool) & defined).sum(0)
    most = int(outside.max(initial=0)) if variant == "offline" else 2 * int(np.maximum(inside, outside).max(initial=0))
    kept = []
    for k in ks:
        kept.append(k)
        if k >= most:
            break
    return kept


class _Pairs:
    """The defined (target, example) pairs of a score matrix, grouped by tied score in descending
    order, for weighted ROCs (the bootstrap's resamples weigh pairs by row and column counts)."""

    def __init__(self, scores: np.ndarray, positive: np.ndarray):
        defined = ~np.isnan(scores)
        self.rows, self.cols = np.nonzero(defined)
        values = scores[defined]
        self.positive = np.asarray(positive, dtype=bool)[defined]
        distinct, inverse = np.unique(-values, return_inverse=True)  # ascending -score: descending score
        self.group = inverse.ravel()
        self.n_groups = len(distinct)
        self.slot = self.group + self.n_groups * self.positive  # non-members' groups first, then members'
        self.shape = scores.shape

    def summary(self, row_weight: np.ndarray | None = None, col_weight: np.ndarray | None = None,
                grid: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """AUC (ties 1/2) and the TPR at each FPR bound of ``grid`` (the largest TPR of a threshold
        with FPR <= the bound), each pair weighted by its row's and column's weights."""
        grid = np.asarray(grid if grid is not None else [], dtype=np.float64)
        if row_weight is None:
            weight = np.ones(len(self.rows))
        else:
            weight = row_weight[self.rows] * col_weight[self.cols]
        sums = np.bincount(self.slot, weight, 2 * self.n_groups)
        neg, pos = sums[:self.n_groups], sums[self.n_groups:]
        total_pos, total_neg = pos.sum(), neg.sum()
        if total_pos <= 0 or total_neg <= 0:
            return float("nan"), np.full(len(grid), np.nan)
        tp, fp = np.cumsum(pos), np.cumsum(neg)
        auc = float((pos * (total_neg - fp + neg / 2)).sum() / (total_pos * total_neg))
        last = np.searchsorted(fp / total_neg, grid, side="right") - 1  # fp / total_neg rises with the group
        tpr = np.where(last >= 0, tp[np.maximum(last, 0)] / total_pos, 0.0)
        return auc, tpr


def roc_rows(result: Scores, positive: np.ndarray, bootstrap: int, rng: np.random.Generator) -> dict:
    """The rmia.parquet columns of one variant and k: the ROC on FPR_GRID, the summaries and their
    bootstrap intervals."""
    pairs = _Pairs(result.scores, positive)
    grid = np.r_[FPR_GRID, list(POINTS.values())]
    auc, tpr = pairs.summary(grid=grid)
    values = {"auc": auc, **{f"tpr_at_fpr_{name}": tpr[len(FPR_GRID) + j] for j, name in enumerate(POINTS)}}
    draws = np.full((bootstrap, len(SUMMARIES)), np.nan)
    n_rows, n_cols = pairs.shape
    for b in range(bootstrap):
        row_weight = rng.multinomial(n_rows, np.full(n_rows, 1 / n_rows)).astype(np.float64)
        col_weight = rng.multinomial(n_cols, np.full(n_cols, 1 / n_cols)).astype(np.float64)
        b_auc, b_tpr = pairs.summary(row_weight, col_weight, np.array(list(POINTS.values())))
        draws[b] = [b_auc, *b_tpr]
    row = {"fpr": FPR_GRID, "tpr": tpr[:len(FPR_GRID)]}
    for j, name in enumerate(SUMMARIES):
        row[name] = values[name]
        kept = draws[:, j][~np.isnan(draws[:, j])]
        low, high = np.percentile(kept, [2.5, 97.5]) if len(kept) else (np.nan, np.nan)
        row[f"{name}_low"], row[f"{name}_high"] = low, high
    row["n_member_pairs"] = int(pairs.positive.sum())
    row["n_nonmember_pairs"] = int((~pairs.positive).sum())
    return row


def rmia_table(member: np.ndarray, stat: np.ndarray, references: list[int] | None = None,
               targets: int = schema_default("feldman.rmia.targets"),
               offline_a: float = schema_default("feldman.rmia.offline_a"),
               gamma: float = schema_default("feldman.rmia.gamma"),
               bootstrap: int = schema_default("feldman.rmia.bootstrap"),
               seed: int = schema_default("feldman.seed")) -> pd.DataFrame:
    """rmia.parquet (module docstring) from the (t, n) membership and statistic matrices."""
    member = np.asarray(member, dtype=bool)
    t, n = member.shape
    if t < 2:
        raise PipelineError(f"RMIA needs at least 2 runs (a target and a reference model); the shards hold {t}")
    if not 0 <= offline_a <= 1 or gamma <= 0:
        raise PipelineError(f"RMIA: offline_a must lie in [0, 1] and gamma be positive (got {offline_a}, {gamma})")
    attack_rng, bootstrap_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    chosen = np.sort(attack_rng.choice(t, size=min(targets, t), replace=False))
    grid = reference_grid(t, references)
    # online needs k // 2 >= 1 model of each group
    ks = {variant: useful_references(member, stat, [k for k in grid if variant == "offline" or k >= 2], variant)
          for variant in VARIANTS}
    parts = []
    for result in attack(member, stat, chosen, ks, offline_a, gamma, attack_rng):
        row = roc_rows(result, member[chosen], bootstrap, bootstrap_rng)
        parts.append(pd.DataFrame({"variant": result.variant, "references": result.references,
                                   "references_used": result.references_used, "targets": len(chosen),
                                   "population": result.population,
                                   "offline_a": offline_a if result.variant == "offline" else np.nan,
                                   "gamma": gamma, **row}))
        log.info("RMIA %s, %d reference models (%.1f used) against %d targets: AUC %.3f [%.3f, %.3f], TPR "
                 "%.4f at 0.1 %% FPR, %.4f at 1 %% FPR", result.variant, result.references, result.references_used,
                 len(chosen), row["auc"], row["auc_low"], row["auc_high"], row["tpr_at_fpr_0_1pct"],
                 row["tpr_at_fpr_1pct"])
    if not parts:
        return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in RMIA_COLUMNS.items()})
    return pd.concat(parts, ignore_index=True)[list(RMIA_COLUMNS)].astype(RMIA_COLUMNS)


def main() -> None:
    parser = argparse.ArgumentParser(description="RMIA against the number of reference models over a Feldman run.")
    parser.add_argument("--shards", required=True, nargs="+", type=Path)
    parser.add_argument("--references", nargs="*", type=int, default=schema_default("feldman.rmia.references"),
                        help="numbers of reference models (default: 1, 2, 4, ... and t - 1)")
    parser.add_argument("--targets", type=int, default=schema_default("feldman.rmia.targets"))
    parser.add_argument("--offline-a", type=float, default=schema_default("feldman.rmia.offline_a"))
    parser.add_argument("--gamma", type=float, default=schema_default("feldman.rmia.gamma"))
    parser.add_argument("--bootstrap", type=int, default=schema_default("feldman.rmia.bootstrap"))
    parser.add_argument("--seed", type=int, default=schema_default("feldman.seed"),
                        help="seeds the draw of the targets, their reference models and the bootstrap")
    parser.add_argument("--out", required=True, type=Path)
    a = parser.parse_args()
    runs = read_runs(a.shards, ("lira_statistic",))
    if np.isnan(runs.lira_statistic).all():
        log.warning("%s...: no confidences or margins in the shard tables; rmia.parquet has no defined pair",
                    a.shards[0])
    io.write_parquet(rmia_table(runs.member, runs.lira_statistic, a.references, a.targets, a.offline_a, a.gamma,
                                a.bootstrap, a.seed), a.out)


if __name__ == "__main__":
    cli.run(main)
