"""Atomic writes and checked reads of the files the workflow exchanges.

Outputs are written to a temporary file beside the target and renamed into
place, so an interrupted job never leaves a half-written file that looks
complete. Reads turn a missing file into a PipelineError naming it, and a corrupt one
(truncated, overwritten, wrong format) into a CorruptFileError naming it, which the entry points
answer by moving the file aside so that a rerun rebuilds it (``pipeline.cli.run``; a researcher's
own file outside ``results/`` is only named).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import CorruptFileError, PipelineError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it to ``path`` on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.*.tmp"):  # left by a killed job
        stale.unlink(missing_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.is_file():  # mkstemp made it 0600; give it the mode a plain open() would
            os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_parquet(table: pd.DataFrame | pa.Table, path: str | os.PathLike) -> None:
    """Write a DataFrame or Arrow table to Parquet atomically (no pandas index column)."""
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


@contextlib.contextmanager
def parquet_writer(path: str | os.PathLike, schema: pa.Schema) -> Iterator:
    """Yield ``write(table)``, which appends an Arrow table of ``schema`` to ``path`` as a row group:
    a table too large to hold whole, written atomically (renamed into place when the block ends)."""
    with atomic_path(path) as tmp:
        with pq.ParquetWriter(tmp, schema) as writer:
            yield writer.write_table


@contextlib.contextmanager
def _reading_parquet(path: Path) -> Iterator[None]:
    """Name ``path`` in the error when it is missing, or unreadable as Parquet (truncated, overwritten)."""
    if not path.exists():
        raise PipelineError(f"{path}: file not found")
    try:
        yield
    except (pa.ArrowException, OSError, ValueError) as err:
        raise CorruptFileError(path, "Parquet file", err) from err


def read_parquet(path: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet table, naming the file if it is missing, truncated or lacks columns."""
    path = Path(path)
    if columns is not None:
        present = set(parquet_columns(path))
        missing = [c for c in columns if c not in present]
        if missing:
            raise PipelineError(f"{path}: missing columns {missing}")
    with _reading_parquet(path):  # only the columns asked for are read
        table = pq.read_table(path, columns=columns)
    return (table if columns is None else table.select(columns)).to_pandas()


def parquet_batches(path: str | os.PathLike, columns: list[str], rows: int = 256) -> Iterator[pa.RecordBatch]:
    """``columns`` of a Parquet table, ``rows`` rows at a time, naming the file as ``read_parquet``
    does: what reading holds is a batch, not the table (unbuffered reads of 4 MB: a shard table's
    float list column of 4,000 runs is 1 GB, and reading it whole held four times that)."""
    path = Path(path)
    with _reading_parquet(path):
        yield from pq.ParquetFile(path, pre_buffer=False, buffer_size=2**22).iter_batches(batch_size=rows,
                                                                                           columns=columns)


def parquet_columns(path: str | os.PathLike) -> list[str]:
    """The column names of a Parquet table, from its footer alone (no data read), naming the file if
    it is missing or unreadable as ``read_parquet`` does."""
    path = Path(path)
    with _reading_parquet(path):
        return pq.read_schema(path).names


def write_array(array: np.ndarray, path: str | os.PathLike) -> None:
    """Save a numpy array as ``.npy`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)


def read_array(path: str | os.PathLike, mmap: bool = False) -> np.ndarray:
    """Load a ``.npy`` array, naming the file if it is missing or corrupt."""
    path = Path(path)
    if not path.exists():
        raise PipelineError(f"{path}: file not found")
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise CorruptFileError(path, ".npy array", err) from err
    if not isinstance(array, np.ndarray):
        raise CorruptFileError(path, ".npy array", "an .npz archive")
    return array


def load_torch(path: str | os.PathLike, map_location="cpu", weights_only: bool = True, what: str = "model file"):
    """``torch.load`` naming the file if it is missing or cannot be unpickled (truncated, overwritten)."""
    import torch

    path = Path(path)
    if not path.exists():
        raise PipelineError(f"{path}: {what} not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=weights_only)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ... for a bad file
        raise CorruptFileError(path, what, err) from err


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict | None:
    """A resume checkpoint written by this package, or None if there is none.

    A checkpoint that exists but cannot be read raises CorruptFileError: the job stops with one
    line naming it, the entry point moves it aside and the rerun trains from the start.
    """
    path = Path(path)
    if not path.exists():
        return None
    state = load_torch(path, map_location=map_location, weights_only=False, what="checkpoint")
    if not isinstance(state, dict):
        raise CorruptFileError(path, "checkpoint", f"holds a {type(state).__name__}, not a dict")
    return state


def save_figure(figure, path: str | os.PathLike, **kwargs) -> None:
    """Save a matplotlib figure atomically, keeping the target's format from its suffix."""
    target = Path(path)
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format=target.suffix.lstrip(".") or "png", **kwargs)
