"""The MR-GAN rules end to end in the default run (.test/default.yaml): every table, the summary and the
figures."""

import pandas as pd
import pytest

from pipeline import paths
from pipeline.frechet import fd_column
from pipeline.mrgan import EMBEDDING_NAMES

pytestmark = pytest.mark.workflow


def test_mrgan_sweep_outputs(default_run, default_config):
    CONFIG = default_config["mrgan"]  # the config the default run used, defaults filled in
    assert CONFIG["datasets"], "the test config runs no MR-GAN"
    dataset = CONFIG["datasets"][0]
    out = default_run / paths.MRGAN.format(dataset=dataset)
    summary = pd.read_parquet(out / "summary.parquet")
    assert list(summary["tau"]) == sorted(float(t) for t in CONFIG["taus"])
    assert (summary["embedding"] == EMBEDDING_NAMES[CONFIG["embedding"]["kind"]]).all()
    kind = CONFIG["embedding"]["kind"]  # Frechet distances in the embedding are named for it, never FID
    distances = [fd_column(kind, against) for against in ("train", "test", "test_train")]
    assert summary[["ct", *distances, "tau_guideline"]].notna().all().all()
    assert ("fid_test" in summary.columns) == (CONFIG["fid_images"] > 0)
    # tau = 0 rejects nothing; a positive tau drops some fakes, more as tau grows
    kept = summary.set_index("tau")["kept_fraction"]
    assert kept.get(0.0, 1.0) == 1.0 and kept.is_monotonic_decreasing, kept
    if kept.index.max() > 0:
        assert 0 < kept.iloc[-1] < 1.0, kept
    index = pd.read_parquet(default_run / paths.DATASET.format(dataset=dataset) / "index.parquet")
    n_classes = index["label"].nunique()
    classwise = pd.read_parquet(out / "classwise_summary.parquet")
    assert len(classwise) == len(CONFIG["taus"]) * len(CONFIG["seeds"]) * n_classes
    job = default_run / paths.MRGAN_JOB.format(dataset=dataset, tau=paths.tau_label(max(CONFIG["taus"])),
                                               seed=CONFIG["seeds"][0])
    nn = pd.read_parquet(job / "nn_distances.parquet")
    assert (nn["set"] == "generated").sum() == CONFIG["n_samples"]
    assert (nn["set"] == "test").sum() == (index["split"] == "test").sum()
    assert set(nn["nearest"]) <= set(index.loc[index["split"] == "train", "index"])
    log = pd.read_parquet(job / "train_log.parquet")
    assert len(log) == CONFIG["steps"] and not (job / "generator.pt.resume.pt").exists()
    for name in ["fd_vs_ct", "classwise_ct", "nn_distances"]:
        assert (out / "figures" / f"{name}.png").stat().st_size > 0
    assert "tau guideline" in (default_run / paths.LOGS / f"mrgan/{dataset}/guideline.log").read_text()
