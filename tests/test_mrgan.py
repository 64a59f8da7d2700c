"""MR-GAN (Bai et al.): the C_T test, memorization rejection, the Frechet distance, training resume and sampling."""

import logging

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.frechet import (
    fd_column, frechet_distance, frechet_test_column, gaussian_frechet_distance, gaussian_stats,
)
from pipeline.mrgan import ct_test, embed, guideline, rejection, sample, train
from pipeline.neighbors import knn


def job_outputs(folder):
    """The generator and training-log paths of one MR-GAN training job in ``folder``."""
    return folder / "generator.pt", folder / "train_log.parquet"


def mixture(n, rng, centers):
    """Points around a few centres in 8-d (a data distribution with real cell structure)."""
    which = rng.integers(len(centers), size=n)
    return centers[which] + 0.3 * rng.standard_normal((n, centers.shape[1])), which


@pytest.fixture
def population():
    rng = np.random.default_rng(0)
    centers = 3.0 * rng.standard_normal((5, 8))
    return rng, centers, mixture(1000, rng, centers)[0], mixture(400, rng, centers)[0]


# --- C_T ---


def test_u_and_z_u_agree_with_scipy():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(37), rng.standard_normal(53) + 0.3
    res = stats.mannwhitneyu(x, y, alternative="less", method="asymptotic", use_continuity=True)
    u = ct_test.mann_whitney_u(x, y)
    assert u == pytest.approx(res.statistic)
    # scipy's one-sided p-value is Phi(Z_U) with the continuity term of pipeline.mrgan's Z_U (no ties here)
    assert ct_test.z_u(u, 37, 53) == pytest.approx(stats.norm.ppf(res.pvalue), rel=1e-9)
    # ties count 1/2, as in scipy's U
    xt, yt = np.round(x), np.round(y)
    assert ct_test.mann_whitney_u(xt, yt) == pytest.approx(stats.mannwhitneyu(xt, yt).statistic)


def test_copying_generator_gives_strongly_negative_ct(population):
    rng, _, train, test = population
    copies = train[rng.choice(len(train), 600, replace=False)]
    result = ct_test.ct_statistic(train, test, copies, n_cells=5)
    assert result.ct < -8
    assert result.n_kept == 5


def test_samples_from_the_test_distribution_give_ct_near_zero(population):
    rng, centers, train, test = population
    fresh = mixture(600, rng, centers)[0]
    result = ct_test.ct_statistic(train, test, fresh, n_cells=5, pca_dims=4)
    assert abs(result.ct) < 1.0  # null sd of C_T here is ~0.26 (20 draws)


def test_kept_cell_without_test_points_is_a_clear_error(population):
    rng, _, train, _ = population
    left = train[:, 0] < np.median(train[:, 0])
    test_only_left = train[left][:100] + 0.01
    with pytest.raises(PipelineError, match=r"cell \d+ holds \d+ generated points but 0 test"):
        ct_test.ct_statistic(train, test_only_left, train[:300] + 0.01, n_cells=6)


def test_too_many_cells_name_the_key_that_set_them(population):
    rng, _, train, test = population
    with pytest.raises(PipelineError, match=r"^mrgan.kmeans_cells: 5000 cells need 1\.\.\d+ training points$"):
        ct_test.ct_statistic(train, test, train[:300], n_cells=5000)
    labels = np.arange(len(train)) % 2
    with pytest.raises(PipelineError, match=r"^mrgan.classwise_cells: 5000 cells need"):
        ct_test.classwise_ct(train, labels, test, np.arange(len(test)) % 2, train[:300], labels[:300], 5000)
    with pytest.raises(PipelineError, match=r"of the 40 generated points; use fewer cells \(mrgan.kmeans_cells\) "
                                            r"or generate more points"):
        ct_test.ct_statistic(train, test, train[:40], n_cells=30)
    with pytest.raises(PipelineError, match=r"^C_T: 5 generated point\(s\), but C_T scores only cells holding more "
                                            r"than 20, so no number of cells helps; generate more than 20 "
                                            r"\(mrgan.n_samples\)$"):  # not "use fewer cells": one would not help
        ct_test.ct_statistic(train, test, train[:5], n_cells=3)


