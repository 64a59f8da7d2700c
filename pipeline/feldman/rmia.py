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

The scores' ROC over every (target, example) pair, its summaries and their bootstrap intervals are
membership.parquet's rows of attack 'rmia' (``membership``; the design, shared with LiRA's rows
against k: ``ladder``). With every other model a reference (k = t - 1 of each group), every model
the target in turn, the per-pair scores are membership_pairs.parquet's ``rmia_online`` and
``rmia_offline`` (``all_reference_ratios``: the means over every other model of a group, formed
from the groups' column totals less the target's own term).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_expit

from pipeline.feldman import ladder
from pipeline.feldman.columns import column_blocks
from pipeline.schema import schema_default

VARIANTS = ("online", "offline")
GROUPS = {"online": "both", "offline": "out"}  # the reference models each variant averages (ladder)


def _log_probability(prob: np.ndarray, complement: np.ndarray) -> np.ndarray:
    """log Pr from Pr and 1 - Pr, each formed directly: the one of the two that loses no precision."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(prob <= 0.5, np.log(prob), np.log1p(-complement))


def _log_target(target_phi: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return log_expit(target_phi)


def sigmoids(stat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pr = sigmoid(phi) and 1 - Pr = sigmoid(-phi) of every model and example (float64)."""
    phi = np.asarray(stat, dtype=np.float64)
    return expit(phi), expit(-phi)


