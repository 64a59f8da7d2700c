"""Architecture kind ``module``: S copies of a researcher's own ``nn.Module``, trained at once with torch.func.

``feldman.architectures.<name>.factory`` is ``"package.module:callable"``; the callable is given the
images' shape and the class count, ``callable(in_shape=(C, H, W), n_classes=K)``, and returns an
``nn.Module`` mapping (B, C, H, W) float images in [0, 1] to (B, K) logits. Copy s is built under
``torch.random.fork_rng`` with ``torch.manual_seed(seed_s)``, seed_s drawn from (split seed, run,
init_seed) as the mlp and cnn kinds draw their initial weights (``models.run_torch_seed``), so a
copy's initial weights depend only on its run, never on the shard that trains it.

``StackedModule`` holds the S copies' parameters and buffers stacked along a new first axis
(``torch.func.stack_module_state``) as its own parameters and buffers, and runs one forward pass of
all S with ``torch.vmap`` over ``torch.func.functional_call`` on one template copy (kept on the
``meta`` device: it only lends its code). Autograd runs through the vmapped forward, so the shard's
ordinary training loop (``train_shard.train_stacked``: summed per-model losses, SGD with momentum on
the stacked parameters, checkpoints) trains it as it trains the mlp and cnn stacks; model s's
gradient comes from model s's loss alone.

BatchNorm. Buffers are stacked like the parameters and passed to ``functional_call`` per model, so
in training mode each copy normalises with the statistics of its own batch and its running mean and
variance (and ``num_batches_tracked``) are updated in place in its own slice of the stacked buffers;
evaluation (``eval()``) uses each copy's running statistics. A copy therefore trains and evaluates
exactly as the same module trained alone in ordinary PyTorch would. (The alternative,
``torch.func.replace_all_batch_norm_modules_``, drops the running statistics, so evaluation would
normalise with the statistics of the evaluation batch and a prediction would depend on the other
examples evaluated with it.)

Fallback. Some modules cannot run under vmap: data-dependent Python control flow (``if x.sum() > 0:``),
``.item()``, random operations such as dropout (vmap runs with ``randomness="error"``). Before
training, ``vmap_failure`` tries one vmapped forward and backward pass of two copies on a tiny batch,
on the device that trains them (vmap's batching rules can differ by device: cuDNN's BatchNorm has its
own); if it fails, ``build`` returns a ``ModuleLoop`` instead, which runs the S ordinary copies one after
another at each step with ordinary autograd; the shard logs one WARNING line naming the architecture
and the reason. Both give the same models (same seeds, batches and optimizer), up to float rounding.
Dropout masks in the loop come from the job's global generator, so, unlike initial weights and batch
order, they depend on the other runs of the shard.
"""

from __future__ import annotations

import copy
import importlib
from functools import lru_cache
from typing import Callable

import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from pipeline.errors import PipelineError

PROBE_EXAMPLES = 2  # examples per copy in the vmap probe (BatchNorm needs more than one in training)


def factory_key(arch: str) -> str:
    return f"config key 'feldman.architectures.{arch}.factory'"


