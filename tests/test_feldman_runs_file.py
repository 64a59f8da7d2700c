"""Architecture kind runs: runs trained elsewhere, brought from a .npz the test writes, become a shard
table of the trained shards' schema, and the estimates find what was planted in them: an example
right only in the runs that train on it is memorized (mem near 1), and influences its test copy."""

import copy
import hashlib

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import run_workflow, tiny_config
from pipeline import io, paths
from pipeline.config import validate_config
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.feldman.estimate import estimate
from pipeline.feldman.runs_file import convert
from pipeline.feldman.train_shard import train_shard
from pipeline.splits import subset_masks, subsets_table

N_TRAIN, N_TEST, T = 60, 20, 48
MEMORIZED, COPY = 7, 3  # training position of the planted example, test position of its copy


def simulated_runs(rng, member, memorized=(MEMORIZED,), copies=((MEMORIZED, COPY),), p_clean=0.95):
    """Correctness of t runs: clean examples right with p_clean in or out of the subset; a memorized one
    right only when its run trains on it; a test copy right exactly when its original is a member."""
    t, n_train = member.shape
    train_correct = rng.random((t, n_train)) < p_clean
    for i in memorized:
        train_correct[:, i] = member[:, i]
    test_correct = rng.random((t, N_TEST)) < p_clean
    for i, j in copies:
        test_correct[:, j] = member[:, i]
    sign = np.where(train_correct, 1.0, -1.0)
    train_margin = sign * (1 + rng.random(train_correct.shape))
    test_margin = np.where(test_correct, 1.0, -1.0) * (1 + rng.random(test_correct.shape))
    return train_correct, test_correct, train_margin, test_margin


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (N_TRAIN + N_TEST, 6, 6, 1), dtype=np.uint8)
    labels = rng.integers(0, 3, N_TRAIN + N_TEST)
    root = tmp_path_factory.mktemp("runs_data")
    Dataset.from_arrays(images, labels, ["train"] * N_TRAIN + ["test"] * N_TEST, "sim").save(root / "data")
    return root / "data"


def write_runs(path, **arrays):
    np.savez(path, **arrays)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def planted_arrays(seed=0):
    rng = np.random.default_rng(seed)
    member = rng.random((T, N_TRAIN)) < 0.7
    train_correct, test_correct, train_margin, test_margin = simulated_runs(rng, member)
    return {"member": member, "train_correct": train_correct, "test_correct": test_correct,
            "train_margin": train_margin, "test_margin": test_margin,
            "train_logit_conf": train_margin - 0.5,  # LiRA's statistic sits below the margin, as a real one does
            "train_cum_loss": np.where(member, np.logaddexp(0, -train_margin), 0)}  # softplus(-m) per epoch


def test_planted_memorized_example_comes_out_memorized_and_influential(data_dir, tmp_path):
    arrays = planted_arrays()
    epochs = 5
    counts = np.where(arrays["member"], np.random.default_rng(1).integers(0, epochs + 1, (T, N_TRAIN)), 0)
    runs = tmp_path / "theirs" / "runs.npz"
    runs.parent.mkdir()
    digest = write_runs(runs, **arrays, train_epoch_correct=counts.astype(np.int64), epochs=np.int64(epochs))
    out = tmp_path / "shards" / "runs.parquet"
    convert(runs, data_dir, "mine", out)
    assert hashlib.sha256(runs.read_bytes()).hexdigest() == digest  # the researcher's file, untouched
    table = io.read_parquet(out)
    assert table["run"].tolist() == list(range(T)) and (table["arch"] == "mine").all()
    assert (table["seed"] == -1).all() and (table["epochs"] == epochs).all()
    np.testing.assert_array_equal(np.stack(table["member"]), arrays["member"])
    np.testing.assert_array_equal(np.stack(table["train_epoch_correct"]), counts)
    np.testing.assert_array_equal(np.stack(table["test_margin"]), arrays["test_margin"].astype(np.float32))
    np.testing.assert_array_equal(np.stack(table["train_logit_conf"]), arrays["train_logit_conf"].astype(np.float32))
    np.testing.assert_array_equal(np.stack(table["train_cum_loss"]), arrays["train_cum_loss"].astype(np.float32))

    estimate([out], data_dir, 0.25, 0.15, 1.0, tmp_path / "mem.parquet", tmp_path / "pairs.parquet",
             tmp_path / "chance.parquet")
    mem = io.read_parquet(tmp_path / "mem.parquet")
    # by construction p_in = 1, p_out = 0 for the planted example; the others have mem near 0
    assert mem["mem"].iloc[MEMORIZED] == 1.0
    others = mem["mem"].drop(index=MEMORIZED)
    assert others.abs().max() < 0.35 and abs(others.mean()) < 0.05
    member, correct = arrays["member"], arrays["train_correct"]
    by_hand = correct[member[:, 0], 0].mean() - correct[~member[:, 0], 0].mean()
    assert mem["mem"].iloc[0] == pytest.approx(by_hand)
    pairs = io.read_parquet(tmp_path / "pairs.parquet")
    top = pairs.loc[pairs["infl"].idxmax()]
    assert (top["train_index"], top["test_index"], top["infl"]) == (MEMORIZED, N_TRAIN + COPY, 1.0)


