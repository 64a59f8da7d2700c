"""The atlas of the default run (.test/default.yaml): every data set a per-example method ran on, with
exactly the columns of the methods that ran there, nothing lost or doubled, documented dtypes.

Expectations come from the config the run used (``default_config``) and from ``pipeline.targets``,
which says what the workflow builds, not from copies of the config's values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline import paths
from pipeline.atlas.columns import describe, mrgan_job_name, score_columns
from pipeline.targets import atlas_datasets, atlas_diffusion_jobs

pytestmark = pytest.mark.workflow


def expected_columns(config, dataset) -> set[str]:
    """The atlas columns of dataset besides index and label: one set per method that ran on it."""
    columns = set()
    if dataset in config["feldman"]["datasets"]:
        columns |= {f"feldman_{q}_{arch}" for arch in config["feldman"]["architectures"]
                    for q in ["mem", "se", "mem_margin", "mem_margin_se", "lira", "lira_fixed", "slowness",
                              "infl_pairs", "infl_beyond_chance"]}
    if dataset in config["kfold_vae"]["datasets"]:
        columns |= {"kfold_M", "kfold_U", "kfold_V", "kfold_rho", "kfold_logpx_full"}
    columns |= {f"diffusion_replicates_{job}" for job, _, _ in atlas_diffusion_jobs(config, dataset)}
    if dataset in config["mrgan"]["datasets"]:
        columns |= {f"mrgan_nn_{mrgan_job_name(tau, seed)}"
                    for tau in config["mrgan"]["taus"] for seed in config["mrgan"]["seeds"]}
    return columns


def training_split(run, dataset):
    index = pd.read_parquet(run / paths.DATASET.format(dataset=dataset) / "index.parquet")
    return index[index["split"] == "train"]


def read_atlas(run, dataset) -> pd.DataFrame:
    return pd.read_parquet(run / paths.ATLAS.format(dataset=dataset) / "atlas.parquet")


def test_one_atlas_per_dataset_with_a_method(default_run, default_config):
    config = default_config
    expected = set(atlas_datasets(config))
    built = {p.parent.name for p in default_run.glob(paths.glob_pattern(f"{paths.ATLAS}/atlas.parquet"))}
    assert built == expected and built, (built, expected)
    # every data set a per-example method ran on has one
    ran = {*config["feldman"]["datasets"], *config["kfold_vae"]["datasets"], *config["mrgan"]["datasets"]}
    ran |= {config["diffusion"]["experiments"][e]["dataset"] for e in config["diffusion"]["run"]}
    assert ran <= built, (ran, built)


def test_atlas_join_keeps_every_training_example_once(default_run, default_config):
    assert atlas_datasets(default_config)
    for dataset in atlas_datasets(default_config):
        atlas = read_atlas(default_run, dataset)
        train = training_split(default_run, dataset)
        # none lost, none doubled, dataset order
        assert atlas["index"].tolist() == train["index"].tolist(), dataset
        assert atlas["label"].tolist() == train["label"].tolist(), dataset
        for name in atlas.columns:
            info = describe(name)
            assert info is not None, f"{dataset}: undocumented column {name}"
            assert str(atlas[name].dtype) == info.dtype, (dataset, name)


def test_atlas_columns_are_the_methods_that_ran_and_match_their_tables(default_run, default_config):
    config, run = default_config, default_run
    assert config["feldman"]["datasets"] and config["kfold_vae"]["datasets"]  # the columns compared below
    for dataset in atlas_datasets(config):
        atlas = read_atlas(default_run, dataset).set_index("index")
        assert set(atlas.columns) - {"label"} == expected_columns(config, dataset), dataset
        if dataset in config["feldman"]["datasets"]:
            for arch in config["feldman"]["architectures"]:
                mem = pd.read_parquet(run / paths.FELDMAN_ARCH.format(dataset=dataset, arch=arch) / "memorization.parquet").set_index("index")
                np.testing.assert_array_equal(atlas[f"feldman_mem_{arch}"], mem["mem"].reindex(atlas.index),
                                              err_msg=f"{dataset} {arch}")
                pairs = pd.read_parquet(run / paths.FELDMAN_ARCH.format(dataset=dataset, arch=arch) /
                                        "influence_pairs.parquet")
                counts = pairs["train_index"].value_counts().reindex(atlas.index, fill_value=0)
                np.testing.assert_array_equal(atlas[f"feldman_infl_pairs_{arch}"], counts, err_msg=f"{dataset} {arch}")
                beyond = atlas[f"feldman_infl_beyond_chance_{arch}"]
                assert 0 < beyond.sum() < len(pairs) and (beyond <= counts).all(), (dataset, arch)
        if dataset in config["kfold_vae"]["datasets"]:
            seed = config["kfold_vae"]["seed"]
            scores = pd.read_parquet(run / paths.KFOLD_VAE.format(dataset=dataset, seed=seed) / "kfold_scores.parquet")
            np.testing.assert_array_equal(atlas["kfold_M"], scores.set_index("index")["M"].reindex(atlas.index),
                                          err_msg=dataset)
            kfold = ["kfold_M", "kfold_U", "kfold_V", "kfold_rho", "kfold_logpx_full"]
            assert atlas[kfold].notna().all().all(), dataset
            # log p(x) under the full VAE is a likelihood of binarized pixels in nats: negative, finite
            assert (atlas["kfold_logpx_full"] < 0).all() and np.isfinite(atlas["kfold_logpx_full"]).all(), dataset


def test_gan_and_diffusion_counts_add_up_to_their_samples(default_run, default_config):
    config = default_config
    assert config["mrgan"]["datasets"] and config["diffusion"]["run"]  # the counts checked below
    for dataset in config["mrgan"]["datasets"]:
        atlas = read_atlas(default_run, dataset)
        gan = [c for c in atlas.columns if c.startswith("mrgan_nn_")]
        assert len(gan) == len(config["mrgan"]["taus"]) * len(config["mrgan"]["seeds"]), dataset
        # every sample has one nearest training example
        assert all(atlas[c].sum() == config["mrgan"]["n_samples"] for c in gan), dataset
    for dataset in dict.fromkeys(config["diffusion"]["experiments"][e]["dataset"] for e in config["diffusion"]["run"]):
        atlas = read_atlas(default_run, dataset)
        for job, replicates, subset in atlas_diffusion_jobs(config, dataset):
            column = f"diffusion_replicates_{job}"
            # defined exactly on the model's training subset
            subset = pd.read_parquet(default_run / subset)
            assert atlas[column].notna().sum() == len(subset), column
            assert set(atlas.loc[atlas[column].notna(), "index"]) == set(subset["index"]), column
            assert atlas[column].sum() == pd.read_parquet(default_run / replicates)["replicate"].sum(), column


def test_analysis_tables_of_the_default_run(default_run, default_config):
    assert atlas_datasets(default_config)
    for dataset in atlas_datasets(default_config):
        atlas = read_atlas(default_run, dataset)
        folder = default_run / paths.ATLAS.format(dataset=dataset)
        pairs = pd.read_parquet(folder / "pairs.parquet")
        k = len(score_columns(atlas.columns))
        assert len(pairs) == k * (k - 1) // 2, dataset
        defined = pairs.dropna(subset=["spearman"])
        inside = (defined["ci_low"] <= defined["spearman"] + 1e-9) & (defined["spearman"] <= defined["ci_high"] + 1e-9)
        assert inside.all(), dataset
        flagged = pd.read_parquet(folder / "flagged.parquet")
        assert flagged["index"].is_unique and set(flagged["index"]) <= set(atlas["index"]), dataset
        for name in ["correlations", "scatter", "flagged"]:
            assert (folder / "figures" / f"{name}.png").stat().st_size > 1000, (dataset, name)


def test_compared_architectures_agree_on_memorized_examples(default_run, default_config):
    """Two architectures trained on the same subsets agree on which examples are memorized: their mem
    estimates are rank-correlated, the whole bootstrap interval above 0 (at the default config about
    0.67-0.74 on mnist5k, 0.17-0.34 on the 8x8 digits)."""
    feldman = default_config["feldman"]
    assert feldman["datasets"] and feldman["compare"], "the test config compares no Feldman architectures"
    for dataset in feldman["datasets"]:
        pairs = pd.read_parquet(default_run / paths.ATLAS.format(dataset=dataset) / "pairs.parquet")
        for a, b in feldman["compare"]:
            names = {f"feldman_mem_{a}", f"feldman_mem_{b}"}
            row = pairs[[{x, y} == names for x, y in zip(pairs["score_a"], pairs["score_b"])]]
            assert len(row) == 1 and row["ci_low"].iloc[0] > 0, (dataset, a, b, row)
