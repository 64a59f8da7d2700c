"""Scoring samples of any generative model (pipeline/samples): file formats, config checks, and the
science end to end through the workflow: near-copies of training images are replicates with a
strongly negative C_T, fresh draws from the training distribution are neither."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline import paths
from pipeline.config import validate_config
from pipeline.data import registry, synthetic
from pipeline.errors import PipelineError
from pipeline.samples.load import load_labels, load_samples

DATASET = {"kind": "gaussian_mixture", "size": 8, "n_train": 600, "n_test": 200, "n_centers": 3}
N_SAMPLES = 400


# --- reading samples ---------------------------------------------------------------------------------

@pytest.fixture
def grey(tmp_path):
    """uint8 grey images (n, 6, 5, 1) and the folder to write sample files in."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (7, 6, 5, 1), dtype=np.uint8), tmp_path


def test_uint8_npy_with_or_without_channel_axis_is_read_as_is(grey):
    images, folder = grey
    np.save(folder / "a.npy", images[..., 0])
    np.testing.assert_array_equal(load_samples(folder / "a.npy", (6, 5, 1), False), images)


@pytest.mark.parametrize("low", [0.0, -1.0])
def test_float_npz_in_its_declared_unit_or_tanh_range_is_scaled_to_uint8(grey, low):
    images, folder = grey
    floats = images / 255.0 * (1.0 - low) + low  # [0, 1] or [-1, 1], as samples.<name>.pixel_range says
    floats[0, 0, 0, 0] = low
    np.savez(folder / "s.npz", images=floats.astype(np.float32), other=np.zeros(3))
    expected = images.copy()
    expected[0, 0, 0, 0] = 0
    np.testing.assert_array_equal(load_samples(folder / "s.npz", (6, 5, 1), False, (low, 1)), expected)


def test_png_folder_in_name_order_takes_the_data_sets_channels(grey):
    images, folder = grey
    (folder / "pngs").mkdir()
    for i, image in enumerate(images):  # saved as RGB, as torchvision's save_image does for grey images
        Image.fromarray(np.repeat(image, 3, axis=2)).save(folder / "pngs" / f"{i:03d}.png")
    (folder / "pngs" / "notes.txt").write_text("ignored")
    np.testing.assert_array_equal(load_samples(folder / "pngs", (6, 5, 1), False), images)


def test_a_shape_other_than_the_data_sets_is_one_line_naming_both_unless_resized(grey):
    images, folder = grey
    np.save(folder / "a.npy", images)
    with pytest.raises(PipelineError, match=r"a\.npy: samples of shape \(6, 5, 1\) but the data set's images are "
                                            r"\(8, 8, 1\); set resize: true") as err:
        load_samples(folder / "a.npy", (8, 8, 1), False)
    assert "\n" not in str(err.value)
    resized = load_samples(folder / "a.npy", (8, 8, 1), True)
    assert resized.shape == (7, 8, 8, 1) and resized.dtype == np.uint8
    flat = np.full((2, 6, 5, 1), 77, dtype=np.uint8)  # a flat image stays flat through the resize
    np.save(folder / "flat.npy", flat)
    assert (load_samples(folder / "flat.npy", (12, 10, 1), True) == 77).all()
    with pytest.raises(PipelineError, match=r"\(6, 5, 1\) but the data set's images are \(6, 5, 3\)$"):
        load_samples(folder / "a.npy", (6, 5, 3), True)  # resize never invents channels


@pytest.mark.parametrize("values,message", [
    (np.full((2, 6, 5), 128.0), r"float pixels in \[128, 128\], outside \[0, 1\]"),
    (np.full((2, 6, 5), np.nan), r"float pixels in \[nan, nan\]"),
    (np.full((2, 6, 5), 300, dtype=np.int64), r"integer pixels in \[300, 300\]"),
    (np.zeros((6, 5)), r"samples of shape \(6, 5\)"),
])
def test_pixels_out_of_the_documented_ranges_are_errors(tmp_path, values, message):
    np.save(tmp_path / "bad.npy", values)
    with pytest.raises(PipelineError, match=message):
        load_samples(tmp_path / "bad.npy", (6, 5, 1), False, (0, 1))


def test_npz_without_images_and_bad_labels_are_named(tmp_path):
    np.savez(tmp_path / "s.npz", x=np.zeros((2, 6, 5)))
    with pytest.raises(PipelineError, match=r"s\.npz: the \.npz holds \['x'\], no array named 'images'"):
        load_samples(tmp_path / "s.npz", (6, 5, 1), False)
    (tmp_path / "cut.npz").write_bytes((tmp_path / "s.npz").read_bytes()[:60])  # a copy broken off
    with pytest.raises(PipelineError, match=r"cut\.npz: not a readable \.npz file"):
        load_samples(tmp_path / "cut.npz", (6, 5, 1), False)
    assert (load_labels(None, 3, np.array([0, 1])) == -1).all()
    np.save(tmp_path / "labels.npy", np.array([0, 1, 1]))
    assert load_labels(tmp_path / "labels.npy", 3, np.array([0, 1])).tolist() == [0, 1, 1]
    with pytest.raises(PipelineError, match=r"labels\.npy: labels of type int64 and shape \(3,\); expected 4"):
        load_labels(tmp_path / "labels.npy", 4, np.array([0, 1]))
    with pytest.raises(PipelineError, match=r"labels \[1\] are not classes of the training split"):
        load_labels(tmp_path / "labels.npy", 3, np.array([0]))


# --- config checks -----------------------------------------------------------------------------------

