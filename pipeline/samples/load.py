"""Bring a set of generated images into the workflow's form: the data set's uint8 (n, H, W, C).

Samples come from any model trained elsewhere, so this module is the one place that decides what a
samples file may hold (config key ``samples.<name>.path``):

- ``.npy``: one array; ``.npz``: an archive holding an array named ``images``. Shape (n, H, W) (one
  channel) or (n, H, W, C), channels last. Pixels: the dtype says the range of an integer array
  (uint8, or any integer type with values 0..255), taken as it is. A float array's range no dtype
  says, and its values cannot tell it ([0, 1] images may hold round-off below 0, a tanh output may
  have no pixel below 0), so the config key ``samples.<name>.pixel_range`` declares it: ``[0, 1]``
  (x * 255) or ``[-1, 1]`` (a tanh output, (x + 1) / 2 * 255), rounded; values up to 1e-3 outside
  it are round-off, clipped. Floats without the key, or farther outside it (floats in 0..255, NaN),
  are an error naming the file and the key, so a wrongly scaled set never gets scored.
- a folder of ``.png`` / ``.jpg`` / ``.jpeg`` files (other files are ignored): sample i is the i-th
  in name order; each is converted to the data set's channels (PIL mode ``L`` or ``RGB``, so a grey
  set saved as RGB, as torchvision's ``save_image`` does, still fits), 16-bit grey PNGs scaled to 8
  bits by their bit depth (``pipeline.data.files.eight_bit``). All must share one size.

Height and width must equal the data set's (one-line error naming the file and both shapes) unless
``resize: true``, which resizes each image to them (PIL bicubic, antialiased when shrinking);
channels must match either way. Optional ``labels``: an ``.npy`` of integer classes, one per sample
in sample order (a conditional model's conditioning labels), each a class of the training split.

samples.parquet schema (one row per sample):
    sample  int64  position in images.npy
    label   int64  the sample's conditioning class; -1 when the set has no labels
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import cli, io
from pipeline.data.dataset import Dataset
from pipeline.data.files import IMAGE_SUFFIXES, load_array, read_image
from pipeline.errors import PipelineError
from pipeline.progress import get_logger

log = get_logger("samples.load")

FLOAT_TOLERANCE = 1e-3  # float pixels this far outside their declared range are clipped, farther is an error
PIXEL_RANGES = ((0, 1), (-1, 1))  # the values of samples.<name>.pixel_range
RANGE_KEY = "samples.<name>.pixel_range"


def read_array_file(path: Path) -> np.ndarray:
    """The images array of an ``.npy`` file or of an ``.npz`` archive's ``images`` entry."""
    if path.suffix not in (".npy", ".npz"):
        raise PipelineError(f"{path}: samples must be an .npy, an .npz holding 'images' or a folder of images")
    images = load_array(path, "images")
    if images is None:
        with np.load(path, allow_pickle=False) as archive:
            raise PipelineError(f"{path}: the .npz holds {sorted(archive.files)}, no array named 'images'")
    return images


def to_uint8(array: np.ndarray, path: Path, pixel_range: tuple[float, float] | None = None,
             key: str = RANGE_KEY) -> np.ndarray:
    """Pixels as uint8 by the rules of the module docstring; channels last, a channel axis always.
    ``pixel_range``: the declared range of float pixels (config key ``key``), None when undeclared."""
    array = np.asarray(array)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or len(array) == 0:
        raise PipelineError(f"{path}: samples of shape {array.shape}; expected (n, H, W) or (n, H, W, C), n >= 1")
    if np.issubdtype(array.dtype, np.integer):
        if array.min() < 0 or array.max() > 255:
            raise PipelineError(f"{path}: integer pixels in [{array.min()}, {array.max()}]; expected 0..255")
        return array.astype(np.uint8)
    if not np.issubdtype(array.dtype, np.floating):
        raise PipelineError(f"{path}: pixels of type {array.dtype}; expected uint8 or floats in [0, 1] or [-1, 1]")
    low, high = float(np.min(array)), float(np.max(array))
    if pixel_range is None:
        raise PipelineError(f"{path}: float pixels (in [{low:g}, {high:g}]) whose range the file does not say; "
                            f"set config key {key} to [0, 1] or [-1, 1] (a tanh output)")
    start, stop = pixel_range
    if not (np.isfinite(low) and np.isfinite(high)) or low < start - FLOAT_TOLERANCE or high > stop + FLOAT_TOLERANCE:
        raise PipelineError(f"{path}: float pixels in [{low:g}, {high:g}], outside [{start:g}, {stop:g}] as config key "
                            f"{key} declares them (save 0..255 values as uint8)")
    unit = (array.astype(np.float64) - start) / (stop - start)
    return np.clip(np.rint(unit * 255.0), 0, 255).astype(np.uint8)


