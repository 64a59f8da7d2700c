"""Architecture kind ``module``: a researcher's own nn.Module (``factory: "package.module:callable"``)
trained S copies at a time with torch.func. Stacked copies train exactly like copies trained one by
one with the same seeds; a module vmap cannot run trains in a loop to the same models, with one
warning; BatchNorm keeps per-copy running statistics and evaluates with them; a bad factory stops
with one line naming its config key; torchvision's ResNet-18 trains stacked."""

import copy
import logging

import numpy as np
import pytest
import torch

from conftest import tiny_config
from pipeline import io, paths
from pipeline.config import validate_config
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.feldman import models, module_stack, stacking
from pipeline.feldman.train_shard import evaluate, full_spec, train_plain, train_shard, train_stacked
from pipeline.splits import subset_masks, subsets_table

MLP = "feldman_factories:tiny_mlp"
CHECKED_MLP = "feldman_factories:checked_mlp"  # the same MLP with data-dependent control flow
BN_CNN = "feldman_factories:bn_cnn"


def module_spec(factory: str, **keys) -> dict:
    return full_spec({"kind": "module", "factory": factory, "epochs": 2, "batch_size": 16, **keys})


def separate_copies(factory, runs, image_shape, n_classes=10, seed=0, init_seed=0):
    """The copies of ``runs`` as ordinary modules, each seeded as the shard seeds it."""
    seeds = [models.run_torch_seed(seed, run, 0, init_seed) for run in runs]
    return module_stack.copies(factory, seeds, image_shape, n_classes)


def assert_same_state(stack, s, plain, rtol=1e-4, atol=1e-5):
    state = plain.state_dict()
    member = stack.member_state(s)
    assert set(member) == set(state)
    for name, value in state.items():
        torch.testing.assert_close(member[name], value, rtol=rtol, atol=atol, msg=name)


def train_separately(factory, runs, x, y, members, spec):
    plain = [m.to(x.device) for m in separate_copies(factory, runs, tuple(x.shape[2:]) + (x.shape[1],))]
    for s, run in enumerate(runs):
        train_plain(plain[s], x, y, members[s], run, 0, spec)
    return plain


def test_stacked_copies_train_exactly_like_separate_copies():
    torch.manual_seed(0)
    x, y = torch.rand(120, 1, 8, 8), torch.randint(0, 10, (120,))
    runs = [3, 4, 5]
    members = subset_masks(120, 6, 0.7, 0)[runs]
    spec = module_spec(MLP)
    stack = models.build(spec, runs, 0, (8, 8, 1), 10)
    assert isinstance(stack, module_stack.StackedModule)
    # a copy's initial weights depend on its run alone, not on the shard
    alone = models.build(spec, [4], 0, (8, 8, 1), 10)
    for name, value in alone.member_state(0).items():
        torch.testing.assert_close(stack.member_state(1)[name], value, rtol=0, atol=0)
    before = {name: value.clone() for name, value in stack.member_state(0).items()}
    train_stacked(stack, x, y, members, runs, 0, spec)
    plain = train_separately(MLP, runs, x, y, members, spec)
    for s in range(len(runs)):
        assert_same_state(stack, s, plain[s])
    stacked_ok = evaluate(stack, x, y, 50)["correct"]
    for s in range(len(runs)):
        plain_ok = (plain[s](x).argmax(-1) == y).numpy()
        np.testing.assert_array_equal(stacked_ok[s], plain_ok)
    # the weights moved, and differently for each copy
    assert not torch.allclose(stack.member_state(0)["body.1.weight"], before["body.1.weight"])
    assert not torch.allclose(stack(x)[0], stack(x)[1])