def block_ratios(block: ladder.ReferenceBlock, references: dict[str, list[int]],
                 offline_a: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``log_ratios`` of one ``ladder.ReferenceBlock``: per variant, (len(ks), b) log ratios and counts of
    the reference models averaged."""
    if "p" not in block.__dict__:
        block.p, block.q = expit(block.phi), expit(-block.phi)
    log_target = _log_target(block.target_phi)
    out = {}
    for variant, ks in references.items():
        if variant == "online":
            half = [k // 2 for k in ks]
            first_in, first_out = block.first("in", half), block.first("out", half)
            prob = (first_in.means(block.p, "p") + first_out.means(block.p, "p")) / 2
            complement = (first_in.means(block.q, "q") + first_out.means(block.q, "q")) / 2
            n_in, n_out = first_in.used, first_out.used
            used = np.where((n_in > 0) & (n_out > 0), n_in + n_out, 0)
        elif variant == "offline":
            first_out = block.first("out", ks)
            p_out, q_out, used = first_out.means(block.p, "p"), first_out.means(block.q, "q"), first_out.used
            prob, complement = (1 + offline_a) / 2 * p_out + (1 - offline_a) / 2, (1 + offline_a) / 2 * q_out
        else:
            raise ValueError(f"unknown RMIA variant {variant!r}")
        ratio = log_target[None, :] - _log_probability(prob, complement)
        out[variant] = np.where(used > 0, ratio, np.nan), used
    return out


def log_ratios(member: np.ndarray, stat: np.ndarray, target: int, others: np.ndarray,
               references: dict[str, list[int]], offline_a: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """log LR(x) of every example for target model ``target`` with the reference models ``others``
    (row indices, in the order "first" refers to), per variant and each of its k (``references``:
    variant -> list of k): (len(ks), n) log ratios, NaN where undefined, and the (len(ks), n) counts
    of reference models averaged. A block of examples at a time (``columns.column_blocks``)."""
    n = member.shape[1]
    out = {variant: (np.full((len(ks), n), np.nan), np.zeros((len(ks), n))) for variant, ks in references.items()}
    for cols in column_blocks(len(others), n):
        block = ladder.ReferenceBlock(member, stat, target, others, cols)
        for variant, (ratio, used) in block_ratios(block, references, offline_a).items():
            out[variant][0][:, cols] = ratio
            out[variant][1][:, cols] = used
    return out


def all_reference_ratios(member: np.ndarray, stat: np.ndarray, rows: slice, offline_a: float,
                         totals: dict | None = None) -> dict[str, np.ndarray]:
    """log LR(x) of every example for each target of ``rows`` with every other model a reference (all of
    each group: k = t - 1), per variant, (rows, n). A group's mean over the other models is its column
    total less the target's own term; ``totals``: ``group_totals`` of the whole matrices, if formed."""
    totals = group_totals(member, stat) if totals is None else totals
    phi = np.asarray(stat[rows], dtype=np.float64)
    inside = np.asarray(member[rows], dtype=bool)
    defined = ~np.isnan(phi)
    p, q = np.where(defined, expit(phi), 0.0), np.where(defined, expit(-phi), 0.0)
    means = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, own in (("in", inside & defined), ("out", ~inside & defined)):
            count, sum_p, sum_q = totals[name]
            n = count[None, :] - own
            means[name] = (np.where(n > 0, (sum_p[None, :] - own * p) / n, np.nan),
                           np.where(n > 0, (sum_q[None, :] - own * q) / n, np.nan))
    log_target = _log_target(phi)
    (p_in, q_in), (p_out, q_out) = means["in"], means["out"]
    online = log_target - _log_probability((p_in + p_out) / 2, (q_in + q_out) / 2)
    offline = log_target - _log_probability((1 + offline_a) / 2 * p_out + (1 - offline_a) / 2,
                                            (1 + offline_a) / 2 * q_out)
    return {"online": online, "offline": offline}


def group_totals(member: np.ndarray, stat: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per group ("in", "out") and example: the models with a statistic, and their sums of Pr and 1 - Pr."""
    n = member.shape[1]
    totals = {name: (np.zeros(n), np.zeros(n), np.zeros(n)) for name in ("in", "out")}
    for cols in column_blocks(*member.shape):
        phi = np.asarray(stat[:, cols], dtype=np.float64)
        defined = ~np.isnan(phi)
        inside = np.asarray(member[:, cols], dtype=bool)
        p, q = expit(phi), expit(-phi)
        for name, group in (("in", inside & defined), ("out", ~inside & defined)):
            totals[name][0][cols] = group.sum(0)
            totals[name][1][cols] = np.where(group, p, 0.0).sum(0)
            totals[name][2][cols] = np.where(group, q, 0.0).sum(0)
    return totals


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


class Accumulator:
    """RMIA's scores of each variant and k (``references``: variant -> list of k) against the targets,
    filled one target at a time from its log ratios (``add``)."""

    def __init__(self, member: np.ndarray, targets: np.ndarray, references: dict[str, list[int]], gamma: float):
        self.member, self.targets, self.references, self.gamma = member, targets, references, gamma
        self.keys = [(variant, k) for variant, ks in references.items() for k in ks]
        self.scores = {key: np.full((len(targets), member.shape[1]), np.nan) for key in self.keys}
        self.used = dict.fromkeys(self.keys, 0.0)  # reference models averaged, summed over the defined pairs
        self.population = dict.fromkeys(self.keys, 0)

    def add(self, row: int, ratios: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        population = ~self.member[self.targets[row]]
        for variant, (ratio, counts) in ratios.items():
            for j, k in enumerate(self.references[variant]):
                values = self.scores[variant, k][row] = pairwise_scores(ratio[j], population, self.gamma)
                self.used[variant, k] += float(counts[j][~np.isnan(values)].sum())
                self.population[variant, k] += int(np.count_nonzero(population & ~np.isnan(ratio[j])))

    def results(self) -> list[Scores]:
        out = []
        for key in self.keys:
            defined = int(np.count_nonzero(~np.isnan(self.scores[key])))
            out.append(Scores(*key, self.scores[key], self.used[key] / defined if defined else float("nan"),
                              self.population[key] / max(len(self.targets), 1)))
        return out


def attack(member: np.ndarray, stat: np.ndarray, targets: np.ndarray, references: dict[str, list[int]],
           offline_a: float, gamma: float, rng: np.random.Generator) -> list[Scores]:
    """RMIA of each variant and k (``references``: variant -> list of k) against each of ``targets``
    (module docstring): per target one random order of the other models, shared by the variants, the
    first k of each group its references."""
    member = np.asarray(member, dtype=bool)
    t = member.shape[0]
    scores = Accumulator(member, targets, references, gamma)
    for row, target in enumerate(targets):
        others = rng.permutation(np.delete(np.arange(t), target))
        scores.add(row, log_ratios(member, stat, target, others, references, offline_a))
    return scores.results()


def ladder_references(member: np.ndarray, stat: np.ndarray, grid: list[int]) -> dict[str, list[int]]:
    """The k of each variant on the ladder: online needs k // 2 >= 1 model of each group."""
    return {variant: ladder.useful_references(member, stat, [k for k in grid if variant == "offline" or k >= 2],
                                              GROUPS[variant]) for variant in VARIANTS}
