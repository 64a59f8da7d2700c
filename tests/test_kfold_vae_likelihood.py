"""The importance-sampled log p(x) against a linear Gaussian VAE, whose marginal is closed-form.

p(z) = N(0, I), p(x | z) = N(W z + b, s^2 I)  =>  p(x) = N(b, W W^T + s^2 I).
With orthogonal columns of W the exact posterior is diagonal, so an encoder equal to it makes
every importance weight equal p(x): the estimate is exact even with one sample. A perturbed
encoder gives a lower bound (in expectation) whose gap shrinks as N grows.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from pipeline.kfold_vae.likelihood import log_px, log_px_loop
from pipeline.kfold_vae.models import (
    BernoulliMLP, ConvVAE, build_model, logit_pixel_correction, logit_transform,
)

D, L, NOISE = 6, 2, 0.5


class LinearGaussianVAE(nn.Module):
    """Linear decoder, diagonal Gaussian encoder (the exact posterior, optionally perturbed)."""

    def __init__(self, shift: float = 0.0, scale: float = 1.0):
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(D, L, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
        self.W = q * torch.tensor([2.0, 0.7], dtype=torch.float64)  # orthogonal columns
        self.b = torch.linspace(-1, 1, D, dtype=torch.float64)
        gram = self.W.T @ self.W  # diagonal
        self.post_var = 1.0 / (1.0 + torch.diagonal(gram) / NOISE**2)
        self.shift, self.scale = shift, scale

    def encode(self, x):
        mu = ((x - self.b) @ self.W) * self.post_var / NOISE**2
        return mu + self.shift, torch.log(self.post_var * self.scale).expand_as(mu)

    def log_likelihood(self, x, z):
        mean = z @ self.W.T + self.b
        return (-0.5 * (math.log(2 * math.pi * NOISE**2) + (x - mean) ** 2 / NOISE**2)).sum(-1)

    def pixel_correction(self, x):
        return torch.zeros(len(x), dtype=x.dtype)

    def exact_log_px(self, x):
        cov = self.W @ self.W.T + NOISE**2 * torch.eye(D, dtype=torch.float64)
        return torch.distributions.MultivariateNormal(self.b, cov).log_prob(x)


def sample_x(n: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, D, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 1.5


def test_exact_posterior_proposal_gives_exact_log_px_with_one_sample():
    model, x = LinearGaussianVAE(), sample_x(50)
    estimate = log_px(model, x, 1, torch.Generator().manual_seed(0))
    np.testing.assert_allclose(estimate.numpy(), model.exact_log_px(x).numpy(), atol=1e-9)


def test_estimate_is_a_lower_bound_that_tightens_with_n():
    model, x = LinearGaussianVAE(shift=0.6, scale=2.5), sample_x(40)
    exact = model.exact_log_px(x).numpy()
    generator = torch.Generator().manual_seed(3)
    gaps = {}
    for n in (1, 8, 64, 1024):
        runs = np.stack([log_px(model, x, n, generator).numpy() for _ in range(30)])
        gap = exact[None, :] - runs  # >= 0 in expectation, per example
        gaps[n] = gap.mean()
        stderr = gap.mean(axis=0).std() / np.sqrt(len(x))
        assert gaps[n] > -3 * stderr - 1e-6, f"N={n}: estimate above log p(x) on average"
    assert gaps[1] > 0.3  # the perturbed proposal leaves a visible gap at N = 1 ...
    assert gaps[1] > gaps[8] > gaps[64] > gaps[1024]  # ... that shrinks with N
    assert gaps[1024] < 0.02  # and nearly closes


def test_vectorized_and_loop_estimators_agree():
    model, x = LinearGaussianVAE(shift=0.1, scale=1.2), sample_x(8)
    fast = log_px(model, x, 4096, torch.Generator().manual_seed(0)).numpy()
    slow = log_px_loop(model, x, 4096, torch.Generator().manual_seed(1)).numpy()
    np.testing.assert_allclose(fast, slow, atol=0.03)
    np.testing.assert_allclose(fast, model.exact_log_px(x).numpy(), atol=0.03)


def test_logit_change_of_variables_matches_the_jacobian():
    x = torch.rand(3, 1, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = logit_transform(x)
    slope = torch.autograd.functional.jacobian(lambda t: logit_transform(t).sum(), x)  # elementwise dy/dx
    expected = torch.log(slope).flatten(start_dim=1).sum(dim=1) - 4 * math.log(256.0)
    np.testing.assert_allclose(logit_pixel_correction(y).numpy(), expected.numpy(), rtol=1e-10)


@pytest.mark.parametrize("kind", ["bernoulli_mlp", "gaussian_conv", "constant_conv"])
def test_decoder_likelihood_is_the_distribution_it_parameterizes(kind):
    """log p(x | z) of each model equals torch.distributions' density of its decoder's output: Bernoulli
    logits, or a Gaussian per pixel with the decoder's own (gaussian_conv) or one learned
    (constant_conv) variance, summed over pixels, for every (sample, example) pair."""
    torch.manual_seed(0)
    model = build_model(kind, 3, latent_dim=4, hidden=(32, 16), width=4).eval()
    x = model.prepare(np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8),
                      torch.Generator().manual_seed(0), train=False)
    z = torch.randn(2, 5, 4)
    with torch.no_grad():
        if kind == "bernoulli_mlp":
            density = torch.distributions.Bernoulli(logits=model.logits(z))
        else:
            mean, logvar = model.decode(z)
            density = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
            if kind == "constant_conv":
                assert (logvar == model.log_gamma).all()
        expected = density.log_prob(x.expand(2, *x.shape)).flatten(start_dim=2).sum(-1)
        torch.testing.assert_close(model.log_likelihood(x, z), expected, rtol=1e-5, atol=1e-2)


@pytest.mark.parametrize("kind,shape", [("bernoulli_mlp", (28, 28, 1)), ("gaussian_conv", (32, 32, 3)),
                                        ("constant_conv", (64, 64, 3))])
def test_models_score_and_sample_in_the_data_geometry(kind, shape):
    torch.manual_seed(0)
    model = build_model(kind, shape[2], latent_dim=4, hidden=(32, 16), width=4)
    assert isinstance(model, BernoulliMLP if kind == "bernoulli_mlp" else ConvVAE)
    images = np.random.default_rng(0).integers(0, 256, size=(5, *shape), dtype=np.uint8)
    x = model.prepare(images, torch.Generator().manual_seed(0), train=True)
    assert torch.isfinite(model.elbo(x)).all()
    values = log_px(model, model.prepare(images, torch.Generator().manual_seed(0), train=False), 8)
    assert values.shape == (5,) and torch.isfinite(values).all() and (values < 0).all()
    assert model.decoder_mean_images(torch.randn(3, 4), shape).shape == (3, *shape)
