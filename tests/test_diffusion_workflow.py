"""The diffusion rules end to end in the default run (.test/default.yaml): replicate share falls as the
subset grows."""

import pandas as pd
import pytest

from pipeline import paths

pytestmark = pytest.mark.workflow


def test_default_sweep_replicate_share_falls_with_subset_size(default_run, default_config):
    assert "sweep" in default_config["diffusion"]["run"], "the test config does not run the diffusion sweep"
    sweep = default_config["diffusion"]["experiments"]["sweep"]
    out = default_run / paths.DIFFUSION.format(experiment="sweep")
    smallest, largest, widest = min(sweep["sizes"]), max(sweep["sizes"]), max(sweep["widths"])
    seed = sweep["seeds"][0]
    summary = pd.read_parquet(out / "summary.parquet")
    overall = summary[(summary["class"] == -1) & (summary["width"] == widest) & (summary["seed"] == seed)]
    overall = overall.set_index("size")
    # the widest model trained on a handful of images copies them; on many it does not
    assert overall.loc[smallest, "replicate_share"] >= 0.8, overall
    assert overall.loc[largest, "replicate_share"] <= 0.2, overall
    assert overall.loc[smallest, "n_train_replicated"] >= smallest - 1
    assert overall.loc[largest, "n_train"] == largest
    assert "falls with train-set size" in (default_run / paths.LOGS / "diffusion/sweep/summary.log").read_text()
    # the neighbours were searched in exactly the training subset, by its dataset indices
    subset = pd.read_parquet(default_run / paths.DIFFUSION_SUBSET.format(experiment="sweep", size=smallest) / "subset.parquet")
    assert set(subset["index"]) <= set(pd.read_parquet(default_run / paths.DIFFUSION_SUBSET.format(experiment="sweep", size=largest) / "subset.parquet")["index"])
    job = paths.DIFFUSION_JOB.format(experiment="sweep", size=smallest, width=widest, seed=seed)
    reps = pd.read_parquet(default_run / job / "replicates.parquet")
    assert set(reps["nearest"]) <= set(subset["index"])
    for name in ["share_vs_size.png", "per_class.png", "grid.png"]:
        assert (out / "figures" / name).stat().st_size > 1000
    train_log = default_run / paths.LOGS / f"diffusion/sweep/n{smallest}_w{widest}_seed{seed}_train.log"
    assert "done in" in train_log.read_text()
