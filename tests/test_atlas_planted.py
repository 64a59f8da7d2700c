"""Planted canaries in the atlas: AUROC (against scikit-learn), its bootstrap interval, ranks, the table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pipeline import io
from pipeline.atlas.planted import (PLANTED_COLUMNS, auroc, bootstrap_auroc, memorization_ranks, planted_table,
                                    training_canaries)
from pipeline.errors import PipelineError
from pipeline.schema import schema_default

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("seed", range(5))
def test_auroc_equals_sklearn_with_ties_and_missing_scores(seed):
    rng = np.random.default_rng(seed)
    n = 400
    positive = rng.random(n) < 0.2
    scores = rng.integers(0, 8, n).astype(float) + positive * rng.integers(0, 3, n)  # many ties
    scores[rng.random(n) < 0.1] = np.nan
    defined = ~np.isnan(scores)
    assert auroc(scores, positive) == pytest.approx(roc_auc_score(positive[defined], scores[defined]), abs=1e-12)


def test_auroc_extremes_and_undefined():
    assert auroc([3.0, 4.0, 1.0, 2.0], [True, True, False, False]) == 1.0
    assert auroc([1.0, 2.0, 3.0, 4.0], [True, True, False, False]) == 0.0
    assert auroc([5.0, 5.0, 5.0], [True, False, False]) == 0.5  # all tied: each pair counts 1/2
    assert np.isnan(auroc([1.0, 2.0, np.nan], [False, False, True]))  # the only positive is missing


def _shifted(n_pos, n_neg, shift, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(shift, 1, n_pos), rng.normal(0, 1, n_neg)


def test_bootstrap_interval_contains_the_estimate_and_narrows_with_more_data():
    widths = []
    for n_pos, n_neg in [(30, 300), (300, 3000)]:
        pos, neg = _shifted(n_pos, n_neg, 1.0, seed=n_pos)
        estimate = auroc(np.r_[pos, neg], np.r_[np.ones(n_pos, bool), np.zeros(n_neg, bool)])
        low, high = bootstrap_auroc(pos, neg, 500, 0.95, np.random.default_rng(0))
        assert low < estimate < high
        widths.append(high - low)
    # the width falls like 1 / sqrt(n): 10x the data, about a third of the width
    assert widths[1] < 0.5 * widths[0]
    assert 0.2 < widths[1] / widths[0] < 0.45


def test_bootstrap_interval_is_seeded_and_calibrated():
    pos, neg = _shifted(50, 200, 0.5, seed=7)
    first = bootstrap_auroc(pos, neg, 300, 0.9, np.random.default_rng(3))
    assert first == bootstrap_auroc(pos, neg, 300, 0.9, np.random.default_rng(3))
    true_auroc = 0.6382  # Phi(0.5 / sqrt(2)) for N(0.5, 1) against N(0, 1)
    covered = sum(low <= true_auroc <= high for low, high in
                  (bootstrap_auroc(*_shifted(50, 200, 0.5, seed), 200, 0.9, np.random.default_rng(seed))
                   for seed in range(40)))
    assert covered >= 30  # nominal 90 %: 36 of 40 expected


def test_ranks_of_a_hand_made_example():
    scores = np.array([0.1, 0.9, np.nan, 0.5, 0.9, 0.0])
    ranks = memorization_ranks(scores)
    # 0.9 twice share ranks 1 and 2; then 0.5, 0.1, 0.0; the missing score has no rank
    np.testing.assert_array_equal(ranks, [4.0, 1.5, np.nan, 3.0, 1.5, 5.0])


def test_table_median_rank_and_top_share_on_a_hand_made_atlas():
    atlas = pd.DataFrame({"index": np.arange(10, dtype=np.int64), "label": np.zeros(10, np.int64),
                          "kfold_M": [9.0, 8, 7, 6, 5, 4, 3, 2, 1, 0]})
    planted = np.array(["flipped", "", "flipped", "", "", "outlier", "", "", "", "flipped"])
    table = planted_table(atlas, planted, "toy", top_fraction=0.2, n_boot=50, confidence=0.9, seed=0)
    flipped = table.set_index("kind").loc["flipped"]
    assert flipped["median_rank"] == 3.0  # ranks 1, 3, 10
    assert (flipped["n_kind"], flipped["n_clean"], flipped["n_defined"]) == (3, 6, 10)
    # top 20 %: scores 9 and 8 (examples 0 and 1); one of the two is flipped
    assert (flipped["n_top"], flipped["n_kind_top"], flipped["top_fraction_share"]) == (2, 1, 0.5)
    assert flipped["flagged_share"] == 1 / flipped["n_kind"]
    # pairs flipped > clean: example 0 beats 6, example 2 beats 5, example 9 beats none: 11 of 18
    assert flipped["auroc"] == pytest.approx(11 / 18)
    assert flipped["median_score_kind"] == 7.0 and flipped["median_score_clean"] == 4.0
    outlier = table.set_index("kind").loc["outlier"]
    assert outlier["median_rank"] == 6.0 and outlier["top_fraction_share"] == 0.0


def synthetic_planted(seed=0, n=1000):
    """An index with flipped and outlier canaries in train and test copies in test, and an atlas of
    the training split where flipped canaries score high on every score and outliers like clean ones."""
    rng = np.random.default_rng(seed)
    split = np.where(np.arange(n) < 800, "train", "test")
    planted = np.full(n, "", dtype=object)
    train_positions = rng.permutation(800)
    planted[train_positions[:40]] = "flipped"
    planted[train_positions[40:80]] = "outlier"
    planted[800:820] = "test_copy"
    index_table = pd.DataFrame({"index": np.arange(n, dtype=np.int64), "label": rng.integers(0, 10, n),
                                "split": split, "source": "toy", "planted": planted,
                                "source_index": np.arange(n, dtype=np.int64)})
    train = index_table[index_table["split"] == "train"]
    flipped = (train["planted"] == "flipped").to_numpy()
    mem = rng.uniform(0, 0.3, 800) + flipped * rng.uniform(0.7, 1.0, 800)
    replicates = pd.array(rng.poisson(0.2, 800) + flipped * 5, dtype="Int64")
    replicates[rng.random(800) < 0.5] = pd.NA  # a diffusion model trained on half the examples
    atlas = pd.DataFrame({"index": train["index"].to_numpy(), "label": train["label"].to_numpy(),
                          "feldman_mem_mlp": mem, "feldman_se_mlp": 0.01,
                          "diffusion_replicates_sweep_n400_w8_seed0": replicates})
    return index_table, atlas


def test_a_score_that_finds_one_kind_and_not_another():
    index_table, atlas = synthetic_planted()
    planted = training_canaries(index_table, atlas, "index.parquet")
    table = planted_table(atlas, planted, "toy", top_fraction=0.05, n_boot=200, confidence=0.95, seed=0)
    assert list(table.columns) == list(PLANTED_COLUMNS)
    # one row per score (not the standard error) and training kind (test copies are not training examples)
    assert set(zip(table["score"], table["kind"])) == {
        (s, k) for s in ["feldman_mem_mlp", "diffusion_replicates_sweep_n400_w8_seed0"] for k in ["flipped", "outlier"]}
    rows = table.set_index(["score", "kind"])
    mem_flipped, mem_outlier = rows.loc[("feldman_mem_mlp", "flipped")], rows.loc[("feldman_mem_mlp", "outlier")]
    assert mem_flipped["auroc"] == 1.0 and mem_flipped["auroc_low"] == 1.0
    assert mem_flipped["median_rank"] <= 40 and mem_flipped["top_fraction_share"] == 1.0  # top 40 are the canaries
    assert abs(mem_outlier["auroc"] - 0.5) < 0.12
    assert mem_outlier["auroc_low"] < 0.5 < mem_outlier["auroc_high"]
    assert (mem_flipped["n_kind"], mem_flipped["n_clean"]) == (40, 720)
    diffusion = rows.loc[("diffusion_replicates_sweep_n400_w8_seed0", "flipped")]
    assert diffusion["n_defined"] < 500 and diffusion["n_kind"] < 40  # only where the model scored
    assert diffusion["auroc"] > 0.95
    again = planted_table(atlas, planted, "toy", top_fraction=0.05, n_boot=200, confidence=0.95, seed=0)
    pd.testing.assert_frame_equal(table, again)


def test_an_index_without_canaries_is_named():
    index_table, atlas = synthetic_planted()
    with pytest.raises(PipelineError, match=r"^results/data/toy/index.parquet: no column 'planted'"):
        training_canaries(index_table.drop(columns="planted"), atlas, "results/data/toy/index.parquet")


def test_commands_write_the_table_and_the_figure(tmp_path):
    index_table, atlas = synthetic_planted()
    io.write_parquet(index_table, tmp_path / "index.parquet")
    io.write_parquet(atlas, tmp_path / "atlas.parquet")
    run = [sys.executable, "-m", "pipeline.atlas.planted", "--atlas", str(tmp_path / "atlas.parquet"),
           "--index", str(tmp_path / "index.parquet"), "--dataset", "toy", "--n-boot", "100",
           "--out", str(tmp_path / "planted.parquet")]
    subprocess.run(run, cwd=REPO, check=True, capture_output=True)
    table = io.read_parquet(tmp_path / "planted.parquet")
    expected = planted_table(atlas, training_canaries(index_table, atlas, "x"), "toy",
                             schema_default("atlas.top_fraction"), 100, schema_default("atlas.confidence"),
                             schema_default("atlas.seed"))
    pd.testing.assert_frame_equal(table, expected)
    subprocess.run([sys.executable, "-m", "pipeline.atlas.planted_figure", "--planted", str(tmp_path / "planted.parquet"),
                    "--title", "toy", "--out", str(tmp_path / "planted.png")], cwd=REPO, check=True,
                   capture_output=True)
    assert (tmp_path / "planted.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
