"""Full benchmark data sets loaded from a local ``data_root`` in torchvision's layout.

Nothing is downloaded unless the config sets ``download: true`` (then torchvision fetches it); a
missing data set raises a PipelineError that says which files to place where. MNIST and
Fashion-MNIST are read here from their four IDX files, gzipped or not (``read_idx``), so the files
as distributed work without unpacking; CIFAR and CelebA are read by torchvision.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from pipeline.errors import PipelineError

# What torchvision looks for under data_root, shown to the user when it is missing.
EXPECTED_FILES = {
    "mnist": "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (the four files from the MNIST page)",
    "fashion_mnist": "FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (the four Fashion-MNIST files)",
    "cifar10": "cifar-10-batches-py/ (data_batch_1..5, test_batch, batches.meta; unpack cifar-10-python.tar.gz there)",
    "cifar100": "cifar-100-python/ (train, test, meta; unpack cifar-100-python.tar.gz there)",
    "celeba": "celeba/img_align_celeba/*.jpg plus celeba/list_eval_partition.txt, list_attr_celeba.txt, "
    "identity_CelebA.txt, list_bbox_celeba.txt, list_landmarks_align_celeba.txt",
}


def _missing(name: str, root: Path, err: object) -> PipelineError:
    return PipelineError(
        f"dataset '{name}': not found under data_root={root} ({err}); place {EXPECTED_FILES[name]} "
        f"under {root}, or set download: true for this dataset in config.yaml"
    )


def _from_arrays(train_x, train_y, test_x, test_y):
    images = np.concatenate([train_x, test_x]).astype(np.uint8)
    labels = np.concatenate([train_y, test_y]).astype(np.int64)
    split = np.array(["train"] * len(train_x) + ["test"] * len(test_x))
    return images, labels, split


def shrunk(built, size: int | None, name: str):
    """The data set with every image shrunk to ``size`` x ``size`` by area averaging (each new pixel
    the mean of the old pixels it covers, in part where it covers them in part: torch's adaptive
    average pooling), rounded back to uint8; ``size`` None: unchanged."""
    images, labels, split = built
    if size is None or images.shape[1:3] == (size, size):
        return built
    if size > min(images.shape[1:3]):
        raise PipelineError(f"config key datasets.{name}.size: {size} is larger than the images "
                            f"({images.shape[1]}x{images.shape[2]}); it can only shrink them")
    import torch
    import torch.nn.functional as F

    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float()  # (N, C, H, W)
    small = torch.cat([F.adaptive_avg_pool2d(chunk, size) for chunk in pixels.split(8192)])
    small = small.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
    return small, labels, split


# The four IDX files of MNIST-like data sets, by split: (images, labels).
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
IDX_UBYTE = 0x08  # the IDX type code of unsigned bytes, the only one these files use
CELEBA_CROP = 148  # px of the centre crop of CelebA's aligned 178 x 218 faces, as in the VAE papers


def read_idx(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (gzipped when its name ends in .gz) as an array of its shape."""
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise PipelineError(f"{path}: not a readable IDX file ({err})") from err
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != IDX_UBYTE:
        raise PipelineError(f"{path}: not an IDX file of unsigned bytes (header {data[:4].hex()})")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    body = data[4 + 4 * ndim:]
    if len(body) != int(np.prod(shape)):
        raise PipelineError(f"{path}: header says shape {shape}, body has {len(body)} bytes")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def _idx_file(raw: Path, name: str) -> Path | None:
    return next((path for path in (raw / name, raw / f"{name}.gz") if path.is_file()), None)


def _idx_dataset(name: str, folder: str, root: Path, download: bool):
    """Train and test split of an MNIST-like data set from ``root/<folder>/raw``, where torchvision
    keeps it (``folder`` is its class name); torchvision is imported only to download."""
    raw = Path(root) / folder / "raw"
    if download:
        from torchvision import datasets

        try:
            for train in (True, False):
                getattr(datasets, folder)(root, train=train, download=True)
        except RuntimeError as err:
            raise _missing(name, root, err) from err
    arrays = []
    for files in IDX_FILES.values():
        images_file, labels_file = (_idx_file(raw, file) for file in files)
        if images_file is None or labels_file is None:
            absent = files[0] if images_file is None else files[1]
            raise _missing(name, root, f"no {raw / absent}[.gz]")
        images, labels = read_idx(images_file), read_idx(labels_file)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise PipelineError(f"{labels_file}: {len(labels)} labels of shape {labels.shape[1:]} for "
                                f"{len(images)} images of shape {images.shape[1:]} in {images_file}")
        arrays += [images[..., None], labels]
    return _from_arrays(*arrays)


def mnist(root: Path, download: bool):
    return _idx_dataset("mnist", "MNIST", root, download)


def fashion_mnist(root: Path, download: bool):
    return _idx_dataset("fashion_mnist", "FashionMNIST", root, download)


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
    """CelebA aligned faces, centre-cropped to CELEBA_CROP px and resized to ``size`` (as in the VAE papers)."""
    from torchvision import datasets, transforms

    resize = transforms.Compose([transforms.CenterCrop(CELEBA_CROP), transforms.Resize(size)])
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
