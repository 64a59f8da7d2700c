"""Scoring a sample set on CPU, stage by stage: 10,000 samples against the 60,000 MNIST training images.

    python benchmarks/samples_scoring.py [--train 60000] [--samples 10000] [--threads 2] [--mnist-root DIR]
    python benchmarks/samples_scoring.py --quick      # 6,000 training images, 1,000 samples: checks it runs

Runs the functions the workflow's samples_score job runs (pipeline/samples/score.py), each timed:
pixel neighbours (k = 2, the default backend), embedding of the samples (and, once per data set in the
workflow, of the training and test splits), neighbours in the embedding, ratio-criterion replicates,
C_T in both spaces and the Frechet distance. The pixel neighbour stage is set against numpy float64
brute force measured in the same run on the first --baseline-queries samples (its time grows linearly
in the queries, so it is scaled up to all samples) and against the 60 s goal.

Samples: half near-copies of random training images (+-2 grey levels), half noisy test images, so the
replicate share printed at the end should be near 0.5. The embedding classifier is untrained (random
weights): a forward pass costs the same as a trained one's, and no training is timed here.
MNIST: the four idx files (``.gz`` or not) in --mnist-root/MNIST/raw (torchvision's layout), read
as the workflow's ``mnist`` data set reads them.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from pipeline.data import full
from pipeline.errors import PipelineError
from pipeline.frechet import frechet_distance
from pipeline.mrgan.ct_test import ct_statistic
from pipeline.mrgan.score import pixels
from pipeline.neighbors import knn
from pipeline.samples.score import SPACE_METRICS, nn_counts, replicate_table
from pipeline.schema import schema_default
from timing import timed

REPO = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 60.0


def stage(stages: dict, name: str, fn):
    """Runs one scoring stage, recording and printing its time."""
    stages[name], result = timed(fn)
    print(f"  {name:44s} {stages[name]:8.2f} s", flush=True)
    return result


def matmul_seconds(queries: np.ndarray, refs: np.ndarray) -> float:
    """One float32 (queries x d) @ (d x refs) product, in blocks of 10,000 references: the arithmetic of an
    exact L2 search of these shapes (|q - r|^2 = |q|^2 + |r|^2 - 2 q.r), so the search's hardware limit."""
    import torch

    q = torch.from_numpy(queries.reshape(len(queries), -1).astype(np.float32) / 255)
    r = torch.from_numpy(refs.reshape(len(refs), -1).astype(np.float32) / 255)
    q @ r[:1000].T  # warm up
    return timed(lambda: [q @ r[block:block + 10000].T for block in range(0, len(r), 10000)])[0]


