"""Importance-sampled log p(x) throughput: vectorized estimator vs a per-example loop.

    python benchmarks/kfold_vae_likelihood.py [--model bernoulli_mlp] [--examples 512] [--samples 64]
                                              [--threads 1] [--device cpu] [--quick]

Both estimators score the same examples with the same model (the paper's architecture,
untrained: the cost does not depend on the weights) in one run. Throughput is log-likelihood
evaluations per second, counting examples x importance samples. The baseline is
``likelihood.log_px_loop``: one example at a time, its N samples in one batch (what the
reference implementation does); a second baseline makes one decoder call per (example, sample)
pair. ``log_px`` decodes up to 8192 (example, sample) pairs per call. On one CPU thread with
N >= 64 the decoder's matrix products dominate and the per-example loop is nearly as fast;
the gain is in small N, more threads and GPUs, where per-call overhead dominates.
Paper scale: MNIST 60000 examples x N = 256 per model and epoch (--device cuda).
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import torch

from pipeline.kfold_vae.likelihood import log_px, log_px_loop, log_weights
from pipeline.kfold_vae.models import build_model
from timing import timed

SHAPES = {"bernoulli_mlp": (28, 28, 1), "gaussian_conv": (32, 32, 3), "constant_conv": (32, 32, 3)}


@torch.no_grad()
def naive_loop(model, x, n_samples, generator):
    """One decoder call per (example, importance sample): the most literal reading of eq. 9."""
    out = []
    for i in range(len(x)):
        weights = torch.cat([log_weights(model, x[i : i + 1], 1, generator) for _ in range(n_samples)])
        out.append(torch.logsumexp(weights, 0) - np.log(n_samples) + model.pixel_correction(x[i : i + 1]))
    return torch.cat(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="bernoulli_mlp", choices=sorted(SHAPES))
    parser.add_argument("--examples", type=int, default=512)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="128 examples x 16 samples")
    args = parser.parse_args()
    if args.quick:
        args.examples, args.samples = 128, 16
    logging.getLogger("pipeline").setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    shape = SHAPES[args.model]
    model = build_model(args.model, shape[2]).to(device).eval()
    images = np.random.default_rng(0).integers(0, 256, size=(args.examples, *shape), dtype=np.uint8)
    x = model.prepare(images, torch.Generator().manual_seed(0), train=False).to(device)
    evaluations = args.examples * args.samples
    log_px(model, x[:8], args.samples)  # warm-up

    t_fast, fast = timed(lambda: log_px(model, x, args.samples, torch.Generator(device).manual_seed(0)), device)
    t_loop, slow = timed(lambda: log_px_loop(model, x, args.samples, torch.Generator(device).manual_seed(1)), device)
    n_naive = max(1, args.examples // 8)  # the slowest baseline runs on an eighth of the examples
    t_naive, _ = timed(lambda: naive_loop(model, x[:n_naive], args.samples, torch.Generator(device).manual_seed(2)),
                       device)
    naive_rate = n_naive * args.samples / t_naive
    print(f"model {args.model}, {args.examples} examples x {args.samples} importance samples, "
          f"{args.threads} thread(s), device {args.device}")
    print(f"per-example loop : {t_loop:8.3f} s  {evaluations / t_loop:12.0f} evaluations/s")
    print(f"vectorized       : {t_fast:8.3f} s  {evaluations / t_fast:12.0f} evaluations/s")
    print(f"per-sample loop  : {t_naive:8.3f} s  {naive_rate:12.0f} evaluations/s  ({n_naive} examples)")
    print(f"speed-up (vectorized / per-example loop): {t_loop / t_fast:.2f}x")
    print(f"speed-up (vectorized / per-sample loop): {evaluations / t_fast / naive_rate:.2f}x")
    print(f"mean |difference| of the two estimates (different draws): {float((fast - slow).abs().mean()):.3f} nats")


if __name__ == "__main__":
    main()
