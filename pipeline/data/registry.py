"""The registry of data sets: a config entry's ``kind`` names a builder here.

Every builder takes the data set's name (for error messages naming its config keys), its spec and
``data_root``, and returns images as uint8 (n, H, W, C), integer labels and a split name per
example; ``prepare`` turns that into the canonical cached form. Data sets researchers bring as
files (``image_folder``, ``arrays``) are read by pipeline/data/files.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from pipeline.data import embedded, files, full, synthetic
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.schema import spec_defaults

Built = tuple[np.ndarray, np.ndarray, np.ndarray]


def _with_test_split(images: np.ndarray, labels: np.ndarray, spec: dict) -> Built:
    is_test = embedded.stratified_test_mask(labels, spec["test_fraction"], spec["seed"])
    return images, labels, np.where(is_test, "test", "train")


def _synthetic_split(n_train: int, n_test: int) -> np.ndarray:
    return np.array(["train"] * n_train + ["test"] * n_test)


def build_mnist5k(name: str, spec: dict, data_root: Path) -> Built:
    return _with_test_split(*embedded.mnist5k(), spec)


def build_digits(name: str, spec: dict, data_root: Path) -> Built:
    return _with_test_split(*embedded.digits(), spec)


def build_mondrian(name: str, spec: dict, data_root: Path) -> Built:
    n = spec["n_train"] + spec["n_test"]
    images = synthetic.to_uint8(synthetic.mondrian(n, spec["size"], spec["seed"]))
    return images, np.zeros(n, dtype=np.int64), _synthetic_split(spec["n_train"], spec["n_test"])


def build_gaussian_mixture(name: str, spec: dict, data_root: Path) -> Built:
    n = spec["n_train"] + spec["n_test"]
    images, component = synthetic.gaussian_mixture(
        n, spec["size"], spec["seed"], spec["n_centers"], spec["sd"], spec["center_seed"]
    )
    return synthetic.to_uint8(images), component.astype(np.int64), _synthetic_split(spec["n_train"], spec["n_test"])


def build_random_ink(name: str, spec: dict, data_root: Path) -> Built:
    n = spec["n_train"] + spec["n_test"]
    images = synthetic.to_uint8(synthetic.random_ink(n, spec["size"], spec["seed"]))
    return images, np.zeros(n, dtype=np.int64), _synthetic_split(spec["n_train"], spec["n_test"])


def build_mnist(name: str, spec: dict, data_root: Path) -> Built:
    return full.shrunk(full.mnist(data_root, spec["download"]), spec.get("size"), name)


def build_fashion_mnist(name: str, spec: dict, data_root: Path) -> Built:
    return full.shrunk(full.fashion_mnist(data_root, spec["download"]), spec.get("size"), name)


def build_cifar10(name: str, spec: dict, data_root: Path) -> Built:
    return full.shrunk(full.cifar10(data_root, spec["download"]), spec.get("size"), name)


def build_cifar100(name: str, spec: dict, data_root: Path) -> Built:
    return full.shrunk(full.cifar100(data_root, spec["download"]), spec.get("size"), name)


def build_celeba(name: str, spec: dict, data_root: Path) -> Built:
    return full.celeba(data_root, spec["download"], spec["size"], spec.get("attribute"))


def build_image_folder(name: str, spec: dict, data_root: Path) -> Built:
    return files.image_folder(name, spec)


def build_arrays(name: str, spec: dict, data_root: Path) -> Built:
    return files.arrays(name, spec)


BUILDERS: dict[str, Callable[[str, dict, Path], Built]] = {
    "mnist5k": build_mnist5k,
    "digits": build_digits,
    "mondrian": build_mondrian,
    "gaussian_mixture": build_gaussian_mixture,
    "random_ink": build_random_ink,
    "mnist": build_mnist,
    "fashion_mnist": build_fashion_mnist,
    "cifar10": build_cifar10,
    "cifar100": build_cifar100,
    "celeba": build_celeba,
    "image_folder": build_image_folder,
    "arrays": build_arrays,
}


def build(name: str, spec: dict, data_root: Path) -> Dataset:
    """Build the data set a config entry describes (not one built from others: mixture, planted); keys it lacks take the schema's defaults."""
    kind = spec["kind"]
    if kind not in BUILDERS:
        raise PipelineError(f"config key datasets.{name}.kind: unknown kind '{kind}'; known: {sorted(BUILDERS)}")
    spec = spec_defaults("datasets.*", spec, check=False)
    images, labels, split = BUILDERS[kind](name, spec, data_root)
    return Dataset.from_arrays(images, labels, split, source=name)


def build_mixture(name: str, spec: dict, parts: dict[str, Dataset]) -> Dataset:
    """Concatenate seeded draws from prepared data sets, relabelled by part (the dummy-data experiments).

    A part without ``label`` keeps its source's labels, so a one-part mixture is a seeded subset of
    a labelled data set (e.g. a few hundred training digits, few enough for a GAN to copy); a part
    with ``classes`` draws only from those classes, and one with ``copies`` repeats each training
    example it draws, so classes can differ in how many distinct images they show (how easily a
    generator copies them) while keeping equal counts. Parts that draw from one source never share
    an example: each draws from what the parts before it left, so a source's images can be dealt
    out to several labels (classes that show the same kind of image, told apart only by label)."""
    spec = spec_defaults("datasets.*", spec, check=False)
    rng = np.random.default_rng(spec["seed"])
    pieces, drawn = [], {}  # drawn: (source, split) -> the examples earlier parts took
    for i, part in enumerate(spec["parts"]):
        source = parts[part["dataset"]]
        source_labels = source.table["label"].to_numpy()
        for split, count in (("train", part["n_train"]), ("test", part["n_test"])):
            taken = drawn.setdefault((part["dataset"], split), [])
            available = source.indices(split)
            if "classes" in part:
                available = available[np.isin(source_labels[available], part["classes"])]
            available = available[~np.isin(available, taken)]
            if count > len(available):
                of_classes = f" of classes {part['classes']}" if "classes" in part else ""
                left = " left by earlier parts" if taken else ""
                raise PipelineError(
                    f"config key datasets.{name}.parts[{i}].n_{split}: asks for {count} examples, "
                    f"'{part['dataset']}' has {len(available)}{of_classes}{left} in split '{split}'"
                )
            chosen = np.sort(rng.permutation(available)[:count])
            taken.extend(chosen.tolist())
            if split == "train":
                chosen = np.repeat(chosen, part["copies"])
            labels = source_labels[chosen] if "label" not in part else np.full(len(chosen), part["label"])
            pieces.append((source.images[chosen], labels, np.full(len(chosen), split), part["dataset"], chosen))
    shapes = {p[0].shape[1:] for p in pieces if len(p[0])}
    if len(shapes) > 1:
        raise PipelineError(f"config key datasets.{name}.parts: image shapes differ across parts: {sorted(shapes)}")
    return Dataset.from_arrays(
        np.concatenate([p[0] for p in pieces]),
        np.concatenate([p[1] for p in pieces]).astype(np.int64),
        np.concatenate([p[2] for p in pieces]),
        source=np.concatenate([np.full(len(p[0]), p[3]) for p in pieces]),
        source_index=np.concatenate([p[4] for p in pieces]),
    )
