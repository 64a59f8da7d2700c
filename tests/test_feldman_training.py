"""Real (tiny) training of subset classifiers: the stacked models train exactly like separate ones,
runs do not depend on the shard they land in, a killed job resumes to the same result, and the
estimates find what Feldman & Zhang report: flipped labels are memorized, and a test copy of a
memorized training image is influenced by it."""

import logging

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from pipeline import checkpoints, io
from pipeline.data import embedded
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.feldman import models, stacking
from pipeline.feldman.estimate import estimate, influence_blocks
from pipeline.feldman.runs import read_runs
from pipeline.feldman.train_shard import (TrainingRecord, batch_order, evaluate, full_spec, lr_at, steps_per_epoch,
                                         train_plain, train_shard, train_stacked)
from pipeline.splits import subset_masks, subsets_table

N_TRAIN, N_TEST, N_FLIP, N_COPY = 400, 100, 20, 6


@pytest.fixture(scope="module")
def flipped_dataset(tmp_path_factory):
    """MNIST digits: N_FLIP training labels changed to another class; the test split holds N_TEST
    clean images plus exact copies (with the same flipped label) of the first N_COPY flipped ones."""
    images, labels = embedded.mnist5k()
    rng = np.random.default_rng(0)
    pick = rng.permutation(len(images))[: N_TRAIN + N_TEST]
    train_x, train_y = images[pick[:N_TRAIN]], labels[pick[:N_TRAIN]].copy()
    flipped = rng.choice(N_TRAIN, N_FLIP, replace=False)
    train_y[flipped] = (train_y[flipped] + rng.integers(1, 10, N_FLIP)) % 10
    test_x = np.concatenate([images[pick[N_TRAIN:]], train_x[flipped[:N_COPY]]])
    test_y = np.concatenate([labels[pick[N_TRAIN:]], train_y[flipped[:N_COPY]]])
    split = ["train"] * N_TRAIN + ["test"] * len(test_y)
    data = Dataset.from_arrays(np.concatenate([train_x, test_x]), np.concatenate([train_y, test_y]), split, "mnist")
    root = tmp_path_factory.mktemp("flipped")
    data.save(root / "data")
    return root, flipped


def write_subsets(root, runs, seed=0):
    path = root / f"subsets{runs}.parquet"
    io.write_parquet(subsets_table(subset_masks(N_TRAIN, runs, 0.7, seed), seed), path)
    return path


@pytest.mark.parametrize("spec", [{"kind": "mlp", "hidden": [32, 16]}, {"kind": "cnn", "channels": [3, 4]}])
def test_stacked_models_train_exactly_like_separate_models(spec):
    torch.manual_seed(0)
    x, y = torch.rand(120, 1, 8, 8), torch.randint(0, 10, (120,))
    runs = [3, 4, 5]
    members = subset_masks(120, 6, 0.7, 0)[runs]
    spec = full_spec({**spec, "epochs": 2, "batch_size": 16})
    stacked = models.build(spec, runs, 0, (8, 8, 1), 10)
    plain = [models.plain_model(stacked, s) for s in range(3)]
    train_stacked(stacked, x, y, members, runs, 0, spec)
    for s, run in enumerate(runs):
        train_plain(plain[s], x, y, members[s], run, 0, spec)
        torch.testing.assert_close(stacked(x)[s], plain[s](x), rtol=1e-4, atol=1e-5)
    # a model's weights moved, and differently from its neighbours'
    assert not torch.allclose(stacked(x)[0], stacked(x)[1])


