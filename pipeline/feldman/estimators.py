"""Memorization estimators beside mem, from the same runs: mem_margin, learning_speed (LiRA: ``lira``).

Every estimator here reads the shard columns the training job keeps beside the 0/1 correctness
(``train_shard``): with M (t, n) the membership masks, m[r, i] the true-class margin of model r on
training example i (true logit minus the largest other logit), E[r, i] the number of epochs in which
training classified member i correctly and e_r the epochs model r trained:

mem_margin (continuous memorization from margins): mem with the 0/1 correctness [m > 0] replaced by
its smooth version, the two-class true-class probability sigma(m) = 1 / (1 + exp(-m)):
    q_in  = mean_{r: i in J_r} sigma(m[r, i]),   q_out = mean_{r: i not in J_r} sigma(m[r, i])
    mem_margin_i = q_in - q_out,   mem_margin_se_i = sqrt(s2_in / n_in + s2_out / n_out)
(s2 the sample variances of sigma(m) in each group). Like mem it lies in [-1, 1] and is 0 when
membership changes nothing; unlike mem it counts how far a model is from flipping its answer, so a
model barely wrong and one confidently wrong no longer weigh the same, and its variance per model is
typically well below that of the 0/1 record (tests/test_feldman_estimators.py). Why sigma(m) and not
a clipped margin (``margin_memorization(form="clipped")``: mean of clip(m, -c, c) / (2c) in versus
out): on the planted digits with the default MLP (benchmarks/feldman_convergence.py, RESULTS.md) both
converge alike (Spearman 0.90 with their own value from all runs at t' = 64, mem 0.79), but the
clipped form keeps ranking the examples every model gets right by how confidently, so its top 5 %
drifts from mem's (Jaccard 0.85 with mem's top set, sigma(m) 0.90). sigma(m) is flat there, keeps
mem's scale, needs no clipping constant and equals mem when every margin is large.

learning_speed (Jiang et al. 2021, "Characterizing Structural Regularities of Labeled Data in
Overparameterized Models", ICML): how early and how steadily training gets an example right,
    learning_speed_i = mean_{r: i in J_r} E[r, i] / e_r,   learning_speed_se_i = sqrt(s2_in / n_in)
the share of epochs in which the models holding i classified it correctly (cumulative training
accuracy), taken from the forward passes training makes anyway. Examples learnt late or never are
the atypical ones, so 1 - learning_speed is a memorization proxy that needs no held-out models.

Missing data. A run brought from elsewhere may have no margins or no per-epoch record (their
columns absent from the shard tables): its entries are NaN and every estimator averages over the
runs where they are defined, NaN where a group has none. The job logs which columns were missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pipeline import io
from pipeline.errors import PipelineError
from pipeline.progress import get_logger

log = get_logger("feldman.estimators")

MARGIN_FORMS = ("sigmoid", "clipped")
# Every estimator here is computed per example (column) from its t runs, a block of columns at a time:
# a (t, block) float64 temporary holds at most 128 MB, so at paper scale (4,000 runs x 60,000
# examples, 1.9 GB per float64 matrix) a job needs a few of those, not a dozen whole matrices.
BLOCK_BYTES = 2**27
CLIP = 5.0  # the clipped form's c: margins beyond +-5 (sigma(5) = 0.993) count as sure


@dataclass
class Runs:
    """What the t runs recorded, in run order: (t, n) matrices, NaN where a run did not record it."""
    member: np.ndarray          # bool
    correct: np.ndarray         # bool
    margin: np.ndarray          # float32, NaN: no margins
    lira_statistic: np.ndarray  # float32: logit-scaled confidences, or margins if a run lacks them (read_runs)
    epoch_correct: np.ndarray   # float32 (counts), NaN: no per-epoch record
    epochs: np.ndarray          # (t,) float64, NaN: unknown

    def take(self, rows) -> "Runs":
        """The runs at positions ``rows`` (e.g. the first t' runs, or half of a split)."""
        return Runs(self.member[rows], self.correct[rows], self.margin[rows], self.lira_statistic[rows],
                    self.epoch_correct[rows], self.epochs[rows])


def _list_column(table: pd.DataFrame, name: str, dtype, n: int) -> np.ndarray:
    """The (rows, n) matrix of a list column; rows where it is missing are NaN (None, or a float NaN
    where the concatenated tables include one without the column)."""
    out = np.full((len(table), n), np.nan, dtype=dtype)
    if name in table:
        for k, value in enumerate(table[name]):
            if value is not None and np.ndim(value) == 1 and len(value):
                out[k] = np.asarray(value, dtype=dtype)
    return out


def read_runs(paths: list[Path]) -> Runs:
    """Every run of the shard tables ``paths``, sorted by run; columns a table lacks read as NaN."""
    if not paths:
        raise PipelineError("no shard tables given")
    wanted = ["run", "member", "train_correct", "train_margin", "train_logit_conf", "train_epoch_correct", "epochs"]
    parts, missing = [], set()
    for path in paths:
        present = set(pq.read_schema(path).names)
        missing |= set(wanted) - present
        for column in ("run", "member", "train_correct"):
            if column not in present:
                raise PipelineError(f"{path}: column '{column}' missing; not a Feldman shard table")
        parts.append(io.read_parquet(path, columns=[c for c in wanted if c in present]))
    table = pd.concat(parts, ignore_index=True).sort_values("run", kind="stable").reset_index(drop=True)
    if table["run"].duplicated().any():
        raise PipelineError(f"shard tables {paths[0]}...: runs appear twice")
    missing.discard("train_logit_conf")  # LiRA then uses the margins, said below
    if missing:
        log.warning("shard tables lack %s: the estimators that need them are NaN", ", ".join(sorted(missing)))
    member = np.stack([np.asarray(v, dtype=bool) for v in table["member"]])
    correct = np.stack([np.asarray(v, dtype=bool) for v in table["train_correct"]])
    n = member.shape[1]
    epochs = (table["epochs"].to_numpy(np.float64) if "epochs" in table else np.full(len(table), np.nan))
    margin, logit_conf = (_list_column(table, name, np.float32, n) for name in ("train_margin", "train_logit_conf"))
    without_conf = int(np.isnan(logit_conf).all(1).sum())
    if without_conf:
        log.warning("%d of %d runs have no logit-scaled confidence (train_logit_conf): lira uses every run's "
                    "margin instead, within log(classes - 1) of it", without_conf, len(table))
    runs = Runs(member, correct, margin, margin if without_conf else logit_conf,
                _list_column(table, "train_epoch_correct", np.float32, n), epochs)
    for what, values, needs in (("margins", runs.margin, "mem_margin, lira" if without_conf else "mem_margin"),
                                ("per-epoch correctness", np.where(np.isnan(epochs)[:, None], np.nan,
                                                                   runs.epoch_correct), "learning_speed")):
        lacking = int(np.isnan(values).all(1).sum())
        if lacking:
            log.warning("%d of %d runs have no %s: %s average over the others (NaN if none)", lacking,
                        len(table), what, needs)
    return runs


def column_blocks(n_rows: int, n_columns: int) -> list[slice]:
    """Consecutive column slices whose (n_rows, width) float64 matrices hold at most BLOCK_BYTES."""
    width = max(1, BLOCK_BYTES // (8 * max(n_rows, 1)))
    return [slice(start, start + width) for start in range(0, max(n_columns, 1), width)]


def by_column_blocks(fn, *matrices: np.ndarray):
    """``fn`` applied to the same column block of each (t, n) matrix in turn, its per-column results
    (an array, a tuple or a dict of arrays, columns last) written into arrays of all n columns: what
    ``fn`` gives on the whole matrices when it treats each column alone, with its temporaries bounded
    by BLOCK_BYTES and no copy of the results."""
    n, out = matrices[0].shape[1], None
    for cols in column_blocks(*matrices[0].shape):
        part = fn(*(m[:, cols] for m in matrices))
        named = part if isinstance(part, dict) else dict(enumerate(part)) if isinstance(part, tuple) else {0: part}
        if out is None:
            out = {key: np.empty(value.shape[:-1] + (n,), value.dtype) for key, value in named.items()}
        for key, value in named.items():
            out[key][..., cols] = value
    if isinstance(part, dict):
        return out
    return tuple(out.values()) if isinstance(part, tuple) else out[0]


def group_means(member: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, ...]:
    """Mean, sample variance and count of ``values`` over the runs with and without each example,
    runs where a value is NaN left out: (mean_in, mean_out, var_in, var_out, n_in, n_out)."""
    values = np.asarray(values, dtype=np.float64)
    defined = ~np.isnan(values)
    member = np.asarray(member, dtype=bool)
    out = []
    for group in (member & defined, ~member & defined):
        n = group.sum(0).astype(np.float64)
        x = np.where(group, values, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, x.sum(0) / n, np.nan)
            var = np.where(n > 1, (np.where(group, values - mean, 0.0) ** 2).sum(0) / (n - 1), np.nan)
        out.append((mean, var, n))
    (m_in, v_in, n_in), (m_out, v_out, n_out) = out
    return m_in, m_out, v_in, v_out, n_in, n_out


def margin_score(margin: np.ndarray, form: str = "sigmoid") -> np.ndarray:
    """The per-model quantity mem_margin averages: sigma(m), or clip(m, -c, c) / (2c) + 1/2."""
    margin = np.asarray(margin, dtype=np.float64)
    if form == "sigmoid":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-margin))
    if form == "clipped":
        return np.clip(margin, -CLIP, CLIP) / (2 * CLIP) + 0.5
    raise PipelineError(f"margin form '{form}' unknown; one of {', '.join(MARGIN_FORMS)}")


