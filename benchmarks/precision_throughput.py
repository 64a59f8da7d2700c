"""bfloat16 against float32 training, per job kind, in one run: the speed-up the config key
``precision`` buys on this machine.

    python benchmarks/precision_throughput.py [--kinds mlp,cnn,module,vae,gan,ddpm] [--repeats 5] [--threads 2]
                                              [--device cpu] [--quick] [--hand-step]

Each kind runs its workflow trainer (the same function the job calls) on random images of the
size it is used at: the Feldman shard (``train_shard.train_stacked``: 16 stacked MLPs 784-512-256-10
or CNNs [16, 32] at batch 128 on 28x28 images, and kind module: the same MLP as 16 ``nn.Sequential``
copies under torch.func), the K-fold VAE (``kfold_vae.train.fit_and_evaluate``, bernoulli_mlp on
28x28, one epoch), the GAN (``mrgan.train.Trainer.step``, 28x28, no rejection) and the DDPM
(``diffusion.train.train``, 32x32, the schema's width). The two precisions alternate, ``--repeats``
times each on fresh models; the fastest of each is kept (load on a shared machine only adds time)
and the ratio float32 / bf16 time is printed. On a GPU the baseline is TF32 (config key tf32 on).

For the Feldman MLP it also prints the FLOP/s of the shard's matrix products (the products of one
training step, times its steps, over the whole shard's time) against plain batched products of
the same shapes in the same dtype, timed in the same run: the share of the matmul limit it reaches;
and, on the CPU, where the shard's time goes (torch's profiler: products, casts, optimizer, other)
and the rate of the shard's products alone (their kernels' time in the profiler) against the plain ones.

``--hand-step`` also times the one loss of the bf16 step that float32 master weights do not force:
autocast casts each weight gradient back to float32 before the optimizer reads it. A hand-written
step keeps bfloat16 copies of the weights as the leaves autograd differentiates, so the gradients
stay bfloat16, and updates the float32 masters and momentum from them itself (then refreshes the
copies). Two updates are timed against autocast with the fused SGD, on the same batches: the
momentum as ``mul_`` then ``add_`` (bit-identical to the fused SGD) and as one ``torch.add`` with
``alpha`` (one pass fewer over the momentum, but a fused multiply-add, so other last bits).
"""

from __future__ import annotations

import argparse
import logging
import platform

import numpy as np
import torch
from torch.nn import functional as F

from pipeline.devices import native_bf16, resolve_device
from pipeline.feldman import models, module_stack
from pipeline.feldman.train_shard import as_tensor, full_spec, train_stacked
from feldman_shard_throughput import mlp_step_shapes
from pipeline.splits import subset_masks
from timing import timed

logging.disable(logging.INFO)  # the trainers' progress lines

PRECISIONS = {"float32": torch.float32, "bf16": torch.bfloat16}
SHARD = 16  # models per Feldman shard
MLP_SIZES = [784, 512, 256, 10]


def images(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 1), dtype=np.uint8)