def test_classwise_ct_has_one_row_per_class(population):
    rng, centers, _, _ = population
    train, ty = mixture(600, rng, centers)
    test, sy = mixture(300, rng, centers)
    table = ct_test.classwise_ct(train, ty, test, sy, train[:400], ty[:400], n_cells=1)
    assert sorted(table["label"]) == list(range(5))
    assert (table["ct"] < -3).all()  # copies in every class


# --- memorization rejection ---


def unit_embed(x):
    return x.flatten(1)


def draws(n=32, dim=12, seed=0):
    gen = torch.Generator().manual_seed(seed)
    calls = []

    def draw():
        calls.append(1)
        return torch.rand(n, 1, 3, 4, generator=gen) * 2 - 1, torch.zeros(n, dtype=torch.long)

    return draw, calls


def test_tau_above_every_distance_rejects_all_and_cap_stops_loop():
    train_f = torch.rand(50, 12).numpy()
    mr = rejection.MemorizationRejection(unit_embed, train_f, tau=1.0, max_resample=3)
    draw, calls = draws()
    with pytest.raises(PipelineError, match=r"every one of 128 .* 4 batches .*max_resample=3"):
        mr.select(draw)
    assert len(calls) == 4


def test_tau_zero_rejects_nothing():
    train_f = torch.rand(50, 12).numpy()
    mr = rejection.MemorizationRejection(unit_embed, train_f, tau=0.0, max_resample=0)
    draw, calls = draws()
    fake, labels, stats_ = mr.select(draw)
    assert (stats_.generated, stats_.kept, stats_.attempts) == (32, 32, 1) and len(fake) == 32


def test_rejection_keeps_exactly_the_samples_farther_than_tau():
    rng = np.random.default_rng(3)
    train_f = rng.standard_normal((80, 12)).astype(np.float32)
    draw, _ = draws(seed=5)
    fake, _ = draw()
    unit = ((fake + 1) / 2).flatten(1).numpy()
    d = knn(unit, train_f, 1, metric="abscosine")[1][:, 0]  # the shared exact search
    tau = float(np.median(d))
    ours = rejection.nn_distance(torch.from_numpy(unit), torch.from_numpy(train_f)).numpy()
    assert ours == pytest.approx(d, abs=1e-5)
    mr = rejection.MemorizationRejection(unit_embed, train_f, tau=tau, max_resample=0)
    kept, _, stats_ = mr.select(draws(seed=5)[0])
    assert stats_.kept == (d > tau).sum() == len(kept) and 0 < stats_.kept < 32
    assert torch.equal(kept, fake[torch.from_numpy(d > tau)])


def test_resample_until_some_survive():
    train_f = np.ones((4, 12), np.float32)  # every fake of the first draw copies this
    gen = torch.Generator().manual_seed(0)
    batches = iter([torch.ones(8, 1, 3, 4), torch.ones(8, 1, 3, 4), torch.rand(8, 1, 3, 4, generator=gen) * 2 - 1])

    def draw():
        return next(batches), torch.zeros(8, dtype=torch.long)

    mr = rejection.MemorizationRejection(unit_embed, train_f, tau=0.01, max_resample=5)
    _, _, stats_ = mr.select(draw)
    assert stats_.attempts == 3 and stats_.generated == 24 and 0 < stats_.kept <= 8


# --- Frechet distance ---


def test_frechet_distance_of_a_set_with_itself_is_zero_and_shift_matches_closed_form():
    x = np.random.default_rng(4).standard_normal((500, 6)) @ np.diag([1, 2, 0.5, 1, 3, 1])
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([0.5, -1.0, 2.0, 0.0, 0.3, 1.0])
    assert frechet_distance(x, x + shift) == pytest.approx(shift @ shift, rel=1e-6)
    # singular covariance: the eps fallback still gives a finite value
    low_rank = np.repeat(x[:, :1], 6, axis=1)
    assert np.isfinite(frechet_distance(low_rank, low_rank + 1.0))


