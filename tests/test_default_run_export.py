"""docs/export.md's statements about the default run, checked on it: the exported memorization and
influence are the default run's memorization.parquet and influence_pairs.parquet, and the AUC of the
exported LiRA scores over all pairs is membership.parquet's online AUC of design 'all'."""

import numpy as np
import pytest

from pipeline import io, paths
from pipeline.feldman import ladder
from pipeline.feldman.export import export

pytestmark = pytest.mark.workflow

DATASET, ARCH = "digits_planted", "mlp"


def test_the_default_runs_export_holds_its_estimates(default_run, tmp_path):
    base = default_run / paths.FELDMAN_ARCH.format(dataset=DATASET, arch=ARCH)
    shards = sorted((base / "shards").glob("shard*.parquet"))
    export(shards, default_run / paths.DATASET.format(dataset=DATASET), tmp_path,
           membership_pairs=default_run / paths.FELDMAN_MEMBERSHIP_PAIRS.format(dataset=DATASET, arch=ARCH))
    arrays = np.load(tmp_path / "infl_mem.npz")
    mem = io.read_parquet(base / "memorization.parquet")
    position = {index: p for p, index in enumerate(arrays["train_index"])}
    np.testing.assert_allclose(arrays["memorization"][[position[i] for i in mem["index"]]], mem["mem"], atol=1e-6)
    pairs = io.read_parquet(base / "influence_pairs.parquet")
    assert len(pairs) > 100  # the statement is about many pairs, not a handful
    test_position = {index: p for p, index in enumerate(arrays["test_index"])}
    exported = arrays["influence"][[test_position[j] for j in pairs["test_index"]],
                                   [position[i] for i in pairs["train_index"]]]
    np.testing.assert_allclose(exported, pairs["infl"], atol=1e-6)
    scores = io.read_parquet(tmp_path / "membership_scores.parquet", ["run", "member", "lira"])
    t = len(arrays["trainset_mask"])
    membership = io.read_parquet(base / "membership.parquet")
    online = membership[(membership["attack"] == "lira") & (membership["design"] == "all")
                        & (membership["variant"] == "online")]["auc"]
    assert len(online.unique()) == 1
    assert (np.diff(scores["run"].to_numpy()) >= 0).all()  # run by run, each run's examples in order
    auc, _ = ladder.Pairs(scores["lira"].to_numpy().reshape(t, -1), scores["member"].to_numpy().reshape(t, -1)).summary()
    assert auc == pytest.approx(online.iloc[0], abs=1e-9)