def test_per_epoch_training_correctness_counts_what_each_steps_forward_pass_got_right():
    """train_epoch_correct against a transcription: each plain model trained alone, its logits of every
    batch checked before the step; margins against the label's logit minus the largest other."""
    torch.manual_seed(0)
    x = torch.rand(90, 1, 6, 6)
    y = x.flatten(1)[:, :4].argmax(1)  # learnable: the brightest of the first four pixels
    runs = [0, 1, 2]
    members = subset_masks(90, 3, 0.7, 0)
    spec = full_spec({"kind": "mlp", "hidden": [16], "epochs": 4, "batch_size": 16, "lr": 0.5})
    stacked = models.build(spec, runs, 0, (6, 6, 1), 4)
    plain = [models.plain_model(stacked, s) for s in range(len(runs))]
    record = TrainingRecord.zeros(len(runs), len(y), "cpu")
    train_stacked(stacked, x, y, members, runs, 0, spec, record=record)
    counts = record.epoch_correct
    for s, run in enumerate(runs):
        expected = np.zeros(len(y), dtype=np.uint8)
        cum_loss = np.zeros(len(y), dtype=np.float64)
        n_steps = steps_per_epoch(int(members[s].sum()), spec["batch_size"])
        opt = torch.optim.SGD(plain[s].parameters(), lr=spec["lr"], momentum=spec["momentum"])
        for epoch in range(spec["epochs"]):
            order = batch_order(members[s], 0, run, epoch, spec["init_seed"])
            for k in range(n_steps):
                batch = order[k * spec["batch_size"]:(k + 1) * spec["batch_size"]]
                logits = plain[s](x[batch])
                expected[batch] += (logits.argmax(-1) == y[batch]).numpy().astype(np.uint8)
                # the cumulative sample loss in float64: -log softmax of the label, before the step
                log_p = torch.log_softmax(logits.detach().double(), -1)
                cum_loss[batch] -= log_p[torch.arange(len(batch)), y[batch]].numpy()
                for group in opt.param_groups:
                    group["lr"] = lr_at(spec, epoch * n_steps + k, spec["epochs"] * n_steps)
                opt.zero_grad()
                torch.nn.functional.cross_entropy(logits, y[batch]).backward()
                opt.step()
        np.testing.assert_array_equal(counts[s].numpy(), expected)
        np.testing.assert_allclose(record.cum_loss[s].numpy(), cum_loss, rtol=1e-5, atol=1e-5)
        assert (cum_loss[~members[s]] == 0).all() and cum_loss[members[s]].min() > 0
        assert (expected[~members[s]] == 0).all() and expected.max() >= 2
        assert 0 < expected[members[s]].mean() < spec["epochs"]  # some epochs right, some wrong
    records = evaluate(stacked, x, y, 32)
    correct, margin, logit_conf = records["correct"], records["margin"], records["logit_conf"]
    logits = stacked(x).detach().double()
    true = logits[:, torch.arange(len(y)), y]
    other = logits.clone()
    other[:, torch.arange(len(y)), y] = -np.inf
    assert margin.dtype == np.float32 and logit_conf.dtype == np.float32
    np.testing.assert_allclose(margin, (true - other.max(-1).values).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(correct, (logits.argmax(-1) == y).numpy())
    assert ((margin > 0) == correct).all()
    # LiRA's statistic log(p / (1 - p)) from the softmax probability p of the label, in float64
    p = torch.softmax(logits, -1)[:, torch.arange(len(y)), y].numpy()
    np.testing.assert_allclose(logit_conf, np.log(p) - np.log1p(-p), rtol=1e-4, atol=1e-4)
    classes = logits.shape[-1]
    assert (logit_conf <= margin + 1e-5).all() and (margin <= logit_conf + np.log(classes - 1) + 1e-5).all()


def test_shard_table_keeps_margins_and_epoch_counts(flipped_dataset, tmp_path):
    root, _ = flipped_dataset
    subsets = write_subsets(root, 2)
    train_shard(root / "data", subsets, 0, 2, "mlp", {"kind": "mlp", "hidden": [16], "epochs": 3}, 0, "cpu",
                tmp_path / "s.parquet")
    table = io.read_parquet(tmp_path / "s.parquet")
    schema = pq.read_schema(tmp_path / "s.parquet")
    assert str(schema.field("train_margin").type) == "list<element: float>"
    assert str(schema.field("train_logit_conf").type) == "list<element: float>"
    assert str(schema.field("train_epoch_correct").type) == "list<element: uint8>"
    assert str(schema.field("train_cum_loss").type) == "list<element: float>"
    assert str(schema.field("epochs").type) == "int32"
    member, counts = np.stack(table["member"]), np.stack(table["train_epoch_correct"])
    assert (table["epochs"] == 3).all() and (counts[~member] == 0).all() and counts.max() == 3
    cum_loss = np.stack(table["train_cum_loss"])
    assert (cum_loss[~member] == 0).all() and (cum_loss[member] > 0).all()
    assert np.stack(table["train_margin"]).shape == member.shape == np.stack(table["train_logit_conf"]).shape
    assert (np.stack(table["train_logit_conf"]) <= np.stack(table["train_margin"]) + 1e-5).all()
    assert len(table["test_margin"].iloc[0]) == len(table["test_correct"].iloc[0])
    for side in ["train", "test"]:
        np.testing.assert_array_equal(np.stack(table[f"{side}_margin"]) > 0, np.stack(table[f"{side}_correct"]))
    with pytest.raises(PipelineError, match=r"^config key feldman.architectures.mlp.epochs: 256 is more than 255"):
        train_shard(root / "data", subsets, 0, 2, "mlp", {"kind": "mlp", "epochs": 256}, 0, "cpu",
                    tmp_path / "t.parquet")


def test_runs_do_not_depend_on_the_shard_and_resume_gives_the_same_models(flipped_dataset, tmp_path):
    root, _ = flipped_dataset
    subsets = write_subsets(root, 4)
    spec = {"kind": "mlp", "hidden": [16], "epochs": 2}
    train_shard(root / "data", subsets, 0, 4, "mlp", spec, 0, "cpu", tmp_path / "all.parquet")
    train_shard(root / "data", subsets, 1, 2, "mlp", spec, 0, "cpu", tmp_path / "half.parquet",
                save_models=tmp_path / "half.pt")
    saved_models = torch.load(tmp_path / "half.pt", weights_only=False)
    assert saved_models["key"]["runs"] == [2, 3] and not (tmp_path / "half.parquet.resume.pt").exists()
    whole, half = io.read_parquet(tmp_path / "all.parquet"), io.read_parquet(tmp_path / "half.parquet")
    assert half["run"].tolist() == [2, 3]
    for col in ["member", "train_correct", "test_correct"]:
        for a, b in zip(whole[col].iloc[2:], half[col]):
            np.testing.assert_array_equal(a, b)
    # resume: stop after epoch 1, go on from the saved state, compare with an uninterrupted run
    x, y = torch.rand(60, 1, 6, 6), torch.randint(0, 10, (60,))
    members = subset_masks(60, 2, 0.7, 0)
    full = full_spec({"kind": "mlp", "hidden": [8], "epochs": 2, "batch_size": 8})
    straight = models.build(full, [0, 1], 0, (6, 6, 1), 10)
    train_stacked(straight, x, y, members, [0, 1], 0, full)
    saved = {}

    def stop_after_first(epoch, model, opt):
        saved.update(epoch=epoch, model=model.state_dict(), optimizer=opt.state_dict())
        raise KeyboardInterrupt

    killed = models.build(full, [0, 1], 0, (6, 6, 1), 10)
    with pytest.raises(KeyboardInterrupt):
        train_stacked(killed, x, y, members, [0, 1], 0, full, on_epoch=stop_after_first)
    resumed = models.build(full, [0, 1], 0, (6, 6, 1), 10)
    train_stacked(resumed, x, y, members, [0, 1], 0, full, state=saved)
    torch.testing.assert_close(resumed(x), straight(x))


def test_killed_shard_job_resumes_from_its_checkpoint_and_ignores_one_of_other_subsets(flipped_dataset, tmp_path,
                                                                                      monkeypatch, caplog):
    """A job killed right after its first checkpoint (``<out>.resume.pt``, epoch 1) resumes from it
    to the uninterrupted job's table; a checkpoint written for other subsets at the same path is
    ignored and the job trains afresh."""
    root, _ = flipped_dataset
    spec = {"kind": "mlp", "hidden": [16], "epochs": 3}
    subsets = tmp_path / "subsets.parquet"
    io.write_parquet(subsets_table(subset_masks(N_TRAIN, 2, 0.7, 0), 0), subsets)
    train_shard(root / "data", subsets, 0, 2, "mlp", spec, 0, "cpu", tmp_path / "straight.parquet")
    straight = io.read_parquet(tmp_path / "straight.parquet")
    real_save = checkpoints.Checkpoint.save

    def save_then_die(self, payload):
        real_save(self, payload)
        raise KeyboardInterrupt

    def killed_after_first_checkpoint(out):
        with monkeypatch.context() as patch:
            patch.setattr(checkpoints.Checkpoint, "save", save_then_die)
            with pytest.raises(KeyboardInterrupt):
                train_shard(root / "data", subsets, 0, 2, "mlp", spec, 0, "cpu", out)
        saved = torch.load(checkpoints.resume_path(out), weights_only=False)
        assert saved["epoch"] == 1 and saved["done"] == [] and saved["stack_size"] == 2

    out = tmp_path / "killed.parquet"
    killed_after_first_checkpoint(out)
    with caplog.at_level(logging.INFO, logger="pipeline"):
        train_shard(root / "data", subsets, 0, 2, "mlp", spec, 0, "cpu", out)
    assert f"resuming from {out}.resume.pt: 0 stack(s) done, current stack after epoch 1" in caplog.text
    pd.testing.assert_frame_equal(io.read_parquet(out), straight)
    assert not checkpoints.resume_path(out).exists()

    # other subsets at the same path: the checkpoint is stale
    io.write_parquet(subsets_table(subset_masks(N_TRAIN, 2, 0.7, 1), 0), subsets)
    out = tmp_path / "stale.parquet"
    killed_after_first_checkpoint(out)
    io.write_parquet(subsets_table(subset_masks(N_TRAIN, 2, 0.7, 0), 0), subsets)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pipeline"):
        train_shard(root / "data", subsets, 0, 2, "mlp", spec, 0, "cpu", out)
    assert f"ignoring {out}.resume.pt: written for other settings or data" in caplog.text
    assert "resuming" not in caplog.text
    pd.testing.assert_frame_equal(io.read_parquet(out), straight)


def test_a_job_killed_between_stacks_resumes_with_the_finished_stacks_records(flipped_dataset, tmp_path,
                                                                                monkeypatch, caplog):
    """shard_size auto with one model per stack: the checkpoint written after the first stack holds its
    records (margins and per-epoch counts too), and the resumed job's table equals an uninterrupted one."""
    root, _ = flipped_dataset
    monkeypatch.setattr(stacking, "auto_stack_size", lambda footprint, free, n_runs: 1)
    subsets = write_subsets(root, 2)
    spec = {"kind": "mlp", "hidden": [16], "epochs": 2}
    train_shard(root / "data", subsets, 0, "auto", "mlp", spec, 0, "cpu", tmp_path / "straight.parquet")
    real_save = checkpoints.Checkpoint.save

    def die_after_first_stack(self, payload):
        real_save(self, payload)
        if payload["done"]:
            raise KeyboardInterrupt

    out = tmp_path / "killed.parquet"
    with monkeypatch.context() as patch:
        patch.setattr(checkpoints.Checkpoint, "save", die_after_first_stack)
        with pytest.raises(KeyboardInterrupt):
            train_shard(root / "data", subsets, 0, "auto", "mlp", spec, 0, "cpu", out)
    saved = torch.load(checkpoints.resume_path(out), weights_only=False)
    assert len(saved["done"]) == 1 and saved["model"] is None
    assert set(saved["done"][0]) == {"train_correct", "test_correct", "train_margin", "test_margin",
                                     "train_logit_conf", "train_epoch_correct", "train_cum_loss"}
    with caplog.at_level(logging.INFO, logger="pipeline"):
        train_shard(root / "data", subsets, 0, "auto", "mlp", spec, 0, "cpu", out)
    assert f"resuming from {out}.resume.pt: 1 stack(s) done" in caplog.text
    pd.testing.assert_frame_equal(io.read_parquet(out), io.read_parquet(tmp_path / "straight.parquet"))


def test_flipped_labels_are_memorized_and_test_copies_are_influenced(flipped_dataset, tmp_path):
    root, flipped = flipped_dataset
    runs = 32
    subsets = write_subsets(root, runs)
    spec = {"kind": "mlp", "hidden": [64], "epochs": 10, "batch_size": 32, "lr": 0.05}
    shards = [tmp_path / f"shard{k}.parquet" for k in range(2)]
    for k, path in enumerate(shards):
        train_shard(root / "data", subsets, k, runs // 2, "mlp", spec, 0, "cpu", path)
    estimate(shards, root / "data", 0.25, 0.15, 1.0, tmp_path / "mem.parquet", tmp_path / "pairs.parquet",
             tmp_path / "chance.parquet")
    mem = io.read_parquet(tmp_path / "mem.parquet")
    is_flipped = np.isin(np.arange(N_TRAIN), flipped)
    assert mem["n_in"].min() > 0 and mem["n_out"].min() > 0 and (mem["n_in"] + mem["n_out"] == runs).all()
    mem_flipped, mem_clean = mem["mem"][is_flipped].mean(), mem["mem"][~is_flipped].mean()
    # (clean examples are memorized too when only 280 are seen: many MNIST digits are atypical)
    assert mem_flipped > 0.6 and mem_clean < 0.35 and mem_flipped - mem_clean > 0.5, (mem_flipped, mem_clean)
    # nearly every flipped example is memorized; most clean ones are not
    high = mem["mem"].to_numpy() >= 0.5
    assert high[is_flipped].mean() >= 0.9 and high[~is_flipped].mean() < 0.3, (high[is_flipped].mean(),
                                                                               high[~is_flipped].mean())

    pairs = io.read_parquet(tmp_path / "pairs.parquet")
    recorded = read_runs(shards, scores=False)
    member, test_correct = recorded.member, recorded.test_correct
    infl = np.concatenate([block for _, block, _ in influence_blocks(member, test_correct, block=64)])
    memorized_copies = 0
    for k, i in enumerate(flipped[:N_COPY]):
        j = N_TEST + k  # test position of the copy of training example i
        # every model answers the same on the copy as on the original, so infl(i, copy) = mem_i exactly
        assert infl[i, j] == pytest.approx(mem["mem"][i])
        if mem["mem"][i] < 0.5:
            continue
        memorized_copies += 1
        others = np.delete(infl[:, j], i)
        # its source is by far the most influential training example (others: noise of t = 32 runs)
        assert np.nanargmax(infl[:, j]) == i and infl[i, j] - np.quantile(others, 0.99) > 0.2
        row = pairs[(pairs["train_index"] == i) & (pairs["test_index"] == N_TRAIN + j)]
        assert len(row) == 1 and row["infl"].iloc[0] == pytest.approx(infl[i, j])
        # and it is far from what noise gives: a large z, a small p-value
        assert row["z"].iloc[0] > 3 and row["p_value"].iloc[0] < 1e-3, row
    assert memorized_copies >= N_COPY - 2
    assert set(pairs["train_index"]) <= set(np.flatnonzero(mem["mem"] >= 0.25))
    assert pd.api.types.is_integer_dtype(pairs["test_label"]) and (pairs["infl"] >= 0.15).all()
    chance = io.read_parquet(tmp_path / "chance.parquet").iloc[0]
    assert chance["n_selected"] == chance["n_threshold"] == len(pairs) and chance["runs"] == runs
    assert 0 < chance["expected_selected"] == chance["expected_threshold"] < chance["n_candidate_pairs"]


def test_bad_input_names_the_key_or_file(flipped_dataset, tmp_path):
    from pipeline.errors import PipelineError

    with pytest.raises(PipelineError, match="feldman.architectures"):
        full_spec({"kind": "resnet"})
    root, _ = flipped_dataset
    wrong = tmp_path / "subsets.parquet"
    io.write_parquet(subsets_table(subset_masks(N_TRAIN + 1, 2, 0.7, 0), 0), wrong)
    with pytest.raises(PipelineError, match="subsets.parquet"):
        train_shard(root / "data", wrong, 0, 2, "mlp", {"kind": "mlp"}, 0, "cpu", tmp_path / "x.parquet")
    with pytest.raises(PipelineError, match="splits.feldman.runs"):
        train_shard(root / "data", write_subsets(root, 2), 5, 2, "mlp", {"kind": "mlp"}, 0, "cpu", tmp_path / "x.parquet")
    no_test = Dataset.load(root / "data")
    no_test.table = no_test.table.assign(split=no_test.table["split"].replace("test", "valid"))
    no_test.save(tmp_path / "no_test")
    with pytest.raises(PipelineError, match="no_test: no test examples; feldman.datasets needs a data set with a test"):
        train_shard(tmp_path / "no_test", write_subsets(root, 2), 0, 2, "mlp", {"kind": "mlp"}, 0, "cpu",
                    tmp_path / "x.parquet")
    one_class = Dataset.load(root / "data")
    one_class.table = one_class.table.assign(label=0)
    one_class.save(tmp_path / "one_class")
    with pytest.raises(PipelineError, match="one_class: every training example has label 0; feldman.datasets needs"):
        train_shard(tmp_path / "one_class", write_subsets(root, 2), 0, 2, "mlp", {"kind": "mlp"}, 0, "cpu",
                    tmp_path / "x.parquet")


def test_a_diverging_model_stops_the_job_instead_of_entering_the_estimates():
    from pipeline.errors import PipelineError

    x, y = torch.rand(64, 1, 8, 8), torch.randint(0, 10, (64,))
    spec = full_spec({"kind": "mlp", "hidden": [16], "epochs": 3, "batch_size": 16, "lr": 1e30})
    stacked = models.build(spec, [0, 1], 0, (8, 8, 1), 10)
    with pytest.raises(PipelineError, match=r"feldman.architectures.big_lr: training loss is nan for runs 0..1 after "
                                            r"epoch 1; the training diverged: lower its lr"):
        train_stacked(stacked, x, y, subset_masks(64, 2, 0.7, 0), [0, 1], 0, spec, arch="big_lr")
    spec = full_spec({**spec, "lr": 0.1})
    train_stacked(models.build(spec, [0, 1], 0, (8, 8, 1), 10), x, y, subset_masks(64, 2, 0.7, 0), [0, 1], 0, spec)


def test_auto_shard_trains_every_run_in_stacks_and_matches_fixed_shards(flipped_dataset, tmp_path, monkeypatch):
    """shard_size auto: one job, stacks sized from free memory; a run's result does not depend on it."""
    from pipeline.feldman import stacking, train_shard as module

    root, _ = flipped_dataset
    subsets = write_subsets(root, 5)
    spec = {"kind": "mlp", "hidden": [16], "epochs": 2}
    train_shard(root / "data", subsets, 0, 5, "mlp", spec, 0, "cpu", tmp_path / "fixed.parquet")
    footprint = stacking.model_footprint_bytes(full_spec(spec), (28, 28, 1), 10, 100)
    # free memory for two models at a time: stacks of 2, 2 and 1
    monkeypatch.setattr(module, "free_memory_bytes", lambda device: int(2.5 * footprint / stacking.MEMORY_FRACTION))
    train_shard(root / "data", subsets, 0, "auto", "mlp", spec, 0, "cpu", tmp_path / "auto.parquet")
    fixed, auto = io.read_parquet(tmp_path / "fixed.parquet"), io.read_parquet(tmp_path / "auto.parquet")
    assert auto["run"].tolist() == [0, 1, 2, 3, 4]
    for col in ["member", "train_correct", "test_correct"]:
        for a, b in zip(fixed[col], auto[col]):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(module.PipelineError, match="only shard 0"):
        train_shard(root / "data", subsets, 1, "auto", "mlp", spec, 0, "cpu", tmp_path / "x.parquet")


def test_footprint_grows_with_the_model_and_the_batch():
    from pipeline.feldman import stacking

    small = stacking.model_footprint_bytes(full_spec({"kind": "mlp", "hidden": [16]}), (28, 28, 1), 10, 0)
    wide = stacking.model_footprint_bytes(full_spec({"kind": "mlp", "hidden": [512, 256]}), (28, 28, 1), 10, 0)
    # 784-512-256-10: 535,818 weights, three float32 copies, plus a batch of 128 activations twice
    assert 3 * 535_818 * 4 < wide < 3 * 535_818 * 4 + 2 * 128 * 8 * (784 + 2 * 512 + 2 * 256 + 10) * 4
    assert small < wide
    # the training record: a uint8 count and a float32 summed loss per training example
    assert stacking.model_footprint_bytes(full_spec({"kind": "mlp", "hidden": [16]}), (28, 28, 1), 10,
                                          60_000) == small + 5 * 60_000
    cnn = stacking.model_footprint_bytes(full_spec({"kind": "cnn", "channels": [8]}), (8, 8, 1), 10, 0)
    assert cnn > 0
    assert stacking.auto_stack_size(wide, 80 * 10**9, 4000) > 1000  # an 80 GB GPU holds thousands
    assert stacking.auto_stack_size(wide, 10**6, 4000) == 1
