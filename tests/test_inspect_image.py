"""`python -m pipeline.inspect results --example N --image out.png`: one example across every table, drawn
from a finished tiny run (its real pixels, its neighbours, its scores), and one line for what cannot be drawn."""

from __future__ import annotations

import subprocess
import sys

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from conftest import TINY_ALL_METHODS
from pipeline import io, paths
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.inspect import experiment_datasets, find_tables, gather_example, main, of_dataset
from pipeline.inspect_picture import DPI, MAIN, strips_of

pytestmark = pytest.mark.workflow

FELDMAN = TINY_ALL_METHODS["feldman"]["datasets"][0]  # also MR-GAN's
KFOLD = TINY_ALL_METHODS["kfold_vae"]["datasets"][0]
DIFFUSION = TINY_ALL_METHODS["diffusion"]["experiments"]["sweep"]["dataset"]


def png(path):
    """The PNG as an (H, W, 3) uint8 array."""
    return (matplotlib.image.imread(path)[..., :3] * 255).round().astype(np.uint8)


def strip_titles(run, dataset: str, example: int) -> list[str]:
    """Titles of the neighbour strips the picture of ``example`` of a finished ``run`` draws."""
    tables = find_tables([run / paths.RESULTS])
    experiments = experiment_datasets(tables, None)
    tables = [t for t in tables if of_dataset(t, dataset, experiments)]
    data = Dataset.load(run / paths.DATASET.format(dataset=dataset), mmap=True)
    found, _ = gather_example(tables, example)
    return [strip.title for path, rows, _ in found for strip in strips_of(path, rows, example, data)[0]]


def test_an_example_is_drawn_with_its_pixels_neighbours_and_scores(tiny_run, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tiny_run)
    feldman = tiny_run / paths.FELDMAN_ARCH.format(dataset=FELDMAN, arch="mlp")
    mrgan = tiny_run / paths.MRGAN_JOB.format(dataset=FELDMAN, tau="0", seed=0)
    pairs = io.read_parquet(feldman / "influence_pairs.parquet")
    nearest = io.read_parquet(mrgan / "nn_distances.parquet")
    both = sorted(set(pairs["train_index"]) & set(nearest["nearest"]))
    example = int(both[0] if both else nearest["nearest"].iloc[0])
    out = tmp_path / "pictures" / "example.png"  # a folder that does not exist yet
    main([paths.RESULTS, "--dataset", FELDMAN, "--example", str(example), "--image", str(out)])
    assert str(out) in capsys.readouterr().out
    image = png(out)
    height, width, _ = image.shape
    assert width >= 1000 and height >= 400, image.shape  # readable: the example alone is MAIN inches across
    assert image.std() > 20  # not blank
    assert not list(out.parent.glob(".*.tmp"))  # written atomically, nothing left beside it
    # the example's real pixels, each a sharp square: the centre of every cell is the image's pixel
    pixels = Dataset.load(tiny_run / paths.DATASET.format(dataset=FELDMAN)).images[example]
    side = MAIN * DPI / pixels.shape[0]
    left, top = 0.3 * DPI, 0.7 * DPI
    for r in range(pixels.shape[0]):
        for c in range(pixels.shape[1]):
            drawn = image[int(top + (r + 0.5) * side), int(left + (c + 0.5) * side)]
            assert np.abs(drawn.astype(int) - pixels[r, c].astype(int)).max() <= 2, (r, c, drawn, pixels[r, c])
    titles = strip_titles(tiny_run, FELDMAN, example)
    assert any(t.startswith("MR-GAN") for t in titles), titles
    if both:
        assert any(t.startswith("Feldman mlp: the test examples it influences most") for t in titles), titles
    # without --dataset the one data set of the tables named is found
    main([str(feldman), "--example", str(example), "--image", str(tmp_path / "feldman.png")])
    assert png(tmp_path / "feldman.png").std() > 20


@pytest.mark.parametrize("dataset, strip", [(DIFFUSION, "diffusion sweep"), (KFOLD, "K-fold VAE")])
def test_generated_neighbours_of_the_other_methods_are_drawn(tiny_run, tmp_path, monkeypatch, dataset, strip):
    monkeypatch.chdir(tiny_run)
    if dataset == DIFFUSION:
        job = paths.DIFFUSION_JOB.format(experiment="sweep", size=8, width=8, seed=0)
        example = int(io.read_parquet(tiny_run / job / "replicates.parquet")["nearest"].iloc[0])
    else:
        example = 0
    assert any(t.startswith(strip) for t in strip_titles(tiny_run, dataset, example))
    out = tmp_path / f"{dataset}.png"
    main([paths.RESULTS, "--dataset", dataset, "--example", str(example), "--image", str(out)])
    assert png(out).std() > 20