def load_factory(factory: str, arch: str = "*") -> Callable[..., nn.Module]:
    """The callable named by ``"package.module:callable"``; a bad name raises one line naming the key."""
    module_name, _, attr = factory.partition(":")
    if not module_name or not attr:
        raise PipelineError(f"{factory_key(arch)}: '{factory}' is not of the form 'package.module:callable'")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # any failure while importing the researcher's code
        raise PipelineError(f"{factory_key(arch)}: cannot import '{module_name}' "
                            f"({type(err).__name__}: {_first_line(err)})") from err
    made = getattr(module, attr, None)
    if not callable(made):
        raise PipelineError(f"{factory_key(arch)}: '{module_name}' has no callable '{attr}'")
    return made


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def factory_shape(image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """(H, W, C) of the data's images -> the (C, H, W) the factory is given."""
    height, width, channels = (int(v) for v in image_shape)
    return channels, height, width


def copies(factory: str, seeds: list[int], image_shape: tuple[int, int, int], n_classes: int,
           arch: str = "*") -> list[nn.Module]:
    """One module per seed, each built by the factory under its own torch seed (global RNG untouched)."""
    make = load_factory(factory, arch)
    in_shape = factory_shape(image_shape)
    built = []
    for seed in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            try:
                module = make(in_shape=in_shape, n_classes=n_classes)
            except Exception as err:
                raise PipelineError(f"{factory_key(arch)}: {factory}(in_shape={in_shape}, n_classes={n_classes}) "
                                    f"raised {type(err).__name__}: {_first_line(err)}") from err
        if not isinstance(module, nn.Module):
            raise PipelineError(f"{factory_key(arch)}: {factory} returned {type(module).__name__}, not an nn.Module")
        built.append(module)
    return built


def _stored(name: str) -> str:
    """A parameter's name as a key of the stacked dicts (nn.Module names cannot hold dots)."""
    return name.replace(".", ":")


class StackedModule(nn.Module):
    """S copies of one module as stacked parameters and buffers, run at once with torch.vmap."""

    def __init__(self, modules: list[nn.Module]):
        super().__init__()
        params, buffers = stack_module_state(modules)
        self.param_names, self.buffer_names = list(params), list(buffers)
        self.stacked_params = nn.ParameterDict({_stored(n): nn.Parameter(params[n].detach()) for n in params})
        self.stacked_buffers = nn.Module()
        for name in buffers:
            self.stacked_buffers.register_buffer(_stored(name), buffers[name])
        # not a submodule: its parameters are not trained, it only lends functional_call its code
        object.__setattr__(self, "template", copy.deepcopy(modules[0]).to("meta"))
        self.template.train(self.training)

    def train(self, mode: bool = True):
        self.template.train(mode)
        return super().train(mode)

    def _one(self, params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.template, (params, buffers), (x,))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (S, B, C, H, W) or shared (B, C, H, W) -> logits (S, B, classes)."""
        params = {n: self.stacked_params[_stored(n)] for n in self.param_names}
        buffers = {n: getattr(self.stacked_buffers, _stored(n)) for n in self.buffer_names}
        in_x = 0 if x.dim() == 5 else None
        return torch.vmap(self._one, in_dims=(0, 0, in_x), randomness="error")(params, buffers, x)

    def member_state(self, s: int) -> dict[str, torch.Tensor]:
        """Copy s's state dict under the module's own names."""
        state = {n: self.stacked_params[_stored(n)][s] for n in self.param_names}
        state.update({n: getattr(self.stacked_buffers, _stored(n))[s] for n in self.buffer_names})
        return state


class ModuleLoop(nn.Module):
    """The fallback: S ordinary copies run one after another, with the StackedModule's interface."""

    def __init__(self, modules: list[nn.Module]):
        super().__init__()
        self.copies = nn.ModuleList(modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (S, B, C, H, W) or shared (B, C, H, W) -> logits (S, B, classes)."""
        return torch.stack([m(x[s] if x.dim() == 5 else x) for s, m in enumerate(self.copies)])

    def member_state(self, s: int) -> dict[str, torch.Tensor]:
        """Copy s's state dict under the module's own names."""
        return dict(self.copies[s].state_dict())


@lru_cache(maxsize=None)
def vmap_failure(factory: str, image_shape: tuple[int, int, int], n_classes: int, arch: str = "*",
                 device: str | torch.device = "cpu") -> str | None:
    """Why torch.vmap cannot train this module on ``device`` (the error's first line), or None when it can.

    One forward and backward pass of two stacked copies on a tiny random batch in training mode, after
    one plain forward pass of a copy: a module that fails alone, or gives logits of another shape, is
    broken rather than unvmappable, and raises naming the key.
    """
    device = torch.device(device)
    pair = [module.to(device) for module in copies(factory, [0, 1], image_shape, n_classes, arch)]
    x = torch.rand(2, PROBE_EXAMPLES, *factory_shape(image_shape), generator=torch.Generator().manual_seed(0))
    x = x.to(device)
    # a module drawing random numbers leaves the job's streams alone (the CPU's, and the GPU's it runs on)
    gpus = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=gpus):
        try:
            logits = copy.deepcopy(pair[0]).train()(x[0])
        except Exception as err:
            raise PipelineError(f"{factory_key(arch)}: the module of {factory} fails on a batch of shape "
                                f"{tuple(x[0].shape)}: {type(err).__name__}: {_first_line(err)}") from err
        if tuple(logits.shape) != (PROBE_EXAMPLES, n_classes):
            raise PipelineError(f"{factory_key(arch)}: the module of {factory} maps a batch of shape "
                                f"{tuple(x[0].shape)} to {tuple(logits.shape)}, "
                                f"not ({PROBE_EXAMPLES}, {n_classes}) logits")
        if type(pair[0]) is not type(pair[1]):  # torch.func.stack_module_state needs one class
            return (f"each call of {factory} defines a new class {type(pair[0]).__qualname__}; define it at module "
                    f"level to train the copies at once")
        try:
            StackedModule(pair).train()(x).sum().backward()
        except Exception as err:  # whatever vmap rejects
            return f"{type(err).__name__}: {_first_line(err)}"
    return None


def build(factory: str, seeds: list[int], image_shape: tuple[int, int, int], n_classes: int,
          arch: str = "*", device: str | torch.device = "cpu") -> nn.Module:
    """The S copies of seeds ``seeds`` on ``device``, stacked for vmap, or in a loop where vmap cannot
    run them there."""
    image_shape = tuple(int(v) for v in image_shape)
    modules = copies(factory, seeds, image_shape, n_classes, arch)
    stacked = vmap_failure(factory, image_shape, n_classes, arch, device) is None
    return (StackedModule(modules) if stacked else ModuleLoop(modules)).to(device)
