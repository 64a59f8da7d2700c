"""Exact k-nearest-neighbour search, chunked, on CPU or GPU, written as Parquet.

Metrics: ``l2`` (Euclidean distance), ``cosine`` (1 - cos) and ``abscosine`` (1 - |cos|,
the distance of Bai et al.'s memorization rejection). Backends:

- ``torch``: blocks of queries x blocks of references through one matmul each, a running
  top-(k + margin) per query, so memory is O(query_chunk x ref_chunk) beyond the data;
  runs on any torch device.
- ``faiss``: exact flat indexes (IndexFlatL2 / IndexFlatIP), the field's standard CPU tool.
- ``numpy``: float64 brute force, the reference the others are tested against.

The fast backends find candidates in float32; every backend then re-ranks its candidates
by exact float64 distances and breaks ties by reference index, so all three return the
same neighbours and distances.

neighbors.parquet schema (one row per query and rank):
    query      int64    id of the query (dataset index, or position in a sample array)
    rank       int32    0 = nearest
    ref_index  int64    id of the reference (dataset index, or position in a reference array)
    distance   float64  distance under the metric (pixel values scaled to [0, 1])
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import cli, io
from pipeline.errors import PipelineError
from pipeline.points import finite_rows
from pipeline.progress import Progress, get_logger
from pipeline.schema import schema_default

log = get_logger("neighbors")

METRICS = ("l2", "cosine", "abscosine")
BACKENDS = ("auto", "torch", "faiss", "numpy")


def as_rows(x: np.ndarray) -> np.ndarray:
    """Flatten images to (n, d) float32; uint8 pixels are scaled to [0, 1]."""
    x = np.asarray(x)
    rows = x.reshape(len(x), int(np.prod(x.shape[1:])))  # not -1: it cannot size zero rows
    if rows.dtype == np.uint8:
        return rows.astype(np.float32) / np.float32(255.0)
    return rows.astype(np.float32, copy=False)


def _normalize(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def exact_distances(query: np.ndarray, ref: np.ndarray, metric: str) -> np.ndarray:
    """Float64 distances between row i of ``query`` and rows ``ref[i, :, :]`` (candidates)."""
    q = query.astype(np.float64)[:, None, :]
    r = ref.astype(np.float64)
    if metric == "l2":
        return np.sqrt(((r - q) ** 2).sum(axis=2))
    cos = (_normalize_3d(r) * _normalize_3d(q)).sum(axis=2)
    return np.maximum(1.0 - (np.abs(cos) if metric == "abscosine" else cos), 0.0)


def _normalize_3d(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=2, keepdims=True), 1e-12)


def rerank(query: np.ndarray, ref: np.ndarray, candidates: np.ndarray, k: int, metric: str,
           chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Keep the k candidates with smallest exact distance, ties broken by reference index.

    A candidate listed twice in a row (abscosine's two searches) is counted once.
    """
    candidates = np.sort(candidates, axis=1)
    repeated = np.zeros_like(candidates, dtype=bool)
    repeated[:, 1:] = candidates[:, 1:] == candidates[:, :-1]
    out_idx = np.empty((len(query), k), dtype=np.int64)
    out_dist = np.empty((len(query), k), dtype=np.float64)
    for start in range(0, len(query), chunk):
        stop = min(start + chunk, len(query))
        cand = candidates[start:stop]
        dist = exact_distances(query[start:stop], ref[cand], metric)
        dist[repeated[start:stop]] = np.inf
        order = np.lexsort((cand, dist), axis=1)[:, :k]
        out_idx[start:stop] = np.take_along_axis(cand, order, axis=1)
        out_dist[start:stop] = np.take_along_axis(dist, order, axis=1)
    return out_idx, out_dist


def _numpy_candidates(query, ref, k, metric, query_chunk, progress):
    ref64 = ref.astype(np.float64)
    if metric != "l2":
        ref64 = _normalize(ref64)
    ref_sq = (ref64**2).sum(axis=1)
    out = np.empty((len(query), k), dtype=np.int64)
    for start in range(0, len(query), query_chunk):
        q = query[start : start + query_chunk].astype(np.float64)
        if metric == "l2":
            scores = (q**2).sum(axis=1)[:, None] - 2.0 * q @ ref64.T + ref_sq[None, :]
        else:
            cos = _normalize(q) @ ref64.T
            scores = 1.0 - (np.abs(cos) if metric == "abscosine" else cos)
        out[start : start + len(q)] = np.argsort(scores, axis=1, kind="stable")[:, :k]
        progress.update(len(q))
    return out


