"""The Feldman rules end to end on a tiny config: shards, estimates, consistency and figures."""

import numpy as np
import pandas as pd
import pytest

from conftest import tiny_config
from pipeline import paths
from pipeline.feldman.consistency import mem_consistency

pytestmark = pytest.mark.workflow

TINY = tiny_config("feldman")


def test_feldman_outputs(workflow_runner):
    workflow_runner(TINY)
    out = workflow_runner.workdir / paths.FELDMAN.format(dataset="digits")
    shards = [pd.read_parquet(out / "mlp" / "shards" / f"shard{k}.parquet") for k in range(2)]
    assert [s["run"].tolist() for s in shards] == [[0, 1, 2, 3], [4, 5]]
    n_train = len(shards[0]["member"].iloc[0])
    assert all(abs(len(t) - 0.2 * 1797) < 5 for t in shards[0]["test_correct"])  # 20 % of the digits
    assert (np.stack(shards[0]["member"]).sum(1) == round(0.7 * n_train)).all()
    mem = pd.read_parquet(out / "mlp" / "memorization.parquet")
    assert list(mem.columns[:4]) == ["index", "label", "mem", "se"] and len(mem) == n_train
    assert ((mem["n_in"] + mem["n_out"]) == 6).all()
    # with 6 runs some example is in every subset or in none: undefined, NaN not 0
    assert mem.loc[(mem["n_in"] == 0) | (mem["n_out"] == 0), "mem"].isna().all()
    pairs = pd.read_parquet(out / "cnn" / "influence_pairs.parquet")
    assert {"train_index", "test_index", "mem", "infl", "infl_se"} <= set(pairs.columns)
    table = pd.read_parquet(out / "consistency" / "mlp_vs_cnn.parquet")
    assert sorted(table["quantity"].unique()) == ["infl", "mem"] and len(table) == 4
    # the rule compares the two architectures' own estimates (not one file with itself)
    mem_cnn = pd.read_parquet(out / "cnn" / "memorization.parquet")
    mem_rows = table[table["quantity"] == "mem"].sort_values("theta").reset_index(drop=True)
    expected = pd.DataFrame(mem_consistency(mem["mem"].to_numpy(), mem_cnn["mem"].to_numpy(), mem_rows["theta"]))
    pd.testing.assert_frame_equal(mem_rows[expected.columns], expected, check_dtype=False)
    assert not np.allclose(mem["mem"].fillna(0), mem_cnn["mem"].fillna(0))
    for name in ["mlp/figures/mem_histogram", "mlp/figures/extremes", "cnn/figures/influence_pairs",
                 "figures/consistency"]:
        assert (out / f"{name}.png").stat().st_size > 0
    assert not list(out.glob("*/shards/*.pt"))  # no checkpoints unless asked
    result = workflow_runner(TINY, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


# A researcher's own classifier, in a module file of the run's folder (where jobs import it from).
OWN_MODULE = '''"""My classifier."""
from torch import nn


def make(in_shape, n_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(in_shape[0] * in_shape[1] * in_shape[2], 16), nn.ReLU(),
                         nn.Linear(16, n_classes))
'''


def test_editing_the_researchers_own_module_reruns_its_shards(workflow_runner):
    config = {**TINY, "feldman": {**TINY["feldman"], "compare": [], "architectures": {
        "mine": {"kind": "module", "factory": "mynets:make", "epochs": 1, "batch_size": 64}}}}
    shard = f"{paths.FELDMAN_ARCH.format(dataset='digits', arch='mine')}/shards/shard0.parquet"
    own = workflow_runner.workdir / "mynets.py"
    own.parent.mkdir(parents=True)
    own.write_text(OWN_MODULE)
    workflow_runner(config, "-p", shard)  # a flag first: the runner's last option takes several values
    assert len(pd.read_parquet(workflow_runner.workdir / shard)) == 4
    own.write_text(OWN_MODULE.replace('"""My classifier."""', '"""My classifier, reworded."""') + "# a note\n")
    assert "Nothing to be done" in workflow_runner(config, "-n", shard).stdout
    own.write_text(OWN_MODULE.replace("16", "24"))
    dry = workflow_runner(config, "-n", shard).stdout
    assert "feldman_train_shard" in dry and "Nothing to be done" not in dry
