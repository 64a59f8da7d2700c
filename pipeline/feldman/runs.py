"""The runs of one Feldman architecture, read once from its shard tables: what every estimator reads.

``read_runs`` turns the shard tables (``shard_table``) into ``Runs``, (t, n) matrices in run order;
every estimator (``estimators``, ``lira``) takes a ``Runs`` and every job reads its shards through
``read_runs`` once: a column at a time, a few hundred runs at a time, and only the float records the
job asks for (a job that needs them one after the other adds each with ``with_records``; at 4,000
runs of 60,000 examples each is 1 GB). A record a run did not keep (runs brought from a file without
margins, shards written before a column existed) is NaN in that run's row: the estimators average
over the runs where it is defined, and ``read_runs`` logs which records were missing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from pipeline import io
from pipeline.errors import PipelineError
from pipeline.progress import get_logger

log = get_logger("feldman.runs")

BOOL_COLUMNS = {"member": "member", "train_correct": "correct", "test_correct": "test_correct"}
# the per-example float records: shard column -> Runs field
FLOAT_COLUMNS = {"train_margin": "margin", "train_logit_conf": "lira_statistic",
                 "train_epoch_correct": "epoch_correct", "train_cum_loss": "cum_loss"}


def _nan(shape) -> np.ndarray:
    """A read-only NaN matrix that costs no memory (a record nobody kept)."""
    return np.broadcast_to(np.float32(np.nan), shape)


@dataclass
class Runs:
    """What the t runs recorded, in run order: (t, n) matrices over the n training examples (test:
    n_test), NaN where a run did not record it. Only ``member`` and ``correct`` are required; a record
    not given is NaN throughout (``lira_statistic``: the margins)."""
    member: np.ndarray                       # bool
    correct: np.ndarray                      # bool
    test_correct: np.ndarray | None = None   # bool (t, n_test); none given: no test examples
    margin: np.ndarray | None = None         # float32: true-class margin
    lira_statistic: np.ndarray | None = None  # float32: logit-scaled confidence, or the margin (read_runs)
    epoch_correct: np.ndarray | None = None  # float32 counts of correct epochs of members
    epochs: np.ndarray | None = None         # (t,) float64, NaN: unknown
    cum_loss: np.ndarray | None = None       # float32: loss of members summed over their training steps

    def __post_init__(self):
        t, n = self.member.shape
        if self.test_correct is None:
            self.test_correct = np.zeros((t, 0), dtype=bool)
        for name in ("margin", "epoch_correct", "cum_loss"):
            if getattr(self, name) is None:
                setattr(self, name, _nan((t, n)))
        if self.lira_statistic is None:
            self.lira_statistic = self.margin
        if self.epochs is None:
            self.epochs = np.full(t, np.nan)

    def take(self, rows) -> "Runs":
        """The runs at positions ``rows`` (e.g. the first t' runs, or half of a split); a record nobody
        kept stays one that costs no memory."""
        def rows_of(value):
            if value.ndim == 2 and value.strides == (0, 0):
                return _nan((len(np.arange(len(value))[rows]), value.shape[1]))
            return value[rows]

        return Runs(**{f.name: rows_of(getattr(self, f.name)) for f in fields(self)})

    @property
    def test_accuracy(self) -> np.ndarray:
        """(t,) each run's accuracy on the test examples."""
        return self.test_correct.mean(1)


def _shards(paths: list[Path]) -> tuple[list[set[str]], list[np.ndarray], int]:
    """Per shard table its columns and the rows (positions in run order) its runs take, and the count
    of runs; a table that is not a shard table or a run found twice stops with one line."""
    if not paths:
        raise PipelineError("no shard tables given")
    present, runs = [], []
    for path in paths:
        present.append(set(io.parquet_columns(path)))
        for column in ("run", *BOOL_COLUMNS):
            if column not in present[-1]:
                raise PipelineError(f"{path}: column '{column}' missing; not a Feldman shard table")
        runs.append(io.read_parquet(path, columns=["run"])["run"].to_numpy(np.int64))
    every = np.concatenate(runs)
    order = np.argsort(every, kind="stable")
    repeated = every[order][1:][np.diff(every[order]) == 0]
    if len(repeated):
        raise PipelineError(f"shard tables {paths[0]}...: run(s) {sorted(set(repeated.tolist()))} appear twice")
    position = np.empty(len(every), np.int64)
    position[order] = np.arange(len(every))
    bounds = np.cumsum([0, *map(len, runs)])
    return present, [position[a:b] for a, b in zip(bounds[:-1], bounds[1:])], len(every)


def _list_matrix(paths: list[Path], shards: tuple, column: str, dtype, n: int | None = None) -> np.ndarray:
    """The (runs, n) matrix of a list column in run order, read a few hundred runs at a time (a float
    record of 4,000 runs is 1 GB; a whole table read at once would need it several times over). A float
    record's rows are NaN where a table lacks the column or a run's list is missing or empty."""
    present, positions, total = shards
    out = None
    for path, columns, rows in zip(paths, present, positions):
        if column not in columns:
            continue
        done = 0
        for batch in io.parquet_batches(path, [column]):
            lists = batch.column(0)
            lengths = lists.value_lengths().to_numpy(zero_copy_only=False)
            values = lists.flatten().to_numpy(zero_copy_only=False)
            n = n if n is not None else int(lengths[0])
            kept = np.nan_to_num(lengths, nan=0) == n
            if (dtype is bool and not kept.all()) or len(values) != kept.sum() * n:
                raise PipelineError(f"{path}: column '{column}' has lists of other lengths than {n}; not a shard table "
                                    "of one data set")
            if out is None:
                out = np.zeros((total, n), bool) if dtype is bool else np.full((total, n), np.nan, dtype)
            out[rows[done:done + len(lists)][kept]] = values.reshape(int(kept.sum()), n)
            done += len(lists)
    return out if out is not None else np.full((total, n), np.nan, dtype)


def read_runs(paths: list[Path], scores: bool | tuple[str, ...] = True) -> Runs:
    """Every run of the shard tables ``paths``, sorted by run. ``scores``: also the float records
    (margins, confidences, per-epoch counts, losses; columns a table lacks read as NaN), or the names
    of those to read (``FLOAT_COLUMNS``' fields, for a job that needs one at a time: ``with_records``);
    without them only membership and correctness are read, which is all mem and influence need."""
    shards = _shards(paths)
    bools = {field: _list_matrix(paths, shards, column, bool) for column, field in BOOL_COLUMNS.items()}
    runs = Runs(**bools)
    fields = tuple(FLOAT_COLUMNS.values()) if scores is True else tuple(scores or ())
    return with_records(runs, paths, fields, shards) if fields else runs


def with_records(runs: Runs, paths: list[Path], fields: tuple[str, ...], shards: tuple | None = None) -> Runs:
    """``runs`` (read from the shard tables ``paths``) with the float records ``fields`` read beside
    the matrices it holds, and every run's epochs; the others stay NaN."""
    shards = shards or _shards(paths)
    present, positions, total = shards
    n = runs.member.shape[1]
    missing = {column for columns in present for column, field in FLOAT_COLUMNS.items()
               if field in fields and column not in columns}
    records = {field: _list_matrix(paths, shards, column, np.float32, n)
               for column, field in FLOAT_COLUMNS.items() if field in fields}
    epochs = np.full(total, np.nan)
    for path, columns, rows in zip(paths, present, positions):
        if "epochs" in columns:
            epochs[rows] = io.read_parquet(path, columns=["epochs"])["epochs"].to_numpy(np.float64)
    if "epoch_correct" in fields and any("epochs" not in columns for columns in present):
        missing.add("epochs")
    missing.discard("train_logit_conf")  # LiRA then uses the margins, said below
    if missing:
        log.warning("shard tables lack %s: the estimators that need them are NaN", ", ".join(sorted(missing)))
    without_conf = int(np.isnan(records["lira_statistic"]).all(1).sum()) if "lira_statistic" in records else 0
    if without_conf:
        log.warning("%d of %d runs have no logit-scaled confidence (train_logit_conf): lira uses every run's "
                    "margin instead, within log(classes - 1) of it", without_conf, total)
        records["lira_statistic"] = records["margin"] if "margin" in records else \
            _list_matrix(paths, shards, "train_margin", np.float32, n)
    for field, what, needs in (("margin", "margins", "mem_margin, lira" if without_conf else "mem_margin"),
                               ("epoch_correct", "per-epoch correctness", "learning_speed"),
                               ("cum_loss", "cumulative losses", "cum_loss")):
        if field in records:
            lacking = int((np.isnan(records[field]).all(1) | (np.isnan(epochs) & (field == "epoch_correct"))).sum())
            if lacking:
                log.warning("%d of %d runs have no %s: %s average over the others (NaN if none)", lacking, total,
                            what, needs)
    return replace(runs, **records, epochs=epochs)
