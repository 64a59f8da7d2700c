"""Nearest-neighbour throughput: pipeline.neighbors (torch and faiss backends) vs numpy brute force.

    python benchmarks/neighbors_throughput.py [--queries 2000] [--refs 10000] [--dim 3072] [--device cpu]

All backends search the same data in one run; ratios are against numpy float64 brute force.
Paper scale is --queries 50000 --refs 50000 --dim 3072 (CIFAR-sized), best on a GPU (--device cuda).
"""

from __future__ import annotations

import argparse
import logging

import numpy as np

from pipeline.neighbors import _has_faiss, knn
from timing import timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--refs", type=int, default=10000)
    parser.add_argument("--dim", type=int, default=3072)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    logging.getLogger("pipeline").setLevel(logging.WARNING)

    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, size=(args.refs, args.dim), dtype=np.uint8)
    query = rng.integers(0, 256, size=(args.queries, args.dim), dtype=np.uint8)
    pairs = args.queries * args.refs

    runs = [("numpy (float64 brute force)", "numpy", "cpu"), ("faiss (IndexFlat)", "faiss", "cpu"),
            (f"torch ({args.device})", "torch", args.device)]
    if not _has_faiss():
        print("faiss is not installed here: its row is left out")
        runs = [run for run in runs if run[1] != "faiss"]
    results = {}
    print(f"{args.queries} queries x {args.refs} refs x {args.dim} dims, k={args.k}")
    for name, backend, device in runs:
        knn(query[:64], ref[:512], args.k, backend=backend, device=device)  # warm-up
        results[name] = timed(lambda: knn(query, ref, args.k, backend=backend, device=device), device)
    base = results[runs[0][0]][0]
    for name, (seconds, (idx, _)) in results.items():
        agree = np.array_equal(idx, results[runs[0][0]][1][0])
        print(f"{name:32s} {seconds:8.2f} s  {pairs / seconds / 1e6:10.1f} M pairs/s  "
              f"x{base / seconds:6.2f} vs numpy  same neighbours: {agree}")


if __name__ == "__main__":
    main()
