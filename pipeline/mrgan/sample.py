"""Draw samples from a trained generator. Nothing is rejected at sampling time (Bai et al.).

Labels follow the training class frequencies (largest-remainder rounding, then a seeded
shuffle), so class-wise scores have every class.

samples.npy: uint8 (n, H, W, C).

samples.parquet schema (one row per sample, in array order):
    sample  int64  position in samples.npy
    label   int64  class the generator was conditioned on
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import torch

from pipeline import cli, io
from pipeline.errors import CorruptFileError, PipelineError
from pipeline.mrgan import gan
from pipeline.devices import add_device_args, device_from_args
from pipeline.progress import get_logger

log = get_logger("mrgan.sample")


def load_generator(path, device: str = "cpu") -> tuple[gan.Generator, dict]:
    saved = io.load_torch(path, map_location="cpu", weights_only=True, what="generator file")
    try:
        G = gan.Generator(saved["size"], saved["channels"], saved["n_classes"], saved["z_dim"], saved["width"])
        G.load_state_dict(saved["state_dict"])
    except (RuntimeError, KeyError, ValueError, TypeError) as err:
        raise CorruptFileError(path, "generator file", err) from err
    return G.to(device).eval(), saved


def balanced_labels(freq, n: int, rng: np.random.Generator) -> np.ndarray:
    """n labels in proportion to ``freq`` (largest remainder), shuffled."""
    freq = np.asarray(freq, dtype=float)
    exact = n * freq / freq.sum()
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]] += 1
    return rng.permutation(np.repeat(np.arange(len(freq)), counts))


@torch.no_grad()
def sample(G: gan.Generator, labels: np.ndarray, seed: int, batch: int = 500, device: str = "cpu") -> np.ndarray:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, len(labels), batch):
        y = torch.as_tensor(labels[start:start + batch], dtype=torch.long)
        z = torch.randn(len(y), G.z_dim, generator=gen)
        out.append(gan.tensor_to_images(G(z.to(device), y.to(device))))
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description="Sample a trained conditional generator.")
    parser.add_argument("--generator", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    add_device_args(parser)
    parser.add_argument("--out-images", required=True)
    parser.add_argument("--out-table", required=True)
    args = parser.parse_args()
    if args.n < 1:
        raise PipelineError(f"mrgan.n_samples: must be >= 1, got {args.n}")
    device = device_from_args(args)
    G, saved = load_generator(args.generator, device)
    labels = balanced_labels(saved["label_freq"], args.n, np.random.default_rng(args.seed))
    images = sample(G, labels, args.seed, device=device)
    io.write_array(images, args.out_images)
    io.write_parquet(pd.DataFrame({"sample": np.arange(len(labels), dtype=np.int64),
                                   "label": labels.astype(np.int64)}), args.out_table)
    log.info("wrote %d samples to %s", len(images), args.out_images)


if __name__ == "__main__":
    cli.run(main)
