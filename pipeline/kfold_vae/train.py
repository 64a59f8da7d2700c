"""Train one VAE of the K-fold study and log its importance-sampled log p(x) at chosen epochs.

One process per (data set, repeat, held-out fold), so a crash loses one model and every
model's initial weights depend only on (seed, repeat, fold). The model is trained on all
training examples outside the held-out fold (``--fold all``: on every training example, the
model used for samples and the nearest-neighbour ratio) with Adam and the negative ELBO.

At each evaluation epoch, log p(x) is estimated for every training example, those trained on
and those held out. The evaluation inputs (binarization / dequantization noise) are drawn
once from the split seed, so every model scores the very same x_i.

A checkpoint (model, optimizer, finished epochs, rows so far) is written atomically after each
epoch to ``<model file>.resume.pt`` (``pipeline.checkpoints``); a restarted job with the same
settings, images and training mask resumes from it. Each epoch's randomness is seeded from
(seed, repeat, fold, epoch), so a resumed run produces the same tables as an uninterrupted one. An unreadable checkpoint stops
the job with one line naming it and is moved aside (``pipeline.cli.run``); the rerun starts afresh.

logpx.parquet schema (one row per training example and evaluation epoch):
    index        int64    dataset index of the example
    repeat       int32    repeat r of the K-fold assignment
    fold         int32    the fold this model held out (-1: the full-data model, --fold all)
    in_training  bool     whether the example was in this model's training folds
    epoch        int32    epochs trained when evaluated (1-based)
    logpx        float64  importance-sampled log p(x_i) in nats (8-bit pixel space for the
                          conv models, binarized image for the Bernoulli MLP)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pipeline import checkpoints, cli, io
from pipeline.data.dataset import Dataset
from pipeline.devices import add_device_args, autocast, device_from_args, precision_from_args
from pipeline.errors import PipelineError, check_finite_loss
from pipeline.kfold_vae.likelihood import log_px
from pipeline.kfold_vae.models import VAE, build_model
from pipeline.kfold_vae.spec import MODEL_KEYS, TRAINING_KEYS
from pipeline.progress import get_logger
from pipeline.schema import spec_defaults
from pipeline.splits import read_kfold

log = get_logger("kfold_vae.train")


def derived_seed(*parts: int) -> int:
    """A 63-bit seed that depends only on ``parts``."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def check_spec(spec: dict) -> dict:
    """The complete training spec: ``spec`` with the schema's defaults filled in and checked (a bad
    or unknown key raises, naming it): a model entry's (``kfold_vae.models.*``; ``kind`` is
    required), then the section's (``kfold_vae``) for the training settings."""
    spec = spec_defaults("kfold_vae.models.*", spec, keys=MODEL_KEYS + TRAINING_KEYS)
    spec = {**spec_defaults("kfold_vae", {}, keys=TRAINING_KEYS), **spec}
    bad = [e for e in spec["eval_epochs"] if not 1 <= e <= spec["epochs"]]
    if bad:
        raise PipelineError(f"config key kfold_vae.eval_epochs: {bad} outside 1..epochs={spec['epochs']}")
    spec["eval_epochs"] = sorted(set(spec["eval_epochs"]) | {spec["epochs"]})  # the last epoch is always scored
    return spec


def new_model(spec: dict, image_shape: tuple[int, int, int]) -> VAE:
    return build_model(spec["kind"], image_shape[2], spec["latent_dim"], tuple(spec["hidden"]), spec["width"])


def save_model(model: VAE, spec: dict, image_shape, path: Path) -> None:
    payload = {"spec": spec, "image_shape": list(image_shape), "state_dict": model.state_dict()}
    with io.atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[VAE, tuple[int, int, int]]:
    """The trained model of a ``model.pt`` file (eval mode) and the image shape it was trained on."""
    payload = io.load_torch(path, map_location=device, weights_only=True)
    shape = tuple(payload["image_shape"])
    model = new_model(payload["spec"], shape).to(device)
    model.load_state_dict(payload["state_dict"])
    return model.eval(), shape


