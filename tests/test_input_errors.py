"""Inputs a researcher brings, read right or stopped with one line (issue 47).

Pixel ranges come from what the format says (a PNG's bit depth, an array's dtype) or, where the
format leaves it open (float arrays: [0, 1] or [-1, 1]), from the config key that settles it, never
from the values; each format is tested with real files at the edges of its range. Bad inputs stop
their job with one line naming the file or the config key, and write nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from pipeline import cli, jobserver
from pipeline.data import files, registry
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.samples.load import load_samples
from test_jobserver import server  # noqa: F401  (the fixture)

# 16-bit grey values and the 8-bit grey each must become: v * 255 / 65535 rounded, i.e. v / 257
SIXTEEN_BIT = {0: 0, 65535: 255, 257: 1, 128: 0, 129: 1, 32767: 127, 32768: 128, 65534: 255, 1000: 4, 65278: 254}


def one_line(error: BaseException) -> str:
    message = str(error)
    assert message and "\n" not in message.strip()
    return message


def job_error(capsys, monkeypatch, module, *argv: str) -> str:
    """The one line a job's entry point prints for a bad input (exit status 1, stderr only that line)."""
    monkeypatch.setattr(sys, "argv", [module.__name__, *map(str, argv)])
    with pytest.raises(SystemExit) as exit_:
        cli.run(module.main)
    assert exit_.value.code == 1
    stderr = capsys.readouterr().err.strip()
    assert stderr.startswith("error: ") and "\n" not in stderr, stderr
    return stderr


def write_dataset(folder: Path, n_train: int = 6, n_test: int = 3, shape=(8, 8, 1)) -> Path:
    rng = np.random.default_rng(0)
    n = n_train + n_test
    Dataset.from_arrays(rng.integers(0, 256, (n, *shape), dtype=np.uint8), np.arange(n) % 2,
                        ["train"] * n_train + ["test"] * n_test, "mine").save(folder)
    return folder


# --- pixel ranges: PNGs by their bit depth ------------------------------------------------------------


def sixteen_bit_png(path: Path) -> np.ndarray:
    """A 16-bit grey PNG holding every value of SIXTEEN_BIT; returns the uint8 it must read as."""
    values = np.array(list(SIXTEEN_BIT), dtype=np.uint16).reshape(2, 5)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(values).save(path)
    with Image.open(path) as image:
        assert image.mode in ("I;16", "I") and np.array_equal(np.asarray(image), values)  # a real 16-bit file
    return np.array(list(SIXTEEN_BIT.values()), dtype=np.uint8).reshape(2, 5)


def test_16_bit_grey_pngs_in_an_image_folder_are_scaled_not_clipped(tmp_path):
    expected = sixteen_bit_png(tmp_path / "deep" / "a" / "0.png")
    sixteen_bit_png(tmp_path / "deep" / "b" / "1.png")
    data = registry.build("deep", {"kind": "image_folder", "path": str(tmp_path / "deep"), "test_fraction": 0.5,
                                   "seed": 0}, Path("."))
    assert data.images.dtype == np.uint8 and data.images.shape == (2, 2, 5, 1)
    np.testing.assert_array_equal(data.images[0, ..., 0], expected)
    np.testing.assert_array_equal(data.images[1, ..., 0], expected)


@pytest.mark.parametrize("channels", [1, 3])
def test_16_bit_grey_pngs_as_samples_are_scaled_not_clipped(tmp_path, channels):
    expected = sixteen_bit_png(tmp_path / "samples" / "000.png")
    images = load_samples(tmp_path / "samples", (2, 5, channels), False)
    np.testing.assert_array_equal(images[0], np.repeat(expected[..., None], channels, axis=2))


