"""Planted memorization canaries (pipeline/data/planted.py): counts, provenance, split hygiene,
determinism and one-line errors, on real 8x8 digits and on hand-made bases."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import check_references, validate_config
from pipeline.data import planted, registry
from pipeline.data.dataset import Dataset
from pipeline.data.prepare import prepare
from pipeline.errors import PipelineError

SPEC = {"kind": "planted", "base": "digits", "seed": 3, "flipped": 40, "outlier": 20, "duplicate": 4,
        "copies": 3, "test_copy": 15}


@pytest.fixture(scope="module")
def base() -> Dataset:
    return registry.build("digits", {"kind": "digits", "test_fraction": 0.2, "seed": 0}, Path("."))


@pytest.fixture(scope="module")
def planted_digits(base) -> Dataset:
    return planted.build_planted("digits_planted", SPEC, base)


def rows(dataset: Dataset, kind: str):
    return dataset.table[dataset.table["planted"] == kind]


def test_counts_per_kind_and_split_sizes(base, planted_digits):
    table = planted_digits.table
    assert table.groupby("planted").size().to_dict() == {
        "": len(base.table) - 40 - 20 - 4 * 3, "flipped": 40, "outlier": 20, "duplicate": 12, "test_copy": 15}
    assert (rows(planted_digits, "test_copy")["split"] == "test").all()
    assert (table.loc[~table["planted"].isin(["", "test_copy"]), "split"] == "train").all()
    # training split: same size, same rows; test split: every base test example plus the copies
    assert len(planted_digits.indices("train")) == len(base.indices("train"))
    assert len(planted_digits.indices("test")) == len(base.indices("test")) + 15
    dup_images = Counter(planted_digits.images[i].tobytes() for i in rows(planted_digits, "duplicate")["index"])
    assert len(dup_images) == 4 and set(dup_images.values()) == {3}
    assert rows(planted_digits, "duplicate").groupby("source_index").size().tolist() == [3] * 4


def test_every_row_traces_back_to_its_base_example(base, planted_digits):
    table = planted_digits.table
    assert (table["source"] == "digits").all() and table["index"].tolist() == list(range(len(table)))
    src = table["source_index"].to_numpy()
    base_labels = base.table["label"].to_numpy()
    base_split = base.table["split"].to_numpy()
    kind = table["planted"].to_numpy()
    images, labels = planted_digits.images, table["label"].to_numpy()
    clean = kind == ""
    assert (src[clean] == table["index"].to_numpy()[clean]).all()  # clean rows keep their place
    assert np.array_equal(images[clean], base.images[src[clean]]) and (labels[clean] == base_labels[src[clean]]).all()
    canaries = kind != ""
    assert (base_split[src[canaries]] == "train").all()  # canaries come from training examples
    flipped = kind == "flipped"
    assert np.array_equal(images[flipped], base.images[src[flipped]])
    assert (labels[flipped] != base_labels[src[flipped]]).all()
    assert set(labels[flipped]) <= set(base_labels) and len(set(labels[flipped])) > 2  # other classes, spread
    inverted = (kind == "outlier") | (kind == "duplicate")
    assert np.array_equal(images[inverted], 255 - base.images[src[inverted]])
    assert (labels[inverted] == base_labels[src[inverted]]).all()
    # a base example serves one canary: the sources of the training canaries are distinct per image
    train_sources = table.loc[canaries & (kind != "duplicate") & (kind != "test_copy"), "source_index"]
    dup_sources = set(table.loc[kind == "duplicate", "source_index"])
    assert train_sources.is_unique and not dup_sources & set(train_sources)


def test_splits_disjoint_and_only_test_copies_share_planted_images(planted_digits):
    table = planted_digits.table
    train, test = set(planted_digits.indices("train")), set(planted_digits.indices("test"))
    assert not train & test and len(train) + len(test) == len(table) and table["index"].is_unique
    planted_train = {planted_digits.images[i].tobytes()
                     for i in table.loc[(table["split"] == "train") & (table["planted"] != ""), "index"]}
    clean_test = table[(table["split"] == "test") & (table["planted"] == "")]
    assert not any(planted_digits.images[i].tobytes() in planted_train for i in clean_test["index"])
    clean_train = {planted_digits.images[i].tobytes()
                   for i in table.loc[(table["split"] == "train") & (table["planted"] == ""), "index"]}
    assert not planted_train & clean_train  # no clean twin of a canary in training either


def test_each_test_copy_equals_its_flipped_source(planted_digits):
    flipped = rows(planted_digits, "flipped").set_index("source_index")
    copies = rows(planted_digits, "test_copy")
    assert copies["source_index"].is_unique and set(copies["source_index"]) <= set(flipped.index)
    for row in copies.itertuples():
        source = flipped.loc[row.source_index]
        assert row.label == source["label"]
        assert np.array_equal(planted_digits.images[row.index], planted_digits.images[source["index"]])


def test_same_seed_same_data_set_other_seed_other_canaries(base, planted_digits):
    again = planted.build_planted("digits_planted", SPEC, base)
    assert again.table.equals(planted_digits.table) and np.array_equal(again.images, planted_digits.images)
    other = planted.build_planted("digits_planted", {**SPEC, "seed": 4}, base)
    assert set(rows(other, "flipped")["source_index"]) != set(rows(planted_digits, "flipped")["source_index"])


def toy_base(n_train: int, n_test: int, shared: int) -> Dataset:
    """Distinct random 4x4 images in three classes; the first ``shared`` training images also
    appear in the test split, so they are not usable as canaries."""
    rng = np.random.default_rng(0)
    images = rng.integers(1, 254, (n_train + n_test, 4, 4, 1)).astype(np.uint8)
    images[n_train:n_train + shared] = images[:shared]
    split = ["train"] * n_train + ["test"] * n_test
    return Dataset.from_arrays(images, np.arange(n_train + n_test) % 3, split, "toy")


def test_images_shared_with_other_examples_are_never_planted():
    base = toy_base(n_train=30, n_test=10, shared=6)
    assert sorted(planted.eligible_examples(base)) == list(range(6, 30))
    full = planted.build_planted("p", {"kind": "planted", "base": "toy", "flipped": 10, "outlier": 4,
                                       "duplicate": 2, "copies": 5, "test_copy": 10}, base)  # uses all 24
    used = full.table.loc[full.table["planted"] != "", "source_index"]
    assert used.min() >= 6
    assert (full.table.loc[:5, "planted"] == "").all()


@pytest.mark.parametrize("change,key", [({"flipped": 25}, "flipped"), ({"outlier": 15}, "outlier"),
                                        ({"duplicate": 3}, "duplicate"), ({"test_copy": 11}, "test_copy")])
def test_counts_beyond_the_base_name_the_key(change, key):
    base = toy_base(n_train=30, n_test=10, shared=6)
    spec = {"kind": "planted", "base": "toy", "flipped": 10, "outlier": 4, "duplicate": 2, "copies": 5,
            "test_copy": 10, **change}
    with pytest.raises(PipelineError, match=rf"^config key 'datasets\.p\.{key}': [^\n]*$"):
        planted.build_planted("p", spec, base)


def test_flipping_needs_two_classes():
    base = Dataset.from_arrays(np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1), np.zeros(10), ["train"] * 10, "one")
    with pytest.raises(PipelineError, match=r"^config key 'datasets\.p\.flipped': [^\n]*two$"):
        planted.build_planted("p", {"kind": "planted", "base": "one", "flipped": 1, "outlier": 0, "duplicate": 0,
                                    "test_copy": 0}, base)


def config_with(**datasets) -> dict:
    return {"datasets": {"mo": {"kind": "mondrian", "size": 8, "n_train": 20}, **datasets}}


@pytest.mark.parametrize("datasets,message", [
    ({"p": {"kind": "planted", "base": "nope"}}, r"'datasets\.p\.base': unknown dataset 'nope'"),
    ({"p": {"kind": "planted", "base": "mo", "copies": 1}}, r"'datasets\.p\.copies': 1 is less than the minimum of 2"),
    ({"p": {"kind": "planted", "base": "mo", "outlier": -1}}, r"'datasets\.p\.outlier': -1 is less than"),
    ({"p": {"kind": "planted", "base": "mo", "flip": 3}}, r"'datasets\.p\.flip': unknown key"),
    ({"p": {"kind": "planted", "base": "q"}, "q": {"kind": "planted", "base": "p"}}, r"'datasets\.p\.base': 'p' would be built from itself"),
    ({"p": {"kind": "planted", "base": "x"}, "x": {"kind": "mixture", "parts": [{"dataset": "p", "n_train": 2}]}},
     r"'datasets\.p\.base': 'p' would be built from itself"),
])
def test_bad_planted_config_is_one_line(datasets, message):
    with pytest.raises(PipelineError, match=message) as err:
        validate_config(config_with(**datasets))
    assert "\n" not in str(err.value)


def test_schema_fills_planted_defaults():
    g = {"kind": "gaussian_mixture", "size": 8, "n_train": 100, "n_test": 10}  # room for the default canaries
    config = validate_config(config_with(g=g, p={"kind": "planted", "base": "g"}))
    spec = config["datasets"]["p"]
    assert {k: spec[k] for k in ("flipped", "outlier", "duplicate", "copies", "test_copy", "seed")} == {
        "flipped": 50, "outlier": 25, "duplicate": 5, "copies": 5, "test_copy": 25, "seed": 0}
    check_references(config)  # a planted data set on a plain one is fine


def test_planted_on_a_mixture_through_prepare(tmp_path):
    """The cached form round-trips; the mixture's source_index points into its parts, the planted
    data set's into the mixture."""
    for name, seed in (("ga", 0), ("gb", 1)):
        prepare(name, {"kind": "gaussian_mixture", "n_train": 40, "n_test": 10, "size": 6, "seed": seed,
                       "n_centers": 4}, tmp_path, tmp_path / name, {})
    mix_spec = {"kind": "mixture", "seed": 0, "parts": [{"dataset": "ga", "n_train": 30, "n_test": 5, "label": 0},
                                                        {"dataset": "gb", "n_train": 30, "n_test": 5, "label": 1}]}
    mix = prepare("mix", mix_spec, tmp_path, tmp_path / "mix", {"ga": tmp_path / "ga", "gb": tmp_path / "gb"})
    for part in ("ga", "gb"):
        part_images = Dataset.load(tmp_path / part).images
        own = (mix.table["source"] == part).to_numpy()
        assert np.array_equal(mix.images[own], part_images[mix.table["source_index"].to_numpy()[own]])
    spec = {"kind": "planted", "base": "mix", "flipped": 6, "outlier": 4, "duplicate": 2, "copies": 2, "test_copy": 3}
    prepare("mp", spec, tmp_path, tmp_path / "mp", {"mix": tmp_path / "mix"})
    loaded = Dataset.load(tmp_path / "mp")
    assert list(loaded.table.columns) == ["index", "label", "split", "source", "source_index", "planted"]
    assert loaded.table["planted"].value_counts().to_dict() == {"": 56, "flipped": 6, "outlier": 4, "duplicate": 4,
                                                                "test_copy": 3}
    flipped = loaded.table[loaded.table["planted"] == "flipped"]
    assert (flipped["label"].to_numpy() != mix.table["label"].to_numpy()[flipped["source_index"]]).all()
    assert set(flipped["label"]) <= {0, 1}


@pytest.mark.parametrize("seed", [0, 1])
def test_canaries_fall_into_folds_and_subsets_like_clean_examples(base, seed):
    """The planting draws must not share a random stream with the splits of the same seed: with
    default_rng(0) every canary landed in fold 0 of K-fold repeat 0, so duplicates were held out
    together and looked memorized."""
    from pipeline.splits import kfold_assignment, subset_masks

    data = planted.build_planted("p", {**SPEC, "seed": seed}, base)
    train = data.table[data.table["split"] == "train"].reset_index(drop=True)
    canary = (train["planted"] != "").to_numpy()
    folds = kfold_assignment(len(train), 4, 2, seed)
    for repeat in range(2):
        counts = np.bincount(folds[repeat, canary], minlength=4)
        assert counts.max() < 0.5 * canary.sum(), (repeat, counts)  # about a quarter each
    share_in = subset_masks(len(train), 8, 0.7, seed)[:, canary].mean(1)
    assert (np.abs(share_in - 0.7) < 0.25).all(), share_in
