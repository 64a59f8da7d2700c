"""The VAEs of van den Burg & Williams (Table 1) and the data transforms they are trained under.

Every model exposes the same small interface, which the importance-sampling estimator
(``likelihood.py``) and the trainer use:

- ``prepare(images_uint8, generator, train)`` -> model-space tensor ``x`` (binarized for the
  Bernoulli MLP; dequantized and logit-transformed for the Gaussian conv VAEs, which also
  flip images horizontally at random when ``train``).
- ``encode(x)`` -> (mu, logvar) of the diagonal Gaussian q(z | x).
- ``log_likelihood(x, z)`` -> log p(x | z) in model space; ``z`` is (S, B, L), result (S, B).
- ``pixel_correction(x)`` -> (B,) term that turns model-space log p into log p of the
  8-bit image (change of variables; zero for the binarized MNIST model).
- ``decoder_mean_images(z, shape)`` -> uint8 images of the decoder means in the data's geometry.

Bernoulli MLP (MNIST): pad to 32x32, x ~ Bernoulli(pixel), 1024-512-256 -> L and L-256-512-1024.
Conv VAEs (CIFAR-10 / CelebA, DCGAN-like, F = 32): uniform dequantization (u + 255 x) / 256,
y = logit(lam + (1 - 2 lam) x), lam = 0.05, and
log p_pixel = log p_logit + D log(1 - 2 lam) - D log 256 - sum(y - 2 softplus(y)).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pipeline.errors import PipelineError
from pipeline.schema import spec_defaults

LOGIT_LAMBDA = 0.05
SIZE = 32  # every model works on 32x32 images
LOG_2PI = math.log(2 * math.pi)
KINDS = ("bernoulli_mlp", "gaussian_conv", "constant_conv")


def to_unit(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (n, H, W, C) -> float (n, C, H, W) in [0, 1]."""
    x = torch.as_tensor(np.asarray(images))
    return x.permute(0, 3, 1, 2).float() / 255.0


def to_32(x: torch.Tensor) -> torch.Tensor:
    """Pad 28x28 (MNIST) with zeros, area/bilinear-resize any other size, to 32x32."""
    h, w = x.shape[-2:]
    if (h, w) == (SIZE, SIZE):
        return x
    if h <= SIZE and w <= SIZE and h >= SIZE - 8 and w >= SIZE - 8:
        top, left = (SIZE - h) // 2, (SIZE - w) // 2
        return F.pad(x, (left, SIZE - w - left, top, SIZE - h - top))
    mode = "area" if h > SIZE else "bilinear"
    return F.interpolate(x, size=(SIZE, SIZE), mode=mode, **({} if mode == "area" else {"align_corners": False}))


