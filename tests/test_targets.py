"""pipeline.targets: what a config builds, as the Snakefile's default target and the rules' inputs see it."""

from __future__ import annotations

import copy

import pytest

from conftest import REPO
from pipeline import paths, targets
from pipeline.config import load_config


@pytest.fixture(scope="module")
def default():
    return load_config(REPO / ".test" / "default.yaml")


def test_the_default_target_has_every_stage_of_the_default_experiment(default):
    target = targets.default_target(default)
    assert len(target) == len(set(target))
    assert f"{paths.DATASET.format(dataset='digits_planted')}/index.parquet" in target
    assert f"{paths.FELDMAN.format(dataset='digits_planted')}/figures/consistency.png" in target
    assert f"{paths.KFOLD_VAE.format(dataset='digits_planted', seed=0)}/kfold_scores.parquet" in target
    assert f"{paths.DIFFUSION.format(experiment='sweep')}/summary.parquet" in target
    assert f"{paths.MRGAN.format(dataset='digits')}/summary.parquet" in target
    assert f"{paths.ATLAS.format(dataset='digits_planted')}/planted.parquet" in target
    assert f"{paths.CLAIMS}/claims.parquet" in target
    # experiments not in diffusion.run are not built
    assert not any(path.startswith(paths.DIFFUSION.format(experiment="dummies")) for path in target)


def test_atlases_are_the_data_sets_a_per_example_method_ran_on(default):
    assert targets.atlas_datasets(default) == ["digits_planted", "mondrian8", "digits"]
    assert targets.atlas_planted_datasets(default) == ["digits_planted"]
    options = [option for option, _, _ in targets.atlas_sources(default, "digits_planted")]
    assert options == ["--feldman", "--feldman", "--feldman-influence", "--feldman-influence", "--kfold-scores",
                       "--rho", "--logpx-full"]
    # every DDPM of the sweep trained on mondrian8, named as the atlas's columns are
    jobs = targets.atlas_diffusion_jobs(default, "mondrian8")
    assert [name for name, _, _ in jobs] == [f"sweep_n{n}_w{w}_seed0" for n in (4, 32, 256) for w in (8, 16)]
    config = copy.deepcopy(default)
    config["mrgan"]["datasets"] = []
    assert "digits" not in targets.atlas_datasets(config)


def test_rule_inputs_follow_the_config(default):
    assert targets.feldman_n_shards(default) == 4  # 64 runs, 16 a shard
    config = copy.deepcopy(default)
    config["splits"]["feldman"]["runs"], config["feldman"]["shard_size"] = 65, 16
    assert targets.feldman_n_shards(config) == 5
    config["feldman"]["shard_size"] = "auto"
    only = f"{paths.FELDMAN_ARCH.format(dataset='d', arch='mlp')}/shards/shard0.parquet"
    assert targets.feldman_shard_files(config, "d", "mlp") == [only]
    # the grid figure shows the smallest and largest subsets of the widest model
    assert targets.diffusion_grid_dirs(default, "sweep") == [
        paths.DIFFUSION_JOB.format(experiment="sweep", size=size, width=16, seed=0) for size in (4, 256)]
    assert len(targets.kfold_vae_logpx_files(default, "digits_planted", 0)) == 4 * 2  # folds x repeats
    assert targets.source_datasets(default, "mo_gm8") == ["gmix8", "mondrian8"]
    assert targets.source_datasets(default, "digits_planted") == ["digits"]
    assert targets.mrgan_fid_inputs(default, "digits", "0", "0") == {}  # mrgan.fid_images 0: no FID
    config["mrgan"]["fid_images"] = 100
    assert targets.mrgan_fid_inputs(config, "digits", "0", "0")["fid_test"] == \
        paths.FID_FEATURES.format(dataset="digits", split="test", n=100)


def test_no_claims_configured_builds_no_claims(default):
    config = copy.deepcopy(default)
    config["claims"] = {}
    assert targets.claims_targets(config) == []
    assert len(targets.claims_targets(default)) == 1 + len(targets.CLAIMS_PAPERS) + 1  # the table, figures, table.png


def test_the_claims_read_what_their_declared_inputs_name(default):
    """The claims rules' inputs are built here and checked against pipeline.claims.tables at start-up:
    on planted data the Feldman claims read the canaries' index and the shards, on other data not."""
    from pipeline.claims import tables

    inputs = targets.claims_input_files(default)
    tables.check_built(inputs, default["claims"], lambda name: targets.is_planted(default, name))
    feldman = default["claims"]["feldman"]
    assert inputs["feldman_mem"] == f"{paths.FELDMAN_ARCH.format(dataset=feldman['dataset'], arch=feldman['arch'])}" \
                                    "/memorization.parquet"
    assert inputs["feldman_shards"] == targets.feldman_shard_files(default, feldman["dataset"], feldman["arch"])
    plain = copy.deepcopy(default)
    plain["claims"]["feldman"]["dataset"] = "digits"
    assert not targets.is_planted(plain, "digits")
    assert {"feldman_index", "feldman_pairs", "feldman_shards"}.isdisjoint(targets.claims_input_files(plain))
