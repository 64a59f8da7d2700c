"""Embedding functions f for memorization rejection, C_T and the Frechet distance ``fd_<kind>``, chosen by
``mrgan.embedding``. (FID proper uses its own fixed network: pipeline.fid.)

- ``inception``: torchvision Inception-v3 pool features (2048-d), as in Bai et al.: inputs in
  [0, 1], grey replicated to RGB, resized to 299, ImageNet-normalised. The weights are never
  downloaded: save torchvision's ImageNet state dict once on a machine with internet, e.g.
  ``torch.save(torchvision.models.inception_v3(weights="IMAGENET1K_V1").state_dict(), "inception_v3.pth")``
  (or fetch https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth by hand), and set
  ``mrgan.embedding.inception_weights`` to that file.
- ``classifier``: for offline use, a small CNN classifier trained by the workflow itself on the
  training split (rule ``mrgan_embedder``), stored as one file and reused by every job; f is its
  penultimate layer (pre-activation, 64-d).

Every embedding is L2-normalised, so 1 - |cos| is the distance of pipeline.mrgan, and rejection,
C_T and ``fd_<kind>`` see the same features. Features files are float32 ``.npy`` arrays (n, d) in split order.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from pipeline import cli, io
from pipeline.data.dataset import Dataset
from pipeline.devices import add_device_args, device_from_args, full_float32
from pipeline.errors import CorruptFileError, PipelineError
from pipeline.mrgan import EMBEDDING_NAMES
from pipeline.mrgan.gan import images_to_tensor
from pipeline.progress import Progress, get_logger
from pipeline.schema import schema_default

log = get_logger("mrgan.embed")

KINDS = tuple(EMBEDDING_NAMES)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class SmallCNN(nn.Module):
    """Conv-conv-pool-conv, global average pool, a 64-d penultimate layer, class logits."""

    def __init__(self, channels: int, n_classes: int, feat_dim: int = 64, width: int = 32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, 1, 1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 2 * width, 3, 1, 1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.penultimate = nn.Linear(2 * width, feat_dim)
        self.head = nn.Linear(feat_dim, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.penultimate(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(self.features(x)))


class Embedder:
    """Callable on float NCHW images in [0, 1]; returns L2-normalised features (n, d)."""

    def __init__(self, name: str, module: nn.Module, prepare, device: str = "cpu"):
        self.name, self.module, self.prepare, self.device = name, module.to(device).eval(), prepare, device

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with full_float32():  # features are measurements: no TF32
            return F.normalize(self.module(self.prepare(x.to(self.device))), dim=1)

    def embed_images(self, images: np.ndarray, batch: int = 256) -> np.ndarray:
        """uint8 (n, H, W, C) images -> float32 features, in batches, with progress lines."""
        progress = Progress(log, len(images), f"embed[{self.name}]")
        out = []
        for start in range(0, len(images), batch):
            out.append(self(images_to_tensor(images[start:start + batch])).cpu().numpy())
            progress.update(min(batch, len(images) - start))
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


class _Features(nn.Module):
    def __init__(self, net: SmallCNN):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.features(x)


def _inception_prepare(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def load_inception(weights: str | Path, device: str = "cpu") -> Embedder:
    """Inception-v3 pool features from a local state dict (never downloads)."""
    import torchvision

    path = Path(weights) if weights else None
    if path is None or not path.exists():
        raise PipelineError(
            f"mrgan.embedding.inception_weights: file '{weights}' not found; save torchvision's ImageNet "
            "Inception-v3 state dict there (see pipeline/mrgan/embed.py) or use embedding kind 'classifier'"
        )
    # transform_input=True: the ImageNet weights expect torchvision's own input re-scaling
    model = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=True)
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except (RuntimeError, OSError, ValueError) as err:
        raise PipelineError(
            f"mrgan.embedding.inception_weights: {path} is not an Inception-v3 state dict ({err})"
        ) from err
    model.fc = nn.Identity()
    return Embedder(EMBEDDING_NAMES["inception"], model, _inception_prepare, device)


def load_classifier(path: str | Path, device: str = "cpu") -> Embedder:
    """The workflow's own classifier embedding from the file ``train_classifier`` wrote."""
    path = Path(path)
    if not path.exists():
        raise PipelineError(f"{path}: classifier embedder not found; run rule mrgan_embedder")
    saved = io.load_torch(path, map_location="cpu", weights_only=True, what="classifier embedder file")
    try:
        return classifier_embedder(saved, device)
    except (RuntimeError, KeyError, ValueError, TypeError) as err:
        raise CorruptFileError(path, "classifier embedder file", err) from err