def test_8_bit_pngs_keep_their_values_at_the_edges(tmp_path):
    grey = np.array([[0, 255, 1, 254, 128]], dtype=np.uint8)
    rgb = np.stack([grey, 255 - grey, grey], axis=2)
    for name, pixels in (("a/grey.png", grey), ("b/rgb.png", rgb)):
        (tmp_path / "pngs" / name).parent.mkdir(parents=True)
        Image.fromarray(pixels).save(tmp_path / "pngs" / name)
    data = registry.build("p", {"kind": "image_folder", "path": str(tmp_path / "pngs"), "test_fraction": 0.5,
                                "seed": 0}, Path("."))
    np.testing.assert_array_equal(data.images[0], np.repeat(grey[..., None], 3, axis=2))  # grey beside RGB
    np.testing.assert_array_equal(data.images[1], rgb)
    (tmp_path / "s").mkdir()
    Image.fromarray(grey).save(tmp_path / "s" / "0.png")
    np.testing.assert_array_equal(load_samples(tmp_path / "s", (1, 5, 1), False)[0, ..., 0], grey)


def test_32_bit_integer_and_float_images_are_named_not_clipped(tmp_path):
    wide = Image.fromarray(np.array([[0, 70000]], dtype=np.int32))  # mode I beyond 16 bits
    assert wide.mode == "I"
    with pytest.raises(PipelineError, match=r"x\.png: integer pixels in \[0, 70000\]; expected 16-bit 0\.\.65535"):
        files.eight_bit(wide, Path("x.png"))
    sixteen = Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.int32))  # how older Pillow opens 16-bit PNGs
    np.testing.assert_array_equal(np.asarray(files.eight_bit(sixteen, Path("x.png"))), [[0, 128, 255]])
    floats = Image.fromarray(np.array([[0.0, 1.0]], dtype=np.float32))
    with pytest.raises(PipelineError, match=r"x\.png: floating-point pixels") as err:
        files.eight_bit(floats, Path("x.png"))
    one_line(err.value)


# --- pixel ranges: float arrays by the config key samples.<name>.pixel_range --------------------------


def float_samples(path: Path, values) -> Path:
    np.save(path, np.asarray(values, dtype=np.float32).reshape(1, 1, -1))
    return path


@pytest.mark.parametrize("pixel_range,values,expected", [
    ((0, 1), [0.0, 1.0, 0.5, 1 / 255, 254 / 255], [0, 255, 128, 1, 254]),
    ((0, 1), [-1e-4, 1.0, 0.2, 1.0 + 1e-4], [0, 255, 51, 255]),  # round-off at the edges is clipped
    ((-1, 1), [-1.0, 1.0, 0.0, -1 + 2 / 255], [0, 255, 128, 1]),
    ((-1, 1), [-1.0 - 1e-4, 0.6], [0, 204]),
])
def test_float_samples_take_the_declared_range_not_the_one_their_values_suggest(tmp_path, pixel_range, values,
                                                                                expected):
    path = float_samples(tmp_path / "s.npy", values)
    images = load_samples(path, (1, len(values), 1), False, pixel_range)
    assert images.dtype == np.uint8
    np.testing.assert_array_equal(images.reshape(-1), expected)


@pytest.mark.parametrize("pixel_range,values,found", [
    ((0, 1), [0.0, 1.0, -0.01], r"\[-0\.01, 1\]"),  # a tanh output declared as [0, 1]
    ((0, 1), [0.0, 1.02], r"\[0, 1\.02\]"),
    ((-1, 1), [-1.0, 1.01], r"\[-1, 1\.01\]"),
])
def test_float_samples_outside_the_declared_range_name_the_file_and_the_key(tmp_path, pixel_range, values, found):
    path = float_samples(tmp_path / "s.npy", values)
    with pytest.raises(PipelineError) as err:
        load_samples(path, (1, len(values), 1), False, pixel_range, key="samples.gan.pixel_range")
    message = one_line(err.value)
    assert message.startswith(f"{path}: float pixels in ") and "samples.gan.pixel_range" in message
    assert f"[{pixel_range[0]}, {pixel_range[1]}]" in message
    assert re.search(found, message)


