"""Cosine noise schedule, the epsilon-prediction loss and few-step samplers (strided DDPM, DDIM).

The schedule is IDDPM's: alpha_bar(t) = cos^2(((t/T + s) / (1 + s)) * pi/2), s = 0.008, betas
clipped at 0.999. Sampling uses a strided subsequence of the T training steps (Nichol & Dhariwal
"respacing"): ``ddpm`` is ancestral sampling with the respaced posterior variance, ``ddim``
the deterministic DDIM update (eta = 0), both with x0 predictions clipped to [-1, 1].
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from pipeline.schema import schema_default

SAMPLERS = ("ddim", "ddpm")


def cosine_alpha_bar(timesteps: int, s: float = 0.008) -> np.ndarray:
    """alpha_bar_t for t = 0..T (alpha_bar_0 = 1), float64, betas clipped at 0.999."""
    t = np.arange(timesteps + 1, dtype=np.float64) / timesteps
    f = np.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    betas = np.minimum(1 - f[1:] / f[:-1], 0.999)
    return np.concatenate([[1.0], np.cumprod(1 - betas)])


class Diffusion:
    """Forward process and samplers for T discrete steps; model timestep index t in 0..T-1."""

    def __init__(self, timesteps: int):
        self.T = timesteps
        self.alpha_bar = cosine_alpha_bar(timesteps)  # index t+1 is the model's step t
        self._model_alpha_bar: dict[torch.device, torch.Tensor] = {}

    def _ab(self, t: torch.Tensor) -> torch.Tensor:
        # copied to a device once, not at every training step (a host-to-GPU copy waits for the GPU)
        if t.device not in self._model_alpha_bar:
            self._model_alpha_bar[t.device] = torch.as_tensor(self.alpha_bar[1:], dtype=torch.float32,
                                                              device=t.device)
        return self._model_alpha_bar[t.device][t][:, None, None, None]

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        ab = self._ab(t)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def loss(self, model, x0: torch.Tensor, y: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """Simple DDPM loss: MSE between true and predicted noise at a uniform random step (in float32,
        also when the model runs under bfloat16 autocast)."""
        t = torch.randint(0, self.T, (len(x0),), device=x0.device, generator=generator)
        noise = torch.randn(x0.shape, device=x0.device, generator=generator)
        return F.mse_loss(model(self.q_sample(x0, t, noise), t, y).float(), noise)

    def respaced_steps(self, n_steps: int) -> np.ndarray:
        """Evenly strided model steps from T-1 down to 0 (at most T of them)."""
        n = max(1, min(n_steps, self.T))
        return np.unique(np.round(np.linspace(0, self.T - 1, n)).astype(np.int64))[::-1]

    @torch.no_grad()
    def sample(self, model, shape, n_steps: int = schema_default("diffusion.experiments.*.sample_steps"),
               sampler: str = schema_default("diffusion.experiments.*.sampler"), y: torch.Tensor | None = None,
               generator: torch.Generator | None = None, device="cpu", autocast: bool = False) -> torch.Tensor:
        """Draw images in [-1, 1] with ``n_steps`` respaced steps of ``sampler`` (ddim or ddpm)."""
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; choose from {SAMPLERS}")
        steps = self.respaced_steps(n_steps)
        x = torch.randn(shape, generator=generator, device=device)
        for i, t in enumerate(steps):
            ab_t = float(self.alpha_bar[t + 1])
            ab_prev = float(self.alpha_bar[steps[i + 1] + 1]) if i + 1 < len(steps) else 1.0
            tt = torch.full((shape[0],), int(t), device=device, dtype=torch.long)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                eps = model(x, tt, y)
            eps = eps.float()
            x0 = ((x - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)).clamp(-1, 1)
            if sampler == "ddim":
                eps = (x - math.sqrt(ab_t) * x0) / math.sqrt(1 - ab_t)
                x = math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * eps
            else:
                beta = 1 - ab_t / ab_prev
                mean = (math.sqrt(ab_prev) * beta / (1 - ab_t)) * x0 + (
                    math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab_t)) * x
                if i + 1 < len(steps):
                    var = beta * (1 - ab_prev) / (1 - ab_t)
                    x = mean + math.sqrt(var) * torch.randn(shape, generator=generator, device=device)
                else:
                    x = mean
        return x
