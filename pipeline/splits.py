"""Random subsets (Feldman & Zhang) and K-fold assignments (van den Burg & Williams).

Every later stage reads these tables; nothing else draws splits. Both are drawn over the
training split only, from ``numpy.random.default_rng([seed, run])`` so that a run's subset
depends on nothing but the seed and its own index.

feldman_subsets.parquet (one row per run):
    run         int32       run index r (also its seed, together with the table's seed)
    seed        int64       the split seed
    n_members   int32       |J_r| = round(ratio * n_train)
    mask        list<bool>  length n_train; mask[p] says whether the p-th training example
                            (in dataset order, see ``train_index``) is in J_r
kfold.parquet (one row per training example and repeat):
    repeat      int32       repeat (fresh permutation) 0..R-1
    index       int64       dataset index of the example
    fold        int32       fold 0..K-1 the example falls in for this repeat
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline import cli, io
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.progress import get_logger

log = get_logger("splits")


def subset_masks(n: int, runs: int, ratio: float, seed: int) -> np.ndarray:
    """(runs, n) boolean membership masks, each with round(ratio * n) members."""
    size = int(round(ratio * n))
    masks = np.zeros((runs, n), dtype=bool)
    for run in range(runs):
        rng = np.random.default_rng([seed, run])
        masks[run, rng.choice(n, size=size, replace=False)] = True
    return masks


def fold_sizes(n: int, folds: int) -> np.ndarray:
    """floor(n / K) each, the first n mod K folds one larger."""
    sizes = np.full(folds, n // folds, dtype=np.int64)
    sizes[: n % folds] += 1
    return sizes


def check_subset_size(n: int, ratio: float, dataset: str) -> None:
    """Each subset, round(ratio * n) of the n training examples, leaves some out and takes some in:
    mem and infl compare the runs with and without each example (else one line naming the key)."""
    size = int(round(ratio * n))
    if size in (0, n):
        holds = "no subset holds any example" if size == 0 else "every subset holds every example"
        raise PipelineError(f"config key 'splits.feldman.ratio': {ratio} of the {n} training examples of "
                            f"'{dataset}' rounds to {size}, so {holds}; mem and infl compare the runs with and "
                            "without each example")


def check_folds(n: int, folds: int, dataset: str) -> None:
    if folds < 2 or folds > n:
        raise PipelineError(f"config key 'splits.kfold.folds': {folds} folds of the {n} training examples of "
                            f"'{dataset}'; need 2 <= K <= {n}")


def kfold_assignment(n: int, folds: int, repeats: int, seed: int, dataset: str = "the data set") -> np.ndarray:
    """(repeats, n) fold of each position, from a fresh permutation per repeat."""
    check_folds(n, folds, dataset)
    fold_of_rank = np.repeat(np.arange(folds), fold_sizes(n, folds))
    assignment = np.empty((repeats, n), dtype=np.int32)
    for repeat in range(repeats):
        perm = np.random.default_rng([seed, repeat]).permutation(n)
        assignment[repeat, perm] = fold_of_rank
    return assignment


def subsets_table(masks: np.ndarray, seed: int) -> pa.Table:
    return pa.table(
        {
            "run": pa.array(np.arange(len(masks), dtype=np.int32)),
            "seed": pa.array(np.full(len(masks), seed, dtype=np.int64)),
            "n_members": pa.array(masks.sum(axis=1).astype(np.int32)),
            "mask": pa.array(list(masks), type=pa.list_(pa.bool_())),
        }
    )


def kfold_table(assignment: np.ndarray, train_index: np.ndarray) -> pd.DataFrame:
    repeats, n = assignment.shape
    return pd.DataFrame(
        {
            "repeat": np.repeat(np.arange(repeats, dtype=np.int32), n),
            "index": np.tile(train_index.astype(np.int64), repeats),
            "fold": assignment.reshape(-1).astype(np.int32),
        }
    )


def read_subset_masks(path: str | Path) -> np.ndarray:
    """The (runs, n_train) boolean mask matrix of a feldman_subsets.parquet table."""
    table = io.read_parquet(path, columns=["run", "mask"]).sort_values("run")
    return np.stack([np.asarray(m, dtype=bool) for m in table["mask"]])


def read_kfold(path: str | Path) -> pd.DataFrame:
    return io.read_parquet(path, columns=["repeat", "index", "fold"])


def write_subsets(dataset_dir: Path, runs: int, ratio: float, seed: int, out: Path) -> None:
    n = len(Dataset.load(dataset_dir, mmap=True).indices("train"))
    check_subset_size(n, ratio, dataset_dir.name)
    log.info("%s: %d subsets of %d/%d training examples (seed %d)", dataset_dir, runs, round(ratio * n), n, seed)
    io.write_parquet(subsets_table(subset_masks(n, runs, ratio, seed), seed), out)
    log.info("wrote %s", out)


def write_kfold(dataset_dir: Path, folds: int, repeats: int, seed: int, out: Path) -> None:
    train_index = Dataset.load(dataset_dir, mmap=True).indices("train")
    log.info("%s: %d folds x %d repeats over %d training examples (seed %d)",
             dataset_dir, folds, repeats, len(train_index), seed)
    io.write_parquet(kfold_table(kfold_assignment(len(train_index), folds, repeats, seed, dataset_dir.name),
                                 train_index), out)
    log.info("wrote %s", out)


def main() -> None:
    parser = argparse.ArgumentParser(description="Draw Feldman subsets or K-fold assignments of a prepared data set.")
    commands = parser.add_subparsers(dest="command", required=True)
    subsets = commands.add_parser("subsets")
    subsets.add_argument("--runs", required=True, type=int)
    subsets.add_argument("--ratio", required=True, type=float)
    kfold = commands.add_parser("kfold")
    kfold.add_argument("--folds", required=True, type=int)
    kfold.add_argument("--repeats", required=True, type=int)
    for command in (subsets, kfold):
        command.add_argument("--dataset-dir", required=True, type=Path)
        command.add_argument("--seed", required=True, type=int)
        command.add_argument("--out", required=True, type=Path)
    a = parser.parse_args()
    if a.command == "subsets":
        write_subsets(a.dataset_dir, a.runs, a.ratio, a.seed, a.out)
    else:
        write_kfold(a.dataset_dir, a.folds, a.repeats, a.seed, a.out)


if __name__ == "__main__":
    cli.run(main)