def _torch_candidates(query, ref, k, metric, query_chunk, ref_chunk, device, progress):
    import torch

    dev = torch.device(device)
    offset = ref.mean(axis=0, keepdims=True) if metric == "l2" else 0.0  # centring keeps float32 accurate
    ref_t = torch.from_numpy(np.ascontiguousarray(ref - offset, dtype=np.float32)).to(dev)
    if metric != "l2":
        ref_t = torch.nn.functional.normalize(ref_t, dim=1)
    ref_sq = (ref_t**2).sum(dim=1)
    queries = torch.from_numpy(np.ascontiguousarray(query - offset, dtype=np.float32))
    if dev.type == "cuda":  # page-locked once, so each chunk's copy is a DMA that overlaps the host's work
        queries = queries.pin_memory()
    out = np.empty((len(query), k), dtype=np.int64)
    with torch.no_grad():
        for start in range(0, len(query), query_chunk):
            q = queries[start : start + query_chunk].to(dev, non_blocking=True)
            if metric != "l2":
                q = torch.nn.functional.normalize(q, dim=1)
            best_score = torch.full((len(q), 0), float("inf"), device=dev)
            best_index = torch.empty((len(q), 0), dtype=torch.long, device=dev)
            for rstart in range(0, len(ref_t), ref_chunk):
                block = ref_t[rstart : rstart + ref_chunk]
                dots = q @ block.T
                if metric == "l2":
                    scores = ref_sq[rstart : rstart + ref_chunk][None, :] - 2.0 * dots  # + |q|^2, constant per row
                elif metric == "cosine":
                    scores = -dots
                else:
                    scores = -dots.abs()
                index = torch.arange(rstart, rstart + len(block), device=dev).expand(len(q), -1)
                merged_score = torch.cat([best_score, scores], dim=1)
                merged_index = torch.cat([best_index, index], dim=1)
                keep = min(k, merged_score.shape[1])
                best_score, pos = torch.topk(merged_score, keep, dim=1, largest=False, sorted=False)
                best_index = torch.gather(merged_index, 1, pos)
            out[start : start + len(q)] = best_index.cpu().numpy()
            progress.update(len(q))
    return out


def _faiss_candidates(query, ref, k, metric, progress):
    import faiss

    if metric == "l2":
        offset = ref.mean(axis=0, keepdims=True)
        index = faiss.IndexFlatL2(ref.shape[1])
        index.add(np.ascontiguousarray(ref - offset, dtype=np.float32))
        _, cand = index.search(np.ascontiguousarray(query - offset, dtype=np.float32), k)
    else:
        index = faiss.IndexFlatIP(ref.shape[1])
        index.add(np.ascontiguousarray(_normalize(ref), dtype=np.float32))
        q = np.ascontiguousarray(_normalize(query), dtype=np.float32)
        _, cand = index.search(q, k)
        if metric == "abscosine":  # nearest by |cos|: best of the +q and -q searches
            _, neg = index.search(-q, k)
            cand = np.concatenate([cand, neg], axis=1)
    progress.update(len(query))
    return cand.astype(np.int64)


