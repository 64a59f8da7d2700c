"""Diffusion memorization (Yoon et al.): ratio criterion, nested subsets, training and sampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.data import synthetic
from pipeline.data.dataset import Dataset
from pipeline.diffusion.replicates import falls_with_size, job_scores, ratio_flags, replicate_table
from pipeline.diffusion.sample import generate, to_uint8
from pipeline.diffusion.schedule import Diffusion, cosine_alpha_bar
from pipeline.diffusion.subset import build_subset, nested_subset
from pipeline.diffusion.train import build_model, train
from pipeline.errors import PipelineError
from pipeline.neighbors import knn, neighbors_table


def score(samples: np.ndarray, train_images: np.ndarray, labels=None, cond=None, threshold=1 / 3):
    """Run the pipeline's scoring path: shared 2-NN search, replicate table, job scores."""
    n = len(train_images)
    subset = pd.DataFrame({"position": np.arange(n), "index": np.arange(100, 100 + n),
                           "label": np.zeros(n, dtype=np.int64) if labels is None else labels})
    idx, dist = knn(samples, train_images, 2)
    nn = neighbors_table(idx, dist, np.arange(len(samples)), np.arange(n))
    table = pd.DataFrame({"sample": np.arange(len(samples)),
                          "label": np.full(len(samples), -1) if cond is None else cond})
    reps = replicate_table(nn, subset, table, threshold)
    return reps, job_scores(reps, subset, threshold, experiment="t", dataset="d", size=n, width=8, seed=0)


def mondrian8(n, seed=0):
    return synthetic.to_uint8(synthetic.mondrian(n, 8, seed))


def test_ratio_criterion_on_constructed_samples():
    train_images = mondrian8(10)
    rng = np.random.default_rng(0)
    copy = train_images[3]
    noisy = np.clip(train_images[5].astype(float) + rng.normal(0, 4, copy.shape), 0, 255).astype(np.uint8)
    blend = ((train_images[1].astype(float) + train_images[2].astype(float)) / 2).round().astype(np.uint8)
    lean = (0.7 * train_images[7].astype(float) + 0.3 * train_images[8].astype(float)).round().astype(np.uint8)
    reps, scores = score(np.stack([copy, noisy, blend, lean]), train_images)
    assert reps["replicate"].tolist() == [True, True, False, False]
    assert reps["ratio"].iloc[0] == 0 and reps["ratio"].iloc[1] < 0.15 and reps["ratio"].iloc[2] > 0.8
    assert reps["nearest"].tolist()[:2] == [103, 105]  # dataset indices, not subset positions
    overall = scores.iloc[0]
    assert overall["class"] == -1 and overall["n_replicates"] == 2 and overall["replicate_share"] == 0.5
    assert overall["n_train_replicated"] == 2 and overall["train_replicated_share"] == pytest.approx(0.2)
    # the threshold is a parameter: at 0.9 the blend of two images still is no replicate, the 70/30 mix (ratio ~0.43) is
    assert score(np.stack([blend, lean]), train_images, threshold=0.9)[0]["replicate"].tolist() == [False, True]


def test_ratio_zero_when_second_neighbour_is_a_duplicate():
    ratio, flag = ratio_flags(np.array([0.0, 1.0]), np.array([0.0, 2.0]))
    assert ratio.tolist() == [0.0, 0.5] and flag.tolist() == [True, False]


