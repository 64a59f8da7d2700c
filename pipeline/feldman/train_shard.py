"""Train one shard of S subset classifiers at once and record what each got right: 0/1 correctness,
true-class margins, logit-scaled confidences, per-epoch training correctness and cumulative loss.

Model r of the shard (run r of ``feldman_subsets.parquet``) is trained only on its subset J_r, with
initial weights and batch order drawn from generators seeded by (seed, r, init_seed), seed the splits
seed of the subsets and init_seed the spec's (``models.run_entropy``): a run's result does not depend
on the shard size, and an architecture entry with another init_seed is an independent replicate.
One optimizer step updates all S models; their losses are summed, so their gradients (and SGD
momentum buffers) never mix. Progress is checkpointed atomically after every epoch to
``<out>.resume.pt`` (``pipeline.checkpoints``) and a killed job resumes from it (only a checkpoint of
the same runs, settings and data); an unreadable checkpoint stops the job with one line naming it and
is moved aside, so the rerun starts the shard afresh. Saving thousands of
stacked models takes seconds, so after an epoch the state is saved only once the time since the
last save is at least ``SAVE_COST_RATIO`` times what that save took (the first: what its size
takes at ``checkpoints.FIRST_SAVE_BYTES_PER_SECOND``; small stacks are saved after their first
epoch): checkpoints cost at most about 1/SAVE_COST_RATIO of the training time. The checkpoint's
payload: ``stack_size``, ``done`` (finished stacks' records: one dict of the table's per-example
columns each) and the current stack's ``epoch``, ``model``, ``optimizer``, ``epoch_correct`` and
``cum_loss`` (its members' correct-epoch counts and summed losses so far).

What a model records. After training, one forward pass over every training and test example gives
its 0/1 correctness (argmax == label), its true-class margin (the label's logit minus the largest
other logit; > 0 where it is right, up to ties) and, on training examples, LiRA's logit-scaled
true-class confidence (the label's logit minus the logsumexp of the others). During training, the
forward pass each optimizer step already makes gives, for each member in the batch, whether the
model classified it correctly at that moment; summed over epochs this is ``train_epoch_correct``
(Jiang et al.'s learning speed is ``train_epoch_correct / epochs``), and the same step's loss on it,
summed over epochs, is ``train_cum_loss`` (the cumulative sample loss of Ravikumar et al. 2025,
``estimators``). Recording them costs an argmax and two scatter-adds per step, no extra forward pass (``benchmarks/feldman_shard_throughput.py --overhead``
measures it).

The table it writes, and what it costs per model and example: ``pipeline.feldman.shard_table``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from pipeline import checkpoints, cli, io
from pipeline.data.dataset import Dataset
from pipeline.devices import add_device_args, autocast, free_memory_bytes, resolve_device, resolve_precision
from pipeline.errors import PipelineError, check_finite_loss
from pipeline.feldman import models, module_stack, stacking
from pipeline.feldman.shard_table import MAX_EPOCHS, shard_table
from pipeline.progress import Progress, get_logger
from pipeline.schema import schema_default, spec_defaults
from pipeline.splits import read_subset_masks

log = get_logger("feldman.train_shard")

WARMUP_SHARE = 0.15  # schedule warmup_decay: the share of the steps over which the learning rate rises
SAVE_COST_RATIO = 10  # save after an epoch only when the time since the last save is >= 10x its cost
# part of the checkpoint's key: a checkpoint written before a record was added lacks it and is not
# resumed (the shard trains afresh)
RECORDS = "correct,margin,logit_conf,epoch_correct,cum_loss"


def as_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (n, H, W, C) -> float (n, C, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float().div_(255)


def batch_order(members: np.ndarray, seed: int, run: int, epoch: int, init_seed: int) -> np.ndarray:
    """Positions of J_r in the order run ``run`` visits them in ``epoch``."""
    return np.random.default_rng(models.run_entropy(seed, run, init_seed, 1, epoch)).permutation(
        np.flatnonzero(members))


def lr_at(spec: dict, step: int, total: int) -> float:
    """Constant, or 'warmup_decay': linear up over the first WARMUP_SHARE of steps, then linearly down to 0."""
    if spec["schedule"] == "constant":
        return spec["lr"]
    warm = max(1, int(WARMUP_SHARE * total))
    frac = step / warm if step < warm else (total - step) / max(1, total - warm)
    return spec["lr"] * max(frac, 0.0)


def steps_per_epoch(n_members: int, batch_size: int) -> int:
    return -(-n_members // batch_size)


@dataclass
class TrainingRecord:
    """What training records of each member from the forward pass every optimizer step makes anyway,
    (S, n) tensors on the data's device (row s: model s, column: training example):
    ``epoch_correct`` (uint8) counts the steps whose model classified the example correctly, one per
    epoch at most, and ``cum_loss`` (float32) sums the example's cross-entropy loss over those steps
    (the loss the step then trains on, before its update). Non-members stay 0 in both."""
    epoch_correct: torch.Tensor
    cum_loss: torch.Tensor

    @classmethod
    def zeros(cls, n_models: int, n_examples: int, device) -> "TrainingRecord":
        return cls(torch.zeros(n_models, n_examples, dtype=torch.uint8, device=device),
                   torch.zeros(n_models, n_examples, dtype=torch.float32, device=device))

    @torch.no_grad()
    def add(self, logits: torch.Tensor, labels: torch.Tensor, idx: torch.Tensor, losses: torch.Tensor) -> None:
        """One step: logits (S, B, classes), labels and idx (S, B), the per-example losses (S * B,)."""
        count_correct(self.epoch_correct, logits, labels, idx)
        self.cum_loss.scatter_add_(1, idx, losses.detach().view(idx.shape).float())

    def numpy(self) -> dict[str, np.ndarray]:
        """The shard table's two columns."""
        return {"train_epoch_correct": self.epoch_correct.cpu().numpy(), "train_cum_loss": self.cum_loss.cpu().numpy()}


