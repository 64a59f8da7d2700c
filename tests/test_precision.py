"""Training precision (config key precision): bf16 autocast trains every kind with float32 weights and
records float32 numbers; auto falls back to float32, saying so once, where bfloat16 is not native."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline import devices, io
from pipeline.data.dataset import Dataset
from pipeline.feldman import train_shard
from pipeline.splits import subset_masks, subsets_table


def test_auto_is_float32_with_one_log_line_where_the_cpu_lacks_native_bf16(monkeypatch, caplog):
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"sse2", "avx2", "avx512f"}))
    with caplog.at_level(logging.INFO, logger="pipeline.devices"):
        assert devices.resolve_precision("auto", torch.device("cpu")) == torch.float32
    lines = [r.getMessage() for r in caplog.records if r.name == "pipeline.devices"]
    assert len(lines) == 1 and "float32" in lines[0] and "no native bfloat16" in lines[0], lines
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert devices.resolve_precision("auto", torch.device("cpu")) == torch.bfloat16
    assert devices.resolve_precision("float32", torch.device("cpu")) == torch.float32  # explicit: as asked
    assert devices.resolve_precision("bf16", torch.device("cpu")) == torch.bfloat16


def test_cpu_flags_are_read_from_the_flags_line():
    flags = devices.cpu_flags()
    assert isinstance(flags, frozenset)
    with open("/proc/cpuinfo") as cpuinfo:
        assert ("avx512_bf16" in cpuinfo.read()) == ("avx512_bf16" in flags)


def shard_job(tmp_path, precision: str) -> pd.DataFrame:
    """A shard of 3 MLPs on 200 8x8 digits, 3 epochs, trained in ``precision``: its table."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images[:260, :, :, None] * 16).clip(0, 255).astype(np.uint8)
    split = np.where(np.arange(260) < 200, "train", "test")
    Dataset.from_arrays(images, digits.target[:260], split, "digits").save(tmp_path / "data")
    subsets = tmp_path / "subsets.parquet"
    io.write_parquet(subsets_table(subset_masks(200, 3, 0.7, 0), 0), subsets)
    out = tmp_path / f"{precision}.parquet"
    spec = {"kind": "mlp", "hidden": [64], "epochs": 3, "batch_size": 16}
    train_shard.train_shard(tmp_path / "data", subsets, 0, 3, "mlp", spec, 0, "cpu", out, precision=precision)
    return io.read_parquet(out)


def test_bf16_training_records_float32_margins_and_confidences(tmp_path):
    bf16, fp32 = shard_job(tmp_path, "bf16"), shard_job(tmp_path, "float32")
    for column in ("train_margin", "test_margin", "train_logit_conf", "train_cum_loss"):
        values = np.stack(bf16[column].to_numpy())
        assert values.dtype == np.float32, column
        # measured in float32, not bfloat16: most values are not bfloat16 numbers (8-bit mantissa)
        as_bf16 = torch.from_numpy(values).bfloat16().float().numpy()
        assert (values != as_bf16).mean() > 0.5, column
    # the two trainings differ (autocast ran), and learned the same task
    assert not np.array_equal(np.stack(bf16["train_margin"]), np.stack(fp32["train_margin"]))
    assert abs(bf16["test_accuracy"].mean() - fp32["test_accuracy"].mean()) < 0.1
    assert bf16["test_accuracy"].mean() > 0.7


@pytest.fixture
def matmul_dtypes():
    """The dtypes every Linear, Conv and ConvTranspose layer returned while the fixture was active."""
    seen = set()

    def record(module, inputs, output):
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            seen.add(output.dtype)

    hook = torch.nn.modules.module.register_module_forward_hook(record)
    yield seen
    hook.remove()


def float32_weights(model: torch.nn.Module) -> bool:
    return all(p.dtype == torch.float32 for p in model.parameters())


def test_the_vae_the_gan_and_the_ddpm_train_under_bf16_with_float32_weights_and_losses(matmul_dtypes):
    from pipeline.diffusion.train import train as train_ddpm
    from pipeline.kfold_vae.train import fit_and_evaluate
    from pipeline.mrgan.rejection import MemorizationRejection
    from pipeline.mrgan.train import Trainer

    cpu, bf16 = torch.device("cpu"), torch.bfloat16
    images = np.random.default_rng(0).integers(0, 256, (32, 8, 8, 1), dtype=np.uint8)
    vae, table = fit_and_evaluate(images, np.ones(32, bool), {"kind": "bernoulli_mlp", "epochs": 1,
                                                               "hidden": [16], "batch_size": 8}, 0, (0, 0), cpu,
                                  precision=bf16)
    assert float32_weights(vae) and table["logpx"].dtype == np.float64 and np.isfinite(table["logpx"]).all()
    assert torch.bfloat16 in matmul_dtypes  # without the autocast, every layer returns float32
    matmul_dtypes.clear()
    gan = Trainer(images, np.arange(32) % 2, {"width": 8, "batch_size": 8}, 0, MemorizationRejection(None, None, None, 0),
                  cpu, bf16)
    row = gan.step()
    assert float32_weights(gan.G) and float32_weights(gan.D) and np.isfinite([row["d_loss"], row["g_loss"]]).all()
    fake, _ = gan._draw()
    assert fake.dtype == torch.float32  # what rejection measures
    assert torch.bfloat16 in matmul_dtypes
    matmul_dtypes.clear()
    ddpm, log = train_ddpm(np.repeat(images, 3, axis=3), np.zeros(32, np.int64), {"width": 8, "steps": 4, "log_every": 2},
                           0, cpu, precision=bf16)
    assert float32_weights(ddpm) and log["loss"].dtype == np.float64 and np.isfinite(log["loss"]).all()
    assert torch.bfloat16 in matmul_dtypes
