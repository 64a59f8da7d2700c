"""Generator steps per second with and without memorization rejection, in one run.

    python benchmarks/mrgan_steps.py [--steps 150] [--quick] [--width 32] [--device cpu]

Both runs train the same conditional GAN on the built-in `digits` data (8x8, 1437 training
images) from the same seed; the MR run adds, per generator step, the classifier embedding of the
batch and the exact 1 - |cos| search over all training embeddings (tau = the threshold
guideline). The ratio (MR / no MR) is the cost of MR per step, resampling included.
For paper scale (Inception-v3 at 299 px, 50k CIFAR-10 embeddings) run with a GPU.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from pipeline.data.registry import build
from pipeline.devices import resolve_device
from pipeline.mrgan import embed, guideline, rejection, train
from timing import timed


def steps_per_second(trainer: train.Trainer, steps: int) -> float:
    trainer.step()  # warm-up
    seconds, _ = timed(lambda: [trainer.step() for _ in range(steps)], trainer.device)
    return steps / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--quick", action="store_true", help="30 steps")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--d-steps", type=int, default=1, help="discriminator steps per generator step")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    logging.getLogger("pipeline").setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    steps = 30 if args.quick else args.steps
    data = build("digits", {"kind": "digits", "test_fraction": 0.2, "seed": 0}, Path("data"))
    images, labels, _ = data.split_arrays("train")
    saved = embed.train_classifier(images, labels, epochs=5, seed=0, device=device)
    embedder = embed.classifier_embedder(saved, device)
    train_f = embedder.embed_images(images)
    tau = guideline.guideline(train_f)["tau_guideline"]
    spec = train.settings({"batch_size": args.batch_size, "width": args.width, "d_steps": args.d_steps,
                           "beta1": 0.0, "beta2": 0.9, "max_resample": 100})
    results = {}
    for name, t in [("no MR", None), ("MR", tau)]:
        mr = rejection.MemorizationRejection(embedder, train_f, t, spec["max_resample"], device)
        trainer = train.Trainer(images, labels, spec, 0, mr, device)
        results[name] = steps_per_second(trainer, steps)
        kept = sum(r["kept"] for r in trainer.rows) / sum(r["generated"] for r in trainer.rows)
        print(f"{name:6s} tau={t if t is None else round(t, 5)!s:8s} {results[name]:8.1f} generator steps/s "
              f"(kept {100 * kept:.0f}% of fakes, {steps} steps, batch {args.batch_size}, {device})")
    print(f"ratio MR / no MR: {results['MR'] / results['no MR']:.2f}x steps/s")


if __name__ == "__main__":
    main()
