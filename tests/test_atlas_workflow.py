"""The atlas of the default run: every data set a per-example method ran on, the embedded
MNIST digits with every method that ran there, nothing lost or doubled, documented dtypes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.atlas.columns import describe, score_columns

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def config(default_run):
    return yaml.safe_load((default_run / "config.yaml").read_text())


def training_split(run, dataset):
    index = pd.read_parquet(run / "results" / "data" / dataset / "index.parquet")
    return index[index["split"] == "train"]


def test_one_atlas_per_dataset_with_a_method(default_run, config):
    expected = set(config["feldman"]["datasets"]) | set(config["kfold_vae"]["datasets"]) | \
        set(config["mrgan"]["datasets"]) | {config["diffusion"]["experiments"][e]["dataset"]
                                            for e in config["diffusion"]["run"]}
    built = {p.parent.name for p in (default_run / "results" / "atlas").glob("*/atlas.parquet")}
    assert built == expected
    assert {"mnist5k", "digits", "mondrian8"} <= built


@pytest.mark.parametrize("dataset", ["mnist5k", "digits", "mondrian8"])
def test_atlas_join_keeps_every_training_example_once(default_run, dataset):
    atlas = pd.read_parquet(default_run / "results" / "atlas" / dataset / "atlas.parquet")
    train = training_split(default_run, dataset)
    assert atlas["index"].tolist() == train["index"].tolist()  # none lost, none doubled, dataset order
    assert atlas["label"].tolist() == train["label"].tolist()
    for name in atlas.columns:
        info = describe(name)
        assert info is not None, f"undocumented column {name}"
        assert str(atlas[name].dtype) == info.dtype, name


def test_mnist_atlas_has_feldman_and_kfold_columns_matching_their_tables(default_run, config):
    run = default_run / "results"
    atlas = pd.read_parquet(run / "atlas" / "mnist5k" / "atlas.parquet").set_index("index")
    expected = {f"feldman_{q}_{arch}" for arch in config["feldman"]["architectures"] for q in ["mem", "se"]}
    expected |= {"kfold_M", "kfold_U", "kfold_V", "kfold_rho", "kfold_logpx_full"}
    assert set(atlas.columns) - {"label"} == expected  # no diffusion or GAN columns: they did not run here
    mem = pd.read_parquet(run / "feldman" / "mnist5k" / "mlp" / "memorization.parquet").set_index("index")
    np.testing.assert_array_equal(atlas["feldman_mem_mlp"], mem["mem"].reindex(atlas.index))
    seed = config["kfold_vae"]["seed"]
    scores = pd.read_parquet(run / "kfold_vae" / "mnist5k" / f"seed{seed}" / "kfold_scores.parquet").set_index("index")
    np.testing.assert_array_equal(atlas["kfold_M"], scores["M"].reindex(atlas.index))
    assert atlas[sorted(expected)].notna().all().all()
    # log p(x) under the full VAE is a likelihood of 784 binarized pixels in nats: negative, finite
    assert (atlas["kfold_logpx_full"] < 0).all() and np.isfinite(atlas["kfold_logpx_full"]).all()


def test_gan_and_diffusion_counts_add_up_to_their_samples(default_run, config):
    digits = pd.read_parquet(default_run / "results" / "atlas" / "digits" / "atlas.parquet")
    gan = [c for c in digits.columns if c.startswith("mrgan_nn_")]
    assert len(gan) == len(config["mrgan"]["taus"]) * len(config["mrgan"]["seeds"])
    assert all(digits[c].sum() == config["mrgan"]["n_samples"] for c in gan)  # every sample has one nearest
    mondrian = pd.read_parquet(default_run / "results" / "atlas" / "mondrian8" / "atlas.parquet")
    sweep = config["diffusion"]["experiments"]["sweep"]
    for size in sweep["sizes"]:
        column = f"diffusion_replicates_sweep_n{size}_w{sweep['widths'][0]}_seed{sweep['seeds'][0]}"
        assert mondrian[column].notna().sum() == size  # defined exactly on the model's training subset
        replicates = pd.read_parquet(default_run / "results" / "diffusion" / "sweep" / f"n{size}" /
                                     f"w{sweep['widths'][0]}" / f"seed{sweep['seeds'][0]}" / "replicates.parquet")
        assert mondrian[column].sum() == replicates["replicate"].sum()


def test_analysis_tables_of_the_default_run(default_run):
    run = default_run / "results" / "atlas"
    for dataset in ["mnist5k", "digits"]:
        atlas = pd.read_parquet(run / dataset / "atlas.parquet")
        pairs = pd.read_parquet(run / dataset / "pairs.parquet")
        k = len(score_columns(atlas.columns))
        assert len(pairs) == k * (k - 1) // 2
        defined = pairs.dropna(subset=["spearman"])
        inside = (defined["ci_low"] <= defined["spearman"] + 1e-9) & (defined["spearman"] <= defined["ci_high"] + 1e-9)
        assert inside.all()
        flagged = pd.read_parquet(run / dataset / "flagged.parquet")
        assert flagged["index"].is_unique and set(flagged["index"]) <= set(atlas["index"])
    pairs = pd.read_parquet(run / "mnist5k" / "pairs.parquet").set_index(["score_a", "score_b"])
    # two architectures on the same subsets agree on which digits are memorized
    assert pairs.loc[("feldman_mem_mlp", "feldman_mem_mlp_small"), "ci_low"] > 0.3
    for name in ["correlations", "scatter", "flagged"]:
        assert (run / "mnist5k" / "figures" / f"{name}.png").stat().st_size > 1000
