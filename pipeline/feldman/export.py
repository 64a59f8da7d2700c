"""A Feldman architecture's runs and estimates in the formats of the field's own tools.

From the shard tables of one architecture (``shard_table``) the job writes, into one folder:

``runs.npz``: the runs themselves in this pipeline's runs-file format (``runs_file``,
docs/bring-your-own-runs.md): member, train_correct, test_correct and the float and per-epoch records
the shards kept. Handed back as ``{kind: runs, file: runs.npz}`` it gives the same shard table and estimates.

``infl_mem.npz``: heldout-influence-estimation's memorization and influence arrays (Feldman & Zhang,
google-research/heldout-influence-estimation, ``mnist-example/mnist_infl_mem.py``: its
``estimate_infl_mem`` returns ``dict(memorization=..., influence=...)`` and saves it with
``np.savez`` as ``infl_mem.npz``). Same names, layout and dtype:
    memorization         (n_train,)         float32  mem_i (estimate.py's mem)
    influence            (n_test, n_train)  float32  infl(i, j) at [j, i]: test example first
and, beside them, the arrays that code stacks over its runs to form them (the names of its
variables, which the CIFAR-10N files derived from it also use) and where each position lies:
    trainset_mask        (t, n_train)       bool     is training example i in run r's subset
    trainset_correctness (t, n_train)       bool     run r right on training example i
    testset_correctness  (t, n_test)        bool     run r right on test example j
    train_index          (n_train,)         int64    dataset index of training position i
    test_index           (n_test,)          int64    dataset index of test position j
Positions follow ``Dataset.indices("train")`` / ("test") as everywhere here. One difference: where
an example is in every run or in none, memorization and influence are NaN here; the authors'
``_masked_avg`` divides by max(count, 1e-10) and reports a number. The dense influence is
n_test x n_train float32: 2.4 GB for MNIST's 10,000 x 60,000, as the authors' file.

``datamodels/``: the datamodels / TRAK layout (Ilyas et al. 2022, MadryLab/datamodels: the regression
reads ``{data_dir}/masks.npy``, ``{data_dir}/{y_name}.npy`` and ``{data_dir}/_completed.npy``,
memory-mapped .npy files of one row per trained model):
    masks.npy       (t, n_train)  bool     run r's training subset (the datamodels' input)
    margins.npy     (t, n_test)   float32  run r's margin on test example j: its label's logit minus
                                           the largest other (the datamodels' and TRAK's target);
                                           NaN where a run kept none
    _completed.npy  (t,)          bool     the run has margins (the regression reads only these rows)

``membership_scores.parquet``: every run's membership statistics for each training example, for
privacy-auditing tools that set their own thresholds: the membership job's membership_pairs.parquet
(``membership``; columns there), copied when the job is given it (``--membership-pairs``, as the rule
does), formed by the same code otherwise.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from pipeline import cli, io
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.feldman import membership
from pipeline.feldman.estimate import influence_blocks
from pipeline.feldman.estimators import memorization
from pipeline.feldman.runs import Runs, read_runs
from pipeline.progress import get_logger
from pipeline.schema import schema_default

log = get_logger("feldman.export")

FILES = ("runs.npz", "infl_mem.npz", "datamodels/masks.npy", "datamodels/margins.npy",
         "datamodels/_completed.npy", "membership_scores.parquet")
SCORE_COLUMNS = membership.PAIR_COLUMNS


def list_records(paths: list[Path], column: str, n: int | None = None) -> np.ndarray | None:
    """The (t, n) float32 matrix of a list column of the shard tables, in run order (as ``read_runs``);
    NaN rows for runs whose table lacks it or whose list is not of length ``n`` (by default the longest);
    None when no table has it."""
    parts, found = [], False
    for path in paths:
        has = column in io.parquet_columns(path)
        found |= has
        table = io.read_parquet(path, columns=["run", column] if has else ["run"])
        parts.append((table["run"].to_numpy(np.int64), table[column].tolist() if has else [None] * len(table)))
    if not found:
        return None
    runs = np.concatenate([r for r, _ in parts])
    lists = [value for _, values in parts for value in values]
    n = max((len(v) for v in lists if v is not None), default=0) if n is None else n
    out = np.full((len(lists), n), np.nan, np.float32)
    for row, value in enumerate(lists):
        if value is not None and len(value) == n:
            out[row] = np.asarray(value, np.float32)
    return out[np.argsort(runs, kind="stable")]


def runs_arrays(runs: Runs, records: dict[str, np.ndarray | None]) -> dict[str, np.ndarray]:
    """runs.npz: the runs-file arrays (``runs_file``) of what the shards kept; a float record no run
    kept, and the per-epoch records unless every run has them, are left out (the file's rules)."""
    arrays = {"member": runs.member, "train_correct": runs.correct, "test_correct": runs.test_correct}
    for name in ("train_margin", "test_margin", "train_logit_conf", "train_cum_loss"):
        values = records.get(name)
        if values is not None and not np.isnan(values).all():
            if np.isnan(values).any():
                log.warning("%s: kept by some runs only; runs.npz leaves it out (a runs file holds finite values)",
                            name)
                continue
            arrays[name] = values.astype(np.float32)
    epochs = runs.epochs
    if np.isfinite(epochs).all() and (epochs >= 1).all() and not np.isnan(runs.epoch_correct).any():
        arrays["train_epoch_correct"] = np.where(runs.member, runs.epoch_correct, 0).astype(np.uint8)
        arrays["epochs"] = epochs.astype(np.int64)
    return arrays


def infl_mem_arrays(runs: Runs, train_index: np.ndarray, test_index: np.ndarray) -> dict[str, np.ndarray]:
    """infl_mem.npz (module docstring): memorization and the dense influence, test example first."""
    mem = memorization(runs.member, runs.correct)["mem"].to_numpy(np.float32)
    influence = np.empty((runs.test_correct.shape[1], runs.member.shape[1]), np.float32)
    for pos, infl, _ in influence_blocks(runs.member, runs.test_correct):
        influence[:, pos] = infl.T
    return {"memorization": mem, "influence": influence, "trainset_mask": runs.member,
            "trainset_correctness": runs.correct, "testset_correctness": runs.test_correct,
            "train_index": np.asarray(train_index, np.int64), "test_index": np.asarray(test_index, np.int64)}


def datamodels_arrays(runs: Runs, test_margin: np.ndarray | None) -> dict[str, np.ndarray]:
    """datamodels/ (module docstring): masks, margins and the runs that have margins."""
    t, n_test = runs.test_correct.shape
    margins = np.full((t, n_test), np.nan, np.float32) if test_margin is None else test_margin.astype(np.float32)
    completed = ~np.isnan(margins).any(1) if n_test else np.ones(t, bool)
    if not completed.all():
        log.warning("%d of %d runs kept no test margins: datamodels/_completed.npy marks them False",
                    int((~completed).sum()), t)
    return {"masks": runs.member, "margins": margins, "_completed": completed}


def copy_pairs(source: Path, runs: Runs, train_index: np.ndarray, out: Path) -> None:
    """membership_scores.parquet from the membership job's membership_pairs.parquet, once its shape
    and ground truth are checked against the runs being exported."""
    columns = io.parquet_columns(source)
    if columns != list(membership.PAIR_COLUMNS):
        raise PipelineError(f"{source}: columns {columns}, expected {list(membership.PAIR_COLUMNS)}")
    check = io.read_parquet(source, ["run", "index", "member"])
    t, n = runs.member.shape
    if len(check) != t * n or not (np.array_equal(check["member"].to_numpy(), runs.member.ravel())
                                   and np.array_equal(check["index"].to_numpy(), np.tile(train_index, t))):
        raise PipelineError(f"{source}: not the membership statistics of these {t} runs of {n} training examples "
                            f"(rerun the membership job)")
    with io.atomic_path(out) as tmp:
        shutil.copyfile(source, tmp)


def save_npz(arrays: dict[str, np.ndarray], path: Path) -> None:
    """``np.savez`` (uncompressed, as the authors' files), written atomically."""
    with io.atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


def export(shards: list[Path], dataset_dir: Path, out_dir: Path,
           offline_a: float = schema_default("feldman.rmia.offline_a"),
           gamma: float = schema_default("feldman.rmia.gamma"), membership_pairs: Path | None = None) -> None:
    runs = read_runs(shards)
    data = Dataset.load(dataset_dir, mmap=True)
    train_index, test_index = data.indices("train"), data.indices("test")
    if len(train_index) != runs.member.shape[1] or len(test_index) != runs.test_correct.shape[1]:
        raise PipelineError(f"{shards[0]}...: the runs hold {runs.member.shape[1]} training and "
                            f"{runs.test_correct.shape[1]} test examples, the data set {dataset_dir} "
                            f"{len(train_index)} and {len(test_index)}")
    records = {name: list_records(shards, name, runs.test_correct.shape[1] if name.startswith("test")
                                  else runs.member.shape[1])
               for name in ("train_margin", "test_margin", "train_logit_conf", "train_cum_loss")}
    save_npz(runs_arrays(runs, records), out_dir / "runs.npz")
    save_npz(infl_mem_arrays(runs, train_index, test_index), out_dir / "infl_mem.npz")
    for name, array in datamodels_arrays(runs, records["test_margin"]).items():
        io.write_array(array, out_dir / "datamodels" / f"{name}.npy")
    scores = out_dir / "membership_scores.parquet"
    if membership_pairs is None:
        membership.write_pairs(runs.member, runs.lira_statistic, train_index, offline_a, gamma, scores)
    else:
        copy_pairs(membership_pairs, runs, train_index, scores)
    log.info("%d runs of %d training and %d test examples exported to %s", *runs.member.shape,
             runs.test_correct.shape[1], out_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description="A Feldman architecture's runs and estimates in other tools' formats.")
    parser.add_argument("--shards", required=True, nargs="+", type=Path)
    parser.add_argument("--dataset-dir", required=True, type=Path)
    parser.add_argument("--offline-a", type=float, default=schema_default("feldman.rmia.offline_a"))
    parser.add_argument("--gamma", type=float, default=schema_default("feldman.rmia.gamma"))
    parser.add_argument("--membership-pairs", type=Path,
                        help="membership_pairs.parquet of these runs, copied as membership_scores.parquet "
                             "(default: formed here, with --offline-a and --gamma)")
    parser.add_argument("--out-dir", required=True, type=Path)
    a = parser.parse_args()
    export(a.shards, a.dataset_dir, a.out_dir, a.offline_a, a.gamma, a.membership_pairs)


if __name__ == "__main__":
    cli.run(main)