def from_32(x: torch.Tensor, shape: tuple[int, int, int]) -> np.ndarray:
    """Inverse of ``to_32`` for [0, 1] images: back to uint8 (n, H, W, C) of the data's geometry."""
    h, w, _ = shape
    if (h, w) != (SIZE, SIZE):
        if h <= SIZE and w <= SIZE and h >= SIZE - 8 and w >= SIZE - 8:
            top, left = (SIZE - h) // 2, (SIZE - w) // 2
            x = x[..., top : top + h, left : left + w]
        else:
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    return (x.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def dequantize(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """(u + 255 x) / 256 with u ~ U[0, 1): a continuous point inside the pixel's bin."""
    u = torch.rand(x.shape, generator=generator, device=x.device)
    return (u + 255.0 * x) / 256.0


def logit_transform(x: torch.Tensor, lam: float = LOGIT_LAMBDA) -> torch.Tensor:
    p = lam + (1.0 - 2.0 * lam) * x
    return torch.log(p) - torch.log1p(-p)


def logit_pixel_correction(y: torch.Tensor, lam: float = LOGIT_LAMBDA) -> torch.Tensor:
    """log p_pixel - log p_logit = D log(1 - 2 lam) - D log 256 - sum(y - 2 softplus(y))."""
    d = y[0].numel()
    flat = y.reshape(len(y), -1)
    return d * math.log(1.0 - 2.0 * lam) - d * math.log(256.0) - (flat - 2.0 * F.softplus(flat)).sum(dim=1)


def inverse_logit_transform(y: torch.Tensor, lam: float = LOGIT_LAMBDA) -> torch.Tensor:
    return ((torch.sigmoid(y) - lam) / (1.0 - 2.0 * lam)).clamp(0.0, 1.0)


class VAE(nn.Module):
    """Shared parts: diagonal Gaussian encoder output, reparameterization, ELBO."""

    latent_dim: int

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def pixel_correction(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(x), device=x.device)

    def elbo(self, x: torch.Tensor) -> torch.Tensor:
        """Single-sample ELBO per example (model space), the training objective. Under bfloat16
        autocast the networks' outputs are cast to float32 first, so the ELBO's sums are float32."""
        mu, logvar = (t.float() for t in self.encode(x))
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        kl = 0.5 * (mu**2 + torch.exp(logvar) - 1.0 - logvar).sum(dim=1)
        return self.log_likelihood(x, z[None])[0] - kl


class BernoulliMLP(VAE):
    """MNIST VAE: FC encoder 1024-512-256 -> (mu, logvar), decoder L-256-512-1024 with sigmoid."""

    def __init__(self, latent_dim: int, hidden: tuple[int, ...], channels: int = 1):
        super().__init__()
        self.latent_dim, self.channels = latent_dim, channels
        d = channels * SIZE * SIZE
        widths = [d, *hidden]
        self.encoder = nn.Sequential(*[m for a, b in zip(widths, widths[1:]) for m in (nn.Linear(a, b), nn.ReLU())])
        self.mu = nn.Linear(widths[-1], latent_dim)
        self.logvar = nn.Linear(widths[-1], latent_dim)
        back = [latent_dim, *reversed(hidden)]
        layers = [m for a, b in zip(back, back[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
        self.decoder = nn.Sequential(*layers, nn.Linear(back[-1], d))  # logits; sigmoid is in the likelihood

    def prepare(self, images, generator: torch.Generator | None, train: bool) -> torch.Tensor:
        """Dynamic binarization of the padded image: each pixel is its own Bernoulli parameter."""
        probs = to_32(to_unit(images))
        return torch.bernoulli(probs, generator=generator).flatten(start_dim=1)

    def encode(self, x):
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def log_likelihood(self, x, z):
        logits = self.logits(z).float()  # (S, B, D)
        return -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)

    def decoder_mean_images(self, z, shape):
        probs = torch.sigmoid(self.logits(z)).reshape(len(z), self.channels, SIZE, SIZE)
        return from_32(probs, shape)


def enc_block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)]


def dec_block(c_in: int, c_out: int, first: bool = False) -> list[nn.Module]:
    conv = nn.ConvTranspose2d(c_in, c_out, 2, 1, 0) if first else nn.ConvTranspose2d(c_in, c_out, 4, 2, 1)
    return [conv, nn.BatchNorm2d(c_out), nn.ReLU()]


class ConvVAE(VAE):
    """DCGAN-like VAE in logit space (Table 1).

    ``constant_variance=False`` (CIFAR-10): decoder outputs mean and log-variance per pixel,
    log-variance clamped at -7. ``True`` (CelebA): one learned scalar log gamma (init -2).
    """

    def __init__(self, latent_dim: int, channels: int, width: int, constant_variance: bool = False):
        super().__init__()
        self.latent_dim, self.channels, self.constant_variance = latent_dim, channels, constant_variance
        f = width
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, f, 4, 2, 1), nn.LeakyReLU(0.2),
            *enc_block(f, 2 * f), *enc_block(2 * f, 4 * f), *enc_block(4 * f, 8 * f), nn.Flatten(),
        )
        self.mu = nn.Linear(32 * f, latent_dim)
        self.logvar = nn.Linear(32 * f, latent_dim)
        out = channels if constant_variance else 2 * channels
        self.decoder = nn.Sequential(
            *dec_block(latent_dim, 8 * f, first=True), *dec_block(8 * f, 4 * f), *dec_block(4 * f, 2 * f),
            *dec_block(2 * f, f), nn.ConvTranspose2d(f, out, 4, 2, 1),
        )
        if constant_variance:
            self.log_gamma = nn.Parameter(torch.tensor(-2.0))

    def prepare(self, images, generator, train):
        x = to_32(to_unit(images))
        if train:
            flip = torch.rand(len(x), generator=generator) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return logit_transform(dequantize(x, generator))

    def pixel_correction(self, x):
        return logit_pixel_correction(x)

    def encode(self, x):
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (..., L) -> (mean, logvar), each (..., C, 32, 32) in logit space."""
        lead = z.shape[:-1]
        out = self.decoder(z.reshape(-1, self.latent_dim, 1, 1)).float()
        if self.constant_variance:
            mean, logvar = out, self.log_gamma.expand_as(out)
        else:
            mean, logvar = out[:, : self.channels], out[:, self.channels :].clamp(min=-7.0)
        return mean.reshape(*lead, *mean.shape[1:]), logvar.reshape(*lead, *logvar.shape[1:])

    def log_likelihood(self, x, z):
        mean, logvar = self.decode(z)
        value = -0.5 * (LOG_2PI + logvar + (x - mean) ** 2 * torch.exp(-logvar))
        return value.flatten(start_dim=2).sum(-1)

    def decoder_mean_images(self, z, shape):
        mean, _ = self.decode(z)
        return from_32(inverse_logit_transform(mean), shape)


def build_model(kind: str, channels: int, latent_dim: int | None = None, hidden: tuple[int, ...] | None = None,
                width: int | None = None) -> VAE:
    """A fresh model of ``kind``. What is not given takes the schema's default for the kind
    (``kfold_vae.models.*``: the paper's L of 16 / 64 / 32, which latent_dim 0 also means)."""
    if kind not in KINDS:
        raise PipelineError(f"config key kfold_vae.models.*.kind: unknown model '{kind}'; choose one of {KINDS}")
    defaults = spec_defaults("kfold_vae.models.*", {"kind": kind})
    latent = latent_dim or defaults["latent_dim"]
    hidden = defaults["hidden"] if hidden is None else hidden
    width = defaults["width"] if width is None else width
    if kind == "bernoulli_mlp":
        return BernoulliMLP(latent, tuple(hidden), channels)
    return ConvVAE(latent, channels, width, constant_variance=kind == "constant_conv")
