"""The per-example estimators of the Feldman runs, each a function of ``Runs`` (``pipeline.feldman.runs``).

With M (t, n) the membership masks, C[r, i] the 0/1 correctness of model r on training example i,
m[r, i] its true-class margin (true logit minus the largest other logit), E[r, i] the number of
epochs in which training classified member i correctly, L[r, i] member i's training loss summed
over the steps whose batch held it, and e_r the epochs model r trained:

mem (Feldman & Zhang 2020, the paper's estimator; ``pipeline.feldman``):
    mem_i = p_in - p_out = mean_{r: i in J_r} C[r, i] - mean_{r: i not in J_r} C[r, i]
    se_i  = sqrt(p_in (1 - p_in) / n_in + p_out (1 - p_out) / n_out)

mem_margin (continuous memorization from margins): mem with the 0/1 correctness [m > 0] replaced by
its smooth version, the two-class true-class probability sigma(m) = 1 / (1 + exp(-m)):
    q_in  = mean_{r: i in J_r} sigma(m[r, i]),   q_out = mean_{r: i not in J_r} sigma(m[r, i])
    mem_margin_i = q_in - q_out,   mem_margin_se_i = sqrt(s2_in / n_in + s2_out / n_out)
(s2 the sample variances of sigma(m) in each group). Like mem it lies in [-1, 1] and is 0 when
membership changes nothing; unlike mem it counts how far a model is from flipping its answer, so a
model barely wrong and one confidently wrong no longer weigh the same, and its variance per model is
typically well below that of the 0/1 record (tests/test_feldman_estimators.py). Why sigma(m) and not
a clipped margin (``margin_memorization(form="clipped")``: mean of clip(m, -c, c) / (2c) in versus
out): on the planted digits both converge alike, but the clipped form keeps ranking the examples
every model gets right by how confidently, so its top 5 % drifts from mem's. sigma(m) is flat there,
keeps mem's scale, needs no clipping constant and equals mem when every margin is large.

mem_margin_eb (empirical-Bayes shrinkage of mem_margin; Fay & Herriot 1979, "Estimates of Income
for Small Places: An Application of James-Stein Procedures to Census Data", JASA 74(366)): each
example's mem_margin x_i, with sampling variance s_i^2, is shrunk towards what examples of the
same cumulative training loss show (``cum_loss``, read from the models holding i alone, so it is
precise where q_out, from the few models without i, is not). The examples are cut into B bins of
equal count by cum_loss (``EB_BIN_SIZE`` = 200 examples each, 5 to 1,000 bins). In bin b, x_i's sampling
variance is s_i^2 = s2_in(b) / n_in_i + s2_out(b) / n_out_i, the per-model variances of sigma(m)
pooled over the bin (an example's own, from two or three models, is itself noise); the prior mean
mu_b is the mean of x, the prior variance tau_b^2 = max(var(x) - mean(s^2), 0) (the method of
moments: the spread of x beyond its noise). Each example takes mu, tau^2 and the pooled variances
interpolated linearly in cum_loss between the bins' medians (no jump at a bin's edge, no block of
examples shrunk to one tied value), and
    mem_margin_eb_i    = mu_i + w_i (x_i - mu_i),   w_i = tau_i^2 / (tau_i^2 + s_i^2)
    mem_margin_eb_se_i = sqrt(w_i^2 s_i^2 + ((1 - w_i) mu'(c_i) se(c_i))^2)
The standard error is the estimate's sampling error (delta method: x's noise, weighed by w, and the
prior mean's, as the noisy cum_loss c_i moves along its slope mu'), not the posterior sd sqrt(w) s_i:
two independent estimates differ by their sampling errors, and the posterior sd, which speaks of
the true value given the prior, covers their difference far below its nominal rate.
With many runs s_i is small, w_i near 1 and the estimate is mem_margin; with few, an example whose
high x_i rests on two or three unlucky models without it, and whose loss says it is typical, is
pulled back. Without cumulative losses (runs from a file) it is mem_margin.

learning_speed (Jiang et al. 2021, "Characterizing Structural Regularities of Labeled Data in
Overparameterized Models", ICML): how early and how steadily training gets an example right,
    learning_speed_i = mean_{r: i in J_r} E[r, i] / e_r,   learning_speed_se_i = sqrt(s2_in / n_in)
the share of epochs in which the models holding i classified it correctly (cumulative training
accuracy), taken from the forward passes training makes anyway. Examples learnt late or never are
the atypical ones: 1 - learning_speed (``slowness``) ranks atypicality, which is what memorization
feeds on, but it is not an estimate of memorization: it needs no held-out models and so cannot tell
an example a model learns late from one it needed to see.

cum_loss (Ravikumar et al. 2025, "Towards Memorization Estimation: Fast, Formal and Free", ICML: the
cumulative sample loss, which they find tracks Feldman's scores on CIFAR-100 from one training run):
    cum_loss_i = mean_{r: i in J_r} L[r, i],   cum_loss_se_i = sqrt(s2_in / n_in)
higher = learnt later and with more loss; like learning speed a proxy read from training alone.

Missing data. A run brought from elsewhere may have no margins, per-epoch record or losses: its
entries are NaN and every estimator averages over the runs where they are defined, NaN where a
group has none.

``ESTIMATORS`` names each one (higher = more memorized or more atypical), the record it needs and
the function giving its value and standard error; ``estimate_all`` computes several, what they share
(the margins' group means, the losses, LiRA's one pass) once.
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.feldman import lira
from pipeline.feldman.columns import by_column_blocks, group_means
from pipeline.feldman.runs import Runs

MARGIN_FORMS = ("sigmoid", "clipped")
CLIP = 5.0  # the clipped form's c: margins beyond +-5 (sigma(5) = 0.993) count as sure
EB_BIN_SIZE = 200  # examples per cum_loss bin of mem_margin_eb's prior
EB_MIN_BINS, EB_MAX_BINS = 5, 1000


def split_means(member: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, ...]:
    """p_in, p_out (NaN where a count is 0), n_in, n_out for each column of ``correct``."""
    member, correct = np.asarray(member, dtype=bool), np.asarray(correct, dtype=bool)
    n_in = member.sum(0, dtype=np.int64).astype(np.float64)  # counts on bools: no (t, n) float copies
    n_out = len(member) - n_in
    hits_in = (member & correct).sum(0, dtype=np.int64)
    hits_out = correct.sum(0, dtype=np.int64) - hits_in
    with np.errstate(invalid="ignore", divide="ignore"):
        p_in = np.where(n_in > 0, hits_in / n_in, np.nan)
        p_out = np.where(n_out > 0, hits_out / n_out, np.nan)
    return p_in, p_out, n_in, n_out


def standard_error(p_in, p_out, n_in, n_out):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(p_in * (1 - p_in) / n_in + p_out * (1 - p_out) / n_out)


def memorization(member: np.ndarray, correct: np.ndarray) -> pd.DataFrame:
    """mem, se, p_in, p_out, n_in, n_out per training example (columns of the (t, n) matrices)."""
    p_in, p_out, n_in, n_out = split_means(member, correct)
    return pd.DataFrame({"mem": p_in - p_out, "se": standard_error(p_in, p_out, n_in, n_out), "p_in": p_in,
                         "p_out": p_out, "n_in": n_in.astype(np.int32), "n_out": n_out.astype(np.int32)})


def margin_score(margin: np.ndarray, form: str = "sigmoid") -> np.ndarray:
    """The per-model quantity mem_margin averages: sigma(m), or clip(m, -c, c) / (2c) + 1/2."""
    margin = np.asarray(margin, dtype=np.float64)
    if form == "sigmoid":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-margin))
    if form == "clipped":
        return np.clip(margin, -CLIP, CLIP) / (2 * CLIP) + 0.5
    raise PipelineError(f"margin form '{form}' unknown; one of {', '.join(MARGIN_FORMS)}")


def margin_groups(member: np.ndarray, margin: np.ndarray, form: str = "sigmoid") -> tuple[np.ndarray, ...]:
    """``group_means`` of sigma(m) (or the clipped form) per example: q_in, q_out, s2_in, s2_out, n_in, n_out."""
    return by_column_blocks(lambda member, margin: group_means(member, margin_score(margin, form)),
                            np.asarray(member, dtype=bool), np.asarray(margin))


def difference_error(v_in, v_out, n_in, n_out) -> np.ndarray:
    """sqrt(s2_in / n_in + s2_out / n_out): the standard error of a mean in minus a mean out."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(np.asarray(v_in) / n_in + np.asarray(v_out) / n_out)


