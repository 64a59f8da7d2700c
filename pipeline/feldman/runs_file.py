"""Runs trained elsewhere, brought from one .npz, as a shard table (architecture kind ``runs``).

A researcher who already trained subset classifiers (in another framework, on a cluster, or the
released runs of Feldman & Zhang) names the file in an architecture entry,
``feldman.architectures.<name>: {kind: runs, file: path/to/runs.npz}``, and the workflow turns it
into ``shards/runs.parquet``, a shard table of the same schema as the trained shards'
(``pipeline.feldman.train_shard``), so estimates, influence, consistency, claims and the atlas read
it unchanged. The file is only read: never moved, renamed or rewritten.

The .npz (``numpy.savez``), t runs, positions p in the order of ``Dataset.indices("train")`` (or
"test") of the data set named in ``feldman.datasets``:
    member               (t, n_train)  bool (or 0/1 integers)  required: is the p-th training example in J_r
    train_correct        (t, n_train)  bool (or 0/1 integers)  required: model r right on the p-th training example
    test_correct         (t, n_test)   bool (or 0/1 integers)  required: model r right on the p-th test example
    train_margin         (t, n_train)  float                   optional: label's logit minus the largest other
    test_margin          (t, n_test)   float                   optional: the same on the test examples
    train_logit_conf     (t, n_train)  float                   optional: label's logit minus the logsumexp of
                                                               the others (LiRA's statistic; else the margin)
    train_cum_loss       (t, n_train)  float                   optional: members' training loss summed over
                                                               their steps (the cumulative sample loss)
    train_epoch_correct  (t, n_train)  integers 0..epochs      optional, with epochs: correct epochs of members
    epochs               () or (t,)    integers 1..255         optional, with train_epoch_correct
Absent float records become NaN in their columns (estimators built on margins are then NaN, LiRA
falls back to the margins, and the log says so). Absent per-epoch records become
train_epoch_correct 0 and epochs 0: 0 epochs marks "not recorded", and learning speed
(train_epoch_correct / epochs) is NaN there, never 0.
The table's ``seed`` and ``init_seed`` are -1 (unknown: the runs were not drawn here); ``run`` is r.

From google-research/heldout-influence-estimation:
  - ``mnist-example/mnist_infl_mem.py``: ``subset_train`` returns each run's ``trainset_mask``,
    ``trainset_correctness`` and ``testset_correctness``; stacked over runs (``np.vstack``, as its
    ``estimate_infl_mem`` does) they are ``member``, ``train_correct`` and ``test_correct``:
    ``np.savez(path, member=trainset_mask, train_correct=trainset_correctness,
    test_correct=testset_correctness)``. Its MNIST comes from tensorflow_datasets, whose order is
    not the original MNIST order (its own note): the data set here must list the examples in that
    same order.
  - The released checkpoints: each model's ``aux_arrays.npz`` holds ``subsample_idx`` (the training
    examples of its subset), ``correctness_train`` / ``index_train`` (its subset's examples),
    ``correctness_removed`` / ``index_removed`` (the held-out ones) and ``correctness_test`` /
    ``index_test``. Row r: ``member[r, subsample_idx] = True``, ``train_correct[r, index_train] =
    correctness_train``, ``train_correct[r, index_removed] = correctness_removed``,
    ``test_correct[r, index_test] = correctness_test`` (as its ``demo.py`` orders them). Neither
    keeps margins, confidences, losses or per-epoch correctness.
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

import numpy as np

from pipeline import cli, io
from pipeline.data.dataset import Dataset
from pipeline.data.files import not_an_archive
from pipeline.errors import PipelineError
from pipeline.feldman.shard_table import MAX_EPOCHS, shard_table
from pipeline.progress import get_logger

log = get_logger("feldman.runs_file")

REQUIRED = ("member", "train_correct", "test_correct")
OPTIONAL = ("train_margin", "test_margin", "train_logit_conf", "train_cum_loss", "train_epoch_correct", "epochs")
UNKNOWN_SEED = -1  # seed and init_seed of runs not drawn by this pipeline


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """The file's arrays by name; one line naming the file if it cannot be read or lacks one."""
    reason = not_an_archive(path)
    if reason:
        raise PipelineError(f"{path}: not a readable .npz of runs ({reason}, with arrays {', '.join(REQUIRED)})")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise PipelineError(f"{path}: file not found (config key feldman.architectures.*.file)") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise PipelineError(f"{path}: not a readable .npz of runs ({type(err).__name__}: "
                            f"{str(err).splitlines()[0] if str(err) else ''})") from None
    if not isinstance(arrays, dict) or not arrays:
        raise PipelineError(f"{path}: holds no arrays; expected {', '.join(REQUIRED)}")
    missing = [name for name in REQUIRED if name not in arrays]
    if missing:
        raise PipelineError(f"{path}: no array '{missing[0]}' (required: {', '.join(REQUIRED)}; optional: "
                            f"{', '.join(OPTIONAL)}); has {sorted(arrays)}")
    return arrays


