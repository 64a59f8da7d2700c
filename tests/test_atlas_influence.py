"""The atlas's influence-pair columns: per training example its selected pairs and those that beat
chance, from the estimate job's own tables of simulated runs with planted pairs; the other columns
as without them; bad input named in one line."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipeline import io
from pipeline.atlas import join
from pipeline.atlas.columns import describe, score_columns
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.feldman import estimate
from pipeline.feldman.chance import beyond_chance
from pipeline.feldman.runs import read_runs
from pipeline.feldman.shard_table import shard_table
from pipeline.schema import schema_default
from pipeline.splits import subset_masks

T, N_TRAIN, N_TEST = 64, 120, 40
PLANTED = [(3, 0), (17, 5), (40, 9), (88, 30)]  # (training position, test position): j follows i


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """A data set (test examples between the training ones), two shard tables of T runs in which each
    planted training example is got right only by the models trained on it and its test partner
    mostly by those, and the estimate job's tables of them."""
    d = tmp_path_factory.mktemp("influence")
    rng = np.random.default_rng(0)
    split = np.array(["train"] * N_TRAIN + ["test"] * N_TEST)
    rng.shuffle(split)
    Dataset.from_arrays(np.zeros((len(split), 2, 2, 1), np.uint8), np.arange(len(split)) % 3, split, "toy").save(
        d / "data")
    member = subset_masks(N_TRAIN, T, 0.7, 1)
    train_correct = rng.random((T, N_TRAIN)) < 0.9
    test_correct = rng.random((T, N_TEST)) < rng.uniform(0.2, 0.9, N_TEST)
    for i, j in PLANTED:
        train_correct[:, i] = member[:, i]
        test_correct[:, j] = rng.random(T) < np.where(member[:, i], 0.95, 0.1)
    records = {"train_correct": train_correct, "test_correct": test_correct,
               "train_margin": np.where(train_correct, 1.0, -1.0), "test_margin": np.where(test_correct, 1.0, -1.0),
               "train_logit_conf": np.where(train_correct, 1.0, -1.0) + rng.normal(0, 0.1, (T, N_TRAIN)),
               "train_epoch_correct": np.where(member, rng.integers(0, 6, (T, N_TRAIN)), 0),
               "train_cum_loss": np.where(member, rng.random((T, N_TRAIN)), 0)}
    shards = []
    for k, rows in enumerate(np.array_split(np.arange(T), 2)):
        shards.append(d / f"shard{k}.parquet")
        pq.write_table(shard_table(rows, 0, 0, "mlp", member[rows], {key: v[rows] for key, v in records.items()}, 5),
                       shards[-1])
    estimate.estimate(shards, d / "data", schema_default("feldman.mem_threshold"),
                      schema_default("feldman.infl_threshold"), schema_default("feldman.influence_max_p"),
                      d / "memorization.parquet", d / "pairs.parquet", d / "chance.parquet")
    return d, shards


def influence_atlas(d, shards, arch="mlp"):
    return join.build(d / "data", feldman=[("mlp", d / "memorization.parquet")],
                      influence=[(arch, d / "pairs.parquet", d / "chance.parquet", shards)])


def test_each_example_counts_its_selected_pairs_and_those_beyond_chance(tables):
    d, shards = tables
    atlas = influence_atlas(d, shards)
    pairs = io.read_parquet(d / "pairs.parquet")
    runs = read_runs(shards, scores=False)
    chance = beyond_chance(pairs, runs.member, runs.test_correct, io.read_parquet(d / "memorization.parquet")["mem"],
                           io.read_parquet(d / "chance.parquet"))
    assert len(pairs) > chance.n_beyond > 0  # noise pairs selected too, and some beyond chance
    selected = atlas.set_index("index")["feldman_infl_pairs_mlp"]
    beyond = atlas.set_index("index")["feldman_infl_beyond_chance_mlp"]
    pd.testing.assert_series_equal(selected[selected > 0], pairs["train_index"].value_counts().sort_index(),
                                   check_names=False, check_index_type=False)
    pd.testing.assert_series_equal(beyond[beyond > 0], pairs["train_index"][chance.mask].value_counts().sort_index(),
                                   check_names=False, check_index_type=False)
    assert (beyond <= selected).all() and beyond.sum() == chance.n_beyond
    # every planted training example has its test partner beyond chance
    train_index = atlas["index"].to_numpy()
    test_index = np.flatnonzero(Dataset.load(d / "data").table["split"].to_numpy() == "test")
    kept = set(zip(pairs["train_index"][chance.mask], pairs["test_index"][chance.mask]))
    assert {(train_index[i], test_index[j]) for i, j in PLANTED} <= kept
    assert (beyond[train_index[[i for i, _ in PLANTED]]] >= 1).all()
    for name in ["feldman_infl_pairs_mlp", "feldman_infl_beyond_chance_mlp"]:
        assert str(atlas[name].dtype) == describe(name).dtype == "int64" and not describe(name).score


def test_the_counts_change_nothing_else(tables):
    d, shards = tables
    atlas = influence_atlas(d, shards)
    without = join.build(d / "data", feldman=[("mlp", d / "memorization.parquet")])
    assert list(atlas.columns) == list(without.columns) + ["feldman_infl_pairs_mlp", "feldman_infl_beyond_chance_mlp"]
    pd.testing.assert_frame_equal(atlas[without.columns], without)
    assert score_columns(atlas.columns) == score_columns(without.columns)


def test_the_job_takes_the_pairs_chance_and_shards_on_its_command_line(tables, tmp_path, monkeypatch):
    d, shards = tables
    out = tmp_path / "atlas.parquet"
    monkeypatch.setattr(sys, "argv", ["join", "--dataset-dir", str(d / "data"), "--feldman", "mlp",
                                      str(d / "memorization.parquet"), "--feldman-influence", "mlp",
                                      str(d / "pairs.parquet"), str(d / "chance.parquet"), *map(str, shards),
                                      "--out", str(out)])
    join.main()
    pd.testing.assert_frame_equal(io.read_parquet(out), influence_atlas(d, shards))
    monkeypatch.setattr(sys, "argv", ["join", "--dataset-dir", str(d / "data"), "--feldman-influence", "mlp",
                                      str(d / "pairs.parquet"), str(d / "chance.parquet"), "--out", str(out)])
    with pytest.raises(SystemExit):
        join.main()  # no shard table


def test_bad_influence_inputs_are_named(tables, tmp_path):
    d, shards = tables
    with pytest.raises(PipelineError, match=r"pairs\.parquet: influence pairs of architecture 'cnn' without its "
                                            r"memorization\.parquet"):
        influence_atlas(d, shards, arch="cnn")
    with pytest.raises(PipelineError, match="not of these runs"):  # the pairs of other runs
        influence_atlas(d, shards[:1])
    pairs = io.read_parquet(d / "pairs.parquet")
    test_example = int(np.flatnonzero(Dataset.load(d / "data").table["split"].to_numpy() == "test")[0])
    pairs.loc[0, "train_index"] = test_example
    io.write_parquet(pairs, tmp_path / "pairs.parquet")
    with pytest.raises(PipelineError, match=r"pairs\.parquet: 1 training indices are not training examples"):
        join.build(d / "data", feldman=[("mlp", d / "memorization.parquet")],
                   influence=[("mlp", tmp_path / "pairs.parquet", d / "chance.parquet", shards)])
