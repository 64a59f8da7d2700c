"""S classifiers of one architecture held as stacked parameters, so one forward/backward pass and one
optimizer step train all S at once (batched matmuls and grouped convolutions).

Each model's slice is initialised from its own generator, seeded by (seed, run, init_seed), so a
model's initial weights depend only on its run index, not on which shard it lands in; init_seed
(``feldman.architectures.*.init_seed``) gives a replicate run other initial weights on the same subsets. ``plain_model`` builds the
equivalent ordinary ``nn.Sequential`` of one slice (the baseline of the benchmark and the tests).
Kind ``module`` (a researcher's own ``nn.Module``) is stacked by ``module_stack`` with torch.func,
each copy seeded by the same (seed, run, init_seed) stream; kinds mlp and cnn keep these hand-stacked
networks, which train faster (``benchmarks/feldman_shard_throughput.py --compare-module``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from pipeline.errors import PipelineError
from pipeline.feldman import module_stack
from pipeline.schema import spec_defaults


def run_entropy(seed: int, run: int, init_seed: int, *stream: int) -> list[int]:
    """The seed words of one of run ``run``'s random streams: (seed, run, *stream), then init_seed
    unless it is 0, so init_seed 0 keeps the streams (and results) runs had before it existed."""
    return [seed, run, *stream] + ([init_seed] if init_seed else [])


def run_torch_seed(seed: int, run: int, stream: int, init_seed: int) -> int:
    """A torch seed that depends only on (seed, run, stream, init_seed)."""
    state = np.random.SeedSequence(run_entropy(seed, run, init_seed, stream)).generate_state(2, dtype=np.uint64)
    return int(state[0] % (2**63))


def run_generator(seed: int, run: int, stream: int, init_seed: int) -> torch.Generator:
    """A torch generator that depends only on (seed, run, stream, init_seed)."""
    return torch.Generator().manual_seed(run_torch_seed(seed, run, stream, init_seed))


def _uniform(shape, bound: float, gen: torch.Generator) -> torch.Tensor:
    return (torch.rand(shape, generator=gen, dtype=torch.float32) * 2 - 1) * bound


class StackedMLP(nn.Module):
    """S multilayer perceptrons input -> hidden... -> classes with ReLU, as (S, in, out) weights."""

    def __init__(self, runs: list[int], seed: int, in_shape: tuple[int, int, int], n_classes: int,
                 hidden: list[int], init_seed: int):
        super().__init__()
        sizes = [int(np.prod(in_shape)), *hidden, n_classes]
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        per_model = [run_generator(seed, run, 0, init_seed) for run in runs]
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1 / math.sqrt(fan_in)  # torch's nn.Linear default
            self.weights.append(nn.Parameter(torch.stack([_uniform((fan_in, fan_out), bound, g) for g in per_model])))
            self.biases.append(nn.Parameter(torch.stack([_uniform((1, fan_out), bound, g) for g in per_model])))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (S, B, C, H, W) or shared (B, C, H, W) -> logits (S, B, classes)."""
        h = x.flatten(start_dim=-3)
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            # under bfloat16 autocast the product is bfloat16; adding the bias in its dtype keeps the
            # activations bfloat16 (a float32 bias would promote them and cost a cast each way)
            h = torch.matmul(h, w)
            h = h + b.to(h.dtype)
            if layer < len(self.weights) - 1:
                h = F.relu(h)
        return h