def as_bool(path: Path, name: str, array: np.ndarray) -> np.ndarray:
    """A 0/1 array as bool; anything else raises naming the file and the array."""
    if array.dtype == bool:
        return array
    if np.issubdtype(array.dtype, np.integer) and np.isin(array, (0, 1)).all():
        return array.astype(bool)
    raise PipelineError(f"{path}: array '{name}' has dtype {array.dtype}"
                        f"{' with values other than 0 and 1' if np.issubdtype(array.dtype, np.integer) else ''}; "
                        f"expected bool")


def check_shape(path: Path, name: str, array: np.ndarray, shape: tuple[int, int], what: str) -> None:
    if array.shape != shape:
        raise PipelineError(f"{path}: array '{name}' has shape {array.shape}, expected {shape} ({what})")


def float_records(path: Path, arrays: dict, name: str, shape: tuple[int, int]) -> np.ndarray:
    """The file's array ``name`` (margins or confidences) as float32, or NaN where the file has none."""
    if name not in arrays:
        return np.full(shape, np.nan, dtype=np.float32)
    array = arrays[name]
    if not np.issubdtype(array.dtype, np.floating):
        raise PipelineError(f"{path}: array '{name}' has dtype {array.dtype}; expected float")
    check_shape(path, name, array, shape, "runs x examples")
    with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, reported below
        records = array.astype(np.float32)
    bad = ~np.isfinite(records)  # one would turn estimators built on the array NaN for every example
    if bad.any():
        run, position = (int(i) for i in np.argwhere(bad)[0])
        raise PipelineError(f"{path}: array '{name}' holds {int(bad.sum())} value(s) that are not finite float32 "
                            f"numbers (run {run}, position {position}: {array[run, position]}); give finite values, "
                            f"or leave the array out")
    return records


