"""Train one conditional GAN with memorization rejection: one (dataset, tau, seed) job.

Each step does ``d_steps`` discriminator updates on real batches and on all fakes, then one
generator update on the fakes that survive memorization rejection (rejection.py). The job
checkpoints atomically every ``checkpoint_every`` steps to ``<out-generator>.resume.pt``
(``pipeline.checkpoints``: models, optimisers, RNG state, log so far) and resumes from it when
rerun with the same settings, training images and labels and embedder file (their content, not
their paths); the checkpoint is deleted once the final files are written. An unreadable checkpoint
stops the job with one line naming it and is moved aside (``pipeline.cli.run``), so the rerun
starts afresh.

generator.pt: {"state_dict", "size", "channels", "n_classes", "z_dim", "width", "label_freq"}.

train_log.parquet schema (one row per generator step):
    step       int64    generator step, from 1
    d_loss     float64  discriminator loss (last of the d_steps updates)
    g_loss     float64  generator loss on the kept fakes
    generated  int64    fakes drawn for the generator step, all attempts together
    kept       int64    fakes the generator loss used (batch after rejection)
    attempts   int64    batches drawn (1 = no resampling)
    tau        float64  rejection threshold
    seed       int64    job seed
    embedding  string   embedding used for rejection
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pipeline import checkpoints, cli, io
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError, check_finite_loss
from pipeline.mrgan import gan
from pipeline.devices import add_device_args, autocast, device_from_args, precision_from_args
from pipeline.mrgan.embed import load_embedder
from pipeline.mrgan.rejection import MemorizationRejection
from pipeline.mrgan.spec import TRAIN_KEYS
from pipeline.progress import Progress, get_logger
from pipeline.schema import spec_defaults

log = get_logger("mrgan.train")


def settings(spec: dict) -> dict:
    """The complete training spec: ``spec`` with the schema's defaults of the ``mrgan`` section
    filled in and checked (a bad or unknown key raises, naming it)."""
    out = spec_defaults("mrgan", spec, keys=TRAIN_KEYS)
    if out["loss"] not in gan.LOSSES:
        raise PipelineError(f"mrgan.loss: unknown loss '{out['loss']}'; choose one of {gan.LOSSES}")
    return out


class Trainer:
    """The models, optimisers, data and RNG of one job; ``step()`` is one generator step."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, spec: dict, seed: int,
                 rejection: MemorizationRejection, device: str = "cpu", precision: torch.dtype = torch.float32):
        spec = settings(spec)  # keys it lacks take the schema's defaults
        gan.check_images(images)
        self.spec, self.device, self.rejection = spec, torch.device(device), rejection
        self.precision = precision
        torch.manual_seed(seed)
        self.gen = torch.Generator().manual_seed(seed)
        self.real = gan.images_to_tensor(images, "tanh")
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        size, channels, n_classes = images.shape[1], images.shape[3], int(labels.max()) + 1
        self.arch = {"size": size, "channels": channels, "n_classes": n_classes, "z_dim": spec["z_dim"],
                     "width": spec["width"],
                     "label_freq": np.bincount(labels, minlength=n_classes).astype(float).tolist()}
        self.G = gan.Generator(size, channels, n_classes, spec["z_dim"], spec["width"]).to(device)
        self.D = gan.Discriminator(size, channels, n_classes, spec["width"]).to(device)
        betas = (spec["beta1"], spec["beta2"])
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=spec["lr"], betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=spec["lr"], betas=betas)
        self.rows: list[dict] = []

    def _fake_labels(self, n):
        return self.labels[torch.randint(len(self.labels), (n,), generator=self.gen)].to(self.device)

    def _draw(self):
        n = self.spec["batch_size"]
        z = torch.randn(n, self.spec["z_dim"], generator=self.gen).to(self.device)
        labels = self._fake_labels(n)
        with autocast(self.device, self.precision):
            fake = self.G(z, labels)
        return fake.float(), labels  # rejection measures the fakes' distances in float32

    def _logits(self, x, labels):
        """The discriminator's logits, float32 for the loss."""
        with autocast(self.device, self.precision):
            return self.D(x, labels).float()

    def step(self) -> dict:
        n = self.spec["batch_size"]
        for _ in range(self.spec["d_steps"]):
            idx = torch.randint(len(self.real), (n,), generator=self.gen)
            real, real_labels = self.real[idx].to(self.device), self.labels[idx].to(self.device)
            with torch.no_grad():
                fake, fake_labels = self._draw()  # the discriminator sees all fakes
            loss_d = gan.d_loss(self.spec["loss"], self._logits(real, real_labels), self._logits(fake, fake_labels))
            self.opt_d.zero_grad()
            loss_d.backward()
            self.opt_d.step()
        fake, fake_labels, stats = self.rejection.select(self._draw)
        loss_g = gan.g_loss(self.spec["loss"], self._logits(fake, fake_labels))
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        d_loss, g_loss = loss_d.item(), loss_g.item()  # one device sync each
        check_finite_loss(d_loss + g_loss, "mrgan", f"at step {len(self.rows) + 1}")
        row = {"step": len(self.rows) + 1, "d_loss": d_loss, "g_loss": g_loss,
               "generated": stats.generated, "kept": stats.kept, "attempts": stats.attempts}
        self.rows.append(row)
        return row

    def state(self) -> dict:
        """The checkpoint payload: models, optimisers, RNG states and the log so far."""
        return {"G": self.G.state_dict(), "D": self.D.state_dict(), "opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict(), "gen": self.gen.get_state(), "torch": torch.get_rng_state(),
                "rows": self.rows}

    def load_state(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.gen.set_state(state["gen"])
        torch.set_rng_state(state["torch"])
        self.rows = list(state["rows"])


def train(dataset_dir, embedding_kind, embedding_file, tau, seed, spec, out_generator, out_log, device="cpu",
          precision: torch.dtype = torch.float32):
    spec = settings(spec)
    out_generator = Path(out_generator)
    images, labels, _ = Dataset.load(dataset_dir).split_arrays("train")
    gan.check_images(images, str(dataset_dir))  # before the embedding's minutes
    embedder = load_embedder(embedding_kind, embedding_file, device)
    train_features = embedder.embed_images(images)
    rejection = MemorizationRejection(embedder, train_features, tau, spec["max_resample"], device)
    trainer = Trainer(images, labels, spec, seed, rejection, device, precision)
    # content, not paths: other images or another embedder at the same path never resume this checkpoint
    embedder_bytes = np.fromfile(embedding_file, dtype=np.uint8)  # load_embedder found the file
    job = {"embedding": embedding_kind, "tau": float(tau), "seed": int(seed), "spec": spec, "precision": str(precision)}
    resume = checkpoints.Checkpoint(out_generator, job, [images, labels, embedder_bytes],
                                    every=spec["checkpoint_every"])
    state = resume.load(describe=lambda s: f"at step {len(s['rows'])}")  # unreadable: CorruptFileError
    if state is not None:
        trainer.load_state(state)
    progress = Progress(log, spec["steps"], f"generator steps (tau={tau})")
    progress.done = len(trainer.rows)
    while len(trainer.rows) < spec["steps"]:
        trainer.step()
        progress.update()
        if resume.due(len(trainer.rows), spec["steps"]):
            resume.save(trainer.state())
    table = pd.DataFrame(trainer.rows)
    table = table.assign(tau=float(tau), seed=int(seed), embedding=pd.array([embedder.name] * len(table),
                                                                           dtype="string"))
    with io.atomic_path(out_generator) as tmp:
        torch.save({"state_dict": {k: v.cpu() for k, v in trainer.G.state_dict().items()}, **trainer.arch}, tmp)
    io.write_parquet(table, out_log)
    resume.remove()
    kept = table["kept"].sum() / table["generated"].sum()
    log.info("done: %d steps, %.1f%% of generator fakes kept", len(table), 100 * kept)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description="Train a conditional GAN with memorization rejection.")
    parser.add_argument("--dataset-dir", required=True)
    parser.add_argument("--embedding-kind", required=True)
    parser.add_argument("--embedding-file", required=True)
    parser.add_argument("--tau", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--spec", type=cli.json_arg, default={})
    add_device_args(parser, training=True)
    parser.add_argument("--out-generator", required=True, help="generator.pt")
    parser.add_argument("--out-log", required=True, help="train_log.parquet")
    args = parser.parse_args()
    device = device_from_args(args)
    train(args.dataset_dir, args.embedding_kind, args.embedding_file, args.tau, args.seed, args.spec,
          args.out_generator, args.out_log, device, precision_from_args(args, device))


if __name__ == "__main__":
    cli.run(main)