def test_float_samples_without_a_declared_range_stop_the_import_job_naming_the_key(tmp_path, capsys, monkeypatch):
    from pipeline.samples import load

    data = write_dataset(tmp_path / "data", shape=(1, 3, 1))
    path = float_samples(tmp_path / "s.npy", [0.0, 0.5, 1.0])
    out = tmp_path / "out"
    stderr = job_error(capsys, monkeypatch, load, "--samples", path, "--dataset-dir", data, "--resize", "off",
                       "--sample-set", "gan", "--out-images", out / "images.npy", "--out-table", out / "t.parquet")
    assert str(path) in stderr and "samples.gan.pixel_range" in stderr and "[0, 1] or [-1, 1]" in stderr
    assert not out.exists()
    # the same job reads them once the key is set
    monkeypatch.setattr(sys, "argv", ["load", "--samples", str(path), "--dataset-dir", str(data), "--resize", "off",
                                      "--sample-set", "gan", "--pixel-range=-1,1", "--out-images",
                                      str(out / "images.npy"), "--out-table", str(out / "t.parquet")])
    load.main()
    assert np.load(out / "images.npy").reshape(-1).tolist() == [128, 191, 255]


def test_integer_samples_need_no_declared_range(tmp_path):
    np.save(tmp_path / "s.npy", np.array([[[0, 255, 7]]], dtype=np.uint8))
    assert load_samples(tmp_path / "s.npy", (1, 3, 1), False, (-1, 1)).reshape(-1).tolist() == [0, 255, 7]


# --- runs files (pipeline/feldman/runs_file.py) ---------------------------------------------------------


def runs_error(tmp_path, capsys, monkeypatch, runs: Path) -> str:
    from pipeline.feldman import runs_file

    data = write_dataset(tmp_path / "data")  # 6 training and 3 test examples
    out = tmp_path / "out" / "shard.parquet"
    stderr = job_error(capsys, monkeypatch, runs_file, "--runs", runs, "--dataset-dir", data, "--arch", "theirs",
                       "--out", out)
    assert str(runs) in stderr and not out.parent.exists()
    return stderr


def test_an_npy_file_named_npz_as_runs_is_one_line(tmp_path, capsys, monkeypatch):
    runs = tmp_path / "runs.npz"
    with open(runs, "wb") as file:  # np.save("runs.npz") would append .npy; a rename does not
        np.save(file, np.ones((4, 6), dtype=bool))
    stderr = runs_error(tmp_path, capsys, monkeypatch, runs)
    assert "a single array (np.save)" in stderr and "np.savez" in stderr


def test_a_transposed_member_array_says_runs_by_training_examples(tmp_path, capsys, monkeypatch):
    member = np.ones((4, 6), dtype=bool)  # 4 runs of the data set's 6 training examples
    np.savez(tmp_path / "runs.npz", member=member.T, train_correct=member, test_correct=np.ones((4, 3), dtype=bool))
    stderr = runs_error(tmp_path, capsys, monkeypatch, tmp_path / "runs.npz")
    assert "array 'member' has shape (6, 4), expected (runs, 6)" in stderr and "(6, 6)" not in stderr
    assert "transposed" in stderr


# --- python -m pipeline.job with a module that does not exist -------------------------------------------