def test_config_names_the_sample_sets_bad_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save("s.npy", np.zeros((2, 8, 8, 1), dtype=np.uint8))
    config = {"datasets": {"g": DATASET}, "samples": {"gan": {"path": "s.npy", "dataset": "g"}}}
    filled = validate_config(copy.deepcopy(config))["samples"]["gan"]
    assert filled["threshold"] == pytest.approx(1 / 3) and filled["k"] == 2 and filled["resize"] is False
    for key, value, message in [
        ("dataset", "h", r"config key 'samples\.gan\.dataset': unknown dataset 'h'"),
        ("path", "missing.npy", r"config key 'samples\.gan\.path': 'missing\.npy' is not an \.npy file.*\(not found\)"),
        ("labels", "s.txt", r"config key 'samples\.gan\.labels': 's\.txt' is not an \.npy file"),
        ("k", 1, r"config key 'samples\.gan\.k': 1 is less than the minimum of 2"),
    ]:
        bad = copy.deepcopy(config)
        bad["samples"]["gan"][key] = value
        with pytest.raises(PipelineError, match=message):
            validate_config(bad)


# --- the science, end to end through the workflow ---------------------------------------------------

@pytest.mark.workflow
def test_near_copies_are_replicates_and_fresh_draws_are_not(workflow_runner):
    data = registry.build("g", DATASET, Path("."))  # the same images the prepare job writes
    train_images, train_labels, train_index = data.split_arrays("train")
    rng = np.random.default_rng(0)
    pick = rng.integers(len(train_images), size=N_SAMPLES)
    noise = rng.integers(-2, 3, size=train_images[pick].shape)  # +-2 grey levels
    copies = np.clip(train_images[pick].astype(int) + noise, 0, 255)
    fresh, _ = synthetic.gaussian_mixture(N_SAMPLES, DATASET["size"], seed=99, n_centers=DATASET["n_centers"])
    inputs = workflow_runner.workdir / "inputs"
    (inputs / "fresh").mkdir(parents=True)
    np.savez(inputs / "copies.npz", images=(copies / 127.5 - 1.0).astype(np.float32))  # a tanh generator's range
    np.save(inputs / "copy_labels.npy", train_labels[pick])
    for i, image in enumerate(synthetic.to_uint8(fresh)):
        Image.fromarray(image).save(inputs / "fresh" / f"{i:04d}.png")
    config = {
        "datasets": {"g": DATASET},
        "mrgan": {"embedding": {"kind": "classifier", "classifier_epochs": 2}},
        "samples": {
            "copies": {"path": "inputs/copies.npz", "dataset": "g", "labels": "inputs/copy_labels.npy",
                       "pixel_range": [-1, 1], "kmeans_cells": 3},
            "fresh": {"path": "inputs/fresh", "dataset": "g", "kmeans_cells": 3},
        },
        "atlas": {"bootstrap": 20},
    }
    workflow_runner(config)
    out = workflow_runner.workdir
    np.testing.assert_array_equal(np.load(out / paths.DATASET.format(dataset="g") / "images.npy"), data.images)
    scores = {name: pd.read_parquet(out / paths.SAMPLES.format(sample_set=name) / "scores.parquet").iloc[0]
              for name in ("copies", "fresh")}
    copied, drawn = scores["copies"], scores["fresh"]
    assert copied["n_samples"] == drawn["n_samples"] == N_SAMPLES
    assert copied["replicate_share"] > 0.95 and drawn["replicate_share"] < 0.05, (copied, drawn)
    assert copied["ct_pixels"] < -5 and copied["ct_embedding"] < -5, copied
    assert abs(drawn["ct_pixels"]) < 3 and drawn["ct_embedding"] > -3, drawn
    assert copied["label_agreement"] == 1.0 and np.isnan(drawn["label_agreement"])
    assert copied["embedding"] == "classifier_penultimate" and np.isfinite(copied["fd_classifier_test"])

    folder = out / paths.SAMPLES.format(sample_set="copies")
    replicates = pd.read_parquet(folder / "replicates.parquet")
    assert (replicates.loc[replicates["replicate"], "nearest"].to_numpy() == train_index[pick][replicates["replicate"]]).all()
    assert copied["n_train_replicated"] == replicates.loc[replicates["replicate"], "nearest"].nunique()
    neighbors = pd.read_parquet(folder / "neighbors.parquet")
    assert sorted(neighbors["space"].unique()) == ["embedding", "pixels"]
    assert len(neighbors) == 2 * N_SAMPLES * 2 and set(neighbors["ref_index"]) <= set(train_index)
    nearest_pixels = neighbors[(neighbors["space"] == "pixels") & (neighbors["rank"] == 0)]
    assert (nearest_pixels["ref_index"].to_numpy() == replicates["nearest"].to_numpy()).all()

    atlas = pd.read_parquet(out / paths.ATLAS.format(dataset="g") / "atlas.parquet")
    assert list(atlas["index"]) == list(train_index)  # an atlas though no other method ran on g
    expected = np.bincount(pick, minlength=len(train_index))  # the copies' own training images
    replicated = atlas["samples_copies_replicated"].to_numpy()
    assert replicated.sum() == replicates["replicate"].sum()
    assert (replicated <= expected).all() and (replicated[expected == 0] == 0).all()
    assert atlas["samples_copies_nn_count"].sum() == atlas["samples_fresh_nn_count"].sum() == N_SAMPLES
    assert atlas["samples_fresh_replicated"].sum() == scores["fresh"]["n_replicates"]
