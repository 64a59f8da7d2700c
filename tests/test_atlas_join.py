"""The atlas join: one row per training example, method columns aligned by dataset index,
absent methods absent, documented dtypes, and bad inputs named in one line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline import io
from pipeline.atlas.columns import describe, score_columns
from pipeline.atlas.join import build
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError

N = 12  # dataset size; every third example is a test example


@pytest.fixture
def tables(tmp_path):
    """A tiny data set and one table of every method, rows shuffled, with known values."""
    rng = np.random.default_rng(0)
    split = np.where(np.arange(N) % 3 == 2, "test", "train")
    labels = np.arange(N) % 4
    Dataset.from_arrays(np.zeros((N, 2, 2, 1), np.uint8), labels, split, "toy").save(tmp_path / "data")
    train = np.flatnonzero(split == "train")  # 8 examples: 0 1 3 4 6 7 9 10
    order = rng.permutation(train)
    io.write_parquet(pd.DataFrame({"index": order, "label": labels[order], "mem": order / 100.0,
                                   "se": np.full(len(order), 0.01)}), tmp_path / "mem.parquet")
    io.write_parquet(pd.DataFrame({"index": order, "label": labels[order], "U": -order - 1.0, "V": -order - 2.0,
                                   "M": np.ones(len(order))}), tmp_path / "kfold.parquet")
    io.write_parquet(pd.DataFrame({"index": order, "label": labels[order], "rho": order * 2.0}),
                     tmp_path / "rho.parquet")
    io.write_parquet(pd.DataFrame({"index": np.concatenate([order, order]),
                                   "epoch": np.repeat([2, 6], len(order)),
                                   "logpx": np.concatenate([np.zeros(len(order)), -order * 1.0])}),
                     tmp_path / "logpx.parquet")
    # a DDPM trained on examples 3, 9, 10: example 9 replicated twice, 3 once, 10 never
    io.write_parquet(pd.DataFrame({"position": [0, 1, 2], "index": [3, 9, 10]}), tmp_path / "subset.parquet")
    io.write_parquet(pd.DataFrame({"sample": range(5), "nearest": [9, 9, 3, 10, 9],
                                   "replicate": [True, True, True, False, False]}), tmp_path / "replicates.parquet")
    # GAN samples nearest to 0 (x3) and 7 (x1); test points must not count
    io.write_parquet(pd.DataFrame({"set": ["generated"] * 4 + ["test"] * 2, "index": [0, 1, 2, 3, 0, 1],
                                   "nearest": [0, 0, 7, 0, 7, 7]}), tmp_path / "nn.parquet")
    return tmp_path


def full_atlas(d):
    return build(d / "data", feldman=[("mlp", d / "mem.parquet")], kfold_scores=d / "kfold.parquet",
                 rho=d / "rho.parquet", logpx_full=d / "logpx.parquet",
                 diffusion=[("sweep_n3_w8_seed0", d / "replicates.parquet", d / "subset.parquet")],
                 mrgan=[("tau0_seed0", d / "nn.parquet")])


def test_one_row_per_training_example_with_values_aligned(tables):
    atlas = full_atlas(tables)
    assert atlas["index"].tolist() == [0, 1, 3, 4, 6, 7, 9, 10]  # training split, dataset order, none lost or doubled
    assert atlas["index"].is_unique
    assert (atlas["label"] == atlas["index"] % 4).all()
    np.testing.assert_allclose(atlas["feldman_mem_mlp"], atlas["index"] / 100.0)
    np.testing.assert_allclose(atlas["kfold_U"], -atlas["index"] - 1.0)
    np.testing.assert_allclose(atlas["kfold_rho"], atlas["index"] * 2.0)
    np.testing.assert_allclose(atlas["kfold_logpx_full"], -atlas["index"] * 1.0)  # last epoch, not epoch 2
    replicates = dict(zip(atlas["index"], atlas["diffusion_replicates_sweep_n3_w8_seed0"]))
    assert replicates[9] == 2 and replicates[3] == 1 and replicates[10] == 0
    assert all(replicates[i] is pd.NA for i in [0, 1, 4, 6, 7])  # not in the DDPM's subset: missing, not 0
    gan = dict(zip(atlas["index"], atlas["mrgan_nn_tau0_seed0"]))
    assert gan[0] == 3 and gan[7] == 1 and sum(gan.values()) == 4


def test_columns_have_documented_dtypes_and_survive_parquet(tables, tmp_path):
    atlas = full_atlas(tables)
    io.write_parquet(atlas, tmp_path / "atlas.parquet")
    back = io.read_parquet(tmp_path / "atlas.parquet")
    for name in back.columns:
        assert str(back[name].dtype) == describe(name).dtype, name
    assert str(back["diffusion_replicates_sweep_n3_w8_seed0"].dtype) == "Int64"
    assert back["diffusion_replicates_sweep_n3_w8_seed0"].isna().sum() == 5
    assert score_columns(back.columns) == ["feldman_mem_mlp", "kfold_M", "kfold_rho",
                                           "diffusion_replicates_sweep_n3_w8_seed0", "mrgan_nn_tau0_seed0"]


def test_missing_methods_are_absent_columns_not_zeros(tables):
    atlas = build(tables / "data", mrgan=[("tau0_seed0", tables / "nn.parquet")])
    assert list(atlas.columns) == ["index", "label", "mrgan_nn_tau0_seed0"]
    assert not any(c.startswith(("feldman", "kfold", "diffusion")) for c in atlas.columns)


def test_duplicated_example_is_named(tables):
    table = io.read_parquet(tables / "mem.parquet")
    io.write_parquet(pd.concat([table, table.iloc[:1]]), tables / "mem.parquet")
    with pytest.raises(PipelineError, match=r"mem\.parquet: indices \[\d+\] appear more than once"):
        build(tables / "data", feldman=[("mlp", tables / "mem.parquet")])


def test_lost_example_is_named(tables):
    table = io.read_parquet(tables / "kfold.parquet")
    io.write_parquet(table.iloc[1:], tables / "kfold.parquet")
    with pytest.raises(PipelineError, match=r"kfold\.parquet: covers 7 of 8 training examples"):
        build(tables / "data", kfold_scores=tables / "kfold.parquet")


def test_foreign_example_is_named(tables):
    nn = io.read_parquet(tables / "nn.parquet")
    nn.loc[0, "nearest"] = 2  # a test example cannot be a nearest training point
    io.write_parquet(nn, tables / "nn.parquet")
    with pytest.raises(PipelineError, match=r"nn\.parquet: 1 nearest training points are not training examples"):
        build(tables / "data", mrgan=[("tau0_seed0", tables / "nn.parquet")])


def test_old_table_without_needed_column_is_named(tables):
    nn = io.read_parquet(tables / "nn.parquet").drop(columns="nearest")
    io.write_parquet(nn, tables / "nn.parquet")
    with pytest.raises(PipelineError, match=r"nn\.parquet: missing columns \['nearest'\]"):
        build(tables / "data", mrgan=[("tau0_seed0", tables / "nn.parquet")])