def feldman(kind: str, n: int, device: torch.device):
    """One epoch of a shard of SHARD models on n 28x28 images: (setup, steps per epoch, batch size)."""
    spec = full_spec({"kind": "mlp", "hidden": MLP_SIZES[1:-1]} if kind in ("mlp", "module")
                     else {"kind": "cnn", "channels": [16, 32]})
    spec = {**spec, "epochs": 1}
    x = as_tensor(images(n, 28), device)
    y = torch.from_numpy(np.random.default_rng(1).integers(0, 10, n)).to(device)
    runs, members = list(range(SHARD)), subset_masks(n, SHARD, 0.7, 0)

    def setup(dtype):
        model = models.build(spec, runs, 0, (28, 28, 1), 10, device=device)
        if kind == "module":
            model = module_stack.StackedModule([models.plain_model(model, s) for s in runs]).to(device)
        return lambda: train_stacked(model, x, y, members, runs, 0, spec, precision=dtype)

    steps = -(-int(members[0].sum()) // spec["batch_size"])
    return setup, steps, spec["batch_size"]


def mlp_step_flops(batch: int) -> tuple[list[tuple[int, int, int]], int]:
    """(m, k, n) of one MLP training step's batched products and their FLOPs for the shard."""
    shapes = mlp_step_shapes(MLP_SIZES, SHARD, batch)
    return shapes, sum(2 * SHARD * m * k * n for m, k, n in shapes)


def matmul_seconds(shapes, dtype: torch.dtype, device: torch.device, repeats: int) -> float:
    """Fastest time of one round of plain torch.bmm over ``shapes`` (SHARD at a time) in ``dtype``."""
    pairs = [(torch.rand(SHARD, m, k, device=device, dtype=dtype), torch.rand(SHARD, k, n, device=device, dtype=dtype))
             for m, k, n in shapes]

    def products():
        for _ in range(10):
            for a, b in pairs:
                torch.bmm(a, b)

    return fastest_of_ten(products, device, repeats)


def fastest_of_ten(work, device: torch.device, repeats: int) -> float:
    """Seconds of one of the ten rounds ``work`` runs, fastest of ``repeats`` calls after a warm-up."""
    timed(work, device)
    return min(timed(work, device)[0] for _ in range(repeats)) / 10


def master_weight_seconds(params, dtype: torch.dtype, device: torch.device, repeats: int) -> float:
    """Fastest time of what a training step must do besides its products when the weights are
    float32 masters with momentum, as the issue of mixed precision requires: the fused SGD update
    (read weights, momentum and gradient, write weights and momentum) and, for bf16, one bfloat16
    copy of the weights for the products. Memory passes, so bandwidth bounds them, not FLOPs."""
    params = [p.detach().clone().requires_grad_(True) for p in params]
    for p in params:
        p.grad = torch.rand_like(p)
    opt = torch.optim.SGD(params, lr=1e-9, momentum=0.9, fused=True)

    def passes():
        for _ in range(10):
            opt.step()
            if dtype != torch.float32:
                for p in params:
                    p.detach().to(dtype)

    return fastest_of_ten(passes, device, repeats)


# bytes per parameter the least update with float32 master weights and momentum moves: read weights,
# momentum and gradient, write weights and momentum (a bfloat16 gradient and copy in the same pass
# included)
LEAST_UPDATE_BYTES = 20


def update_bandwidth(params, dtype: torch.dtype, step_flops: int, product_s: float, passes_s: float) -> str:
    """The memory traffic behind the bound: the bytes per parameter the timed passes move and at what
    rate, against the rate 0.9 of the plain products would need from LEAST_UPDATE_BYTES per parameter."""
    n = sum(p.numel() for p in params)
    moved = 20 + (6 if dtype != torch.float32 else 0)  # fused SGD, and for bf16 the copy (read 4, write 2)
    needed = LEAST_UPDATE_BYTES * n / (product_s * (1 / 0.9 - 1))
    return (f"{step_flops / n:.0f} product FLOPs per parameter; the update's passes move {moved} bytes per "
            f"parameter at {moved * n / passes_s / 1e9:.0f} GB/s; 0.9 of plain products would need at least "
            f"{LEAST_UPDATE_BYTES} bytes per parameter at {needed / 1e9:.0f} GB/s")


def time_shares(train) -> tuple[dict[str, float], float]:
    """Where one shard's CPU time goes, from torch's profiler: matrix products, dtype casts (bf16
    autocast's copies of weights and gradients), the optimizer's update, everything else; and the
    seconds of the products themselves (their kernels' own time, to set against plain products)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train()
    groups = {"matrix products": ("aten::bmm", "aten::mm", "aten::addmm", "aten::baddbmm"),
              "casts": ("aten::copy_",), "optimizer": ("aten::_fused_sgd_",)}
    totals = dict.fromkeys([*groups, "other"], 0.0)
    for event in prof.key_averages():
        group = next((g for g, names in groups.items() if event.key in names), "other")
        totals[group] += event.self_cpu_time_total
    whole = sum(totals.values())
    return {group: value / whole for group, value in totals.items()}, totals["matrix products"] / 1e6


def stacked_mlp_steps(n: int, device: torch.device, steps: int):
    """Setup of ``steps`` bf16 training steps of the Feldman MLP shard (SHARD models, batch 128, random
    batches of n 28x28 images, SGD with momentum 0.9), by ``step``: 'autocast' (the trainer's step:
    float32 weights, bf16 autocast, fused SGD), 'hand, mul+add' or 'hand, add alpha' (bfloat16 weight
    copies as the leaves; the float32 masters and momentum updated from bfloat16 gradients, module
    docstring). The setup's call returns the float32 weights after the last step."""
    x, y = as_tensor(images(n, 28), device), torch.from_numpy(np.random.default_rng(1).integers(0, 10, n)).to(device)
    gen = torch.Generator().manual_seed(2)
    batches = [torch.randint(0, n, (SHARD, 128), generator=gen).to(device) for _ in range(steps)]
    spec, lr, momentum = full_spec({"kind": "mlp", "hidden": MLP_SIZES[1:-1]}), 0.01, 0.9

    def loss_of(logits, idx):
        return F.cross_entropy(logits.float().flatten(0, 1), y[idx].flatten(), reduction="none").sum() / idx.shape[1]

    def setup(step: str):
        model = models.build(spec, list(range(SHARD)), 0, (28, 28, 1), 10, device=device)
        if step == "autocast":
            opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, fused=True)

            def train():
                for idx in batches:
                    with torch.autocast(device.type, dtype=torch.bfloat16):
                        logits = model(x[idx])
                    opt.zero_grad(set_to_none=True)
                    loss_of(logits, idx).backward()
                    opt.step()
                return [p.detach() for p in model.parameters()]
            return train
        names = [name for name, _ in model.named_parameters()]
        masters = [p.detach() for p in model.parameters()]
        copies = [m.to(torch.bfloat16).requires_grad_(True) for m in masters]
        buffers: list = [None] * len(masters)

        def update(i: int, grad: torch.Tensor) -> None:
            if buffers[i] is None:
                buffers[i] = grad.float()
            elif step == "hand, mul+add":
                buffers[i].mul_(momentum).add_(grad)
            else:
                torch.add(grad, buffers[i], alpha=momentum, out=buffers[i])
            masters[i].add_(buffers[i], alpha=-lr)
            with torch.no_grad():
                copies[i].copy_(masters[i])

        def train():
            for idx in batches:  # the model's own forward pass, on the bfloat16 copies and images
                logits = torch.func.functional_call(model, dict(zip(names, copies)), (x[idx].to(torch.bfloat16),))
                loss_of(logits, idx).backward()
                for i, copy in enumerate(copies):
                    update(i, copy.grad)
                    copy.grad = None
            return masters
        return train

    return setup


