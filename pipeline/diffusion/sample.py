"""Generate samples from a trained DDPM as uint8 images (optionally an equal share per class).

samples.npy: uint8 (n, H, W, C).
samples.parquet schema (one row per sample, in array order):
    sample  int64  position in samples.npy (the neighbour table's ``query``)
    label   int64  class the sample was conditioned on (-1 for an unconditional model)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pipeline import cli, io
from pipeline.diffusion.schedule import SAMPLERS, Diffusion
from pipeline.devices import add_device_args, device_from_args
from pipeline.diffusion.train import load_model
from pipeline.errors import PipelineError
from pipeline.diffusion.unet import UNet
from pipeline.progress import Progress, get_logger
from pipeline.schema import schema_default

log = get_logger("diffusion.sample")


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Model-space images (n, C, H, W) in [-1, 1] -> uint8 (n, H, W, C); NaN would become 0, so it stops."""
    if not torch.isfinite(x).all():
        raise PipelineError("diffusion: the sampler produced NaN or inf pixels; the model's weights are not finite")
    return ((x.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def generate(model: UNet, diffusion: Diffusion, n: int, n_steps: int, sampler: str, seed: int,
             device: torch.device, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """n samples (uint8) and their conditioning labels (classes in turn; -1 if unconditional)."""
    num_classes = model.cfg.num_classes
    labels = np.arange(n, dtype=np.int64) % num_classes if num_classes > 0 else np.full(n, -1, dtype=np.int64)
    gen = torch.Generator(device=device).manual_seed(seed)
    shape = (model.cfg.channels, model.cfg.image_size, model.cfg.image_size)
    out, progress = [], Progress(log, n, "samples")
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        y = torch.as_tensor(labels[start:stop], device=device) if num_classes > 0 else None
        x = diffusion.sample(model, (stop - start, *shape), n_steps, sampler, y=y, generator=gen, device=device,
                             autocast=device.type == "cuda")
        out.append(to_uint8(x))
        progress.update(stop - start)
    images = np.concatenate(out) if out else np.empty((0, shape[1], shape[2], shape[0]), dtype=np.uint8)
    return images, labels


def main() -> None:
    parser = argparse.ArgumentParser(description="Sample a trained DDPM.")
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--n", required=True, type=int)
    parser.add_argument("--steps", type=int, default=schema_default("diffusion.experiments.*.sample_steps"),
                        help="respaced sampling steps")
    parser.add_argument("--sampler", default=schema_default("diffusion.experiments.*.sampler"), choices=SAMPLERS)
    parser.add_argument("--seed", type=int, default=0)
    add_device_args(parser)
    parser.add_argument("--out-images", required=True, type=Path)
    parser.add_argument("--out-table", required=True, type=Path)
    a = parser.parse_args()
    device = device_from_args(a)
    if device.type == "cpu":
        torch.set_num_threads(1)
    model, diffusion = load_model(a.model, device)
    start = time.monotonic()
    images, labels = generate(model, diffusion, a.n, a.steps, a.sampler, a.seed, device)
    io.write_array(images, a.out_images)
    io.write_parquet(pd.DataFrame({"sample": np.arange(len(images), dtype=np.int64), "label": labels}), a.out_table)
    log.info("%d samples (%s, %d steps) in %.1fs", len(images), a.sampler, a.steps, time.monotonic() - start)


if __name__ == "__main__":
    cli.run(main)
