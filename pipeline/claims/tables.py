"""The result tables the claims read: command-line options, checked reads, and the lookups they share.

Every input is declared once in ``INPUTS``, with the config piece that supplies it; the claims declare
which of them they read (``evaluate.CLAIMS``), and the rules' inputs (``targets.claims_input_files``) are
checked against the declarations at start-up (``check_built``), so a renamed or forgotten input stops
the workflow instead of turning a claim ``not run``. Each input is optional: the rule names only the
tables of the pieces ``claims`` configures, and a claim whose tables are absent is not run.
``read_inputs`` returns the loaded tables by input name with the files each came from, so every claim
can say which files it read.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import io
from pipeline.data.planted import training_kinds
from pipeline.errors import PipelineError
from pipeline.feldman.runs import read_runs

@dataclass(frozen=True)
class Input:
    """One input of the claims, declared once: its option of ``evaluate`` and ``figures`` (``--<name>``,
    underscores as dashes), its key among the claims rules' inputs, and the config piece that supplies it.

    The piece: ``claims.<paper>`` whenever ``key`` is None, else only when ``claims.<paper>.<key>`` is set,
    and, if ``planted``, only when ``claims.<paper>.dataset`` is a planted data set (its canaries).
    """
    paper: str
    key: str | None = None
    planted: bool = False
    columns: tuple[str, ...] | None = None  # the columns read; None: the whole table
    kind: str = "table"  # table: one Parquet file; shards: Feldman shard tables; class: an integer option

    @property
    def source(self) -> str:
        """Where the input comes from, for the message of a claim that is not run."""
        if self.planted:
            return f"a planted data set in claims.{self.paper}.dataset"
        return f"claims.{self.paper}" + (f".{self.key}" if self.key else "")


INDEX_COLUMNS = ("index", "split", "planted", "source_index")
INPUTS = {
    "feldman_index": Input("feldman", planted=True, columns=INDEX_COLUMNS),
    "feldman_mem": Input("feldman", columns=("index", "mem")),
    "feldman_pairs": Input("feldman", planted=True, columns=("train_index", "test_index", "infl")),
    # the shard tables of claims.feldman.arch (FZ2's influence of each flipped example on its test copy)
    "feldman_shards": Input("feldman", planted=True, kind="shards"),
    "replicate_mem": Input("feldman", "replicate", columns=("index", "mem")),
    "other_mem": Input("feldman", "other_arch", columns=("index", "mem")),
    "kfold_index": Input("kfold_vae", planted=True, columns=INDEX_COLUMNS),
    "kfold_scores": Input("kfold_vae", columns=("index", "M")),
    "kfold_rho": Input("kfold_vae", columns=("index", "rho")),
    "kfold_logpx_full": Input("kfold_vae", columns=("index", "epoch", "logpx")),
    "capacity": Input("diffusion", "capacity", columns=("size", "width", "seed", "class", "replicate_share")),
    "dummies": Input("diffusion", "dummies",
                     columns=("size", "width", "seed", "class", "replicate_share", "n_train_replicated")),
    # the fixed class of the dummies experiment (its keep_label), handed over with its table
    "dummies_class": Input("diffusion", "dummies", kind="class"),
    "minority": Input("diffusion", "minority", columns=("size", "width", "seed", "class", "replicate_share",
                                                       "n_train_class", "train_replicated_share")),
    "mrgan_summary": Input("mrgan"),
    "mrgan_classwise": Input("mrgan", columns=("tau", "seed", "label", "ct")),
}
MRGAN_SUMMARY_COLUMNS = ["tau", "seed", "ct", "kept_fraction", "tau_guideline"]
SHARDS = "feldman_shards"
DUMMIES_CLASS = "dummies_class"
# Where each input comes from, for the message of a claim that is not run.
SOURCES = {name: spec.source for name, spec in INPUTS.items()}


def option(name: str) -> str:
    """The command-line option of input ``name``: ``--feldman-mem``."""
    return f"--{name.replace('_', '-')}"


def expected_files(claims: dict, is_planted) -> list[str]:
    """The file inputs the claims rules must be given for the config section ``claims`` (by paper,
    in INPUTS order); ``is_planted(name)`` says whether data set ``name`` is of kind planted."""
    names = []
    for name, spec in INPUTS.items():
        piece = claims.get(spec.paper)
        if spec.kind == "class" or piece is None or (spec.key is not None and spec.key not in piece):
            continue
        if spec.planted and not is_planted(piece["dataset"]):
            continue
        names.append(name)
    return names


def check_built(built, claims: dict, is_planted) -> None:
    """Stop with one line when the rules' inputs (``built``: names) differ from the declared ones, so a
    renamed or forgotten input fails the workflow at start-up instead of turning a claim ``not run``."""
    expected = expected_files(claims, is_planted)
    extra = [name for name in built if name not in expected]
    missing = [name for name in expected if name not in built]
    if extra or missing:
        raise PipelineError(
            "the claims rules' inputs (pipeline.targets.claims_input_files) differ from those declared in "
            "pipeline.claims.tables.INPUTS for config section 'claims': "
            + "; ".join(part for part in (extra and f"not declared: {', '.join(extra)}",
                                          missing and f"declared but not built: {', '.join(missing)}") if part))


@dataclass
class Shards:
    """Membership and test correctness of every Feldman run (columns: training / test split order)."""
    member: np.ndarray
    test_correct: np.ndarray


@dataclass
class Inputs:
    """Loaded inputs by name, and the files each was read from."""
    tables: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per input (``--feldman-mem``, ...), all optional."""
    for name, spec in INPUTS.items():
        if spec.kind == "table":
            parser.add_argument(option(name), type=Path)
        elif spec.kind == "shards":
            parser.add_argument(option(name), nargs="+", type=Path)
        else:
            parser.add_argument(option(name), type=int,
                                help="the fixed class of the dummies experiment (its keep_label)")


def read_inputs(args: argparse.Namespace) -> Inputs:
    """Read every input given on the command line; a missing file or column stops with one line."""
    inputs = Inputs()
    for name, spec in INPUTS.items():
        path = getattr(args, name)
        if path is None or spec.kind != "table":
            continue
        table = io.read_parquet(path, None if spec.columns is None else list(spec.columns))
        if name == "mrgan_summary":
            missing = [c for c in MRGAN_SUMMARY_COLUMNS if c not in table.columns]
            if missing:
                raise PipelineError(f"{path}: missing columns {missing}")
        if name.endswith("_index"):
            table = table.assign(planted=table["planted"].fillna("").astype(str))
        inputs.tables[name], inputs.files[name] = table, [str(path)]
    if args.feldman_shards:
        runs = read_runs(args.feldman_shards, scores=False)
        inputs.tables[SHARDS], inputs.files[SHARDS] = Shards(runs.member, runs.test_correct), [str(p) for p in args.feldman_shards]
    if args.dummies_class is not None:
        inputs.tables[DUMMIES_CLASS], inputs.files[DUMMIES_CLASS] = args.dummies_class, []
    return inputs


def canary_groups(index: pd.DataFrame, indices) -> dict[str, np.ndarray]:
    """Boolean masks over ``indices`` (training examples): clean, flipped, outlier, duplicate.

    ``index`` is a planted data set's index.parquet, or None for a data set without canaries
    (then every example is clean).
    """
    indices = np.asarray(indices)
    if index is None:
        kinds = np.full(len(indices), "", dtype=object)
    else:
        kinds = training_kinds(index, indices, "a result table")
    return {kind or "clean": kinds == kind for kind in ("", "flipped", "outlier", "duplicate")}
