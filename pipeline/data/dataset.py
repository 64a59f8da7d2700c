"""The canonical cached form of a data set: ``images.npy`` (uint8, n x H x W x C) beside
``index.parquet``.

index.parquet schema (one row per image, in array order):
    index         int64   position in images.npy
    label         int64   class label (component for Gaussian mixtures, part label for mixtures)
    split         string  'train' or 'test' (CelebA also 'valid')
    source        string  data set the image came from (the part's name for mixtures, the base's
                          for planted data sets)
    source_index  int64   the row of ``source`` this image came from (its own index when the data
                          set is its own source), so (source, source_index) traces every example
    planted       string  '' for a clean example, else the canary kind planted there: flipped,
                          outlier, duplicate, test_copy (pipeline/data/planted.py)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import io
from pipeline.errors import PipelineError

IMAGES_FILE = "images.npy"
INDEX_FILE = "index.parquet"
INDEX_COLUMNS = ["index", "label", "split", "source", "source_index", "planted"]


@dataclass
class Dataset:
    images: np.ndarray
    table: pd.DataFrame

    @classmethod
    def from_arrays(cls, images, labels, split, source, source_index=None, planted="") -> "Dataset":
        """``source_index`` defaults to each row's own index (the data set is its own source);
        ``planted`` to '' (clean)."""
        n = len(images)
        own = np.arange(n, dtype=np.int64)
        table = pd.DataFrame(
            {
                "index": own,
                "label": np.asarray(labels, dtype=np.int64),
                "split": pd.array(np.asarray(split, dtype=str), dtype="string"),
                "source": pd.array(np.broadcast_to(np.asarray(source, dtype=str), (n,)), dtype="string"),
                "source_index": own if source_index is None else np.asarray(source_index, dtype=np.int64),
                "planted": pd.array(np.broadcast_to(np.asarray(planted, dtype=str), (n,)), dtype="string"),
            }
        )
        return cls(np.ascontiguousarray(images, dtype=np.uint8), table)

    def indices(self, split: str) -> np.ndarray:
        """Positions of the examples in ``split``, in array order."""
        return self.table["index"].to_numpy()[self.table["split"].to_numpy() == split]

    def split_arrays(self, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(images, labels, dataset indices) of one split."""
        idx = self.indices(split)
        return self.images[idx], self.table["label"].to_numpy()[idx], idx

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        io.write_array(self.images, directory / IMAGES_FILE)
        io.write_parquet(self.table, directory / INDEX_FILE)

    @classmethod
    def load(cls, directory: str | Path, mmap: bool = False) -> "Dataset":
        directory = Path(directory)
        images = io.read_array(directory / IMAGES_FILE, mmap=mmap)
        table = io.read_parquet(directory / INDEX_FILE, columns=INDEX_COLUMNS)
        if images.dtype != np.uint8 or images.ndim != 4 or len(images) != len(table):
            raise PipelineError(
                f"{directory}: images.npy {images.dtype}{images.shape} does not match index.parquet "
                f"({len(table)} rows); delete the folder and rerun"
            )
        return cls(images, table)