def test_the_table_has_the_trained_shards_schema_and_absent_arrays_are_said(data_dir, tmp_path, caplog):
    subsets = tmp_path / "subsets.parquet"
    io.write_parquet(subsets_table(subset_masks(N_TRAIN, 2, 0.7, 0), 0), subsets)
    train_shard(data_dir, subsets, 0, 2, "mlp", {"kind": "mlp", "hidden": [8], "epochs": 1}, 0, "cpu",
                tmp_path / "trained.parquet")
    arrays = planted_arrays()
    runs = tmp_path / "runs.npz"
    # 0/1 integers are read as bool; margins and per-epoch records absent
    write_runs(runs, member=arrays["member"].astype(np.int8), train_correct=arrays["train_correct"],
               test_correct=arrays["test_correct"].astype(np.uint8))
    convert(runs, data_dir, "theirs", tmp_path / "runs.parquet")
    assert pq.read_schema(tmp_path / "runs.parquet").remove_metadata() == \
        pq.read_schema(tmp_path / "trained.parquet").remove_metadata()
    table = io.read_parquet(tmp_path / "runs.parquet")
    assert np.isnan(np.stack(table["train_margin"])).all() and np.isnan(np.stack(table["test_margin"])).all()
    assert (table["epochs"] == 0).all() and not np.stack(table["train_epoch_correct"]).any()
    assert np.isnan(np.stack(table["train_logit_conf"])).all()
    assert "no train_margin, test_margin, train_logit_conf, train_cum_loss, train_epoch_correct, epochs" in caplog.text


@pytest.mark.parametrize("change, message", [
    ({"member": None}, r"runs\.npz: no array 'member' \(required: member, train_correct, test_correct"),
    ({"member": "float"}, r"runs\.npz: array 'member' has dtype float64; expected bool$"),
    ({"member": "twos"}, r"runs\.npz: array 'member' has dtype int64 with values other than 0 and 1; expected bool"),
    ({"member": "short"}, rf"runs\.npz: array 'member' has shape \({T}, {N_TRAIN - 1}\), expected \(runs, {N_TRAIN}\) "
                          rf"\(runs x the data set's {N_TRAIN} training examples\)"),
    ({"test_correct": "short"}, rf"runs\.npz: array 'test_correct' has shape \({T}, {N_TEST - 1}\), expected "),
    ({"train_correct": "rows"}, rf"runs\.npz: array 'train_correct' has shape \({T - 1}, {N_TRAIN}\)"),
    ({"train_margin": "int"}, r"runs\.npz: array 'train_margin' has dtype int64; expected float"),
    ({"train_logit_conf": "short"},
     rf"runs\.npz: array 'train_logit_conf' has shape \({T}, {N_TRAIN - 1}\), expected "),
    ({"train_epoch_correct": "alone"}, r"runs\.npz: array 'train_epoch_correct' needs array 'epochs' beside it"),
    ({"epochs": 300}, r"runs\.npz: array 'epochs' holds 300; expected 1 to 255"),
    ({"member": "empty_run"}, r"runs\.npz: array 'member': run 0 holds no training example"),
    # runs whose estimates would be undefined (NaN) or spread one bad value over a whole column
    ({"member": "identical"}, rf"runs\.npz: array 'member': {N_TRAIN} of the {N_TRAIN} training examples are in every "
                              r"run or in none \(every run holds the same examples\); mem and influence compare"),
    ({"member": "one_run"}, r"array 'member': .* are in every run or in none \(there is one run\)"),
    ({"member": "in_every_run"}, rf"array 'member': 1 of the {N_TRAIN} training examples are in every run or in none "
                                 r"\(position 5 is in every run\)"),
    ({"member": "in_no_run"}, r"array 'member': 1 of .* \(position 5 is in no run\)"),
    ({"train_margin": "nan"}, r"runs\.npz: array 'train_margin' holds 1 value\(s\) that are not finite float32 numbers "
                              r"\(run 3, position 10: nan\); give finite values, or leave the array out$"),
    ({"train_cum_loss": "huge"}, r"array 'train_cum_loss' holds 1 value\(s\) that are not finite float32 numbers "
                                 r"\(run 3, position 10: 1e\+39\)"),
])
def test_a_bad_file_stops_with_one_line_naming_the_file_and_the_array(data_dir, tmp_path, change, message):
    arrays = planted_arrays()
    counts = np.zeros((T, N_TRAIN), dtype=np.int64)
    (name, how), = change.items()
    if how is None:
        del arrays[name]
    elif how == "float":
        arrays[name] = arrays[name].astype(np.float64)
    elif how == "twos":
        arrays[name] = arrays[name].astype(np.int64) * 2
    elif how == "short":
        arrays[name] = arrays[name][:, :-1]
    elif how == "rows":
        arrays[name] = arrays[name][:-1]
    elif how == "int":
        arrays[name] = arrays[name].astype(np.int64)
    elif how == "alone":
        arrays[name] = counts
    elif how == "empty_run":
        arrays[name][0] = False
    elif how in ("identical", "one_run"):
        arrays[name] = arrays[name][:1] if how == "one_run" else np.repeat(arrays[name][:1], T, axis=0)
    elif how in ("in_every_run", "in_no_run"):
        arrays[name][:, 5] = how == "in_every_run"
    elif how in ("nan", "huge"):
        arrays[name][3, 10] = np.nan if how == "nan" else 1e39
    else:
        arrays.update(train_epoch_correct=counts, epochs=np.int64(how))
    runs = tmp_path / "runs.npz"
    digest = write_runs(runs, **arrays)
    with pytest.raises(PipelineError, match=message) as err:
        convert(runs, data_dir, "mine", tmp_path / "out.parquet")
    assert "\n" not in str(err.value) and str(runs) in str(err.value)
    assert hashlib.sha256(runs.read_bytes()).hexdigest() == digest and not (tmp_path / "out.parquet").exists()