def random_embedder():
    """The workflow's classifier embedding (SmallCNN penultimate layer) with untrained weights."""
    import torch

    from pipeline.mrgan.embed import SmallCNN, classifier_embedder

    torch.manual_seed(0)
    net = SmallCNN(1, 10)
    return classifier_embedder({"state_dict": net.state_dict(), "channels": 1, "n_classes": 10,
                                "feat_dim": 64, "width": 32})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=60000)
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--baseline-queries", type=int, default=500, help="samples the numpy baseline searches")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mnist-root", type=Path, default=REPO / ".devdata", help="holds MNIST/raw/*-ubyte[.gz]")
    parser.add_argument("--quick", action="store_true", help="6,000 training images and 1,000 samples")
    args = parser.parse_args()
    if args.quick:
        args.train, args.samples, args.baseline_queries = 6000, 1000, 200
    logging.getLogger("pipeline").setLevel(logging.WARNING)
    import faiss
    import torch

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)

    try:
        images, all_labels, split = full.mnist(args.mnist_root, download=False)
    except PipelineError as err:
        raise SystemExit(f"error: {err}") from None
    train, train_labels = images[split == "train"][: args.train], all_labels[split == "train"][: args.train]
    test = images[split == "test"]
    rng = np.random.default_rng(0)
    half = args.samples // 2
    copies = train[rng.integers(len(train), size=half)].astype(int) + rng.integers(-2, 3, (half, 28, 28, 1))
    noisy = test[rng.integers(len(test), size=args.samples - half)].astype(int) + rng.normal(0, 20, (args.samples - half, 28, 28, 1))
    samples = np.clip(np.rint(np.concatenate([copies, noisy])), 0, 255).astype(np.uint8)
    train_index = np.arange(len(train), dtype=np.int64)
    k, threshold = schema_default("samples.*.k"), schema_default("samples.*.threshold")
    cells, pca_dims = schema_default("samples.*.kmeans_cells"), schema_default("samples.*.pca_dims")
    print(f"{len(samples)} samples vs {len(train)} training and {len(test)} test MNIST images, "
          f"{args.threads} threads, k={k}")

    stages: dict[str, float] = {}
    pos, dist = stage(stages, "pixel neighbours", lambda: knn(samples, train, k, SPACE_METRICS["pixels"]))
    embedder = random_embedder()
    sample_f = stage(stages, "embedding: samples", lambda: embedder.embed_images(samples))
    train_f, test_f = stage(stages, "embedding: train + test (once per data set)",
                            lambda: (embedder.embed_images(train), embedder.embed_images(test)))
    emb_pos, _ = stage(stages, "embedding neighbours", lambda: knn(sample_f, train_f, k, SPACE_METRICS["embedding"]))
    labels = np.full(len(samples), -1)

    def replicates_and_counts():
        table = replicate_table(pos, dist, labels, train_index, train_labels, threshold)
        nn_counts(train_index, train_labels, pos[:, 0], emb_pos[:, 0], table["replicate"].to_numpy())
        return table

    reps = stage(stages, "replicates + nn counts", replicates_and_counts)
    ct_emb = stage(stages, "C_T embedding", lambda: ct_statistic(train_f, test_f, sample_f, cells, pca_dims))
    ct_px = stage(stages, "C_T pixels", lambda: ct_statistic(pixels(train), pixels(test), pixels(samples), cells,
                                                             pca_dims))
    stage(stages, "Frechet distance", lambda: frechet_distance(sample_f, test_f))
    per_set = sum(t for name, t in stages.items() if "once per data set" not in name)

    q = min(args.baseline_queries, len(samples))
    print(f"baseline: numpy float64 brute force on the first {q} samples (scaled x{len(samples) / q:.1f})")
    seconds, (base_pos, _) = timed(lambda: knn(samples[:q], train, k, SPACE_METRICS["pixels"], backend="numpy"))
    baseline = seconds * len(samples) / q
    same = np.array_equal(base_pos, pos[:q])
    limit = matmul_seconds(samples, train)
    flops = 2.0 * len(samples) * len(train) * samples[0].size
    print(f"hardware limit: a plain float32 matmul of the same shapes takes {limit:.2f} s ({flops / limit / 1e9:.0f} "
          f"GFLOP/s); the search achieves {flops / stages['pixel neighbours'] / 1e9:.0f} GFLOP/s, "
          f"{stages['pixel neighbours'] / limit:.2f}x the matmul's time")
    print(f"pixel neighbours: {stages['pixel neighbours']:.2f} s against numpy {baseline:.2f} s "
          f"(x{baseline / stages['pixel neighbours']:.1f}), same neighbours: {same}; "
          f"goal {GOAL_SECONDS:.0f} s: {'met' if stages['pixel neighbours'] <= GOAL_SECONDS else 'MISSED'}")
    print(f"one sample set, all stages but the per-data-set embedding: {per_set:.2f} s; goal {GOAL_SECONDS:.0f} s: "
          f"{'met' if per_set <= GOAL_SECONDS else 'MISSED'}")
    print(f"replicate share {reps['replicate'].mean():.3f} (half the samples are near-copies), "
          f"C_T {ct_emb.ct:.1f} (embedding) {ct_px.ct:.1f} (pixels)")


if __name__ == "__main__":
    main()
