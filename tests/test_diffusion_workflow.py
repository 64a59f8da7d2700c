"""The diffusion rules end to end on a tiny sweep: replicate share falls as the subset grows."""

import pandas as pd
import pytest

pytestmark = pytest.mark.workflow

TINY = {
    "datasets": {"mo": {"kind": "mondrian", "size": 8, "n_train": 128, "seed": 1}},
    "diffusion": {
        "run": ["sweep"],
        "experiments": {
            "sweep": {"dataset": "mo", "sizes": [4, 128], "widths": [16], "steps": 300, "lr": 0.003,
                      "n_samples": 64, "sample_steps": 20},
        },
    },
}


def test_tiny_sweep_replicate_share_falls_with_subset_size(workflow_runner):
    workflow_runner(TINY)
    out = workflow_runner.workdir / "results/diffusion/sweep"
    summary = pd.read_parquet(out / "summary.parquet")
    overall = summary[summary["class"] == -1].set_index("size")
    assert overall.loc[4, "replicate_share"] >= 0.8, overall
    assert overall.loc[128, "replicate_share"] <= 0.2, overall
    assert overall.loc[4, "n_train_replicated"] >= 3 and overall.loc[128, "n_train"] == 128
    assert "falls with train-set size" in (workflow_runner.workdir / "results/logs/diffusion/sweep/summary.log").read_text()
    # the neighbours were searched in exactly the training subset, by its dataset indices
    subset = pd.read_parquet(out / "n4/subset.parquet")
    assert set(subset["index"]) <= set(pd.read_parquet(out / "n128/subset.parquet")["index"])
    reps = pd.read_parquet(out / "n4/w16/seed0/replicates.parquet")
    assert set(reps["nearest"]) <= set(subset["index"])
    for name in ["share_vs_size.png", "per_class.png", "grid.png"]:
        assert (out / "figures" / name).stat().st_size > 1000
    assert "done in" in (workflow_runner.workdir / "results/logs/diffusion/sweep/n4_w16_seed0_train.log").read_text()
