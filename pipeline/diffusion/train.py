"""Train one DDPM on one training subset (one (experiment, size, width, seed) job).

Adam on the simple epsilon loss with minibatches drawn with replacement from the subset (so
a handful of images still fills a batch). The job checkpoints model, optimiser, RNG and log
atomically every ``checkpoint_every`` steps to ``model.pt.resume.pt`` (``pipeline.checkpoints``)
and resumes from it if killed (only one written for the same settings, images and labels; an
unreadable one stops the job with one line naming it and is moved aside, so the rerun starts afresh);
the final ``model.pt`` holds the UNet config, weights and the diffusion settings.

train_log.parquet schema (one row per logged step):
    step  int64    optimiser steps done
    loss  float64  mean training loss over the steps since the previous row
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pipeline import checkpoints, cli, io
from pipeline.devices import add_device_args, autocast, device_from_args, precision_from_args
from pipeline.diffusion.schedule import Diffusion
from pipeline.diffusion.spec import TRAIN_KEYS
from pipeline.diffusion.unet import UNet, UNetConfig
from pipeline.errors import PipelineError, check_finite_loss
from pipeline.progress import Progress, get_logger
from pipeline.schema import schema_default, spec_defaults

log = get_logger("diffusion.train")


def train_spec(spec: dict) -> dict:
    """The complete training spec: ``spec`` with the schema's defaults of ``diffusion.experiments.*``
    filled in and checked (a bad or unknown key raises, naming it); ``width`` defaults to the first
    default width."""
    spec = spec_defaults("diffusion.experiments.*", spec, keys=TRAIN_KEYS, extra=["width"])
    spec.setdefault("width", schema_default("diffusion.experiments.*.widths")[0])
    return spec


def to_model_space(images: np.ndarray) -> torch.Tensor:
    """uint8 (n, H, W, C) -> float (n, C, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def build_model(spec: dict, images: np.ndarray, num_classes: int) -> UNet:
    """A fresh UNet for ``images`` (square) under the training ``spec`` (completed by ``train_spec``)."""
    spec = train_spec(spec)
    n, h, w, c = images.shape
    if h != w:
        raise PipelineError(f"images must be square, got {h}x{w}")
    levels = len(spec["channel_mult"])
    if h % 2 ** (levels - 1):
        raise PipelineError(f"diffusion.experiments.*.channel_mult: {levels} levels halve the {h}x{h} images "
                            f"{levels - 1} times, so their size must be divisible by {2 ** (levels - 1)}")
    attended = [spec["width"] * spec["channel_mult"][-1]]  # the middle block's attention, then each level's
    attended += [spec["width"] * mult for level, mult in enumerate(spec["channel_mult"])
                 if h // 2 ** level in spec["attention_resolutions"]]
    if any(channels % spec["heads"] for channels in attended):
        raise PipelineError(f"diffusion.experiments.*.heads: {spec['heads']} attention heads do not divide the "
                            f"{sorted(set(attended))} channels of the attention layers (width x channel_mult)")
    cfg = UNetConfig(image_size=h, channels=c, width=spec["width"], channel_mult=tuple(spec["channel_mult"]),
                     num_res_blocks=spec["num_res_blocks"], attention_resolutions=tuple(spec["attention_resolutions"]),
                     dropout=spec["dropout"], num_classes=num_classes if spec["conditional"] else 0,
                     heads=spec["heads"])
    return UNet(cfg)


def train(images: np.ndarray, labels: np.ndarray, spec: dict, seed: int, device: torch.device,
          out_model: Path | None = None, precision: torch.dtype = torch.float32) -> tuple[UNet, pd.DataFrame]:
    """Train to ``spec['steps']``; returns model and log. With ``out_model``, checkpoint to
    ``<out_model>.resume.pt`` every ``checkpoint_every`` steps and resume from it if it exists.
    Steps multiply in ``precision`` (bfloat16: autocast; the loss is float32)."""
    spec = train_spec(spec)
    torch.manual_seed(seed)
    num_classes = int(labels.max()) + 1 if len(labels) else 0
    model = build_model(spec, images, num_classes).to(device)
    diffusion = Diffusion(spec["timesteps"])
    opt = torch.optim.Adam(model.parameters(), lr=spec["lr"])
    gen = torch.Generator(device=device).manual_seed(seed + 1)
    x_all = to_model_space(images).to(device)
    y_all = torch.as_tensor(labels, dtype=torch.long, device=device)
    step, rows = 0, []
    # the loss summed over the steps since the last log row, kept on the device: reading it back every
    # step would make the host wait for the GPU each step; it is read once per log row or checkpoint
    running, count = torch.zeros((), dtype=torch.float64, device=device), 0
    resume, state = None, None
    if out_model is not None:
        # the device type too: a CUDA generator's state cannot be set on a CPU one, nor the reverse
        resume = checkpoints.Checkpoint(out_model, {"spec": spec, "seed": seed, "device": device.type,
                                                    "precision": str(precision)},
                                        [images, np.asarray(labels, dtype=np.int64)], every=spec["checkpoint_every"])
        state = resume.load(describe=lambda s: f"at step {s['step']}")  # unreadable: CorruptFileError
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        step, rows = state["step"], state["rows"]
        running, count = torch.tensor(state["running"], dtype=torch.float64, device=device), state["count"]
        torch.set_rng_state(state["torch_rng"])  # dropout, if any
    progress = Progress(log, spec["steps"], "train steps")
    progress.done = step
    model.train()
    while step < spec["steps"]:
        idx = torch.randint(0, len(x_all), (spec["batch_size"],), device=device, generator=gen)
        with autocast(device, precision):
            loss = diffusion.loss(model, x_all[idx], y_all[idx] if spec["conditional"] else None, generator=gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        running += loss.detach().double()  # float64 in step order: the same sums as reading each loss back
        count += 1
        progress.update()
        log_row = step % spec["log_every"] == 0 or step == spec["steps"]
        saving = resume is not None and resume.due(step, spec["steps"])
        if log_row or saving:  # a diverged model is stopped before its log row or its checkpoint is written
            summed = running.item()  # the one wait for the device in these steps
            check_finite_loss(summed, "diffusion.experiments.*", f"in steps {step - count + 1}..{step}")
        if log_row:
            rows.append({"step": step, "loss": summed / count})
            running.zero_()
            count = 0
        if saving:
            resume.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                         "generator": gen.get_state(), "rows": rows, "running": running.item(), "count": count,
                         "torch_rng": torch.get_rng_state()})
    table = pd.DataFrame(rows, columns=["step", "loss"]).astype({"step": "int64", "loss": "float64"})
    return model, table


def save_model(model: UNet, spec: dict, path: Path) -> None:
    spec = train_spec(spec)
    with io.atomic_path(path) as tmp:
        torch.save({"unet": model.cfg.to_dict(), "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                    "timesteps": spec["timesteps"]}, tmp)


def load_model(path: Path, device: torch.device) -> tuple[UNet, Diffusion]:
    state = io.load_torch(path, map_location="cpu", weights_only=False)
    model = UNet(UNetConfig.from_dict(state["unet"]))
    model.load_state_dict(state["state_dict"])
    return model.to(device).eval(), Diffusion(state["timesteps"])


def main() -> None:
    parser = argparse.ArgumentParser(description="Train a DDPM on a training subset.")
    parser.add_argument("--subset", required=True, type=Path, help="subset.parquet")
    parser.add_argument("--images", required=True, type=Path, help="train_images.npy")
    parser.add_argument("--spec", required=True, type=cli.json_arg)
    parser.add_argument("--seed", type=int, default=0)
    add_device_args(parser, training=True)
    parser.add_argument("--out-model", required=True, type=Path)
    parser.add_argument("--out-log", required=True, type=Path)
    a = parser.parse_args()
    train_spec(a.spec)  # a bad or unknown key stops the job here, naming it
    images = io.read_array(a.images)
    labels = io.read_parquet(a.subset, columns=["label"])["label"].to_numpy()
    if len(images) != len(labels):
        raise PipelineError(f"{a.images}: {len(images)} images but {a.subset} has {len(labels)} rows")
    device = device_from_args(a)
    torch.use_deterministic_algorithms(device.type == "cpu")
    if device.type == "cpu":
        torch.set_num_threads(1)
    start = time.monotonic()
    log.info("training on %d images %s, spec %s, device %s", len(images), images.shape[1:], a.spec, device)
    model, table = train(images, labels, a.spec, a.seed, device, a.out_model, precision_from_args(a, device))
    save_model(model, a.spec, a.out_model)
    io.write_parquet(table, a.out_log)
    checkpoints.remove(a.out_model)
    log.info("done in %.1fs, final loss %.4f", time.monotonic() - start, table["loss"].iloc[-1])


if __name__ == "__main__":
    cli.run(main)