def test_frechet_distance_of_fewer_points_than_dimensions_is_the_covariance_formula():
    """Sets of fewer points than dimensions (FID of a few hundred images) take the centred points' path;
    it must give the covariances' number, unequal set sizes and a shift included (to the 1e-6 of the
    covariances' eigendecompositions, whose zero eigenvalues come out as rounding noise)."""
    rng = np.random.default_rng(6)
    a = rng.standard_normal((40, 64)) @ rng.standard_normal((64, 64))
    b = 0.5 * rng.standard_normal((25, 64)) @ rng.standard_normal((64, 64)) + 1.0
    assert frechet_distance(a, b) == pytest.approx(gaussian_frechet_distance(*gaussian_stats(a), *gaussian_stats(b)),
                                                   rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(PipelineError, match="feature dimensions differ"):
        frechet_distance(a, b[:, :10])


def test_frechet_columns_name_the_embedding_and_fid_is_preferred():
    assert fd_column("classifier", "test") == "fd_classifier_test"
    embedding_only = ["ct", "fd_classifier_train", "fd_classifier_test", "fd_classifier_test_train"]
    assert frechet_test_column(embedding_only) == "fd_classifier_test"
    assert frechet_test_column([*embedding_only, "fid_test", "fid_images"]) == "fid_test"
    assert frechet_test_column(["ct", "fd_classifier_test_train"]) is None


def test_guideline_is_mean_distance_to_nearest_other_training_point():
    f = np.random.default_rng(5).standard_normal((60, 5))
    cos = np.abs((f / np.linalg.norm(f, axis=1, keepdims=True)) @ (f / np.linalg.norm(f, axis=1, keepdims=True)).T)
    np.fill_diagonal(cos, -np.inf)
    assert guideline.guideline(f)["tau_guideline"] == pytest.approx((1 - cos.max(axis=1)).mean(), abs=1e-9)


# --- training, resume, sampling, embeddings ---


@pytest.fixture(scope="module")
def tiny_job(tmp_path_factory):
    root = tmp_path_factory.mktemp("mrgan")
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    images = np.clip(rng.normal(60 + 60 * labels[:, None, None, None], 30, (60, 8, 8, 1)), 0, 255).astype(np.uint8)
    Dataset.from_arrays(images, labels, np.where(np.arange(60) % 5 == 0, "test", "train"), "toy").save(root / "data")
    saved = embed.train_classifier(images, labels, epochs=20, seed=0)
    torch.save(saved, root / "clf.pt")
    return root


SPEC = {"steps": 6, "batch_size": 16, "width": 8, "z_dim": 8, "checkpoint_every": 3}


def killed_at_step_5(args: tuple, folder, monkeypatch) -> None:
    """Train ``args`` into ``folder`` until an interrupt at step 5, which leaves the step-3 checkpoint."""
    original = train.Trainer.step

    def dies_at_step_5(self):
        if len(self.rows) == 4:
            raise KeyboardInterrupt
        return original(self)

    with monkeypatch.context() as patch:
        patch.setattr(train.Trainer, "step", dies_at_step_5)
        with pytest.raises(KeyboardInterrupt):
            train.train(*args, *job_outputs(folder))
    assert (folder / "generator.pt.resume.pt").exists()


def test_a_diverging_gan_stops_its_job(tiny_job):
    args = (tiny_job / "data", "classifier", tiny_job / "clf.pt", 0.0, 0, {**SPEC, "lr": 1e30})
    with pytest.raises(PipelineError, match="mrgan: training loss is nan at step 1; the training diverged"):
        train.train(*args, *job_outputs(tiny_job / "diverged"))
    assert not (tiny_job / "diverged" / "generator.pt").exists()


def test_training_resumes_from_checkpoint_to_the_same_result(tiny_job, monkeypatch):
    args = (tiny_job / "data", "classifier", tiny_job / "clf.pt", 0.001, 0, SPEC)
    full = train.train(*args, *job_outputs(tiny_job / "full"))
    assert len(full) == 6 and (full["embedding"] == "classifier_penultimate").all()
    assert (full["kept"] <= full["generated"]).all() and full["kept"].lt(16).any()  # the batch shrinks

    killed_at_step_5(args, tiny_job / "killed", monkeypatch)
    resumed = train.train(*args, *job_outputs(tiny_job / "killed"))
    pd.testing.assert_frame_equal(full, resumed)
    assert not (tiny_job / "killed" / "generator.pt.resume.pt").exists()
    a = torch.load(tiny_job / "full" / "generator.pt")["state_dict"]
    b = torch.load(tiny_job / "killed" / "generator.pt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_training_does_not_resume_a_checkpoint_of_other_data_at_the_same_path(tiny_job, tmp_path, monkeypatch,
                                                                              caplog):
    """The checkpoint's fingerprint covers the images, not the dataset path: a job killed on one
    data set and rerun on another one at the same path trains afresh (as a straight run would)."""
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(3), 20)
    split = np.where(np.arange(60) % 5 == 0, "test", "train")
    first = np.clip(rng.normal(60 + 60 * labels[:, None, None, None], 30, (60, 8, 8, 1)), 0, 255).astype(np.uint8)
    second = first.copy()
    second[1, 0, 0, 0] ^= 1  # one pixel of a training image, same shape
    data = tmp_path / "data"
    Dataset.from_arrays(first, labels, split, "toy").save(data)
    args = (data, "classifier", tiny_job / "clf.pt", 0.001, 0, SPEC)
    killed_at_step_5(args, tmp_path / "job", monkeypatch)
    Dataset.from_arrays(second, labels, split, "toy").save(data)
    with caplog.at_level(logging.INFO, logger="pipeline"):
        rerun = train.train(*args, *job_outputs(tmp_path / "job"))
    assert "ignoring" in caplog.text and "written for other settings or data" in caplog.text
    assert "resuming" not in caplog.text
    straight = train.train(*args, *job_outputs(tmp_path / "straight"))
    pd.testing.assert_frame_equal(rerun, straight)
    a = torch.load(tmp_path / "job" / "generator.pt")["state_dict"]
    b = torch.load(tmp_path / "straight" / "generator.pt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not (tmp_path / "job" / "generator.pt.resume.pt").exists()


def test_sampling_keeps_every_sample_and_class_frequencies(tiny_job):
    spec = {**SPEC, "loss": "ns", "d_steps": 2}
    train.train(tiny_job / "data", "classifier", tiny_job / "clf.pt", 0.0, 1, spec, *job_outputs(tiny_job / "ns"))
    G, saved = sample.load_generator(tiny_job / "ns" / "generator.pt")
    labels = sample.balanced_labels(saved["label_freq"], 30, np.random.default_rng(0))
    assert np.bincount(labels).tolist() == [10, 10, 10]
    images = sample.sample(G, labels, seed=0)
    assert images.shape == (30, 8, 8, 1) and images.dtype == np.uint8
    assert np.array_equal(images, sample.sample(G, labels, seed=0))
    assert not np.array_equal(images, sample.sample(G, labels, seed=1))  # the seed draws the noise
    assert not np.array_equal(images, sample.sample(G, (labels + 1) % 3, seed=0))  # the label conditions G


def test_classifier_embedding_puts_a_class_together(tiny_job):
    """C_T and the rejection measure distances in this embedding: unit vectors in which each held-out
    image's nearest training image is of its class."""
    assert torch.load(tiny_job / "clf.pt", weights_only=True)["train_accuracy"] > 0.9
    data = Dataset.load(tiny_job / "data")
    f = embed.load_classifier(tiny_job / "clf.pt").embed_images(data.images)
    assert f.shape == (60, 64) and np.allclose(np.linalg.norm(f, axis=1), 1, atol=1e-5)
    labels, train, test = data.table["label"].to_numpy(), data.indices("train"), data.indices("test")
    nearest = train[np.argmax(f[test] @ f[train].T, axis=1)]
    assert (labels[nearest] == labels[test]).mean() >= 0.9  # a constant embedding gets a third


def test_missing_inception_weights_say_how_to_provide_them(tmp_path):
    with pytest.raises(PipelineError, match="inception_weights.*not found.*state dict"):
        embed.load_embedder("inception", tmp_path / "missing.pth")


def test_inception_embedding_from_a_local_state_dict(tmp_path):
    import torchvision

    torch.manual_seed(0)
    state = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict()
    torch.save(state, tmp_path / "inception0.pth")
    torch.save({k: v + torch.randn_like(v) if k == "Conv2d_2a_3x3.conv.weight" else v for k, v in state.items()},
               tmp_path / "inception1.pth")
    images = np.random.default_rng(0).integers(0, 255, (2, 8, 8, 1), dtype=np.uint8)
    e = embed.load_embedder("inception", tmp_path / "inception0.pth")
    f = e.embed_images(images)
    assert e.name == "inception_v3_pool" and f.shape == (2, 2048)
    assert np.allclose(np.linalg.norm(f, axis=1), 1, atol=1e-5)
    # the weights come from the file: the same file again gives the same features, another file others
    assert np.array_equal(f, embed.load_embedder("inception", tmp_path / "inception0.pth").embed_images(images))
    assert not np.allclose(f, embed.load_embedder("inception", tmp_path / "inception1.pth").embed_images(images))