def test_auto_shard_size_measures_a_module_like_the_same_hand_stacked_mlp():
    """feldman.shard_size auto sizes stacks by one model's measured footprint: TinyMLP (8x8 -> 16 -> 10)
    as kind module needs what kind mlp with hidden [16] needs."""
    module = stacking.model_footprint_bytes(module_spec(MLP), (8, 8, 1), 10, 100)
    assert module == stacking.model_footprint_bytes(full_spec({"kind": "mlp", "hidden": [16], "batch_size": 16}),
                                                    (8, 8, 1), 10, 100)
    assert module > 0


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """60 training and 20 test random 8x8 grey images of 10 classes, and 4 subsets of 70 %."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (80, 8, 8, 1), dtype=np.uint8)
    labels = np.concatenate([np.arange(10), rng.integers(0, 10, 70)])
    root = tmp_path_factory.mktemp("module_data")
    Dataset.from_arrays(images, labels, ["train"] * 60 + ["test"] * 20, "random").save(root / "data")
    io.write_parquet(subsets_table(subset_masks(60, 4, 0.7, 0), 0), root / "subsets.parquet")
    return root


def test_module_vmap_cannot_run_trains_in_a_loop_to_the_same_models(tiny_data, tmp_path, caplog):
    """CheckedMLP (``if not torch.isfinite(x).all()``) is TinyMLP with control flow on a tensor: its shard
    warns once, trains in a loop, and gets TinyMLP's stacked shard's models and tables."""
    torch.manual_seed(0)
    x, y = torch.rand(60, 1, 8, 8), torch.randint(0, 10, (60,))
    runs = [0, 1]
    members = subset_masks(60, 2, 0.7, 0)
    spec = module_spec(MLP)
    stacked = models.build(spec, runs, 0, (8, 8, 1), 10)
    looped = models.build(module_spec(CHECKED_MLP), runs, 0, (8, 8, 1), 10)
    assert isinstance(stacked, module_stack.StackedModule) and isinstance(looped, module_stack.ModuleLoop)
    train_stacked(stacked, x, y, members, runs, 0, spec)
    train_stacked(looped, x, y, members, runs, 0, spec)
    plain = train_separately(MLP, runs, x, y, members, spec)
    for s in range(len(runs)):
        assert_same_state(stacked, s, looped.copies[s])
        assert_same_state(stacked, s, plain[s])

    tables = {}
    for arch, factory in [("mine", MLP), ("mine_checked", CHECKED_MLP)]:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="pipeline"):
            train_shard(tiny_data / "data", tiny_data / "subsets.parquet", 1, 2, arch,
                        {"kind": "module", "factory": factory, "epochs": 2, "batch_size": 16}, 0, "cpu",
                        tmp_path / f"{arch}.parquet", precision="float32")  # bf16 rounds the two paths apart
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        tables[arch] = io.read_parquet(tmp_path / f"{arch}.parquet")
        if arch == "mine":
            assert warnings == []
        else:
            assert len(warnings) == 1 and "\n" not in warnings[0]
            assert warnings[0].startswith("architecture mine_checked: torch.func.vmap cannot run its module")
            assert "data-dependent control flow" in warnings[0]
    assert tables["mine"]["run"].tolist() == [2, 3]
    # both the vmapped stack and the loop record margins and per-epoch correctness, alike
    for column in ["member", "train_correct", "test_correct", "train_epoch_correct", "epochs"]:
        for a, b in zip(tables["mine"][column], tables["mine_checked"][column]):
            np.testing.assert_array_equal(a, b)
    for column in ["train_margin", "test_margin", "train_logit_conf"]:
        for a, b in zip(tables["mine"][column], tables["mine_checked"][column]):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    assert (tables["mine"]["epochs"] == 2).all()
    assert np.stack(tables["mine"]["train_epoch_correct"]).max() == 2


def test_a_class_defined_inside_the_factory_is_why_its_copies_train_in_a_loop():
    reason = module_stack.vmap_failure("feldman_factories:local_class_mlp", (8, 8, 1), 10, "mine")
    assert reason == ("each call of feldman_factories:local_class_mlp defines a new class "
                      "local_class_mlp.<locals>.LocalMLP; define it at module level to train the copies at once")
    assert module_stack.vmap_failure(MLP, (8, 8, 1), 10, "mine") is None
    looped = models.build(module_spec("feldman_factories:local_class_mlp"), [0, 1], 0, (8, 8, 1), 10)
    assert isinstance(looped, module_stack.ModuleLoop)


def test_batchnorm_copies_keep_their_own_running_statistics_and_evaluate_with_them():
    torch.manual_seed(0)
    x, y = torch.rand(90, 3, 8, 8), torch.randint(0, 10, (90,))
    runs = [0, 1, 2]
    members = subset_masks(90, 3, 0.7, 0)
    spec = module_spec(BN_CNN, epochs=2, lr=0.05)
    stack = models.build(spec, runs, 0, (8, 8, 3), 10)
    assert isinstance(stack, module_stack.StackedModule)
    stack.train()
    train_stacked(stack, x, y, members, runs, 0, spec)
    plain = train_separately(BN_CNN, runs, x, y, members, spec)
    steps = spec["epochs"] * -(-int(members[0].sum()) // spec["batch_size"])
    means = []
    for s in range(len(runs)):
        # parameters and running mean, variance and batch count, as the copy trained alone has them
        assert_same_state(stack, s, plain[s])
        assert int(stack.member_state(s)["1.num_batches_tracked"]) == steps
        means.append(stack.member_state(s)["1.running_mean"])
    assert means[0].abs().min() > 0 and not torch.allclose(means[0], means[1])  # moved, each copy its own
    stack.eval()
    for copy_ in plain:
        copy_.eval()
    with torch.no_grad():
        logits = stack(x)
        for s in range(len(runs)):
            torch.testing.assert_close(logits[s], plain[s](x), rtol=1e-4, atol=1e-5)
        # evaluation uses the running statistics: an example's logits do not depend on its batch
        torch.testing.assert_close(stack(x[:5]), logits[:, :5], rtol=1e-5, atol=1e-6)
        # in training mode each copy normalises with its own batch's statistics
        training = copy.deepcopy(stack).train()
        assert not torch.allclose(training(x[:5]), training(x)[:, :5], atol=1e-3)


@pytest.mark.parametrize("factory, message", [
    ("no_such_package_xyz.models:make", "cannot import 'no_such_package_xyz.models' (ModuleNotFoundError"),
    ("feldman_factories:missing", "'feldman_factories' has no callable 'missing'"),
    ("feldman_factories:not_a_module", "feldman_factories:not_a_module returned str, not an nn.Module"),
    ("feldman_factories:wrong_logits", "to (2, 11), not (2, 10) logits"),
    ("feldman_factories", "does not match"),
    (None, "'factory' is a required property"),
])
def test_bad_factory_stops_with_one_line_naming_the_key(tiny_data, tmp_path, factory, message):
    spec = {"kind": "module"} if factory is None else {"kind": "module", "factory": factory}
    with pytest.raises(PipelineError) as err:
        train_shard(tiny_data / "data", tiny_data / "subsets.parquet", 0, 2, "mine", spec, 0, "cpu",
                    tmp_path / "out.parquet")
    text = str(err.value)
    key = "feldman.architectures.mine" if factory is None else "feldman.architectures.mine.factory"
    assert text.startswith(f"config key '{key}'") and message in text and "\n" not in text
    assert not (tmp_path / "out.parquet").exists()


def test_module_architecture_in_the_config_is_checked():
    config = tiny_config("feldman")
    config["feldman"]["architectures"]["resnet"] = {"kind": "module", "factory": "pipeline.feldman.zoo:resnet18_cifar"}
    assert validate_config(copy.deepcopy(config))["feldman"]["architectures"]["resnet"]["epochs"] == 10
    del config["feldman"]["architectures"]["resnet"]["factory"]
    with pytest.raises(PipelineError, match=r"feldman\.architectures\.resnet': 'factory' is a required property"):
        validate_config(config)


@pytest.mark.slow
def test_two_stacked_resnet18_train_like_separate_copies():
    """torchvision's ResNet-18 (``pipeline.feldman.zoo:resnet18_cifar``) on 3x32x32 images, 2 steps.

    In float64: BatchNorm over a batch of 2 amplifies float32 rounding, and the order in which a
    machine's kernels sum (its vector width, its thread count) decides the last digits. One CI
    machine's single-threaded float32 run put a copy's logits 2e-4 from its separate twin, while
    in float64 stacked and separate copies agree to 1e-15 everywhere; a real slip (a copy given
    another's batch or weights) moves logits by the copies' own spread, about 0.3."""
    factory = "pipeline.feldman.zoo:resnet18_cifar"
    torch.set_default_dtype(torch.float64)  # conftest's restore_torch_globals sets it back
    torch.manual_seed(0)
    x, y = torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,))
    runs = [0, 1]
    members = subset_masks(8, 2, 0.5, 0)
    spec = module_spec(factory, epochs=1, batch_size=2, lr=0.01)
    stack = models.build(spec, runs, 0, (32, 32, 3), 10)
    assert isinstance(stack, module_stack.StackedModule)
    train_stacked(stack, x, y, members, runs, 0, spec)
    plain = train_separately(factory, runs, x, y, members, spec)
    stack.eval()
    with torch.no_grad():
        logits = stack(x)
        assert logits.dtype == torch.float64
        for s in range(len(runs)):
            torch.testing.assert_close(logits[s], plain[s].eval()(x), rtol=1e-10, atol=1e-12)
    assert not torch.allclose(logits[0], logits[1])


@pytest.mark.workflow
def test_workflow_dry_run_schedules_the_shards_of_a_module_architecture(workflow_runner):
    config = tiny_config("feldman")
    config["feldman"]["architectures"]["resnet"] = {"kind": "module", "factory": "pipeline.feldman.zoo:resnet18_cifar"}
    out = workflow_runner(config, "-n").stdout
    resnet = paths.FELDMAN_ARCH.format(dataset="digits", arch="resnet")
    for k in range(2):  # 6 runs in shards of 4
        assert f"{resnet}/shards/shard{k}.parquet" in out
    assert f"{resnet}/memorization.parquet" in out
