"""Full benchmark data sets loaded through torchvision from a local ``data_root``.

Nothing is downloaded unless the config sets ``download: true``; a missing data set
raises a PipelineError that says which files to place where.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.errors import PipelineError

# What torchvision looks for under data_root, shown to the user when it is missing.
EXPECTED_FILES = {
    "mnist": "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte (the four files from the MNIST page, unzipped)",
    "cifar10": "cifar-10-batches-py/ (data_batch_1..5, test_batch, batches.meta; unpack cifar-10-python.tar.gz there)",
    "cifar100": "cifar-100-python/ (train, test, meta; unpack cifar-100-python.tar.gz there)",
    "celeba": "celeba/img_align_celeba/*.jpg plus celeba/list_eval_partition.txt, list_attr_celeba.txt, "
    "identity_CelebA.txt, list_bbox_celeba.txt, list_landmarks_align_celeba.txt",
}


def _missing(name: str, root: Path, err: Exception) -> PipelineError:
    return PipelineError(
        f"dataset '{name}': not found under data_root={root} ({err}); place {EXPECTED_FILES[name]} "
        f"under {root}, or set download: true for this dataset in config.yaml"
    )


def _from_arrays(train_x, train_y, test_x, test_y):
    images = np.concatenate([train_x, test_x]).astype(np.uint8)
    labels = np.concatenate([train_y, test_y]).astype(np.int64)
    split = np.array(["train"] * len(train_x) + ["test"] * len(test_x))
    return images, labels, split


def mnist(root: Path, download: bool):
    from torchvision import datasets

    try:
        train = datasets.MNIST(root, train=True, download=download)
        test = datasets.MNIST(root, train=False, download=download)
    except RuntimeError as err:
        raise _missing("mnist", root, err) from err
    return _from_arrays(
        train.data.numpy()[..., None], train.targets.numpy(), test.data.numpy()[..., None], test.targets.numpy()
    )


def _cifar(name: str, cls, root: Path, download: bool):
    try:
        train = cls(root, train=True, download=download)
        test = cls(root, train=False, download=download)
    except RuntimeError as err:
        raise _missing(name, root, err) from err
    return _from_arrays(train.data, np.asarray(train.targets), test.data, np.asarray(test.targets))


def cifar10(root: Path, download: bool):
    from torchvision import datasets

    return _cifar("cifar10", datasets.CIFAR10, root, download)


def cifar100(root: Path, download: bool):
    from torchvision import datasets

    return _cifar("cifar100", datasets.CIFAR100, root, download)


def celeba(root: Path, download: bool, size: int, attribute: str | None = None):
    """CelebA aligned faces, centre-cropped to 148 px and resized to ``size`` (as in the VAE papers)."""
    from torchvision import datasets, transforms

    resize = transforms.Compose([transforms.CenterCrop(148), transforms.Resize(size)])
    parts = {}
    for split in ("train", "valid", "test"):
        try:
            parts[split] = datasets.CelebA(root, split=split, target_type="attr", download=download)
        except (RuntimeError, FileNotFoundError) as err:
            raise _missing("celeba", root, err) from err
    attr_names = parts["train"].attr_names
    if attribute is not None and attribute not in attr_names:
        raise PipelineError(f"config key datasets.*.attribute: '{attribute}' is not a CelebA attribute")
    images, labels, splits = [], [], []
    for split, data in parts.items():
        column = attr_names.index(attribute) if attribute else None
        for i in range(len(data)):
            image, attrs = data[i]
            images.append(np.asarray(resize(image), dtype=np.uint8))
            labels.append(int(attrs[column]) if column is not None else 0)
            splits.append(split)
    return np.stack(images), np.asarray(labels, dtype=np.int64), np.asarray(splits)