def hand_step_report(n: int, steps: int, device: torch.device, repeats: int) -> None:
    """Print the hand-written bf16 steps' times against autocast's (fastest of ``repeats``, rotating
    the order) and whether each ends on the same float32 weights."""
    setup = stacked_mlp_steps(n, device, steps)
    variants = ("autocast", "hand, mul+add", "hand, add alpha")
    final = {v: setup(v)() for v in variants}  # warm-up, and the weights each ends on
    times = {v: [] for v in variants}
    for repeat in range(repeats):
        for v in variants[repeat % 3:] + variants[:repeat % 3]:
            times[v].append(timed(setup(v), device)[0])
    base = min(times["autocast"])
    print(f"  bf16 step of the MLP shard ({steps} steps, fastest of {repeats}): autocast {base:.3f} s", flush=True)
    for v in variants[1:]:
        same = all(torch.equal(a, b) for a, b in zip(final["autocast"], final[v]))
        print(f"    {v}: {min(times[v]):.3f} s, autocast / it {base / min(times[v]):.2f}x; float32 weights after "
              f"the last step {'bit-identical to' if same else 'differ from'} autocast's", flush=True)


def vae(n: int, device: torch.device):
    from pipeline.kfold_vae.train import fit_and_evaluate

    x, spec = images(n, 28), {"kind": "bernoulli_mlp", "epochs": 1}
    return lambda dtype: lambda: fit_and_evaluate(x, np.ones(n, dtype=bool), spec, 0, (0, 0), device,
                                                  evaluate=False, precision=dtype)


def gan(steps: int, device: torch.device):
    from pipeline.mrgan.rejection import MemorizationRejection
    from pipeline.mrgan.train import Trainer

    x, labels = images(512, 28), np.arange(512) % 10

    def setup(dtype):
        trainer = Trainer(x, labels, {}, 0, MemorizationRejection(None, None, None, 0), device, dtype)
        return lambda: [trainer.step() for _ in range(steps)]

    return setup