def test_an_unreadable_file_is_named_and_left_where_it_is(data_dir, tmp_path):
    runs = tmp_path / "runs.npz"
    runs.write_bytes(b"not a zip")
    with pytest.raises(PipelineError, match=r"runs\.npz: not a readable \.npz of runs"):
        convert(runs, data_dir, "mine", tmp_path / "out.parquet")
    assert runs.read_bytes() == b"not a zip"


def test_a_runs_entry_needs_its_file_at_start_up(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # config paths are relative to the working directory
    config = tiny_config("feldman")
    config["feldman"]["architectures"]["theirs"] = {"kind": "runs"}
    with pytest.raises(PipelineError, match=r"feldman\.architectures\.theirs': 'file' is a required property"):
        validate_config(copy.deepcopy(config))
    config["feldman"]["architectures"]["theirs"]["file"] = "runs/theirs.npz"
    with pytest.raises(PipelineError, match=r"^config key 'feldman\.architectures\.theirs\.file': file "
                                            r"'runs/theirs\.npz' not found$"):
        validate_config(copy.deepcopy(config))
    (tmp_path / "runs").mkdir()
    np.savez(tmp_path / "runs" / "theirs.npz", member=np.ones((1, 1), dtype=bool))
    assert validate_config(config)["feldman"]["architectures"]["theirs"]["kind"] == "runs"


# Planted canaries on a Gaussian mixture; two files of runs "trained elsewhere", one with margins and
# per-epoch records and one without: estimates, influence, consistency, claims and the atlas all run.
CONFIG = {
    "datasets": {"g": {"kind": "gaussian_mixture", "size": 8, "n_train": 300, "n_test": 40, "n_centers": 3},
                 "gp": {"kind": "planted", "base": "g", "flipped": 12, "outlier": 6, "duplicate": 2, "copies": 3,
                        "test_copy": 8}},
    "splits": {"datasets": [], "feldman": {"runs": 2}},
    "neighbors": {},
    "feldman": {"datasets": [], "shard_size": 2, "compare": [], "architectures": {}},
    "kfold_vae": {"datasets": []},
    "mrgan": {"datasets": []},
    "diffusion": {"run": []},
}


def canary_runs(index: pd.DataFrame, seed: int) -> dict:
    """t runs of one truth, drawn with the seed: a clean example is right with p_out_i out of the
    subset and p_out_i + d_i in it (per-example values fixed, so two files agree up to noise); flipped
    examples and single outliers are right only when trained on (mem 1); test copies of flipped
    examples are right exactly when their original is a member."""
    train = index[index["split"] == "train"].sort_values("index").reset_index(drop=True)
    test = index[index["split"] == "test"].sort_values("index").reset_index(drop=True)
    truth = np.random.default_rng(99)
    p_out = truth.uniform(0.8, 1.0, len(train))
    p_in = np.minimum(1.0, p_out + truth.uniform(0.0, 0.2, len(train)))
    memorized = np.flatnonzero(train["planted"].isin(["flipped", "outlier"]))
    position = {s: p for p, s, kind in zip(train.index, train["source_index"], train["planted"]) if kind == "flipped"}
    copies = [(position[s], j) for j, s, kind in zip(test.index, test["source_index"], test["planted"])
              if kind == "test_copy" and s in position]
    assert len(copies) == 8 and len(memorized) == 18
    rng, t = np.random.default_rng(seed), 400
    member = rng.random((t, len(train))) < 0.7
    train_correct = rng.random(member.shape) < np.where(member, p_in, p_out)
    train_correct[:, memorized] = member[:, memorized]
    test_correct = rng.random((t, len(test))) < 0.95
    for i, j in copies:
        test_correct[:, j] = member[:, i]
    margin = np.where(train_correct, 2.0, -2.0) + rng.normal(0, 0.5, member.shape)
    return {"member": member, "train_correct": train_correct, "test_correct": test_correct,
            "train_margin": margin.astype(np.float32),
            "test_margin": np.where(test_correct, 2.0, -2.0).astype(np.float32)}


@pytest.mark.workflow
def test_runs_brought_from_npz_files_run_every_feldman_stage_and_the_claims(tmp_path):
    workdir = tmp_path / "run"
    index_file = f"{paths.DATASET.format(dataset='gp')}/index.parquet"
    run_workflow(workdir, CONFIG, "--", index_file)
    index = pd.read_parquet(workdir / index_file)
    theirs = tmp_path / "elsewhere"
    theirs.mkdir()
    full, bare = canary_runs(index, 0), canary_runs(index, 10)
    digests = [write_runs(theirs / "a.npz", **full),
               write_runs(theirs / "b.npz", **{k: bare[k] for k in ["member", "train_correct", "test_correct"]})]
    config = {**CONFIG,
              "feldman": {"datasets": ["gp"], "shard_size": 2, "compare": [["mine", "again"]], "architectures": {
                  "mine": {"kind": "runs", "file": str(theirs / "a.npz")},
                  "again": {"kind": "runs", "file": str(theirs / "b.npz")}}},
              "claims": {"feldman": {"dataset": "gp", "arch": "mine", "replicate": "again", "other_arch": "again"}}}
    run_workflow(workdir, config)
    out = workdir / paths.FELDMAN.format(dataset="gp")
    assert sorted(p.name for p in (out / "mine" / "shards").iterdir()) == ["runs.parquet"]
    assert [hashlib.sha256((theirs / f).read_bytes()).hexdigest() for f in ["a.npz", "b.npz"]] == digests
    mem = pd.read_parquet(out / "mine" / "memorization.parquet").merge(index[["index", "planted"]], on="index")
    assert (mem.loc[mem["planted"].isin(["flipped", "outlier"]), "mem"] == 1).all()
    assert mem.loc[mem["planted"] == "", "mem"].between(-0.15, 0.35).all()
    assert (out / "consistency" / "mine_vs_again.parquet").exists()
    again = pd.read_parquet(out / "again" / "shards" / "runs.parquet")
    assert np.isnan(np.stack(again["train_margin"])).all() and (again["epochs"] == 0).all()
    claims = pd.read_parquet(workdir / paths.CLAIMS / "claims.parquet").set_index("id")
    fz = claims.loc[["FZ1", "FZ2", "FZ3", "FZ4", "FZ5"]]
    assert fz["passed"].tolist() == ["true"] * 5, fz[["value", "detail"]].to_string()
    assert all("runs.parquet" in tables for tables in fz.loc[["FZ2"], "tables"])
    atlas = pd.read_parquet(workdir / paths.ATLAS.format(dataset="gp") / "atlas.parquet")
    assert {"feldman_mem_mine", "feldman_mem_again"} <= set(atlas.columns)
    # a run without the file's arrays changing is not redone
    result = run_workflow(workdir, config, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr
