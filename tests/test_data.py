"""Data registry: embedded sets, mixtures, the canonical cached form, and missing full data sets."""

from pathlib import Path

import numpy as np
import pytest

from pipeline.data import registry
from pipeline.data.dataset import Dataset
from pipeline.data.prepare import prepare
from pipeline.errors import PipelineError


def test_mnist5k_is_real_mnist_with_seeded_stratified_split():
    spec = {"kind": "mnist5k", "test_fraction": 0.2, "seed": 0}
    a = registry.build("mnist5k", spec, Path("."))
    b = registry.build("mnist5k", spec, Path("."))
    assert a.images.shape == (5000, 28, 28, 1) and a.images.dtype == np.uint8
    assert a.table.equals(b.table)  # fixed split
    counts = a.table.groupby(["split", "label"]).size()
    assert (counts["test"] == 100).all() and (counts["train"] == 400).all()
    # real digits: ink on a black background, about 19% of pixels lit, like MNIST
    assert a.images[:, 0, 0, 0].max() == 0
    assert 0.15 < (a.images > 0).mean() < 0.25
    other = registry.build("mnist5k", {**spec, "seed": 1}, Path("."))
    assert not other.table["split"].equals(a.table["split"])


def test_digits_rescaled_to_uint8():
    d = registry.build("digits", {"kind": "digits", "test_fraction": 0.25, "seed": 0}, Path("."))
    assert d.images.shape == (1797, 8, 8, 1) and d.images.max() == 255
    assert abs((d.table["split"] == "test").mean() - 0.25) < 0.01


def test_mixture_labels_by_source(tmp_path):
    mo = registry.build("mo", {"kind": "mondrian", "n_train": 30, "n_test": 5, "size": 8, "seed": 0}, tmp_path)
    gm = registry.build("gm", {"kind": "gaussian_mixture", "n_train": 40, "n_test": 0, "size": 8, "seed": 1,
                               "n_centers": 10, "sd": 0.5, "center_seed": 0}, tmp_path)
    spec = {"kind": "mixture", "seed": 0, "parts": [{"dataset": "mo", "n_train": 20, "n_test": 5, "label": 0},
                                                    {"dataset": "gm", "n_train": 40, "label": 1}]}
    mix = registry.build_mixture("mix", spec, {"mo": mo, "gm": gm})
    table = mix.table
    assert table.groupby(["source", "split"]).size().to_dict() == {("gm", "train"): 40, ("mo", "test"): 5,
                                                                   ("mo", "train"): 20}
    assert (table.loc[table["source"] == "gm", "label"] == 1).all()
    # images are copies of the parts' images
    mo_rows = {row.tobytes() for row in mo.images}
    assert all(img.tobytes() in mo_rows for img in mix.images[(table["source"] == "mo").to_numpy()])
    with pytest.raises(PipelineError, match=r"datasets.mix.parts\[1\].n_train"):
        registry.build_mixture("mix", {**spec, "parts": [spec["parts"][0], {"dataset": "gm", "n_train": 41}]},
                               {"mo": mo, "gm": gm})


def test_mixture_parts_restricted_to_classes():
    """Classes with unequal training counts (a class-wise memorization experiment): each part draws
    only its classes; the held-out digits come whole from a part without classes."""
    digits = registry.build("digits", {"kind": "digits", "test_fraction": 0.5, "seed": 0}, Path("."))
    spec = {"kind": "mixture", "seed": 0, "parts": [{"dataset": "digits", "classes": [c], "n_train": 2 + 6 * (c % 2)}
                                                    for c in range(10)]
            + [{"dataset": "digits", "n_train": 0, "n_test": 50}]}
    mix = registry.build_mixture("uneven", spec, {"digits": digits})
    train = mix.table[mix.table["split"] == "train"]
    assert train.groupby("label").size().to_dict() == {c: 2 + 6 * (c % 2) for c in range(10)}
    # each training image is its source's image of that class
    source_labels = digits.table["label"].to_numpy()[train["source_index"].to_numpy()]
    assert (source_labels == train["label"].to_numpy()).all()
    assert (mix.table["split"] == "test").sum() == 50
    # copies: as many training rows per class, fewer distinct images in the copied classes
    spec["parts"][:10] = [{"dataset": "digits", "classes": [c], "n_train": 2, "copies": 4} if c % 2 == 0 else
                          {"dataset": "digits", "classes": [c], "n_train": 8} for c in range(10)]
    train = registry.build_mixture("uneven", spec, {"digits": digits}).table.query("split == 'train'")
    assert train.groupby("label").size().eq(8).all()
    assert train.groupby("label")["source_index"].nunique().to_dict() == {c: 2 + 6 * (c % 2) for c in range(10)}
    with pytest.raises(PipelineError, match=r"datasets.uneven.parts\[0\].n_train: .* of classes \[0\]"):
        registry.build_mixture("uneven", {**spec, "parts": [{"dataset": "digits", "classes": [0], "n_train": 500}]},
                               {"digits": digits})