def train_stacked(model, x, y, members: np.ndarray, runs: list[int], seed: int, spec: dict,
                  state: dict | None = None, on_epoch=None, arch: str = "*",
                  record: TrainingRecord | None = None, precision: torch.dtype = torch.float32) -> None:
    """Train the S stacked models, model s on ``members[s]``; resume from ``state`` if given.

    ``precision`` bfloat16: each step's forward and backward pass multiply in bfloat16 (autocast);
    the logits are cast to float32 before the loss and the record, the weights stay float32.

    ``record`` (or None: nothing recorded): what each step's forward pass adds for its batch
    (``TrainingRecord``); on resume, pass it holding what was saved with ``state``. A loss that is not
    finite at an epoch's end stops the job: a diverged model would enter the estimates as one that
    fits nothing."""
    sizes = set(members.sum(axis=1).tolist())
    if len(sizes) != 1:
        raise PipelineError(f"subsets of one shard differ in size {sorted(sizes)}; redraw feldman_subsets")
    m, bs = sizes.pop(), spec["batch_size"]
    n_steps = steps_per_epoch(m, bs)
    total = spec["epochs"] * n_steps
    # one fused kernel for the update of all stacked weights (on the CPU too: the same numbers as the
    # default loop over tensors, with the memory passes of momentum and weights merged)
    opt = torch.optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"], fused=True)
    start = 0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start = state["epoch"]
    progress = Progress(log, total, f"{len(runs)} models, steps")
    progress.update(start * n_steps)
    for epoch in range(start, spec["epochs"]):
        order = np.stack([batch_order(members[s], seed, run, epoch, spec["init_seed"]) for s, run in enumerate(runs)])
        order = torch.from_numpy(order).to(x.device)
        for k in range(n_steps):
            for group in opt.param_groups:
                group["lr"] = lr_at(spec, epoch * n_steps + k, total)
            idx = order[:, k * bs:(k + 1) * bs]  # (S, B)
            with autocast(x.device, precision):
                logits = model(x[idx]).float()  # (S, B, classes)
            losses = F.cross_entropy(logits.flatten(0, 1), y[idx].flatten(), reduction="none")
            if record is not None:
                record.add(logits, y[idx], idx, losses)
            # per-model mean loss, summed over models: each model gets its own gradient
            loss = losses.sum() / idx.shape[1]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            progress.update()
        check_finite_loss(loss.item(), f"feldman.architectures.{arch}",
                          f"for runs {runs[0]}..{runs[-1]} after epoch {epoch + 1}")
        if on_epoch is not None:
            on_epoch(epoch + 1, model, opt)


