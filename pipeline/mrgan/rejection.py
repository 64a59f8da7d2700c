"""Memorization rejection (Bai et al.) in the generator step, exactly as stated in pipeline.mrgan.

d(x) = min over the whole training set of 1 - |cos(f(x), f(x_train))|, by exact search over
the training embeddings, which are computed once per job and held on the device. Generated
samples with d <= tau are dropped from the generator's loss (the batch shrinks); when none
survive a fresh batch is drawn, at most ``max_resample`` times, then a PipelineError stops the
job. The discriminator step never calls this: it sees all fakes. Sampling never calls it either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from pipeline.devices import full_float32
from pipeline.errors import PipelineError


def nn_distance(query: torch.Tensor, train: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    """1 - max |cos| of each query row to the rows of ``train`` (exact, blocked matmul; no TF32, whose
    errors near 1e-4 would flip decisions at taus of a few 1e-3)."""
    with full_float32():
        q = F.normalize(query.float(), dim=1)
        best = torch.full((len(q),), -1.0, device=q.device)
        for start in range(0, len(train), chunk):
            block = F.normalize(train[start:start + chunk].float(), dim=1)
            best = torch.maximum(best, (q @ block.T).abs().max(dim=1).values)
        return (1.0 - best).clamp_min(0.0)


@dataclass
class RejectionStats:
    generated: int  # fakes drawn in this step, over all attempts
    kept: int  # fakes the generator loss was computed on
    attempts: int  # batches drawn (1 = no resampling)


class MemorizationRejection:
    """Filter a generator batch by the distance of its embeddings to the training set.

    ``embed`` maps generator output (float NCHW in [0, 1]) to features; ``train_features`` are
    f(x_train) for the whole training split. ``tau=None`` switches rejection off (no embedding).
    """

    def __init__(self, embed, train_features: np.ndarray | torch.Tensor | None, tau: float | None,
                 max_resample: int, device: str = "cpu"):
        if tau is not None and not 0.0 <= tau <= 1.0:
            raise PipelineError(f"mrgan.taus: tau={tau} outside [0, 1], the range of 1 - |cos|")
        if max_resample < 0:
            raise PipelineError(f"mrgan.max_resample: must be >= 0, got {max_resample}")
        self.embed, self.tau, self.max_resample = embed, tau, max_resample
        self.train = None
        if tau is not None:
            train = torch.as_tensor(np.asarray(train_features), dtype=torch.float32)
            self.train = F.normalize(train, dim=1).to(device)

    def distances(self, fake_unit: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return nn_distance(self.embed(fake_unit.detach()), self.train)

    def select(self, draw) -> tuple[torch.Tensor, torch.Tensor, RejectionStats]:
        """Call ``draw()`` -> (fakes in [-1, 1] with grad, labels) until some survive.

        Returns the kept fakes, their labels and counts. The cap counts resamples after the
        first draw, so at most ``max_resample + 1`` batches are drawn.
        """
        generated = 0
        for attempt in range(1, self.max_resample + 2):
            fake, labels = draw()
            generated += len(fake)
            if self.tau is None:
                return fake, labels, RejectionStats(generated, len(fake), attempt)
            keep = self.distances((fake.clamp(-1, 1) + 1.0) / 2.0) > self.tau
            if keep.any():
                return fake[keep], labels[keep], RejectionStats(generated, int(keep.sum()), attempt)
        raise PipelineError(
            f"mrgan memorization rejection: every one of {generated} generated samples had distance <= "
            f"tau={self.tau} in {self.max_resample + 1} batches (cap mrgan.max_resample={self.max_resample}); "
            "lower tau (see the threshold guideline) or raise the cap"
        )
