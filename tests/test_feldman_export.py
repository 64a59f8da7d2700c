"""The export of a Feldman architecture's runs (pipeline.feldman.export): each format written from
shard tables and read back, and brought back as runs where the format allows, with the same numbers."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.feldman import export, ladder, lira, rmia, runs_file
from pipeline.feldman.estimate import memorization_and_influence
from pipeline.feldman.runs import read_runs
from pipeline.feldman.shard_table import shard_table

T, N_TRAIN, N_TEST = 12, 40, 10


def simulated_runs(seed=0):
    rng = np.random.default_rng(seed)
    member = rng.random((T, N_TRAIN)) < 0.7
    member[0, :] = ~member[1, :]  # every example in some run and out of some other
    phi = (rng.normal(0, 2, N_TRAIN)[None, :] + member + rng.normal(0, 1, (T, N_TRAIN))).astype(np.float32)
    test_margin = rng.normal(1, 2, (T, N_TEST)).astype(np.float32)
    epochs = np.full(T, 5)
    records = {"train_correct": phi > 0.5, "test_correct": test_margin > 0, "train_margin": phi - 0.3,
               "test_margin": test_margin, "train_logit_conf": phi,
               "train_epoch_correct": np.where(member, rng.integers(0, 6, (T, N_TRAIN)), 0).astype(np.uint8),
               "train_cum_loss": np.where(member, rng.random((T, N_TRAIN)), 0).astype(np.float32)}
    return member, records, epochs


@pytest.fixture
def exported(tmp_path):
    """Shard tables of 12 runs in two shards (run order shuffled within them), a data set whose test
    examples lie between its training ones, and the export of both."""
    member, records, epochs = simulated_runs()
    split = np.array(["train"] * N_TRAIN + ["test"] * N_TEST)
    np.random.default_rng(1).shuffle(split)
    images = np.zeros((N_TRAIN + N_TEST, 1, 2, 2), np.uint8)
    Dataset.from_arrays(images, np.arange(N_TRAIN + N_TEST) % 3, split, "toy").save(tmp_path / "data")
    shards = []
    for part, rows in enumerate((np.array([3, 0, 5, 1, 2, 4]), np.arange(6, T)[::-1])):
        path = tmp_path / f"shard{part}.parquet"
        pq.write_table(shard_table(rows, 0, 0, "mlp", member[rows], {k: v[rows] for k, v in records.items()},
                                   epochs[rows]), path)
        shards.append(path)
    out = tmp_path / "export"
    export.export(shards, tmp_path / "data", out)
    return {"member": member, "records": records, "epochs": epochs, "shards": shards, "out": out,
            "data": Dataset.load(tmp_path / "data")}


def test_runs_npz_comes_back_as_the_same_runs(exported, tmp_path):
    with np.load(exported["out"] / "runs.npz") as npz:
        arrays = {name: npz[name] for name in npz.files}
    assert set(arrays) == {*runs_file.REQUIRED, *runs_file.OPTIONAL}
    table = runs_file.runs_table(tmp_path / "runs.npz", arrays, N_TRAIN, N_TEST, "mlp")
    pq.write_table(table, tmp_path / "back.parquet")
    back, original = read_runs([tmp_path / "back.parquet"]), read_runs(exported["shards"])
    for field in ("member", "correct", "test_correct", "margin", "lira_statistic", "epoch_correct", "cum_loss",
                  "epochs"):
        np.testing.assert_array_equal(getattr(back, field), getattr(original, field), err_msg=field)
    back_test_margin = export.list_records([tmp_path / "back.parquet"], "test_margin")
    np.testing.assert_array_equal(back_test_margin, exported["records"]["test_margin"])


def test_infl_mem_npz_holds_the_estimates_in_the_authors_layout(exported):
    member, records = exported["member"], exported["records"]
    with np.load(exported["out"] / "infl_mem.npz") as npz:
        arrays = {name: npz[name] for name in npz.files}
    assert arrays["memorization"].shape == (N_TRAIN,) and arrays["memorization"].dtype == np.float32
    assert arrays["influence"].shape == (N_TEST, N_TRAIN) and arrays["influence"].dtype == np.float32
    mem, infl, _ = memorization_and_influence(member, records["train_correct"], records["test_correct"])
    np.testing.assert_allclose(arrays["memorization"], mem["mem"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(arrays["influence"], infl.T, rtol=1e-6, atol=1e-7)
    # the authors' estimate_infl_mem on the stacked arrays beside them: the same numbers
    mask, correct, test = arrays["trainset_mask"], arrays["trainset_correctness"], arrays["testset_correctness"]

    def masked_avg(x, m):
        return (np.sum(x * m, axis=0) / np.maximum(np.sum(m, axis=0), 1e-10)).astype(np.float32)

    def masked_dot(x, m):
        x = x.T.astype(np.float32)
        return (np.matmul(x, m) / np.maximum(np.sum(m, axis=0, keepdims=True), 1e-10)).astype(np.float32)

    np.testing.assert_allclose(masked_avg(correct, mask) - masked_avg(correct, ~mask), arrays["memorization"],
                               atol=1e-6)
    np.testing.assert_allclose(masked_dot(test, mask) - masked_dot(test, ~mask), arrays["influence"], atol=1e-6)
    np.testing.assert_array_equal(arrays["train_index"], exported["data"].indices("train"))
    np.testing.assert_array_equal(arrays["test_index"], exported["data"].indices("test"))
    # brought back as runs (the arrays under the runs file's names): the same estimates
    table = runs_file.runs_table(exported["out"] / "infl_mem.npz", {
        "member": mask, "train_correct": correct, "test_correct": test}, N_TRAIN, N_TEST, "theirs")
    back = read_runs_from(table, exported["out"].parent / "theirs.parquet")
    mem_back, infl_back, _ = memorization_and_influence(back.member, back.correct, back.test_correct)
    np.testing.assert_array_equal(mem_back["mem"], mem["mem"])
    np.testing.assert_array_equal(infl_back, infl)


def read_runs_from(table, path):
    pq.write_table(table, path)
    return read_runs([path], scores=False)


def test_datamodels_arrays(exported, tmp_path):
    folder = exported["out"] / "datamodels"
    masks = np.lib.format.open_memmap(folder / "masks.npy", mode="r")  # as the datamodels regression reads them
    margins = np.lib.format.open_memmap(folder / "margins.npy", mode="r")
    completed = np.load(folder / "_completed.npy")
    np.testing.assert_array_equal(masks, exported["member"])
    assert margins.dtype == np.float32
    np.testing.assert_array_equal(margins, exported["records"]["test_margin"])
    assert completed.dtype == bool and completed.all()
    # runs that kept no margins: NaN rows, not completed
    member, records, epochs = simulated_runs()
    records["test_margin"] = np.zeros((T, 0), np.float32)
    runs = read_runs_from(shard_table(np.arange(T), 0, 0, "mlp", member, records, epochs), tmp_path / "x.parquet")
    arrays = export.datamodels_arrays(runs, export.list_records([tmp_path / "x.parquet"], "test_margin", N_TEST))
    assert arrays["margins"].shape == (T, N_TEST) and np.isnan(arrays["margins"]).all()
    assert not arrays["_completed"].any()


def test_membership_scores(exported):
    member, phi = exported["member"], exported["records"]["train_logit_conf"]
    table = pd.read_parquet(exported["out"] / "membership_scores.parquet")
    assert dict(table.dtypes.astype(str)) == export.SCORE_COLUMNS and len(table) == T * N_TRAIN
    np.testing.assert_array_equal(table["run"], np.repeat(np.arange(T), N_TRAIN))
    np.testing.assert_array_equal(table["index"], np.tile(exported["data"].indices("train"), T))
    np.testing.assert_array_equal(table["member"], member.ravel())
    np.testing.assert_array_equal(table["statistic"], phi.ravel())
    ratios = lira.log_ratios(member, phi)
    np.testing.assert_allclose(table["lira"], ratios["online"].ravel(), rtol=1e-12)
    np.testing.assert_allclose(table["lira_fixed"], ratios["fixed"].ravel(), rtol=1e-12)
    # the AUC over the pairs is membership.parquet's
    online = lira.membership_table(member, phi).query("variant == 'online'")["auc"].iloc[0]
    auc, _ = ladder.Pairs(table["lira"].to_numpy().reshape(T, N_TRAIN), member).summary()
    assert auc == pytest.approx(online, abs=1e-12)
    # RMIA with every other run as a reference, online and offline, at the schema's a and gamma
    for variant in rmia.VARIANTS:
        for target in (0, 7):
            others = np.delete(np.arange(T), target)
            ratio, _ = rmia.log_ratios(member, phi, target, others, {variant: [2 * T]}, 0.3)[variant]
            expected = rmia.pairwise_scores(ratio[0], ~member[target], 1.0)
            np.testing.assert_array_equal(table[f"rmia_{variant}"].to_numpy().reshape(T, N_TRAIN)[target], expected)


def test_cli_and_a_data_set_of_another_size(exported, tmp_path, monkeypatch):
    out = tmp_path / "again"
    monkeypatch.setattr(sys, "argv", ["export", "--shards", *map(str, exported["shards"]), "--dataset-dir",
                                      str(tmp_path / "data"), "--out-dir", str(out)])
    export.main()
    for name in export.FILES:
        assert (out / name).read_bytes() == (exported["out"] / name).read_bytes(), name
    images = np.zeros((N_TRAIN + 1 + N_TEST, 1, 2, 2), np.uint8)
    split = ["train"] * (N_TRAIN + 1) + ["test"] * N_TEST
    Dataset.from_arrays(images, np.zeros(len(split)), split, "toy").save(tmp_path / "other")
    with pytest.raises(PipelineError, match="41 and 10"):
        export.export(exported["shards"], tmp_path / "other", tmp_path / "bad")