def test_what_cannot_be_drawn_is_one_line(tiny_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tiny_run)
    out = str(tmp_path / "x.png")
    n = len(Dataset.load(tiny_run / paths.DATASET.format(dataset=FELDMAN), mmap=True).images)
    with pytest.raises(PipelineError, match=rf"example {n}: not in data set '{FELDMAN}' \(its indices run 0..{n - 1}"):
        main([paths.RESULTS, "--dataset", FELDMAN, "--example", str(n), "--image", out])
    with pytest.raises(PipelineError, match="several data sets"):
        main([paths.RESULTS, "--example", "0", "--image", out])
    with pytest.raises(PipelineError, match="name it with --example"):
        main([paths.RESULTS, "--image", out])
    with pytest.raises(PipelineError, match="must end in a figure format"):
        main([paths.RESULTS, "--dataset", FELDMAN, "--example", "0", "--image", str(tmp_path / "x.txt")])
    result = subprocess.run([sys.executable, "-m", "pipeline.inspect", "nowhere", "--example", "3", "--image", out],
                            capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr.strip() == "error: nowhere: no such file or folder"
    assert not (tmp_path / "x.png").exists()


def test_a_run_without_its_images_is_one_line(tmp_path):
    table = tmp_path / paths.FELDMAN_ARCH.format(dataset="toy", arch="mlp") / "memorization.parquet"
    io.write_parquet(pd.DataFrame({"index": [0, 1], "label": [0, 1], "mem": [0.1, 0.9]}), table)
    with pytest.raises(PipelineError, match=r"results/data/toy/images.npy: no such file"):
        main([str(tmp_path / paths.RESULTS), "--example", "1", "--image", str(tmp_path / "x.png")])


def test_shared_neighbours_and_sample_sets_are_drawn_both_ways(tmp_path):
    rng = np.random.default_rng(0)
    Dataset.from_arrays(rng.integers(0, 256, (10, 6, 6, 1), dtype=np.uint8), np.arange(10) % 2,
                        ["train"] * 8 + ["test"] * 2, "toy").save(tmp_path / paths.DATASET.format(dataset="toy"))
    neighbours = tmp_path / paths.NEIGHBORS.format(dataset="toy", job="test_vs_train")
    io.write_parquet(pd.DataFrame({"query": [8, 8, 9, 9], "rank": [0, 1, 0, 1], "ref_index": [3, 5, 5, 1],
                                   "distance": [0.1, 0.2, 0.15, 0.3]}), neighbours)
    sample_set = tmp_path / paths.SAMPLES.format(sample_set="mine")
    io.write_array(rng.integers(0, 256, (3, 6, 6, 1), dtype=np.uint8), sample_set / "images.npy")
    io.write_parquet(pd.DataFrame({"sample": [0, 1, 2], "rank": [0, 0, 0], "ref_index": [5, 5, 2],
                                   "distance": [0.2, 0.1, 0.3], "space": ["pixels"] * 3}),
                     sample_set / "neighbors.parquet")
    io.write_parquet(pd.DataFrame({"sample_set": ["mine"], "dataset": ["toy"]}), sample_set / "scores.parquet")
    data = Dataset.load(tmp_path / paths.DATASET.format(dataset="toy"))
    tables = find_tables([tmp_path / paths.RESULTS])
    found, _ = gather_example(tables, 5)
    strips = [s for path, rows, _ in found for s in strips_of(path, rows, 5, data)[0]]
    by_title = {s.title.split(":")[0] + ":" + s.title.split(":")[1].split("(")[0]: s for s in strips}
    queries = by_title["neighbours test_vs_train: the queries it is nearest to "]
    assert [c.split()[0] for c in queries.captions] == ["9", "8"]  # nearest first
    np.testing.assert_array_equal(queries.images[0], data.images[9])
    samples = by_title["samples mine: the samples nearest to it "]
    assert [c.split()[1] for c in samples.captions] == ["1", "0"]
    found, _ = gather_example(tables, 8)
    refs = [s for path, rows, _ in found for s in strips_of(path, rows, 8, data)[0]]
    assert [c.split()[0] for c in refs[0].captions] == ["3", "5"] and "its nearest references" in refs[0].title
    main([str(tmp_path / paths.RESULTS), "--example", "5", "--image", str(tmp_path / "five.png")])
    assert png(tmp_path / "five.png").std() > 20