def margin_memorization(member: np.ndarray, margin: np.ndarray, form: str = "sigmoid"
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(mem_margin, its standard error) per example (module docstring); NaN where a group is empty."""
    q_in, q_out, *groups = margin_groups(member, margin, form)
    return q_in - q_out, difference_error(*groups)


def member_mean(member: np.ndarray, values: np.ndarray, scale=None) -> tuple[np.ndarray, np.ndarray]:
    """(mean, standard error) of ``values`` (divided by ``scale`` per run, if given) over the runs
    holding each example; NaN where none recorded it (the error also where only one did)."""
    per_run = None if scale is None else np.where(np.asarray(scale, np.float64) > 0, scale, np.nan)[:, None]

    def block(member, values):
        values = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean, var, n = group_means(member, values if per_run is None else values / per_run, groups=1)
            return mean, np.sqrt(var / n)

    return by_column_blocks(block, np.asarray(member, dtype=bool), np.asarray(values))


def learning_speed(member: np.ndarray, epoch_correct: np.ndarray, epochs: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(learning_speed, its standard error) per example: the mean over the runs holding it of the share
    of epochs that got it right, and sqrt(s2 / n) of those shares."""
    return member_mean(member, epoch_correct, epochs)


def cumulative_loss(member: np.ndarray, cum_loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cum_loss, its standard error) per example: the mean over the runs holding it of its summed loss."""
    return member_mean(member, cum_loss)


def _equal_bins(order: np.ndarray, bins: int) -> list[np.ndarray]:
    """``np.array_split(order, bins)`` as at most two (bins, size) arrays, the longer bins first: each
    bin's statistics are then one call per array, the same numbers as one call per bin."""
    size, longer = divmod(len(order), bins)
    cut = longer * (size + 1)
    parts = [order[:cut].reshape(longer, size + 1), order[cut:].reshape(bins - longer, size)]
    return [part for part in parts if len(part)]


def shrink(x: np.ndarray, groups: tuple[np.ndarray, ...], covariate: np.ndarray, covariate_se: np.ndarray,
           bin_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Empirical-Bayes (Fay-Herriot) shrinkage of estimates ``x`` = q_in - q_out towards the mean of
    the examples in the same equal-count bin of ``covariate`` (module docstring). ``groups``: the
    per-example (s2_in, s2_out, n_in, n_out) of ``group_means``. The sampling variance of x_i is
    s2_in(b) / n_in_i + s2_out(b) / n_out_i with the per-model variances pooled over the bin: from two
    or three models without i, i's own s2_out is too noisy to weigh it by. Returns (the shrunk
    estimate, its standard error: ``covariate_se`` the covariate's); x and x's standard error where
    the covariate is undefined, NaN where x is."""
    x, covariate = np.asarray(x, dtype=np.float64), np.asarray(covariate, dtype=np.float64)
    covariate_se = np.nan_to_num(np.asarray(covariate_se, dtype=np.float64))
    v_in, v_out, n_in, n_out = (np.asarray(a, dtype=np.float64) for a in groups)
    usable = ~np.isnan(x) & ~np.isnan(covariate) & (n_in > 0) & (n_out > 0)
    post, post_se = x.copy(), difference_error(v_in, v_out, n_in, n_out)
    positions = np.flatnonzero(usable)
    if not len(positions):
        return post, post_se
    n_bins = int(np.clip(len(positions) // (bin_size or EB_BIN_SIZE), EB_MIN_BINS, EB_MAX_BINS))
    order = positions[np.argsort(covariate[positions], kind="stable")]
    centers, prior = [], []  # per bin: the covariate's median; mu, tau^2, pooled s2_in, s2_out
    for members in _equal_bins(order, min(n_bins, len(order))):  # (bins, size): each row a bin
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a bin without a variance: 0
            pooled = [np.where(np.isnan(v[members]).all(1), 0.0, np.nanmean(v[members], axis=1))
                      for v in (v_in, v_out)]
        noise = pooled[0][:, None] / n_in[members] + pooled[1][:, None] / n_out[members]
        centers.append(np.median(covariate[members], axis=1))
        prior.append(np.stack([x[members].mean(1), np.maximum(x[members].var(1) - noise.mean(1), 0.0), *pooled], 1))
    # each example's prior and pooled variances interpolated between the bins' centres: no step where
    # an example crosses into the next bin, and no block of examples shrunk to one value
    c, centers, prior = covariate[positions], np.concatenate(centers), np.concatenate(prior)
    mu, tau2, pooled_in, pooled_out = (np.interp(c, centers, column) for column in prior.T)
    noise = pooled_in / n_in[positions] + pooled_out / n_out[positions]
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(noise > 0, tau2 / (tau2 + noise), 1.0)
        # the prior mean's slope in the covariate, between the bins' centres (0 beyond them)
        steps = np.where(np.diff(centers) > 0, np.diff(prior[:, 0]) / np.diff(centers), 0.0)
    slope = steps[np.clip(np.searchsorted(centers, c) - 1, 0, max(len(steps) - 1, 0))] if len(steps) else 0.0
    post[positions] = mu + w * (x[positions] - mu)
    post_se[positions] = np.sqrt(w ** 2 * noise + ((1 - w) * slope * covariate_se[positions]) ** 2)
    return post, post_se


class _once:
    """``functools.cached_property`` without the lock Python 3.11 gives it, which one computation holds
    for every instance of the class: two halves measured side by side would take turns."""

    def __init__(self, compute):
        self.compute, self.name = compute, compute.__name__

    def __get__(self, pieces, owner=None):
        if pieces is None:
            return self
        value = pieces.__dict__[self.name] = self.compute(pieces)
        return value


class Pieces:
    """What several estimators of one ``Runs`` share, each computed once when first asked for: the
    margins' group means (mem_margin, mem_margin_eb), the cumulative loss (cum_loss and the shrinkage's
    guide), LiRA's two variants (one pass) and the learning speed. ``load(field)``: the runs with the
    record ``field`` (a Runs field) read, for a job that holds one record at a time (by default ``runs``,
    which holds them all); ``known``: pieces computed before (convergence's cumulative loss of a half)."""

    def __init__(self, runs: Runs, load: Callable[[str], Runs] | None = None, known: dict | None = None):
        self.runs = runs
        self.load = load or (lambda field: runs)
        self.__dict__.update(known or {})

    @_once
    def margin_groups(self) -> tuple[np.ndarray, ...]:
        runs = self.load("margin")
        return margin_groups(runs.member, runs.margin)

    @_once
    def cum_loss(self) -> tuple[np.ndarray, np.ndarray]:
        runs = self.load("cum_loss")
        return cumulative_loss(runs.member, runs.cum_loss)

    @_once
    def lira(self) -> dict[str, np.ndarray]:
        runs = self.load("lira_statistic")
        return lira.per_example(runs.member, runs.lira_statistic)

    @_once
    def lira_error(self) -> dict[str, np.ndarray]:
        runs = self.load("lira_statistic")
        return lira.per_example_error(runs.member, runs.lira_statistic)

    @_once
    def learning_speed(self) -> tuple[np.ndarray, np.ndarray]:
        runs = self.load("epoch_correct")
        return learning_speed(runs.member, runs.epoch_correct, runs.epochs)


def _mem(pieces: Pieces) -> tuple[np.ndarray, np.ndarray]:
    p_in, p_out, n_in, n_out = split_means(pieces.runs.member, pieces.runs.correct)
    return p_in - p_out, standard_error(p_in, p_out, n_in, n_out)


def _mem_margin(pieces: Pieces) -> tuple[np.ndarray, np.ndarray]:
    q_in, q_out, *groups = pieces.margin_groups
    return q_in - q_out, difference_error(*groups)


def _mem_margin_eb(pieces: Pieces) -> tuple[np.ndarray, np.ndarray]:
    q_in, q_out, *groups = pieces.margin_groups
    return shrink(q_in - q_out, groups, *pieces.cum_loss)


def _without_error(value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An estimator without a standard error here: lira's (``lira.per_example_error``) costs a LiRA pass per
    resample, so only memorization.parquet has it (``estimator_columns``), not convergence's halves."""
    return value, np.full(value.shape, np.nan)


def _slowness(pieces: Pieces) -> tuple[np.ndarray, np.ndarray]:
    speed, se = pieces.learning_speed
    return 1.0 - speed, se


# name -> (the record it needs, (value, standard error) per example). Higher = more memorized
# (mem, mem_margin, mem_margin_eb, lira, lira_fixed) or more atypical (slowness, cum_loss).
ESTIMATORS: dict[str, tuple[str, Callable[[Pieces], tuple[np.ndarray, np.ndarray]]]] = {
    "mem": ("correct", _mem),
    "mem_margin": ("margin", _mem_margin),
    "mem_margin_eb": ("margin", _mem_margin_eb),
    "lira": ("lira", lambda pieces: _without_error(pieces.lira["online"])),
    "lira_fixed": ("lira", lambda pieces: _without_error(pieces.lira["fixed"])),
    "slowness": ("epoch_correct", _slowness),
    "cum_loss": ("cum_loss", lambda pieces: pieces.cum_loss),
}
# the Runs field each record is read into (runs.read_runs' ``scores``), in the order a job holding one
# at a time reads them: the cumulative loss before the margins, whose shrinkage it guides
RECORD_FIELDS = {"correct": "correct", "cum_loss": "cum_loss", "margin": "margin", "lira": "lira_statistic",
                 "epoch_correct": "epoch_correct"}
# the estimators of memorization itself; slowness and cum_loss rank atypicality from training alone
MEMORIZATION = ("mem", "mem_margin", "mem_margin_eb", "lira", "lira_fixed")


_RECORDED = {"correct": lambda runs: True, "margin": lambda runs: not np.isnan(runs.margin).any(),
             "lira": lambda runs: not np.isnan(runs.lira_statistic).any(),
             "epoch_correct": lambda runs: not (np.isnan(runs.epoch_correct).any() or np.isnan(runs.epochs).any()),
             "cum_loss": lambda runs: not np.isnan(runs.cum_loss).any()}


def recorded(runs: Runs, record: str) -> bool:
    """Whether every run recorded ``record`` (an ESTIMATORS record), so its estimators can be formed."""
    return _RECORDED[record](runs)


def available(runs: Runs) -> list[str]:
    """The estimators whose inputs every run recorded."""
    ok = {record: recorded(runs, record) for record in _RECORDED}
    return [name for name, (needs, _) in ESTIMATORS.items() if ok[needs]]


def estimate_all(runs: Runs, names: list[str], known: dict | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(value, standard error) of each estimator of ``names`` on ``runs``, what they share computed once
    (``known``: pieces computed before, by name)."""
    pieces = Pieces(runs, known=known)
    return {name: ESTIMATORS[name][1](pieces) for name in names}


def margin_memorization_eb(runs: Runs) -> tuple[np.ndarray, np.ndarray]:
    """(mem_margin_eb, its standard error) per example (module docstring)."""
    return estimate_all(runs, ["mem_margin_eb"])["mem_margin_eb"]


def estimator_columns(runs: Runs, load: Callable[[str], Runs] | None = None) -> pd.DataFrame:
    """The columns of memorization.parquet after mem's (``estimate``), one row per training example.
    ``load(field)``: the runs with that record read (``Pieces``): each is read once, when first needed."""
    pieces = Pieces(runs, load)
    value = {name: ESTIMATORS[name][1](pieces) for name in ("mem_margin", "lira", "lira_fixed", "cum_loss",
                                                             "mem_margin_eb")}
    speed, speed_se = pieces.learning_speed
    return pd.DataFrame({"mem_margin": value["mem_margin"][0], "mem_margin_se": value["mem_margin"][1],
                         "lira": value["lira"][0], "lira_se": pieces.lira_error["online"],
                         "lira_fixed": value["lira_fixed"][0], "lira_fixed_se": pieces.lira_error["fixed"],
                         "learning_speed": speed, "learning_speed_se": speed_se,
                         "cum_loss": value["cum_loss"][0], "cum_loss_se": value["cum_loss"][1],
                         "mem_margin_eb": value["mem_margin_eb"][0], "mem_margin_eb_se": value["mem_margin_eb"][1]})