def classifier_embedder(saved: dict, device: str = "cpu") -> Embedder:
    """The embedding of a dict written by ``train_classifier``."""
    net = SmallCNN(saved["channels"], saved["n_classes"], saved["feat_dim"], saved["width"])
    net.load_state_dict(saved["state_dict"])
    return Embedder(EMBEDDING_NAMES["classifier"], _Features(net), _identity, device)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def load_embedder(kind: str, file: str | Path, device: str = "cpu") -> Embedder:
    if kind == "classifier":
        return load_classifier(file, device)
    if kind == "inception":
        return load_inception(file, device)
    raise PipelineError(f"mrgan.embedding.kind: unknown '{kind}'; choose one of {KINDS}")


def train_classifier(images: np.ndarray, labels: np.ndarray, epochs: int, seed: int, batch: int = 64,
                     lr: float = 2e-3, feat_dim: int = 64, width: int = 32, device: str = "cpu") -> dict:
    """Train SmallCNN on uint8 images; returns the dict saved as the embedder file."""
    torch.manual_seed(seed)
    x, y = images_to_tensor(images), torch.as_tensor(labels, dtype=torch.long)
    n_classes = int(labels.max()) + 1
    net = SmallCNN(x.shape[1], n_classes, feat_dim, width).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    progress = Progress(log, epochs, "classifier epochs")
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            loss = F.cross_entropy(net(x[idx].to(device)), y[idx].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
        progress.update()
    net.eval()
    with torch.no_grad():
        accuracy = float((net(x.to(device)).argmax(1).cpu() == y).float().mean())
    log.info("classifier train accuracy %.3f", accuracy)
    return {"state_dict": {k: v.cpu() for k, v in net.state_dict().items()}, "channels": x.shape[1],
            "n_classes": n_classes, "feat_dim": feat_dim, "width": width, "train_accuracy": accuracy}


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the classifier embedder, or embed a data set's splits.")
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train-classifier")
    tr.add_argument("--dataset-dir", required=True)
    tr.add_argument("--epochs", type=int, default=schema_default("mrgan.embedding.classifier_epochs"))
    tr.add_argument("--seed", type=int, default=0)
    add_device_args(tr)
    tr.add_argument("--out", required=True)
    fe = sub.add_parser("features")
    fe.add_argument("--images", required=True, help="a prepared data set folder or a samples .npy")
    fe.add_argument("--split", default=None, help="split of the data set folder to embed")
    fe.add_argument("--kind", required=True, choices=KINDS)
    fe.add_argument("--file", required=True, help="classifier embedder file or Inception-v3 state dict")
    add_device_args(fe)
    fe.add_argument("--out", required=True)
    args = parser.parse_args()
    device = device_from_args(args)
    if args.command == "train-classifier":
        images, labels, _ = Dataset.load(args.dataset_dir).split_arrays("train")
        saved = train_classifier(images, labels, args.epochs, args.seed, device=device)
        with io.atomic_path(args.out) as tmp:
            torch.save(saved, tmp)
        log.info("wrote %s", args.out)
        return
    if Path(args.images).is_dir():
        images = Dataset.load(args.images).split_arrays(args.split or "train")[0]
    else:
        images = io.read_array(args.images)
    embedder = load_embedder(args.kind, args.file, device)
    io.write_array(embedder.embed_images(images), args.out)
    log.info("wrote %s (%s, %d images)", args.out, embedder.name, len(images))


if __name__ == "__main__":
    cli.run(main)
