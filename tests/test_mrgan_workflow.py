"""The MR-GAN rules end to end on a tiny config: every table, the summary and the figures."""

import pandas as pd
import pytest

pytestmark = pytest.mark.workflow

TINY = {
    "datasets": {"g": {"kind": "gaussian_mixture", "size": 8, "n_train": 150, "n_test": 60, "n_centers": 3}},
    "mrgan": {"datasets": ["g"], "taus": [0, 0.003], "seeds": [0], "steps": 20, "max_resample": 50,
              "batch_size": 16, "width": 8, "z_dim": 8, "checkpoint_every": 10, "n_samples": 150,
              "kmeans_cells": 3, "classwise_cells": 1,
              "embedding": {"kind": "classifier", "classifier_epochs": 3}},
}


def test_mrgan_sweep_outputs(workflow_runner):
    workflow_runner(TINY)
    out = workflow_runner.workdir / "results" / "mrgan" / "g"
    summary = pd.read_parquet(out / "summary.parquet")
    assert list(summary["tau"]) == [0.0, 0.003] and (summary["embedding"] == "classifier_penultimate").all()
    assert summary[["ct", "fid_train", "fid_test", "tau_guideline"]].notna().all().all()
    assert summary["kept_fraction"].iloc[0] == 1.0 and summary["kept_fraction"].iloc[1] < 1.0
    classwise = pd.read_parquet(out / "classwise_summary.parquet")
    assert len(classwise) == 2 * 3
    nn = pd.read_parquet(out / "tau0.003" / "seed0" / "nn_distances.parquet")
    assert (nn["set"] == "generated").sum() == 150 and (nn["set"] == "test").sum() == 60
    log = pd.read_parquet(out / "tau0.003" / "seed0" / "train_log.parquet")
    assert len(log) == 20 and not (out / "tau0.003" / "seed0" / "checkpoint.pt").exists()
    for name in ["fid_vs_ct", "classwise_ct", "nn_distances"]:
        assert (out / "figures" / f"{name}.png").stat().st_size > 0
    assert "tau guideline" in (workflow_runner.workdir / "results/logs/mrgan/g/guideline.log").read_text()
    # nothing left to do on a rerun
    rerun = workflow_runner(TINY, "-n")
    assert "Nothing to be done" in rerun.stdout + rerun.stderr
