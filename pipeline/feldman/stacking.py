"""How many subset classifiers one job trains at once (``feldman.shard_size: auto``).

A stack of S models costs S times one model's footprint, so the stack size is the device's free
memory over that footprint. The footprint is measured, not guessed: one forward pass of a one-model
stack on the CPU runs under autograd's saved-tensor hooks, which count the bytes the backward pass
keeps per example. Training holds those activations for a batch, about as much again for their
gradients, and three copies of the weights (parameters, gradients, SGD momentum). Evaluation of a
stack runs in batches of at most twice the training batch (``eval_rows``), so it never needs more
than training did. Works for any architecture ``models.build`` makes.
"""

from __future__ import annotations

import torch

from pipeline.feldman import models

MEMORY_FRACTION = 0.7  # of the free memory: room for the allocator's fragmentation and the data


def _saved_bytes(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes autograd keeps for the backward pass of ``model(x)``, parameters excluded."""
    params = {p.data_ptr() for p in model.parameters()}
    total = 0

    def pack(t: torch.Tensor):
        nonlocal total
        if t.data_ptr() not in params:
            total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x).sum()
    return total


def model_footprint_bytes(spec: dict, in_shape: tuple[int, int, int], n_classes: int, n_train: int) -> int:
    """Peak bytes one model of a stack needs while training on ``spec['batch_size']`` examples of
    ``n_train``: weights, gradients and momentum, the batch's saved activations (forward and backward),
    and its training record (a uint8 correct-epoch count and a float32 summed loss per training
    example, kept on the device: ``train_shard.TrainingRecord``)."""
    model = models.build(spec, [0], 0, in_shape, n_classes)
    height, width, channels = in_shape
    one, two = (torch.rand(1, b, channels, height, width) for b in (1, 2))
    per_example = _saved_bytes(model, two) - _saved_bytes(model, one)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    return 3 * weights + 2 * spec["batch_size"] * per_example + 5 * n_train


def eval_rows(spec: dict) -> int:
    """Examples per evaluation batch of an auto-sized stack: within the training activations' memory."""
    return min(spec["eval_batch_size"], 2 * spec["batch_size"])


def auto_stack_size(footprint: int, free_bytes: int, n_runs: int) -> int:
    """Models trained at once: as many as fit in a share of the free memory, at least 1, at most all."""
    return max(1, min(n_runs, int(MEMORY_FRACTION * free_bytes) // max(footprint, 1)))


def stacks(runs: list[int], stack_size: int) -> list[list[int]]:
    """Consecutive runs, ``stack_size`` at a time."""
    return [runs[i:i + stack_size] for i in range(0, len(runs), stack_size)]
