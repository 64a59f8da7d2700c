"""DDPM throughput: training steps/s and sampled images/s for the default UNet widths.

    python benchmarks/diffusion_throughput.py [--widths 8 16] [--size 8] [--batch 32] [--device auto] [--quick]

Per width: Adam steps/s on the epsilon loss (batch ``--batch``) and images/s of the strided
DDPM sampler (``--sample-steps`` steps, batches of 256). The baseline measured in the same run
is fp32 at the smallest width; on a GPU every width is also run with bf16 mixed precision
(torch.autocast), and the ratios printed are against that baseline and AMP vs fp32.

Per width, the workflow's own training loop (pipeline.diffusion.train.train: batches drawn from
the data on the device, the loss log, the divergence check; bf16 AMP on a GPU as in the workflow)
is timed too, against the bare step of the same precision: its ratio is what the loop costs beyond
the arithmetic, a wait for the GPU inside the loop included.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import torch

from pipeline.diffusion.schedule import Diffusion
from pipeline.devices import resolve_device
from pipeline.diffusion.train import train
from pipeline.diffusion.unet import UNet, UNetConfig
from timing import timed


def channel_mult(size: int) -> tuple[int, ...]:
    return (1, 2) if size <= 8 else (1, 2, 2)


def measure(width: int, size: int, batch: int, steps: int, n_samples: int, sample_steps: int, device, amp: bool):
    torch.manual_seed(0)
    mult = channel_mult(size)
    model = UNet(UNetConfig(image_size=size, width=width, channel_mult=mult, attention_resolutions=(4,))).to(device)
    diffusion, opt = Diffusion(1000), torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.rand(batch, 3, size, size, device=device) * 2 - 1

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            loss = diffusion.loss(model, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    timed(lambda: [step() for _ in range(3)], device)  # warm-up
    train_seconds, _ = timed(lambda: [step() for _ in range(steps)], device)
    model.eval()
    timed(lambda: diffusion.sample(model, (8, 3, size, size), 2, device=device, autocast=amp), device)  # warm-up
    sample_seconds, _ = timed(lambda: [diffusion.sample(model, (min(256, n_samples - s), 3, size, size), sample_steps,
                                                        "ddpm", device=device, autocast=amp)
                                       for s in range(0, n_samples, 256)], device)
    return steps / train_seconds, n_samples / sample_seconds


def workflow_loop_rate(width: int, size: int, batch: int, steps: int, device) -> float:
    """Steps/s of the workflow's training loop on the same UNet and batch: a run of 3 + ``steps``
    steps less one of 3, so that building the model and moving the data count in neither."""
    images = np.random.default_rng(0).integers(0, 256, (max(batch, 64), size, size, 3), dtype=np.uint8)
    labels = np.zeros(len(images), dtype=np.int64)
    spec = {"width": width, "channel_mult": list(channel_mult(size)), "batch_size": batch, "lr": 1e-3}
    short, _ = timed(lambda: train(images, labels, {**spec, "steps": 3}, seed=0, device=device), device)
    long, _ = timed(lambda: train(images, labels, {**spec, "steps": 3 + steps}, seed=0, device=device), device)
    return steps / max(long - short, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--sample-steps", type=int, default=25)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads")
    parser.add_argument("--quick", action="store_true", help="10 steps, 64 samples")
    a = parser.parse_args()
    if a.quick:
        a.steps, a.samples = 10, 64
    logging.getLogger("pipeline").setLevel(logging.WARNING)
    torch.set_num_threads(a.threads)
    device = resolve_device(a.device)
    modes = [False, True] if device.type == "cuda" else [False]
    print(f"device {device}, {a.size}x{a.size} images, batch {a.batch}, {a.sample_steps} sampling steps")
    print(f"{'width':>5} {'precision':>9} {'train steps/s':>14} {'images/s':>10} {'train x':>8} {'sample x':>9}")
    base, fp32 = None, {}
    for width in sorted(a.widths):
        for amp in modes:
            rates = measure(width, a.size, a.batch, a.steps, a.samples, a.sample_steps, device, amp)
            base = base or rates
            if not amp:
                fp32[width] = rates
            extra = f"  AMP/fp32 train {rates[0] / fp32[width][0]:.2f}x sample {rates[1] / fp32[width][1]:.2f}x" if amp else ""
            print(f"{width:>5} {'bf16 AMP' if amp else 'fp32':>9} {rates[0]:>14.1f} {rates[1]:>10.1f} "
                  f"{rates[0] / base[0]:>7.2f}x {rates[1] / base[1]:>8.2f}x{extra}")
        loop = workflow_loop_rate(width, a.size, a.batch, a.steps, device)
        print(f"{width:>5} {'workflow':>9} {loop:>14.1f} {'':>10} {loop / base[0]:>7.2f}x {'':>9}  "
              f"loop/bare step {loop / rates[0]:.2f}x")  # rates: the last mode, the workflow's precision
    print(f"ratios against fp32 width {min(a.widths)} (the baseline) measured in this run")


if __name__ == "__main__":
    main()