def fit_and_evaluate(images: np.ndarray, train_mask: np.ndarray, spec: dict, seed: int, job: tuple[int, int],
                     device: torch.device = torch.device("cpu"), out_model: Path | None = None,
                     evaluate: bool = True, precision: torch.dtype = torch.float32) -> tuple[VAE, pd.DataFrame]:
    """Train on ``images[train_mask]``; return the model and, per evaluation epoch, log p(x) of all ``images``.

    ``images``: uint8 (n, H, W, C), the whole training split in dataset order. ``job`` is
    (repeat, fold) and, with ``seed``, fixes every random draw. The returned rows carry
    positions (0..n-1) in ``index``; callers map them to dataset indices. With ``out_model``, progress
    is checkpointed after each epoch to ``<out_model>.resume.pt`` and resumed from it; the caller
    removes it once the final files are written. Training steps multiply in ``precision`` (bfloat16:
    autocast); log p(x) is evaluated in float32.
    """
    spec = check_spec(spec)
    repeat, fold = job
    job_seed = derived_seed(seed, repeat, fold + 1)
    torch.manual_seed(job_seed)
    model = new_model(spec, images.shape[1:]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=spec["lr"])
    members = np.flatnonzero(train_mask)
    if len(members) == 0:
        raise PipelineError("kfold_vae: a model would train on no examples (check the fold table)")
    eval_x = model.prepare(images, torch.Generator().manual_seed(derived_seed(seed, 7)), train=False).to(device)
    start, rows = 0, []
    resume = None
    if out_model is not None:
        settings = {"spec": spec, "seed": seed, "job": list(job), "evaluate": evaluate, "precision": str(precision)}
        resume = checkpoints.Checkpoint(out_model, settings, [images, train_mask])
        # an unreadable checkpoint raises CorruptFileError naming it
        state = resume.load(describe=lambda s: f"after epoch {s['epoch']}")
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            start, rows = state["epoch"], state["rows"]
    for epoch in range(start, spec["epochs"]):
        epoch_seed = derived_seed(job_seed, epoch)
        torch.manual_seed(epoch_seed)  # reparameterization noise
        generator = torch.Generator().manual_seed(epoch_seed)  # order, binarization, dequantization, flips
        order = members[torch.randperm(len(members), generator=generator).numpy()]
        model.train()
        total = 0.0
        for begin in range(0, len(order), spec["batch_size"]):
            batch = np.sort(order[begin : begin + spec["batch_size"]])
            x = model.prepare(images[batch], generator, train=True).to(device)
            with autocast(device, precision):
                loss = -model.elbo(x).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        log.info("repeat %d fold %d epoch %d/%d: mean -ELBO %.3f", repeat, fold, epoch + 1, spec["epochs"],
                 total / len(order))
        check_finite_loss(total, "kfold_vae", f"(the -ELBO) in epoch {epoch + 1}")
        if evaluate and epoch + 1 in spec["eval_epochs"]:
            eval_gen = torch.Generator(device=device).manual_seed(derived_seed(job_seed, epoch, 1))
            values = log_px(model, eval_x, spec["n_importance"], eval_gen,
                            progress_what=f"log p(x) at epoch {epoch + 1}").numpy()
            rows.append({"epoch": epoch + 1, "logpx": values})
            log.info("epoch %d: mean log p(x) trained %.3f, held out %.3f", epoch + 1,
                     values[train_mask].mean(), values[~train_mask].mean() if (~train_mask).any() else np.nan)
        if resume is not None:
            resume.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1,
                         "rows": rows})
    n = len(images)
    table = pd.DataFrame(
        {
            "index": np.tile(np.arange(n, dtype=np.int64), len(rows)),
            "repeat": np.full(n * len(rows), repeat, dtype=np.int32),
            "fold": np.full(n * len(rows), fold, dtype=np.int32),
            "in_training": np.tile(train_mask, len(rows)),
            "epoch": np.repeat(np.array([r["epoch"] for r in rows], dtype=np.int32), n),
            "logpx": np.concatenate([r["logpx"] for r in rows]) if rows else np.empty(0),
        }
    )
    return model.eval(), table


def training_mask(kfold: pd.DataFrame, train_index: np.ndarray, repeat: int, fold: int | None,
                  path: Path) -> np.ndarray:
    """Which training examples (dataset order) the model of (repeat, fold) trains on; fold None: all."""
    if fold is None:
        return np.ones(len(train_index), dtype=bool)
    table = kfold[kfold["repeat"] == repeat].set_index("index")["fold"]
    if len(table) == 0:
        raise PipelineError(f"{path}: no repeat {repeat} (config key splits.kfold.repeats)")
    if fold not in set(table.to_numpy().tolist()):
        raise PipelineError(f"{path}: no fold {fold} in repeat {repeat} (config key splits.kfold.folds)")
    missing = np.setdiff1d(train_index, table.index.to_numpy())
    if len(missing):
        raise PipelineError(f"{path}: {len(missing)} training examples have no fold; rebuild the split table")
    return table.loc[train_index].to_numpy() != fold


def main() -> None:
    parser = argparse.ArgumentParser(description="Train one K-fold VAE and log importance-sampled log p(x).")
    parser.add_argument("--dataset-dir", required=True, type=Path)
    parser.add_argument("--kfold", required=True, type=Path, help="kfold.parquet of the split stage")
    parser.add_argument("--repeat", required=True, type=int)
    parser.add_argument("--fold", required=True, help="held-out fold, or 'all' to train on every example")
    parser.add_argument("--spec", required=True, type=cli.json_arg)
    parser.add_argument("--seed", required=True, type=int)
    add_device_args(parser, training=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out-model", required=True, type=Path)
    parser.add_argument("--out-logpx", type=Path, help="logpx.parquet (for --fold all: log p(x) under the full model, used by the atlas)")
    a = parser.parse_args()
    torch.set_num_threads(a.threads)
    dataset = Dataset.load(a.dataset_dir)
    images, _, train_index = dataset.split_arrays("train")
    fold = None if a.fold == "all" else int(a.fold)
    mask = training_mask(read_kfold(a.kfold), train_index, a.repeat, fold, a.kfold)
    spec = check_spec(a.spec)
    device = device_from_args(a)
    log.info("%s: repeat %d, held-out fold %s: %d of %d training examples, %s on %s", a.dataset_dir, a.repeat,
             a.fold, int(mask.sum()), len(mask), spec["kind"], device)
    model, table = fit_and_evaluate(images, mask, spec, a.seed, (a.repeat, -1 if fold is None else fold), device,
                                    a.out_model, evaluate=a.out_logpx is not None,
                                    precision=precision_from_args(a, device))
    if a.out_logpx is not None:
        table["index"] = train_index[table["index"].to_numpy()]
        io.write_parquet(table, a.out_logpx)
        log.info("wrote %s", a.out_logpx)
    save_model(model, spec, images.shape[1:], a.out_model)
    checkpoints.remove(a.out_model)
    log.info("wrote %s", a.out_model)


if __name__ == "__main__":
    cli.run(main)
