"""The K-fold VAE rules end to end on a tiny config, the paper config's validity, and config errors."""

import numpy as np
import pandas as pd
import pytest

from conftest import REPO, tiny_config
from pipeline import paths
from pipeline.config import load_config

pytestmark = pytest.mark.workflow

TINY = tiny_config("kfold_vae")
OUT = paths.KFOLD_VAE.format(dataset="ink", seed=0)


def test_tiny_kfold_vae_run(workflow_runner):
    workflow_runner(TINY)
    root = workflow_runner.workdir
    logpx = pd.concat([pd.read_parquet(root / OUT / f"models/r{r}_f{f}/logpx.parquet")
                       for r in range(1) for f in range(2)])
    assert list(logpx.columns) == ["index", "repeat", "fold", "in_training", "epoch", "logpx"]
    assert set(logpx["epoch"]) == {1, 2} and np.isfinite(logpx["logpx"]).all()
    kfold = pd.read_parquet(root / paths.SPLITS.format(dataset="ink", seed=0) / "kfold.parquet")
    merged = logpx.merge(kfold, on=["repeat", "index"], suffixes=("", "_of_example"))
    assert (merged["in_training"] == (merged["fold"] != merged["fold_of_example"])).all()
    scores = pd.read_parquet(root / OUT / "kfold_scores.parquet")
    assert len(scores) == 60 and (scores["n_in"] == 1).all() and (scores["n_out"] == 1).all()
    assert np.allclose(scores["M"], scores["U"] - scores["V"]) and scores["high"].sum() == 3
    # one model trained on each example and one held it out: U and V are those two models' log p(x)
    at = logpx[logpx["epoch"] == scores["epoch"].iloc[0]]
    by_example = scores.set_index("index")
    for column, trained in (("U", True), ("V", False)):
        own = at[at["in_training"] == trained].set_index("index")["logpx"]
        np.testing.assert_allclose(by_example[column], own.loc[by_example.index], rtol=1e-6)
    assert by_example.loc[by_example["high"], "M"].min() >= by_example.loc[~by_example["high"], "M"].max()
    rho = pd.read_parquet(root / OUT / "rho.parquet")
    assert len(rho) == 60 and (rho["rho"] > 0).all() and (rho["nearest_validation"] >= 60).all()
    assert np.load(root / OUT / "full/samples.npy").shape == (30, 16, 16, 3)  # random_ink is RGB
    for name in ["examples", "logpx_histogram", "rho", "m_quantiles"]:
        assert (root / OUT / f"figures/{name}.png").stat().st_size > 1000
    assert "wrote" in (root / paths.LOGS / "kfold_vae/ink/seed0/score.log").read_text()
    assert not list((root / OUT).rglob("*.resume.pt"))  # removed once a job finished


def test_paper_config_validates():
    config = load_config(REPO / "workflow/configs/paper_kfold_vae.yaml")
    assert config["splits"]["kfold"] == {"folds": 10, "repeats": 10}
    assert config["kfold_vae"]["models"]["celeba"]["epochs"] == 50


def test_dataset_without_model_is_a_one_line_error(workflow_runner):
    bad = tiny_config("kfold_vae")
    bad["kfold_vae"]["models"] = {}  # ink listed under kfold_vae.datasets, but no model for it
    result = workflow_runner(bad, "-n", check=False)
    assert result.returncode != 0
    assert "kfold_vae.models" in result.stderr + result.stdout