def read_image_folder(folder: Path, channels: int) -> np.ndarray:
    """uint8 (n, H, W, channels) from the folder's image files in name order."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise PipelineError(f"{folder}: no {'/'.join(IMAGE_SUFFIXES)} files in the samples folder")
    images = []
    for file in files:
        pixels = read_image(file, None, None, mode="L" if channels == 1 else "RGB")
        if images and pixels.shape != images[0].shape:
            raise PipelineError(f"{file}: size {pixels.shape[:2]} differs from {files[0].name}'s {images[0].shape[:2]}")
        images.append(pixels)
    return np.stack(images).reshape(len(images), *images[0].shape[:2], channels)


def resize(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Each uint8 (H, W, C) image resized to (height, width) with PIL's bicubic filter."""
    from PIL import Image

    channels = images.shape[3]
    out = np.empty((len(images), height, width, channels), dtype=np.uint8)
    for i, image in enumerate(images):
        pil = Image.fromarray(image[..., 0] if channels == 1 else image)
        out[i] = np.asarray(pil.resize((width, height), Image.Resampling.BICUBIC)).reshape(height, width, channels)
    return out


def load_samples(path: str | Path, shape: tuple[int, int, int], allow_resize: bool,
                 pixel_range: tuple[float, float] | None = None, key: str = RANGE_KEY) -> np.ndarray:
    """The samples at ``path`` as uint8 images of the data set's ``shape`` (H, W, C); ``pixel_range``
    the range of float pixels that config key ``key`` declares (None: undeclared)."""
    path = Path(path)
    if not path.exists():
        raise PipelineError(f"{path}: samples not found")
    if path.is_dir():
        images = read_image_folder(path, shape[2])
    else:
        images = to_uint8(read_array_file(path), path, pixel_range, key)
    if images.shape[3] != shape[2] or (images.shape[1:3] != shape[:2] and not allow_resize):
        raise PipelineError(f"{path}: samples of shape {images.shape[1:]} but the data set's images are {shape}"
                            + ("" if images.shape[3] != shape[2] else "; set resize: true to resize them"))
    if images.shape[1:3] != shape[:2]:
        log.info("resizing %d samples from %s to %s", len(images), images.shape[1:3], shape[:2])
        images = resize(images, *shape[:2])
    return images


def load_labels(path: str | Path | None, n: int, classes: np.ndarray) -> np.ndarray:
    """The samples' conditioning labels (int64, one per sample), or -1 each without a labels file."""
    if path is None:
        return np.full(n, -1, dtype=np.int64)
    labels = io.read_array(Path(path))
    if labels.ndim != 1 or len(labels) != n or not np.issubdtype(labels.dtype, np.integer):
        raise PipelineError(f"{path}: labels of type {labels.dtype} and shape {labels.shape}; expected {n} integers")
    unknown = np.setdiff1d(labels, classes)
    if len(unknown):
        raise PipelineError(f"{path}: labels {unknown[:5].tolist()} are not classes of the training split")
    return labels.astype(np.int64)


def pixel_range_arg(text: str) -> tuple[float, float]:
    """argparse type of --pixel-range: 'LOW,HIGH', one of PIXEL_RANGES."""
    try:
        value = tuple(float(part) for part in text.split(","))
    except ValueError:
        value = ()
    if value not in PIXEL_RANGES:
        raise argparse.ArgumentTypeError(f"{text!r}: expected one of {', '.join(f'{a},{b}' for a, b in PIXEL_RANGES)}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description="Read a set of generated images into the data set's form.")
    parser.add_argument("--samples", required=True, type=Path, help=".npy, .npz with 'images', or image folder")
    parser.add_argument("--dataset-dir", required=True, type=Path)
    parser.add_argument("--labels", type=Path, help=".npy of integer labels, one per sample")
    parser.add_argument("--resize", required=True, choices=["on", "off"])
    parser.add_argument("--sample-set", help="the set's name in the config, for the keys errors name")
    parser.add_argument("--pixel-range", type=pixel_range_arg,
                        help="LOW,HIGH: the range of float pixels, 0,1 or -1,1 (write --pixel-range=-1,1)")
    parser.add_argument("--out-images", required=True, type=Path)
    parser.add_argument("--out-table", required=True, type=Path)
    a = parser.parse_args()
    data = Dataset.load(a.dataset_dir, mmap=True)
    key = f"samples.{a.sample_set}.pixel_range" if a.sample_set else RANGE_KEY
    images = load_samples(a.samples, data.images.shape[1:], a.resize == "on", a.pixel_range, key)
    classes = np.unique(data.table.loc[data.table["split"] == "train", "label"].to_numpy())
    labels = load_labels(a.labels, len(images), classes)
    io.write_array(images, a.out_images)
    io.write_parquet(pd.DataFrame({"sample": np.arange(len(images), dtype=np.int64), "label": labels}), a.out_table)
    log.info("wrote %s: %d samples of shape %s%s", a.out_images, len(images), images.shape[1:],
             ", with labels" if a.labels else "")


if __name__ == "__main__":
    cli.run(main)