class StackedCNN(nn.Module):
    """S small CNNs: [conv3x3 -> ReLU -> maxpool2] per channel count, then a linear layer.

    The S models run as one grouped convolution (groups = S) over the models' channels side by side.
    ``key`` names the config key of ``channels`` in the error when the poolings leave no image.
    """

    def __init__(self, runs: list[int], seed: int, in_shape: tuple[int, int, int], n_classes: int,
                 channels: list[int], init_seed: int, key: str = "feldman.architectures.*.channels"):
        super().__init__()
        self.s = len(runs)
        height, width, c_in = in_shape
        per_model = [run_generator(seed, run, 0, init_seed) for run in runs]
        self.convs, self.conv_biases = nn.ParameterList(), nn.ParameterList()
        for c_out in channels:
            bound = 1 / math.sqrt(c_in * 9)
            self.convs.append(nn.Parameter(torch.cat([_uniform((c_out, c_in, 3, 3), bound, g) for g in per_model])))
            self.conv_biases.append(nn.Parameter(torch.cat([_uniform((c_out,), bound, g) for g in per_model])))
            c_in, height, width = c_out, height // 2, width // 2
        if height < 1 or width < 1:
            raise PipelineError(f"config key {key}: {len(channels)} poolings "
                                f"shrink a {in_shape[0]}x{in_shape[1]} image to nothing")
        fan_in = c_in * height * width
        bound = 1 / math.sqrt(fan_in)
        self.head = nn.Parameter(torch.stack([_uniform((fan_in, n_classes), bound, g) for g in per_model]))
        self.head_bias = nn.Parameter(torch.stack([_uniform((1, n_classes), bound, g) for g in per_model]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (S, B, C, H, W) or shared (B, C, H, W) -> logits (S, B, classes)."""
        if x.dim() == 4:
            x = x.unsqueeze(0).expand(self.s, *x.shape)
        s, b = x.shape[:2]
        h = x.transpose(0, 1).reshape(b, -1, *x.shape[-2:])  # (B, S*C, H, W)
        for w, bias in zip(self.convs, self.conv_biases):
            h = F.max_pool2d(F.relu(F.conv2d(h, w, bias, padding=1, groups=s)), 2)
        h = h.reshape(b, s, -1).transpose(0, 1)  # (S, B, features)
        return torch.matmul(h, self.head) + self.head_bias


def build(spec: dict, runs: list[int], seed: int, in_shape: tuple[int, int, int], n_classes: int,
          arch: str = "*", device: str | torch.device = "cpu") -> nn.Module:
    """The stacked models of runs ``runs`` of splits seed ``seed`` for one architecture spec
    (``feldman.architectures.<arch>``; keys it lacks take the schema's defaults, its init_seed seeds too),
    on ``device``. ``in_shape`` is (H, W, C), the shape of the data's images. Initial weights are drawn
    on the CPU, so they do not depend on the device."""
    spec = spec_defaults("feldman.architectures.*", spec, where=f"feldman.architectures.{arch}")
    if spec["kind"] == "mlp":
        model = StackedMLP(runs, seed, in_shape, n_classes, list(spec["hidden"]), spec["init_seed"])
    elif spec["kind"] == "cnn":
        model = StackedCNN(runs, seed, in_shape, n_classes, list(spec["channels"]), spec["init_seed"],
                           key=f"feldman.architectures.{arch}.channels")
    elif spec["kind"] == "module":
        # stream 0, as the mlp and cnn initial weights: a copy's weights depend only on its run
        seeds = [run_torch_seed(seed, run, 0, spec["init_seed"]) for run in runs]
        model = module_stack.build(spec["factory"], seeds, in_shape, n_classes, arch, device)
    else:
        raise PipelineError(f"config key feldman.architectures.{arch}.kind: unknown model kind {spec['kind']!r}")
    return model.to(device)


def plain_model(stacked: nn.Module, s: int) -> nn.Sequential:
    """An ordinary nn.Sequential holding a copy of model ``s`` of a stacked module."""
    layers: list[nn.Module] = []
    with torch.no_grad():
        if isinstance(stacked, StackedMLP):
            layers.append(nn.Flatten())
            for layer, (w, b) in enumerate(zip(stacked.weights, stacked.biases)):
                linear = nn.Linear(w.shape[1], w.shape[2])
                linear.weight.copy_(w[s].T)
                linear.bias.copy_(b[s, 0])
                layers.append(linear)
                if layer < len(stacked.weights) - 1:
                    layers.append(nn.ReLU())
            return nn.Sequential(*layers)
        for w, bias in zip(stacked.convs, stacked.conv_biases):
            c_out = w.shape[0] // stacked.s
            conv = nn.Conv2d(w.shape[1], c_out, 3, padding=1)
            conv.weight.copy_(w[s * c_out:(s + 1) * c_out])
            conv.bias.copy_(bias[s * c_out:(s + 1) * c_out])
            layers += [conv, nn.ReLU(), nn.MaxPool2d(2)]
        linear = nn.Linear(stacked.head.shape[1], stacked.head.shape[2])
        linear.weight.copy_(stacked.head[s].T)
        linear.bias.copy_(stacked.head_bias[s, 0])
        return nn.Sequential(*layers, nn.Flatten(), linear)