def ddpm(steps: int, device: torch.device):
    from pipeline.diffusion.train import train

    x = np.repeat(images(64, 32), 3, axis=3)
    spec = {"steps": steps, "log_every": steps}
    return lambda dtype: lambda: train(x, np.zeros(64, dtype=np.int64), spec, 0, device, precision=dtype)


def fastest_pair(setup, device, repeats: int) -> dict[str, float]:
    """Fastest seconds of the training ``setup(dtype)`` returns (built untimed) per precision, the two
    alternating."""
    setup(torch.float32)()  # warm-up: kernels, allocator
    setup(torch.bfloat16)()
    times = {name: [] for name in PRECISIONS}
    for repeat in range(repeats):
        for name in (PRECISIONS if repeat % 2 == 0 else reversed(PRECISIONS)):
            times[name].append(timed(setup(PRECISIONS[name]), device)[0])
    return {name: min(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", default="mlp,cnn,module,vae,gan,ddpm")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="smaller workloads (a smoke test, not a measurement)")
    parser.add_argument("--hand-step", action="store_true",
                        help="with kind mlp: also time hand-written bf16 steps without gradient casts")
    a = parser.parse_args()
    torch.set_num_threads(a.threads)
    device = resolve_device(a.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"device {device} ({name}; {a.threads} thread(s)), native bf16: {native_bf16(device)}; torch {torch.__version__}")
    print(f"baseline: float32{' with TF32' if device.type == 'cuda' else ''}; fastest of {a.repeats} alternating runs")
    n, steps = (1024, 10) if a.quick else (4096, 40)
    print(f"{'kind':<30} {'float32 s':>10} {'bf16 s':>10} {'float32/bf16':>13}")
    for kind in a.kinds.split(","):
        label, flops = kind, None
        if kind in ("mlp", "cnn", "module"):
            setup, n_steps, batch = feldman(kind, n, device)
            label = f"feldman {kind} ({SHARD} models, {n_steps} steps)"
            if kind == "mlp":
                shapes, step_flops = mlp_step_flops(batch)
                flops = n_steps * step_flops
        elif kind == "vae":
            setup, label = vae(n, device), f"kfold_vae bernoulli_mlp ({n} images)"
        elif kind == "gan":
            setup, label = gan(steps, device), f"mrgan ({steps} steps)"
        elif kind == "ddpm":
            setup, label = ddpm(steps, device), f"diffusion ({steps} steps)"
        else:
            parser.error(f"unknown kind {kind!r}")
        best = fastest_pair(setup, device, a.repeats)
        print(f"{label:<30} {best['float32']:>10.3f} {best['bf16']:>10.3f} {best['float32'] / best['bf16']:>12.2f}x",
              flush=True)
        if flops is not None:
            params = list(models.build(full_spec({"kind": "mlp", "hidden": MLP_SIZES[1:-1]}), list(range(SHARD)), 0,
                                       (28, 28, 1), 10, device=device).parameters())
            for prec, dtype in PRECISIONS.items():
                product_s = matmul_seconds(shapes, dtype, device, a.repeats)
                ceiling, achieved = step_flops / product_s, flops / best[prec]
                # the most a step can reach with float32 master weights: its products plus the update's passes
                passes_s = master_weight_seconds(params, dtype, device, a.repeats)
                bound = step_flops / (product_s + passes_s)
                shares, own_s = time_shares(setup(dtype)) if device.type == "cpu" else ({}, None)
                print(f"    {prec}: shard {achieved / 1e9:.0f} GFLOP/s in its products, plain bmm of the same shapes "
                      f"{ceiling / 1e9:.0f} GFLOP/s: shard / matmul {achieved / ceiling:.2f}; products plus the "
                      f"float32 master weights' update {bound / 1e9:.0f} GFLOP/s (matmul x {bound / ceiling:.2f}): "
                      f"shard / that bound {achieved / bound:.2f}"
                      + ("; CPU time " + ", ".join(f"{k} {v:.0%}" for k, v in shares.items()) if shares else "")
                      + (f"; the products' own kernels (profiler) {flops / own_s / 1e9:.0f} GFLOP/s, plain bmm x "
                         f"{flops / own_s / ceiling:.2f}" if own_s else ""),
                      flush=True)
                print(f"      {update_bandwidth(params, dtype, step_flops, product_s, passes_s)}", flush=True)
            if a.hand_step:
                hand_step_report(n, n_steps, device, a.repeats)


if __name__ == "__main__":
    main()
