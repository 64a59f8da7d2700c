"""A small conditional DCGAN for 8-32 px images and its losses.

G maps (z, class) to an image in [-1, 1]: a linear layer to a (4w, s/4, s/4) map, two
stride-2 transposed convolutions, a 3x3 convolution and tanh. D is a DCGAN stack of
strided convolutions with spectral normalisation and a projection head for the class
(Miyato & Koyama), so both networks are class-conditional as in Bai et al.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import spectral_norm

from pipeline.errors import PipelineError

LOSSES = ("hinge", "ns")
SIDES = range(8, 33, 4)  # image sides the two stride-2 stages take: multiples of 4 in 8..32


def check_size(size: int) -> int:
    """Image side length; the two stride-2 stages need a multiple of 4 between 8 and 32."""
    if size not in SIDES:
        raise PipelineError(f"mrgan: image size {size} not supported (need a multiple of 4 in 8..32)")
    return size // 4


def check_images(images, where: str = "mrgan") -> None:
    """``images`` (n, H, W, C) fit the GAN: square, of a side ``check_size`` accepts; else one line
    naming ``where`` (the data set's folder) and the config key that feeds them to it."""
    height, width = images.shape[1:3]
    if height != width or height not in SIDES:
        raise PipelineError(f"{where}: images of {height}x{width} pixels (height x width); the GAN of config key "
                            f"mrgan.datasets needs square images whose side is a multiple of 4 in 8..32")


class Generator(nn.Module):
    def __init__(self, size: int, channels: int, n_classes: int, z_dim: int, width: int):
        super().__init__()
        self.z_dim, self.n_classes, self.s0, self.width = z_dim, n_classes, check_size(size), width
        self.embed = nn.Embedding(n_classes, z_dim)
        self.project = nn.Linear(2 * z_dim, 4 * width * self.s0 * self.s0)
        self.body = nn.Sequential(
            nn.BatchNorm2d(4 * width), nn.ReLU(),
            nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.project(torch.cat([z, self.embed(labels)], dim=1))
        return self.body(h.view(len(z), 4 * self.width, self.s0, self.s0))


class Discriminator(nn.Module):
    def __init__(self, size: int, channels: int, n_classes: int, width: int):
        super().__init__()
        s0 = check_size(size)
        self.body = nn.Sequential(
            spectral_norm(nn.Conv2d(channels, width, 4, 2, 1)), nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(width, 2 * width, 4, 2, 1)), nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(2 * width, 4 * width, 3, 1, 1)), nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        features = 4 * width * s0 * s0
        self.linear = spectral_norm(nn.Linear(features, 1))
        self.embed = spectral_norm(nn.Embedding(n_classes, features))

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        return self.linear(h).squeeze(1) + (self.embed(labels) * h).sum(dim=1)


def d_loss(loss: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss on a batch of real and a batch of fake logits."""
    if loss == "hinge":
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
    if loss == "ns":
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    raise PipelineError(f"mrgan.loss: unknown loss '{loss}'; choose one of {LOSSES}")


def g_loss(loss: str, fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator loss, averaged over the fakes it is given (after MR, the kept ones)."""
    if loss == "hinge":
        return -fake_logits.mean()
    if loss == "ns":
        return F.softplus(-fake_logits).mean()
    raise PipelineError(f"mrgan.loss: unknown loss '{loss}'; choose one of {LOSSES}")


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> [0, 1], the input range of the embedders."""
    return (x.clamp(-1, 1) + 1.0) / 2.0


def images_to_tensor(images, scale: str = "unit") -> torch.Tensor:
    """uint8 (n, H, W, C) -> float NCHW in [0, 1] ('unit') or [-1, 1] ('tanh')."""
    x = torch.as_tensor(images).permute(0, 3, 1, 2).float() / 255.0
    return x if scale == "unit" else x * 2.0 - 1.0


def tensor_to_images(x: torch.Tensor):
    """Generator output in [-1, 1] (NCHW) -> uint8 (n, H, W, C) numpy."""
    return (to_unit(x) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
