"""The result tables the claims read: command-line options, checked reads, and the lookups they share.

Each input is optional: the rule names only the tables of the pieces ``claims`` configures, and a
claim whose tables are absent is not run. ``read_inputs`` returns the loaded tables by input name
with the files each came from, so every claim can say which files it read.
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
from pipeline.feldman.estimate import read_shards

# input name -> (columns read, or None for the whole table; the config piece that supplies it)
TABLE_INPUTS = {
    "feldman_index": (["index", "split", "planted", "source_index"], "a planted data set in claims.feldman.dataset"),
    "feldman_mem": (["index", "mem"], "claims.feldman"),
    "feldman_pairs": (["train_index", "test_index", "infl"], "a planted data set in claims.feldman.dataset"),
    "replicate_mem": (["index", "mem"], "claims.feldman.replicate"),
    "other_mem": (["index", "mem"], "claims.feldman.other_arch"),
    "kfold_index": (["index", "split", "planted", "source_index"], "a planted data set in claims.kfold_vae.dataset"),
    "kfold_scores": (["index", "M"], "claims.kfold_vae"),
    "kfold_rho": (["index", "rho"], "claims.kfold_vae"),
    "kfold_logpx_full": (["index", "epoch", "logpx"], "claims.kfold_vae"),
    "capacity": (["size", "width", "seed", "class", "replicate_share"], "claims.diffusion.capacity"),
    "dummies": (["size", "width", "seed", "class", "replicate_share", "n_train_replicated"],
                "claims.diffusion.dummies"),
    "minority": (["size", "width", "seed", "class", "replicate_share", "n_train_class", "train_replicated_share"],
                 "claims.diffusion.minority"),
    "mrgan_summary": (None, "claims.mrgan"),
    "mrgan_classwise": (["tau", "seed", "label", "ct"], "claims.mrgan"),
}
MRGAN_SUMMARY_COLUMNS = ["tau", "seed", "ct", "kept_fraction", "tau_guideline"]
# The shard tables of claims.feldman.arch (FZ2's influence of each flipped example on its test copy).
SHARDS = "feldman_shards"
SHARDS_SOURCE = "a planted data set in claims.feldman.dataset"
# The fixed class of the dummies experiment (its keep_label), handed over with its table.
DUMMIES_CLASS = "dummies_class"
# Where each input comes from, for the message of a claim that is not run.
SOURCES = {**{name: source for name, (_, source) in TABLE_INPUTS.items()}, SHARDS: SHARDS_SOURCE,
           DUMMIES_CLASS: "claims.diffusion.dummies"}

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
    for name in TABLE_INPUTS:
        parser.add_argument(f"--{name.replace('_', '-')}", type=Path)
    parser.add_argument(f"--{SHARDS.replace('_', '-')}", nargs="+", type=Path)
    parser.add_argument(f"--{DUMMIES_CLASS.replace('_', '-')}", type=int,
                        help="the fixed class of the dummies experiment (its keep_label)")


def read_inputs(args: argparse.Namespace) -> Inputs:
    """Read every input given on the command line; a missing file or column stops with one line."""
    inputs = Inputs()
    for name, (columns, _) in TABLE_INPUTS.items():
        path = getattr(args, name)
        if path is None:
            continue
        table = io.read_parquet(path, columns)
        if name == "mrgan_summary":
            missing = [c for c in MRGAN_SUMMARY_COLUMNS if c not in table.columns]
            if missing:
                raise PipelineError(f"{path}: missing columns {missing}")
        if name.endswith("_index"):
            table = table.assign(planted=table["planted"].fillna("").astype(str))
        inputs.tables[name], inputs.files[name] = table, [str(path)]
    if args.feldman_shards:
        member, _, test_correct, _ = read_shards(args.feldman_shards)
        inputs.tables[SHARDS], inputs.files[SHARDS] = Shards(member, test_correct), [str(p) for p in args.feldman_shards]
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