def test_mixture_parts_of_one_source_share_no_example():
    """Digits 5-9 dealt out to five labels (classes told apart by label alone): no image is drawn
    twice, in either split, and a part asking for more than the earlier parts left is named."""
    digits = registry.build("digits", {"kind": "digits", "test_fraction": 0.5, "seed": 0}, Path("."))
    dealt = [{"dataset": "digits", "classes": [5, 6, 7, 8, 9], "n_train": 80, "n_test": 80, "label": k}
             for k in range(5)]
    spec = {"kind": "mixture", "seed": 0, "parts": [*dealt, {"dataset": "digits", "classes": [0], "n_train": 40}]}
    table = registry.build_mixture("dealt", spec, {"digits": digits}).table
    assert table.groupby(["split", "label"]).size().to_dict() == {
        **{("train", k): 80 for k in range(5)}, **{("test", k): 80 for k in range(5)}, ("train", 0): 120}
    assert not table["source_index"].duplicated().any()
    source_labels = digits.table["label"].to_numpy()[table["source_index"].to_numpy()]
    assert set(source_labels[table["label"].to_numpy() >= 1]) <= {5, 6, 7, 8, 9}
    # about 450 training digits of 5-9: five parts of 80 leave about 50, not 80
    available = int(np.isin(digits.table.query("split == 'train'")["label"], [5, 6, 7, 8, 9]).sum())
    with pytest.raises(PipelineError, match=rf"parts\[5\].n_train: asks for 80 examples, 'digits' has "
                                            rf"{available - 400} of classes \[5, 6, 7, 8, 9\] left by earlier parts"):
        registry.build_mixture("dealt", {**spec, "parts": [*dealt, dealt[0]]}, {"digits": digits})


def test_prepare_writes_canonical_form(tmp_path):
    spec = {"kind": "random_ink", "n_train": 12, "n_test": 3, "size": 8, "seed": 0}
    prepare("ri", spec, tmp_path, tmp_path / "ri", {})
    loaded = Dataset.load(tmp_path / "ri")
    assert loaded.images.shape == (15, 8, 8, 3)
    assert list(loaded.table.columns) == ["index", "label", "split", "source", "source_index", "planted"]
    assert loaded.table["source_index"].tolist() == list(range(15)) and (loaded.table["planted"] == "").all()
    assert loaded.table["index"].tolist() == list(range(15))
    assert (loaded.table["split"] == "train").sum() == 12
    assert set(np.unique(loaded.images)) == {0, 255}


def test_a_data_set_without_training_examples_stops_its_prepare_job(tmp_path):
    images = np.zeros((4, 4, 4), dtype=np.uint8)
    np.savez(tmp_path / "all_test.npz", images=images, labels=np.arange(4) % 2, split=np.array(["test"] * 4))
    with pytest.raises(PipelineError, match=r"config key 'datasets.own': no training examples \(split sizes "
                                            r"\{'test': 4\}\)"):
        prepare("own", {"kind": "arrays", "path": str(tmp_path / "all_test.npz")}, tmp_path, tmp_path / "own", {})
    assert not (tmp_path / "own").exists()


@pytest.mark.parametrize("kind,expected", [("mnist", "MNIST/raw"), ("cifar10", "cifar-10-batches-py"),
                                           ("cifar100", "cifar-100-python"), ("celeba", "img_align_celeba")])
def test_missing_full_dataset_says_what_to_put_where(tmp_path, kind, expected):
    spec = {"kind": kind, "download": False, "size": 64}
    with pytest.raises(PipelineError) as err:
        registry.build(kind, spec, tmp_path / "nowhere")
    message = str(err.value)
    assert expected in message and str(tmp_path / "nowhere") in message and "download: true" in message
    assert "\n" not in message


def test_mnist_loads_from_data_root_in_torchvision_layout(tmp_path):
    """Full MNIST through torchvision: write tiny files in the raw IDX format and load them."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def write_idx(name, array):
        dims = array.shape
        header = bytes([0, 0, 8, len(dims)]) + b"".join(int(d).to_bytes(4, "big") for d in dims)
        (raw / name).write_bytes(header + array.astype(np.uint8).tobytes())

    train_x, test_x = rng.integers(0, 256, (6, 28, 28)), rng.integers(0, 256, (4, 28, 28))
    write_idx("train-images-idx3-ubyte", train_x)
    write_idx("train-labels-idx1-ubyte", np.arange(6) % 10)
    write_idx("t10k-images-idx3-ubyte", test_x)
    write_idx("t10k-labels-idx1-ubyte", np.arange(4) % 10)
    d = registry.build("mnist", {"kind": "mnist", "download": False}, tmp_path)
    assert d.images.shape == (10, 28, 28, 1)
    assert np.array_equal(d.images[:6, ..., 0], train_x)
    assert d.table["split"].tolist() == ["train"] * 6 + ["test"] * 4
