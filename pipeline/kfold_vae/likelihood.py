"""Importance-sampled log p(x) with the encoder as proposal (van den Burg & Williams, eq. 9).

    log p(x) ~= logsumexp_k [log p(x | z_k) + log N(z_k; 0, I) - log q(z_k | x)] - log N,
    z_k ~ q(z | x).

By Jensen the estimate is a stochastic lower bound on log p(x) whose expectation rises to
log p(x) as N grows. The model is put in eval mode (BatchNorm uses running statistics) and
no gradients are kept. ``log_px`` evaluates a whole chunk of examples x samples in one
decoder call; ``log_px_loop`` is the straightforward per-example loop kept as the
benchmark's baseline.
"""

from __future__ import annotations

import math

import torch

from pipeline.progress import Progress, get_logger

log = get_logger("kfold_vae.likelihood")
LOG_2PI = math.log(2 * math.pi)


def standard_normal_log_density(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * (LOG_2PI + z**2).sum(-1)


def log_weights(model, x: torch.Tensor, n_samples: int, generator: torch.Generator | None) -> torch.Tensor:
    """(n_samples, B) log importance weights log p(x, z_k) - log q(z_k | x)."""
    mu, logvar = model.encode(x)
    std = torch.exp(0.5 * logvar)
    eps = torch.randn((n_samples, *mu.shape), generator=generator, device=mu.device)
    z = mu + std * eps
    log_q = -0.5 * (LOG_2PI + logvar + eps**2).sum(-1)
    return model.log_likelihood(x, z) + standard_normal_log_density(z) - log_q


def _estimate(weights: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(weights, dim=0) - math.log(weights.shape[0])


@torch.no_grad()
def log_px(model, x: torch.Tensor, n_samples: int, generator: torch.Generator | None = None,
           max_rows: int = 8192, progress_what: str | None = None) -> torch.Tensor:
    """(B,) importance-sampled log p(x) in pixel space for model-space inputs ``x``.

    Examples are processed in chunks of ``max_rows // n_samples`` so that one decoder call
    sees at most ``max_rows`` (example, sample) pairs.
    """
    was_training = model.training
    model.eval()
    chunk = max(1, max_rows // n_samples)
    out = torch.empty(len(x), dtype=torch.float64)
    progress = Progress(log, len(x), progress_what) if progress_what else None
    try:
        for start in range(0, len(x), chunk):
            xb = x[start : start + chunk]
            estimate = _estimate(log_weights(model, xb, n_samples, generator)) + model.pixel_correction(xb)
            out[start : start + len(xb)] = estimate.double().cpu()
            if progress:
                progress.update(len(xb))
    finally:
        model.train(was_training)
    return out


@torch.no_grad()
def log_px_loop(model, x: torch.Tensor, n_samples: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """The same estimate one example at a time, its samples in one batch (benchmark baseline)."""
    was_training = model.training
    model.eval()
    out = torch.empty(len(x), dtype=torch.float64)
    try:
        for i in range(len(x)):
            xi = x[i : i + 1]
            weights = log_weights(model, xi, n_samples, generator)
            out[i] = float(_estimate(weights)[0] + model.pixel_correction(xi)[0])
    finally:
        model.train(was_training)
    return out