def train_plain(net, x, y, members: np.ndarray, run: int, seed: int, spec: dict,
                precision: torch.dtype = torch.float32) -> None:
    """The same training for one ordinary model (the loop baseline): same batches, same optimizer."""
    m, bs = int(members.sum()), spec["batch_size"]
    n_steps = steps_per_epoch(m, bs)
    total = spec["epochs"] * n_steps
    opt = torch.optim.SGD(net.parameters(), lr=spec["lr"], momentum=spec["momentum"])
    for epoch in range(spec["epochs"]):
        order = torch.from_numpy(batch_order(members, seed, run, epoch, spec["init_seed"])).to(x.device)
        for k in range(n_steps):
            for group in opt.param_groups:
                group["lr"] = lr_at(spec, epoch * n_steps + k, total)
            idx = order[k * bs:(k + 1) * bs]
            with autocast(x.device, precision):
                logits = net(x[idx]).float()
            loss = F.cross_entropy(logits, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


@torch.no_grad()
def count_correct(counts: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor, idx: torch.Tensor) -> None:
    """Add 1 to ``counts[s, idx[s, b]]`` where model s's ``logits[s, b]`` pick ``labels[s, b]`` (in place;
    a batch holds an example at most once per model, so no count is added twice)."""
    counts.scatter_add_(1, idx, (logits.argmax(-1) == labels).view(counts.dtype))  # bool as uint8: no copy


def true_class_scores(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """logits (S, B, classes), labels (B,) -> two (S, B) float32: the true-class margin (the label's logit
    minus the largest other) and LiRA's logit-scaled confidence log(p / (1 - p)) of the label's softmax
    probability p, which is the label's logit minus the logsumexp of the others (``lira``)."""
    label = labels.expand(logits.shape[:-1]).unsqueeze(-1)
    true = logits.gather(-1, label).squeeze(-1)
    others = logits.scatter(-1, label, float("-inf"))
    return (true - others.amax(-1)).float(), (true - others.logsumexp(-1)).float()


@torch.no_grad()
def evaluate(model, x, y, batch_size: int) -> dict[str, np.ndarray]:
    """``correct`` (S, n) bool, ``margin`` and ``logit_conf`` (S, n) float32: does each stacked model
    classify each example correctly, and its two true-class scores there (one forward pass gives all
    three). Each batch's results leave the device at once, so evaluation holds no more there than one
    batch's logits."""
    parts = {"correct": [], "margin": [], "logit_conf": []}
    for i in range(0, len(x), batch_size):
        logits, labels = model(x[i:i + batch_size]), y[i:i + batch_size]
        margin, logit_conf = true_class_scores(logits, labels)
        parts["correct"].append((logits.argmax(-1) == labels).cpu())
        parts["margin"].append(margin.cpu())
        parts["logit_conf"].append(logit_conf.cpu())
    return {name: torch.cat(values, dim=1).numpy() for name, values in parts.items()}


def shard_runs(n_runs: int, shard: int, shard_size: int | str) -> list[int]:
    """Runs of job ``shard``; with ``shard_size`` auto, the one job holds every run."""
    if shard_size == "auto":
        if shard != 0:
            raise PipelineError(f"shard {shard}: with feldman.shard_size auto there is only shard 0")
        return list(range(n_runs))
    runs = list(range(shard * shard_size, min((shard + 1) * shard_size, n_runs)))
    if not runs:
        raise PipelineError(f"shard {shard} of size {shard_size} is empty: only {n_runs} runs (splits.feldman.runs)")
    return runs


def shard_size_arg(text: str) -> int | str:
    """argparse type of --shard-size: a positive integer or 'auto'."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {text!r}")
    return value


def full_spec(spec: dict, arch: str = "*") -> dict:
    """The complete spec of architecture ``arch``: ``spec`` with the schema's defaults of
    ``feldman.architectures.*`` filled in and checked (a bad or unknown key raises, naming it)."""
    return spec_defaults("feldman.architectures.*", spec, where=f"feldman.architectures.{arch}")


def payload(stack_size: int, done: list, epoch: int = 0, model=None, opt=None,
            record: TrainingRecord | None = None) -> dict:
    """What the shard's checkpoint holds: finished stacks' results and the current stack's state."""
    return {"stack_size": stack_size, "done": done, "epoch": epoch,
            "model": None if model is None else model.state_dict(),
            "optimizer": None if opt is None else opt.state_dict(),
            "epoch_correct": None if record is None else record.epoch_correct.cpu(),
            "cum_loss": None if record is None else record.cum_loss.cpu()}


@dataclass
class ShardData:
    """What one shard job trains on, checked: the spec with defaults, the data and the job's runs."""
    spec: dict
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    runs: list[int]
    members: np.ndarray  # (len(runs), n_train) bool
    n_classes: int

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.x_train.shape[1:]


def load_shard_data(dataset_dir: Path, subsets: Path, shard: int, shard_size: int | str, arch: str,
                    spec: dict) -> ShardData:
    """The spec, data and runs of the job, or one line naming what makes them unusable."""
    spec = full_spec(spec, arch)
    if spec["epochs"] > MAX_EPOCHS:
        raise PipelineError(f"config key feldman.architectures.{arch}.epochs: {spec['epochs']} is more than "
                            f"{MAX_EPOCHS}, the most train_epoch_correct (uint8) can count")
    data = Dataset.load(dataset_dir)
    x_train, y_train, _ = data.split_arrays("train")
    x_test, y_test, _ = data.split_arrays("test")
    if not len(y_test):
        raise PipelineError(f"{dataset_dir}: no test examples; feldman.datasets needs a data set with a test split "
                            f"(influence is measured on test examples)")
    masks = read_subset_masks(subsets)
    if masks.shape[1] != len(y_train):
        raise PipelineError(f"{subsets}: masks cover {masks.shape[1]} examples, {dataset_dir} has {len(y_train)}")
    runs = shard_runs(len(masks), shard, shard_size)
    n_classes = int(data.table["label"].max()) + 1
    if len(np.unique(y_train)) < 2:
        raise PipelineError(f"{dataset_dir}: every training example has label {y_train[0]}; feldman.datasets needs "
                            f"two classes or more (one class is fit without memorizing anything)")
    return ShardData(spec, x_train, y_train, x_test, y_test, runs, masks[runs], n_classes)


def warn_if_not_vmappable(job: ShardData, arch: str, device: torch.device) -> None:
    """Kind module: say once, before training, when its copies will train in a loop instead of at once."""
    if job.spec["kind"] != "module":
        return
    reason = module_stack.vmap_failure(job.spec["factory"], job.image_shape, job.n_classes, arch, device)
    if reason is not None:
        log.warning("architecture %s: torch.func.vmap cannot run its module (%s); training its copies one "
                    "after another with ordinary autograd instead", arch, reason)


def shard_checkpoint(out: Path, job: ShardData, seed: int, precision: torch.dtype) -> checkpoints.Checkpoint:
    """The job's resume checkpoint: the images, labels and subsets enter the fingerprint, so a
    checkpoint of other data (or of a shard that recorded other columns, or trained in another
    precision) is never resumed."""
    return checkpoints.Checkpoint(out, {"runs": job.runs, "spec": job.spec, "seed": seed, "records": RECORDS,
                                        "precision": str(precision)},
                                  [job.x_train, job.y_train, job.x_test, job.y_test, job.members],
                                  cost_ratio=SAVE_COST_RATIO)


def choose_stack_size(job: ShardData, shard_size: int | str, saved: dict | None, device: torch.device) -> int:
    """Models trained at once: the checkpoint's, else all the job's runs, or (auto) as many as fit."""
    if saved is not None:
        return saved["stack_size"]
    if shard_size != "auto":
        return len(job.runs)
    footprint = stacking.model_footprint_bytes(job.spec, job.image_shape, job.n_classes, len(job.y_train))
    free = free_memory_bytes(device)
    stack_size = stacking.auto_stack_size(footprint, free, len(job.runs))
    log.info("shard_size auto: %.1f MB per model, %.1f GB free on %s -> %d models at once", footprint / 1e6,
             free / 1e9, device, stack_size)
    return stack_size


def train_one_stack(job: ShardData, group: list[int], rows: slice, seed: int, arch: str, device: torch.device,
                    tensors: tuple, eval_rows: int, state: dict | None, on_epoch,
                    precision: torch.dtype = torch.float32) -> tuple[torch.nn.Module, dict]:
    """Train the stack of runs ``group`` (rows ``rows`` of the job's members), from ``state`` if it was
    interrupted, and return the trained model and its records (the table's per-example columns).
    ``on_epoch(epoch, model, opt, record)`` is called after each epoch (the checkpoint). Training
    multiplies in ``precision``; the final pass that measures correctness and margins runs in float32."""
    xt, yt, xs, ys = tensors
    model = models.build(job.spec, group, seed, job.image_shape, job.n_classes, arch, device)
    record = (TrainingRecord.zeros(len(group), len(job.y_train), device) if state is None else
              TrainingRecord(state["epoch_correct"].to(device), state["cum_loss"].to(device)))
    model.train()
    train_stacked(model, xt, yt, job.members[rows], group, seed, job.spec, state=state, arch=arch,
                  on_epoch=lambda epoch, model, opt: on_epoch(epoch, model, opt, record), record=record,
                  precision=precision)
    model.eval()
    train, test = evaluate(model, xt, yt, eval_rows), evaluate(model, xs, ys, eval_rows)
    return model, {"train_correct": train["correct"], "test_correct": test["correct"],
                   "train_margin": train["margin"], "test_margin": test["margin"],
                   "train_logit_conf": train["logit_conf"], **record.numpy()}


def save_trained_models(path: Path, resume: checkpoints.Checkpoint, stack_size: int, trained: list) -> None:
    """``--save-models``: the stacks' state dicts with the key and fingerprint of the job that made them."""
    with io.atomic_path(path) as tmp:
        torch.save({"key": resume.settings, "fingerprint": resume.fingerprint, "stack_size": stack_size,
                    "models": trained}, tmp)


def train_shard(dataset_dir: Path, subsets: Path, shard: int, shard_size: int | str, arch: str, spec: dict,
                seed: int, device: str, out: Path, save_models: Path | None = None,
                tf32: bool = schema_default("tf32"), precision: str = schema_default("precision")) -> None:
    """Train the job's runs in stacks (all at once for an integer shard size; as many as fit in the
    device's free memory for ``auto``) and write the shard table."""
    torch.manual_seed(seed)
    device = resolve_device(device, tf32)
    dtype = resolve_precision(precision, device)
    job = load_shard_data(dataset_dir, subsets, shard, shard_size, arch, spec)
    warn_if_not_vmappable(job, arch, device)
    # the data stay on the device for every stack
    tensors = (as_tensor(job.x_train, device), torch.from_numpy(job.y_train).to(device),
               as_tensor(job.x_test, device), torch.from_numpy(job.y_test).to(device))
    resume = shard_checkpoint(out, job, seed, dtype)
    saved = resume.load(describe=lambda s: f"{len(s['done'])} stack(s) done, current stack after "
                                           f"epoch {s.get('epoch', 0)}")
    stack_size = choose_stack_size(job, shard_size, saved, device)
    groups = stacking.stacks(job.runs, stack_size)
    eval_rows = stacking.eval_rows(job.spec) if shard_size == "auto" else job.spec["eval_batch_size"]
    done = [] if saved is None else list(saved["done"])
    log.info("%s/%s: shard %d = runs %d..%d on %s in %d stack(s) of up to %d, %d/%d training examples each",
             dataset_dir, arch, shard, job.runs[0], job.runs[-1], device, len(groups), stack_size,
             job.members[0].sum(), len(job.y_train))

    def checkpoint(epoch, model, opt, record):
        snapshot = payload(stack_size, done, epoch, model, opt, record)
        if resume.due(nbytes=checkpoints.state_bytes(snapshot)):
            resume.save(snapshot)

    start = time.monotonic()
    trained = []
    for g in range(len(done), len(groups)):
        rows = slice(g * stack_size, g * stack_size + len(groups[g]))
        state = saved if saved is not None and saved.get("model") is not None and g == len(saved["done"]) else None
        model, records = train_one_stack(job, groups[g], rows, seed, arch, device, tensors, eval_rows, state,
                                         checkpoint, dtype)
        done.append(records)
        if g + 1 < len(groups):
            resume.save(payload(stack_size, done))
        if save_models is not None:
            trained.append({name: t.cpu() for name, t in model.state_dict().items()})
        del model
    records = {name: np.concatenate([d[name] for d in done]) for name in done[0]}
    table = shard_table(job.runs, seed, job.spec["init_seed"], arch, job.members, records, job.spec["epochs"])
    log.info("trained %d models in %.1fs; mean test accuracy %.4f, fit of J_r %.4f", len(job.runs),
             time.monotonic() - start, records["test_correct"].mean(), table["train_accuracy"].to_numpy().mean())
    if save_models is not None:
        save_trained_models(save_models, resume, stack_size, trained)
    io.write_parquet(table, out)
    resume.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description="Train one shard of Feldman subset classifiers at once.")
    parser.add_argument("--dataset-dir", required=True, type=Path)
    parser.add_argument("--subsets", required=True, type=Path, help="feldman_subsets.parquet")
    parser.add_argument("--shard", required=True, type=int)
    parser.add_argument("--shard-size", required=True, type=shard_size_arg, help="runs per job, or auto")
    parser.add_argument("--arch", required=True, help="architecture name")
    parser.add_argument("--spec", required=True, type=cli.json_arg, help="architecture spec as JSON")
    parser.add_argument("--seed", required=True, type=int, help="splits seed of --subsets (seeds init and order too)")
    add_device_args(parser, training=True)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--save-models", type=Path, default=None, help="also write the trained models here (.pt)")
    parser.add_argument("--out", required=True, type=Path)
    a = parser.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    train_shard(a.dataset_dir, a.subsets, a.shard, a.shard_size, a.arch, a.spec, a.seed, a.device, a.out,
                a.save_models, a.tf32 == "on", a.precision)


if __name__ == "__main__":
    cli.run(main)