def test_per_class_scores_use_conditioning_labels():
    train_images = np.concatenate([mondrian8(6), synthetic.to_uint8(synthetic.random_ink(4, 8, 1))])
    labels = np.array([0] * 6 + [1] * 4)
    samples = np.stack([train_images[7], train_images[8], train_images[0] // 2 + train_images[1] // 2])
    _, scores = score(samples, train_images, labels=labels, cond=np.array([1, 1, 0]))
    by_class = scores.set_index("class")
    assert by_class.loc[1, "replicate_share"] == 1.0 and by_class.loc[1, "n_train_replicated"] == 2
    assert by_class.loc[1, "n_train_class"] == 4 and by_class.loc[0, "replicate_share"] == 0.0
    assert by_class.loc[-1, "n_replicates"] == 2


def test_nested_subsets_are_prefixes_and_keep_label_keeps_a_class():
    ids, labels = np.arange(10, 40), np.array([0] * 10 + [1] * 20)
    small, large = nested_subset(ids, labels, 5, seed=3), nested_subset(ids, labels, 20, seed=3)
    assert set(small) < set(large) and np.array_equal(large[:5], small) and len(set(large)) == 20
    assert not np.array_equal(small, nested_subset(ids, labels, 5, seed=4))
    kept = nested_subset(ids, labels, 3, seed=0, keep_label=0)
    assert len(kept) == 13 and set(range(10, 20)) <= set(kept)
    with pytest.raises(PipelineError, match="'diffusion.experiments.*.sizes': subset size 31 exceeds the 30"):
        nested_subset(ids, labels, 31, seed=0)
    with pytest.raises(PipelineError, match="'diffusion.experiments.*.keep_label': no training image has label 9"):
        nested_subset(ids, labels, 3, seed=0, keep_label=9)  # would keep nothing, silently
    data = Dataset.from_arrays(mondrian8(12), np.arange(12) % 2, ["train"] * 10 + ["test"] * 2, "mo")
    table, images = build_subset(data, 4, seed=0)
    assert table["index"].max() < 10 and np.array_equal(images, data.images[table["index"]])
    assert table["label"].tolist() == (table["index"] % 2).tolist()


def test_cosine_schedule_and_respacing():
    """IDDPM's closed form f(t)/f(0) wherever the beta clip (0.999) does not bind: its last step only."""
    ab = cosine_alpha_bar(1000)
    t = np.arange(1001) / 1000
    closed = np.cos((t + 0.008) / 1.008 * np.pi / 2) ** 2
    np.testing.assert_allclose(ab[:1000], closed[:1000] / closed[0], rtol=0, atol=1e-12)
    assert ab[500] == pytest.approx(0.494, abs=1e-3)  # DDPM's linear betas would give 0.079
    assert ab[0] == 1 and np.all(np.diff(ab) < 0) and 0 < ab[-1] < 1e-4
    steps = Diffusion(1000).respaced_steps(25)
    assert len(steps) == 25 and steps[0] == 999 and steps[-1] == 0


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_samplers_follow_the_forward_process_of_an_exact_noise_predictor(sampler):
    """A model whose noise prediction is exact for one image x0 makes every step's x0 estimate that
    image. Then each x_t the model sees is sqrt(ab_t) x0 + sqrt(1 - ab_t) e: DDIM keeps the start
    noise e all the way down (deterministic); under ancestral DDPM e moves away from the start noise
    but stays standard normal (the posterior's variance is right); both end on x0."""
    diffusion = Diffusion(1000)
    target = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    seen = []

    def oracle(x, t, y):
        ab = torch.as_tensor(diffusion.alpha_bar[t.numpy() + 1], dtype=torch.float32)[:, None, None, None]
        eps = (x - ab.sqrt() * target) / (1 - ab).sqrt()
        seen.append(eps)
        return eps

    x = diffusion.sample(oracle, target.shape, 25, sampler, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(x, target, rtol=0, atol=1e-4)
    start, later = seen[0], torch.stack(seen[1:-1])  # the last step's x_t is too close to x0 for float32
    if sampler == "ddim":
        torch.testing.assert_close(later, start.expand_as(later), rtol=0, atol=1e-3)
    else:
        assert later.mean().abs() < 0.02 and abs(later.std() - 1) < 0.02
        per_step = later.flatten(1)
        assert (per_step - start.flatten()).std(dim=1).max() > 1  # noise added along the way


def test_untrained_model_gives_no_replicates():
    torch.manual_seed(0)
    train_images = mondrian8(8)
    model = build_model({"width": 8}, train_images, 0).eval()
    for sampler in ("ddpm", "ddim"):
        samples, labels = generate(model, Diffusion(1000), 32, 10, sampler, seed=0, device=torch.device("cpu"))
        assert samples.dtype == np.uint8 and samples.shape == (32, 8, 8, 3) and (labels == -1).all()
        reps, _ = score(samples, train_images)
        assert not reps["replicate"].any(), sampler


def test_model_trained_on_a_handful_of_images_replicates_them():
    """4 Mondrian images, width 16, 300 Adam steps (~15 s on one core): samples are copies."""
    torch.set_num_threads(1)
    train_images = mondrian8(4, seed=1)
    spec = {"width": 16, "steps": 300, "lr": 0.003, "batch_size": 32}
    model, log = train(train_images, np.zeros(4, dtype=np.int64), spec, seed=0, device=torch.device("cpu"))
    assert log["loss"].iloc[-1] < 0.5 * log["loss"].iloc[0]
    samples, _ = generate(model.eval(), Diffusion(1000), 64, 20, "ddpm", seed=1, device=torch.device("cpu"))
    reps, scores = score(samples, train_images)
    assert scores["replicate_share"].iloc[0] >= 0.8, scores
    assert scores["n_train_replicated"].iloc[0] >= 3


def test_a_unet_that_cannot_be_built_for_the_images_names_its_key():
    images = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    with pytest.raises(PipelineError, match=r"heads: 3 attention heads do not divide the \[16\] channels"):
        build_model({"width": 8, "heads": 3}, images, 0)
    with pytest.raises(PipelineError, match=r"channel_mult: 5 levels halve the 8x8 images 4 times, so their size "
                                            r"must be divisible by 16"):
        build_model({"width": 8, "channel_mult": [1, 2, 2, 2, 2]}, images, 0)
    assert build_model({"width": 12, "heads": 4}, images, 0).cfg.heads == 4  # 4 divides 24, the attended width


def test_a_diverging_model_stops_its_job_instead_of_sampling_blank_images(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (8, 8, 8, 3), dtype=np.uint8)
    spec = {"width": 8, "steps": 20, "lr": 1e30, "batch_size": 8, "log_every": 5, "checkpoint_every": 4}
    # the loss is read back once per log row or checkpoint, not every step: the job stops at the
    # checkpoint of step 4, before writing it (the loss is inf from step 2)
    with pytest.raises(PipelineError, match=r"diffusion.experiments.\*: training loss is nan in steps 1\.\.4; the "
                                            r"training diverged: lower its lr"):
        train(images, np.zeros(8, dtype=np.int64), spec, seed=0, device=torch.device("cpu"),
              out_model=tmp_path / "model.pt")
    assert not (tmp_path / "model.pt.resume.pt").exists()  # no diverged state to resume from
    with pytest.raises(PipelineError, match="the sampler produced NaN or inf pixels"):
        to_uint8(torch.tensor([[[[0.5, float("nan")]]]]))  # a NaN pixel would have become 0


def test_training_resumes_from_checkpoint_bit_for_bit(tmp_path):
    train_images, labels = mondrian8(6), np.array([0, 1] * 3)
    spec = {"width": 8, "steps": 8, "checkpoint_every": 4, "log_every": 2, "conditional": True}
    out_model = tmp_path / "model.pt"
    first, log_first = train(train_images, labels, spec, seed=0, device=torch.device("cpu"), out_model=out_model)
    assert (tmp_path / "model.pt.resume.pt").exists()  # written at step 4, as a killed job would leave it
    resumed, log_resumed = train(train_images, labels, spec, seed=0, device=torch.device("cpu"), out_model=out_model)
    for a, b in zip(first.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    pd.testing.assert_frame_equal(log_first, log_resumed)
    assert log_first["step"].tolist() == [2, 4, 6, 8]
    samples, cond = generate(resumed.eval(), Diffusion(1000), 6, 4, "ddpm", seed=0, device=torch.device("cpu"))
    assert cond.tolist() == [0, 1, 0, 1, 0, 1]


def test_falls_with_size_check():
    rows = [{"experiment": "e", "width": 8, "size": s, "seed": 0, "class": -1, "replicate_share": v}
            for s, v in [(4, 0.9), (32, 0.2), (256, 0.0)]]
    assert falls_with_size(pd.DataFrame(rows))["falls"].tolist() == [True]
    rows[-1]["replicate_share"] = 0.95
    assert falls_with_size(pd.DataFrame(rows))["falls"].tolist() == [False]