def epoch_records(path: Path, arrays: dict, member: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(t, n_train) uint8 correct-epoch counts and (t,) int32 epochs; zeros where the file has none."""
    t = len(member)
    if "train_epoch_correct" not in arrays and "epochs" not in arrays:
        return np.zeros(member.shape, dtype=np.uint8), np.zeros(t, dtype=np.int32)
    for name in ("train_epoch_correct", "epochs"):
        if name not in arrays:
            other = "epochs" if name == "train_epoch_correct" else "train_epoch_correct"
            raise PipelineError(f"{path}: array '{other}' needs array '{name}' beside it")
        if not np.issubdtype(arrays[name].dtype, np.integer):
            raise PipelineError(f"{path}: array '{name}' has dtype {arrays[name].dtype}; expected integers")
    epochs = arrays["epochs"]
    if epochs.shape not in ((), (t,)):
        raise PipelineError(f"{path}: array 'epochs' has shape {epochs.shape}, expected () or ({t},)")
    epochs = np.broadcast_to(epochs, (t,)).astype(np.int64)
    if epochs.min() < 1 or epochs.max() > MAX_EPOCHS:
        raise PipelineError(f"{path}: array 'epochs' holds {epochs.min() if epochs.min() < 1 else epochs.max()}; "
                            f"expected 1 to {MAX_EPOCHS}")
    counts = arrays["train_epoch_correct"]
    check_shape(path, "train_epoch_correct", counts, member.shape, "runs x training examples")
    if (counts < 0).any() or (counts > epochs[:, None]).any():
        raise PipelineError(f"{path}: array 'train_epoch_correct' holds counts outside 0..epochs")
    if counts[~member].any():
        raise PipelineError(f"{path}: array 'train_epoch_correct' counts epochs of examples outside their run's "
                            f"subset (member is False there)")
    return counts.astype(np.uint8), epochs.astype(np.int32)


def check_held_out(path: Path, member: np.ndarray) -> None:
    """Each training example is in some runs and out of others: mem and infl compare the two groups,
    so an example in every run or in none has neither (nor any estimator built like them)."""
    fixed = member.all(axis=0) | ~member.any(axis=0)
    if fixed.any():
        first = int(np.flatnonzero(fixed)[0])
        why = ("there is one run" if len(member) == 1 else "every run holds the same examples"
               if (member == member[0]).all() else
               f"position {first} is in {'every' if member[0, first] else 'no'} run")
        raise PipelineError(f"{path}: array 'member': {int(fixed.sum())} of the {member.shape[1]} training examples "
                            f"are in every run or in none ({why}); mem and influence compare the runs with and "
                            "without each example")


def runs_table(path: Path, arrays: dict, n_train: int, n_test: int, arch: str):
    """The shard table of the file's runs, checked against a data set of n_train / n_test examples."""
    member = as_bool(path, "member", arrays["member"])
    if member.ndim != 2 or member.shape[0] < 1 or member.shape[1] != n_train:
        transposed = member.ndim == 2 and member.shape[0] == n_train
        raise PipelineError(f"{path}: array 'member' has shape {member.shape}, expected (runs, {n_train}) (runs x the "
                            f"data set's {n_train} training examples)"
                            + ("; it looks transposed" if transposed else ""))
    t = member.shape[0]
    empty = np.flatnonzero(~member.any(axis=1))
    if len(empty):
        raise PipelineError(f"{path}: array 'member': run {empty[0]} holds no training example")
    check_held_out(path, member)
    records = {}
    for name, n in [("train_correct", n_train), ("test_correct", n_test)]:
        records[name] = as_bool(path, name, arrays[name])
        check_shape(path, name, records[name], (t, n), f"runs x the data set's {n} {name[:-8]} examples")
    for name, n in [("train_margin", n_train), ("test_margin", n_test), ("train_logit_conf", n_train),
                    ("train_cum_loss", n_train)]:
        records[name] = float_records(path, arrays, name, (t, n))
    records["train_epoch_correct"], epochs = epoch_records(path, arrays, member)
    unknown = sorted(set(arrays) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        log.warning("%s: ignoring array(s) %s (read: %s)", path, unknown, ", ".join(REQUIRED + OPTIONAL))
    absent = [name for name in OPTIONAL if name not in arrays]
    if absent:
        log.warning("%s: no %s; float records absent are NaN, per-epoch records absent are 0 with epochs 0 "
                    "(learning speed NaN)", path, ", ".join(absent))
    return shard_table(list(range(t)), UNKNOWN_SEED, UNKNOWN_SEED, arch, member, records, epochs)


def convert(runs: Path, dataset_dir: Path, arch: str, out: Path) -> None:
    """Check the .npz against the data set and write it as one shard table."""
    data = Dataset.load(dataset_dir)
    n_train, n_test = len(data.indices("train")), len(data.indices("test"))
    if not n_test:
        raise PipelineError(f"{dataset_dir}: no test examples; feldman.datasets needs a data set with a test split "
                            f"(influence is measured on test examples)")
    table = runs_table(runs, load_arrays(runs), n_train, n_test, arch)
    io.write_parquet(table, out)
    log.info("%s: %d runs of %d training and %d test examples -> %s", runs, table.num_rows, n_train, n_test, out)


def main() -> None:
    parser = argparse.ArgumentParser(description="Turn a .npz of runs trained elsewhere into a Feldman shard table.")
    parser.add_argument("--runs", required=True, type=Path, help="the researcher's .npz (only read)")
    parser.add_argument("--dataset-dir", required=True, type=Path)
    parser.add_argument("--arch", required=True, help="architecture name (key of feldman.architectures)")
    parser.add_argument("--out", required=True, type=Path)
    a = parser.parse_args()
    convert(a.runs, a.dataset_dir, a.arch, a.out)


if __name__ == "__main__":
    cli.run(main)
