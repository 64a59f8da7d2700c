"""The runs of one Feldman architecture, read once from its shard tables: what every estimator reads.

``read_runs`` turns the shard tables (``shard_table``) into ``Runs``, (t, n) matrices in run order;
every estimator (``estimators``, ``lira``) takes a ``Runs`` and every job reads its shards through
``read_runs`` once. A record a run did not keep (runs brought from a file without margins, shards
written before a column existed) is NaN in that run's row: the estimators average over the runs
where it is defined, and ``read_runs`` logs which records were missing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

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
        """The runs at positions ``rows`` (e.g. the first t' runs, or half of a split)."""
        return Runs(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    @property
    def test_accuracy(self) -> np.ndarray:
        """(t,) each run's accuracy on the test examples."""
        return self.test_correct.mean(1)


def _list_column(table: pd.DataFrame, name: str, dtype, n: int) -> np.ndarray:
    """The (rows, n) matrix of a list column; rows where it is missing are NaN (None, or a float NaN
    where the concatenated tables include one without the column)."""
    out = np.full((len(table), n), np.nan, dtype=dtype)
    if name in table:
        for k, value in enumerate(table[name]):
            if value is not None and np.ndim(value) == 1 and len(value):
                out[k] = np.asarray(value, dtype=dtype)
    return out


def _read_tables(paths: list[Path], wanted: list[str]) -> tuple[pd.DataFrame, set[str]]:
    """The shard tables' ``wanted`` columns, concatenated in run order, and the columns some lacked."""
    if not paths:
        raise PipelineError("no shard tables given")
    parts, missing = [], set()
    for path in paths:
        present = set(io.parquet_columns(path))
        missing |= set(wanted) - present
        for column in ("run", *BOOL_COLUMNS):
            if column not in present:
                raise PipelineError(f"{path}: column '{column}' missing; not a Feldman shard table")
        parts.append(io.read_parquet(path, columns=[c for c in wanted if c in present]))
    table = pd.concat(parts, ignore_index=True).sort_values("run", kind="stable").reset_index(drop=True)
    if table["run"].duplicated().any():
        raise PipelineError(f"shard tables {paths[0]}...: run(s) {table['run'][table['run'].duplicated()].tolist()} "
                            "appear twice")
    return table, missing


def read_runs(paths: list[Path], scores: bool = True) -> Runs:
    """Every run of the shard tables ``paths``, sorted by run. ``scores``: also the float records
    (margins, confidences, per-epoch counts, losses; columns a table lacks read as NaN); without them
    only membership and correctness are read, which is all mem and influence need."""
    wanted = ["run", *BOOL_COLUMNS] + ([*FLOAT_COLUMNS, "epochs"] if scores else [])
    table, missing = _read_tables(paths, wanted)
    bools = {field: np.stack([np.asarray(v, dtype=bool) for v in table[column]])
             for column, field in BOOL_COLUMNS.items()}
    if not scores:
        return Runs(**bools)
    n = bools["member"].shape[1]
    records = {field: _list_column(table, column, np.float32, n) for column, field in FLOAT_COLUMNS.items()}
    epochs = table["epochs"].to_numpy(np.float64) if "epochs" in table else np.full(len(table), np.nan)
    missing.discard("train_logit_conf")  # LiRA then uses the margins, said below
    if missing:
        log.warning("shard tables lack %s: the estimators that need them are NaN", ", ".join(sorted(missing)))
    without_conf = int(np.isnan(records["lira_statistic"]).all(1).sum())
    if without_conf:
        log.warning("%d of %d runs have no logit-scaled confidence (train_logit_conf): lira uses every run's "
                    "margin instead, within log(classes - 1) of it", without_conf, len(table))
        records["lira_statistic"] = records["margin"]
    runs = Runs(**bools, **records, epochs=epochs)
    for what, values, needs in (("margins", runs.margin, "mem_margin, lira" if without_conf else "mem_margin"),
                                ("per-epoch correctness", np.where(np.isnan(epochs)[:, None], np.nan,
                                                                   runs.epoch_correct), "learning_speed"),
                                ("cumulative losses", runs.cum_loss, "cum_loss")):
        lacking = int(np.isnan(values).all(1).sum())
        if lacking:
            log.warning("%d of %d runs have no %s: %s average over the others (NaN if none)", lacking,
                        len(table), what, needs)
    return runs
