"""Split tables: sizes, disjointness and coverage (see pipeline.feldman and pipeline.kfold_vae)."""

import numpy as np
import pytest

from pipeline import splits
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError


def test_subset_masks_sizes_and_seeding():
    masks = splits.subset_masks(1001, runs=50, ratio=0.7, seed=0)
    assert masks.shape == (50, 1001)
    assert (masks.sum(axis=1) == round(0.7 * 1001)).all()
    # membership frequency of each example is ~0.7 and runs differ
    assert abs(masks.mean() - 0.7) < 1e-3
    assert len({m.tobytes() for m in masks}) == 50
    # run r depends only on (seed, r): a longer draw extends a shorter one
    assert np.array_equal(splits.subset_masks(1001, 10, 0.7, 0), masks[:10])
    assert not np.array_equal(splits.subset_masks(1001, 10, 0.7, 1), masks[:10])


@pytest.mark.parametrize("n,k", [(100, 10), (103, 10), (7, 3), (5000, 7)])
def test_kfold_sizes_disjoint_and_covering(n, k):
    assignment = splits.kfold_assignment(n, k, repeats=3, seed=0)
    for repeat in assignment:
        sizes = np.bincount(repeat, minlength=k)
        expected = [n // k + (1 if f < n % k else 0) for f in range(k)]
        assert sizes.tolist() == expected  # folds partition the data: disjoint, covering, sized as specified
    assert not np.array_equal(assignment[0], assignment[1])  # a fresh permutation per repeat


def test_kfold_rejects_bad_k():
    with pytest.raises(PipelineError, match="splits.kfold.folds"):
        splits.kfold_assignment(5, 6, 1, 0)


@pytest.mark.parametrize("ratio,words", [(0.01, "rounds to 0, so no subset holds any example"),
                                         (0.97, "rounds to 10, so every subset holds every example")])
def test_a_ratio_the_config_cannot_judge_stops_its_job_naming_the_key(tmp_path, ratio, words):
    """A data set a researcher brings has a size only its job knows (pipeline/config.py checks the rest)."""
    Dataset.from_arrays(np.zeros((12, 4, 4, 1), np.uint8), np.arange(12) % 2, ["train"] * 10 + ["test"] * 2,
                        "own").save(tmp_path / "own")
    with pytest.raises(PipelineError, match=rf"^config key 'splits\.feldman\.ratio': {ratio} of the 10 training "
                                            rf"examples of 'own' {words}; mem and infl compare"):
        splits.write_subsets(tmp_path / "own", runs=4, ratio=ratio, seed=0, out=tmp_path / "s.parquet")
    assert not (tmp_path / "s.parquet").exists()


def test_tables_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.arange(40) % 4
    split = np.where(np.arange(40) % 5 == 0, "test", "train")
    Dataset.from_arrays(rng.integers(0, 255, (40, 4, 4, 1)), labels, split, "toy").save(tmp_path / "toy")
    splits.write_subsets(tmp_path / "toy", runs=6, ratio=0.7, seed=2, out=tmp_path / "s.parquet")
    splits.write_kfold(tmp_path / "toy", folds=4, repeats=2, seed=2, out=tmp_path / "k.parquet")
    masks = splits.read_subset_masks(tmp_path / "s.parquet")
    assert masks.shape == (6, 32) and (masks.sum(axis=1) == round(0.7 * 32)).all()
    kfold = splits.read_kfold(tmp_path / "k.parquet")
    train_index = np.flatnonzero(split == "train")
    for _, group in kfold.groupby("repeat"):
        assert sorted(group["index"]) == train_index.tolist()  # test examples never enter a fold
        assert sorted(group.groupby("fold").size()) == [8, 8, 8, 8]