def knn(query: np.ndarray, ref: np.ndarray, k: int, metric: str = schema_default("neighbors.*.metric"),
        backend: str = schema_default("neighbors.*.backend"),
        device: str = "cpu", query_chunk: int = 1024, ref_chunk: int = 8192, margin: int = 8,
        k_key: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest references of every query: (indices (nq, k) int64, distances (nq, k) float64);
    a k the references cannot give names ``k_key``, the config key that set it, where there is one."""
    if metric not in METRICS:
        raise PipelineError(f"neighbors: unknown metric '{metric}'; choose one of {METRICS}")
    if backend not in BACKENDS:
        raise PipelineError(f"neighbors: unknown backend '{backend}'; choose one of {BACKENDS}")
    query, ref = as_rows(query), as_rows(ref)
    if query.shape[1] != ref.shape[1]:
        raise PipelineError(f"neighbors: query dimension {query.shape[1]} != reference dimension {ref.shape[1]}")
    if not 1 <= k <= len(ref):
        raise PipelineError((f"config key '{k_key}': " if k_key else "neighbors: ")
                            + f"k={k} must be between 1 and the number of references ({len(ref)})")
    finite_rows(query, "neighbors: query")
    finite_rows(ref, "neighbors: reference")
    if not len(query):
        return np.empty((0, k), dtype=np.int64), np.empty((0, k), dtype=np.float64)
    if backend == "auto":
        backend = "faiss" if device == "cpu" and _has_faiss() else "torch"
    n_cand = min(len(ref), k + margin)
    progress = Progress(log, len(query), f"knn[{backend},{metric}] queries")
    if backend == "numpy":
        cand = _numpy_candidates(query, ref, n_cand, metric, query_chunk, progress)
    elif backend == "torch":
        cand = _torch_candidates(query, ref, n_cand, metric, query_chunk, ref_chunk, device, progress)
    else:
        cand = _faiss_candidates(query, ref, n_cand, metric, progress)
    return rerank(query, ref, cand, k, metric)


def _has_faiss() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def neighbors_table(indices: np.ndarray, distances: np.ndarray, query_ids: np.ndarray,
                    ref_ids: np.ndarray) -> pd.DataFrame:
    nq, k = indices.shape
    return pd.DataFrame(
        {
            "query": np.repeat(np.asarray(query_ids, dtype=np.int64), k),
            "rank": np.tile(np.arange(k, dtype=np.int32), nq),
            "ref_index": np.asarray(ref_ids, dtype=np.int64)[indices.reshape(-1)],
            "distance": distances.reshape(-1),
        }
    )


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Area-downsample uint8 (n, H, W, C) images to (n, size, size, C) floats in [0, 1]."""
    import torch

    x = torch.from_numpy(np.asarray(images, dtype=np.float32) / 255.0).permute(0, 3, 1, 2)
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="area")
    return x.permute(0, 2, 3, 1).numpy()


def load_points(path: Path, split: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Points and their ids from a prepared data set folder (with a split) or a .npy array."""
    from pipeline.data.dataset import Dataset

    if path.is_dir():
        dataset = Dataset.load(path)
        if split is None:
            return dataset.images, dataset.table["index"].to_numpy()
        images, _, ids = dataset.split_arrays(split)
        if len(ids) == 0:
            raise PipelineError(f"{path}: split '{split}' is empty")
        return images, ids
    array = io.read_array(path)
    return array, np.arange(len(array), dtype=np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description="Exact k-nearest neighbours of a query set in a reference set.")
    parser.add_argument("--query", required=True, type=Path, help="prepared data set folder or .npy array")
    parser.add_argument("--query-split", default=None)
    parser.add_argument("--ref", required=True, type=Path)
    parser.add_argument("--ref-split", default=None)
    parser.add_argument("--k", type=int, default=schema_default("neighbors.*.k"))
    parser.add_argument("--metric", default=schema_default("neighbors.*.metric"), choices=METRICS)
    parser.add_argument("--backend", default=schema_default("neighbors.*.backend"), choices=BACKENDS)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--resize", type=int, default=schema_default("neighbors.*.resize"),
                        help="downsample images to this size first (0: keep)")
    parser.add_argument("--job", help="the job's name under the config key neighbors, for the key errors name")
    parser.add_argument("--out", required=True, type=Path)
    a = parser.parse_args()
    query, query_ids = load_points(a.query, a.query_split)
    ref, ref_ids = load_points(a.ref, a.ref_split)
    if a.resize:
        query, ref = resize_images(query, a.resize), resize_images(ref, a.resize)
    log.info("%d queries x %d references, dim %d, k=%d, metric=%s", len(query), len(ref),
             int(np.prod(query.shape[1:])), a.k, a.metric)
    start = time.monotonic()
    idx, dist = knn(query, ref, a.k, a.metric, a.backend, a.device, k_key=f"neighbors.{a.job}.k" if a.job else None)
    log.info("search took %.2fs", time.monotonic() - start)
    io.write_parquet(neighbors_table(idx, dist, query_ids, ref_ids), a.out)
    log.info("wrote %s", a.out)


if __name__ == "__main__":
    cli.run(main)