def margin_memorization(member: np.ndarray, margin: np.ndarray, form: str = "sigmoid"
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(mem_margin, its standard error) per example (module docstring); NaN where a group is empty."""
    def block(member, margin):
        q_in, q_out, v_in, v_out, n_in, n_out = group_means(member, margin_score(margin, form))
        with np.errstate(invalid="ignore", divide="ignore"):
            return q_in - q_out, np.sqrt(v_in / n_in + v_out / n_out)

    return by_column_blocks(block, np.asarray(member, dtype=bool), np.asarray(margin))


def learning_speed(member: np.ndarray, epoch_correct: np.ndarray, epochs: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(learning_speed, its standard error) per example: the mean over the runs holding it of the share
    of epochs that got it right, and sqrt(s2 / n) of those shares; NaN where no run holding it recorded
    its epochs (the error also where only one did)."""
    epochs = np.asarray(epochs, dtype=np.float64)
    per_run = np.where(epochs > 0, epochs, np.nan)[:, None]

    def block(member, epoch_correct):
        with np.errstate(invalid="ignore", divide="ignore"):
            speed, _, var, _, n, _ = group_means(member, np.asarray(epoch_correct, dtype=np.float64) / per_run)
            return speed, np.sqrt(var / n)

    return by_column_blocks(block, np.asarray(member, dtype=bool), np.asarray(epoch_correct))


def estimator_columns(runs: Runs) -> pd.DataFrame:
    """The new columns of memorization.parquet (``estimate``), one row per training example."""
    from pipeline.feldman import lira  # lira imports this module

    mem_margin, mem_margin_se = margin_memorization(runs.member, runs.margin)
    scores = lira.per_example(runs.member, runs.lira_statistic)
    speed, speed_se = learning_speed(runs.member, runs.epoch_correct, runs.epochs)
    return pd.DataFrame({"mem_margin": mem_margin, "mem_margin_se": mem_margin_se,
                         "lira": scores["online"], "lira_fixed": scores["fixed"],
                         "learning_speed": speed, "learning_speed_se": speed_se})
