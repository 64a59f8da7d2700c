"""The default run (.test/default.yaml) finds memorization it was given: planted canaries are detected,
and every claim the config covers passes (the rest are `not run`, never passed)."""

import pandas as pd
import pytest

from pipeline import paths

pytestmark = pytest.mark.workflow


def test_default_run_detects_planted_canaries(default_run, default_config):
    planted = [name for name, spec in default_config["datasets"].items() if spec["kind"] == "planted"]
    scored = [name for name in planted
              if name in default_config["feldman"]["datasets"] or name in default_config["kfold_vae"]["datasets"]]
    assert scored, f"no Feldman or K-fold VAE run on a planted data set ({planted}): nothing to detect"
    for dataset in scored:
        table = pd.read_parquet(default_run / paths.ATLAS.format(dataset=dataset) / "planted.parquet")
        auroc = table.set_index(["score", "kind"])["auroc"]
        if dataset in default_config["feldman"]["datasets"]:
            for arch in default_config["feldman"]["architectures"]:
                # a flipped label can only be fit by memorizing it
                assert auroc[(f"feldman_mem_{arch}", "flipped")] >= 0.95, table
        if dataset in default_config["kfold_vae"]["datasets"]:
            # an inverted digit is atypical: a VAE assigns it likelihood only when trained on it
            assert auroc[("kfold_M", "outlier")] >= 0.9, table


def test_every_claim_the_default_run_covers_passes(default_run, default_config):
    assert default_config["claims"], "the test config checks no claims"
    claims = pd.read_parquet(default_run / paths.CLAIMS / "claims.parquet")
    assert set(claims["passed"]) <= {"true", "false", "not run"}
    run = claims[claims["passed"] != "not run"]
    assert len(run) and set(run["paper"]) == set(default_config["claims"]), claims
    failed = run[run["passed"] != "true"]
    assert failed.empty, failed[["id", "value", "detail"]].to_string()
    # a claim whose experiment is not configured is never passed
    assert (claims.loc[~claims["paper"].isin(list(default_config["claims"])), "passed"] == "not run").all()
