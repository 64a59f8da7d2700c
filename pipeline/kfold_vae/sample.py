"""Samples of the full-data VAE: decoder means of z ~ N(0, I), as uint8 images.

The images have the training data's geometry (MNIST's 32x32 padding is cropped away again),
so they can be compared with training images pixel by pixel. Output: ``samples.npy``,
uint8 (n, H, W, C); sample i is row i.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from pipeline import cli, io
from pipeline.errors import PipelineError
from pipeline.devices import add_device_args, device_from_args
from pipeline.kfold_vae.train import derived_seed, load_model
from pipeline.progress import get_logger

log = get_logger("kfold_vae.sample")


@torch.no_grad()
def decoder_mean_samples(model, image_shape, n: int, seed: int, device="cpu", batch: int = 512) -> np.ndarray:
    generator = torch.Generator().manual_seed(derived_seed(seed, 11))
    z = torch.randn((n, model.latent_dim), generator=generator)
    model.eval()
    parts = [model.decoder_mean_images(z[i : i + batch].to(device), image_shape) for i in range(0, n, batch)]
    return np.concatenate(parts) if parts else np.empty((0, *image_shape), dtype=np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description="Decoder-mean samples of a trained VAE.")
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--n", required=True, type=int)
    parser.add_argument("--seed", required=True, type=int)
    add_device_args(parser)
    parser.add_argument("--out", required=True, type=Path)
    a = parser.parse_args()
    if a.n < 1:
        raise PipelineError(f"config key kfold_vae.n_samples: need at least 1, got {a.n}")
    torch.set_num_threads(1)
    device = device_from_args(a)
    model, shape = load_model(a.model, device)
    samples = decoder_mean_samples(model, shape, a.n, a.seed, device)
    io.write_array(samples, a.out)
    log.info("wrote %d samples %s to %s", len(samples), samples.shape[1:], a.out)


if __name__ == "__main__":
    cli.run(main)