@pytest.mark.parametrize("module", ["pipeline.no_such_job", "pipeline.feldman.nothing", "nowhere.at_all", "pipeline"])
def test_a_job_module_that_does_not_exist_is_one_line_in_its_own_process(tmp_path, module):
    env = {**os.environ, "PYTHONPATH": str(REPO), "PIPELINE_JOBSERVER": "off"}
    result = subprocess.run([sys.executable, "-m", "pipeline.job", module, "--out", "x.parquet"], cwd=tmp_path,
                            env=env, capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: no job module {module}") and not os.listdir(tmp_path)


def test_a_job_module_that_does_not_exist_is_one_line_from_the_job_server(server):  # noqa: F811
    process, log, env = server
    result = subprocess.run([sys.executable, "-m", "pipeline.job", "pipeline.no_such_job", "--out", "x.parquet"],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: no job module pipeline.no_such_job") and not Path("x.parquet").exists()
    assert jobserver.jobs_in_log(log.read_text())[0] == ["pipeline.no_such_job"]  # the server stays up


# --- non-square images fed to the GAN (pipeline/mrgan) -----------------------------------------------


def test_non_square_images_stop_the_gan_with_one_line_naming_the_key():
    from pipeline.mrgan.rejection import MemorizationRejection
    from pipeline.mrgan.train import Trainer

    images = np.zeros((16, 8, 12, 1), dtype=np.uint8)
    with pytest.raises(PipelineError) as err:
        Trainer(images, np.arange(16) % 2, {"width": 8, "batch_size": 8}, 0, MemorizationRejection(None, None, None, 0))
    message = one_line(err.value)
    assert "8x12" in message and "mrgan.datasets" in message and "square" in message


def test_non_square_images_stop_the_gan_training_job_naming_the_data_set(tmp_path, capsys, monkeypatch):
    from pipeline.mrgan import train

    data = write_dataset(tmp_path / "data", shape=(8, 12, 1))
    out = tmp_path / "out"
    stderr = job_error(capsys, monkeypatch, train, "--dataset-dir", data, "--embedding-kind", "classifier",
                       "--embedding-file", tmp_path / "classifier.pt", "--tau", "0", "--seed", "0", "--device", "cpu",
                       "--out-generator", out / "generator.pt", "--out-log", out / "train_log.parquet")
    assert str(data) in stderr and "8x12" in stderr and "mrgan.datasets" in stderr
    assert not out.exists()


# --- C_T of too few generated points: more cells would not help ------------------------------------------


@pytest.mark.parametrize("m", [1, 20])
def test_c_t_of_twenty_or_fewer_points_says_it_needs_more_points_not_fewer_cells(m):
    from pipeline.mrgan.ct_test import ct_statistic

    rng = np.random.default_rng(0)
    with pytest.raises(PipelineError) as err:
        ct_statistic(rng.normal(size=(60, 2)), rng.normal(size=(30, 2)), rng.normal(size=(m, 2)), 1,
                     what="samples.gan: C_T (pixels)", cells_key="samples.gan.kmeans_cells", count_key="samples.gan.path")
    message = one_line(err.value)
    assert message.startswith(f"samples.gan: C_T (pixels): {m} generated point") and "more than 20" in message
    assert "samples.gan.path" in message and "fewer cells" not in message and "kmeans_cells" not in message


def test_a_one_sample_set_is_told_it_holds_too_few_samples(tmp_path):
    from pipeline.samples.score import score

    rng = np.random.default_rng(0)
    train, test = rng.integers(0, 256, (40, 4, 4, 1), dtype=np.uint8), rng.integers(0, 256, (20, 4, 4, 1), dtype=np.uint8)
    with pytest.raises(PipelineError) as err:
        score(train, np.zeros(40, dtype=np.int64), np.arange(40), test, rng.normal(size=(40, 3)),
              rng.normal(size=(20, 3)), train[:1], rng.normal(size=(1, 3)), np.array([-1]), sample_set="gan",
              dataset="g", embedding_kind="classifier", threshold=1 / 3, k=2, kmeans_cells=2, pca_dims=0,
              backend="numpy")
    message = one_line(err.value)
    assert "1 generated point" in message and "samples.gan.path" in message and "fewer cells" not in message


# --- neighbour k above the reference count names its config key ------------------------------------------


def test_a_neighbour_k_above_the_reference_count_names_neighbors_job_k(tmp_path, capsys, monkeypatch):
    from pipeline import neighbors

    data = write_dataset(tmp_path / "data", n_train=3, n_test=2)
    out = tmp_path / "out" / "neighbors.parquet"
    stderr = job_error(capsys, monkeypatch, neighbors, "--query", data, "--query-split", "test", "--ref", data,
                       "--ref-split", "train", "--k", "5", "--backend", "numpy", "--job", "near", "--out", out)
    assert "config key 'neighbors.near.k'" in stderr and "5" in stderr and "3" in stderr and not out.parent.exists()


def test_a_sample_sets_k_above_the_training_count_names_samples_set_k():
    from pipeline.samples.score import score

    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (3, 4, 4, 1), dtype=np.uint8)
    with pytest.raises(PipelineError) as err:
        score(train, np.zeros(3, dtype=np.int64), np.arange(3), train, rng.normal(size=(3, 3)), rng.normal(size=(3, 3)),
              train, rng.normal(size=(3, 3)), np.full(3, -1), sample_set="gan", dataset="g",
              embedding_kind="classifier", threshold=1 / 3, k=4, kmeans_cells=1, pca_dims=0, backend="numpy")
    assert "config key 'samples.gan.k'" in one_line(err.value)
