"""Planted memorization canaries: a data set derived from a prepared base data set, with known
memorization targets planted into its training split, so every method's score can be checked
against ground truth.

What each kind tests:

- ``flipped``: a training example whose label is changed to another class (uniform over the other
  classes of the base's training split). Its image looks like its true class, so a model can fit the
  new label only by memorizing that one example: a high Feldman & Zhang memorization score.
- ``outlier``: an atypical image, the inverted base image 255 - x (label kept). Nothing else in the
  training set resembles it, so a model fits (a generative model assigns it likelihood) only by
  memorizing it: high Feldman memorization and a high K-fold VAE score.
- ``duplicate``: an inverted image present ``copies`` times. As atypical as an outlier, but with
  copies in the training set, so leaving one copy out leaves the others to fit: its leave-out
  scores should come out lower than an outlier's, while generative models that reproduce training
  images should do so for duplicated ones readily.
- ``test_copy``: an exact copy (image and flipped label) of a flipped training example, in the
  test split. A memorized example influences its copy in the test set: Feldman influence
  infl(i, j) is high for the pair, and the copy is its source's nearest training neighbour.

Placement. Every canary replaces one base training example in place, so the training split keeps
its size and row order; the base's test split is kept whole and the test copies are appended at the
end. A duplicated image takes the rows of ``copies`` base training examples: the first (in the
seeded draw) gives the image and the label, the other examples are dropped. A base example is used
by at most one canary. Canaries are drawn only from training examples whose image occurs once in
the base and whose inverted image occurs nowhere in it, so no clean example equals a planted image
and the only images shared between splits are the test copies.

Draws (``numpy.random.default_rng([seed, PLANTED_STREAM])``: a stream of its own, because the splits
draw run r / repeat r from ``default_rng([seed, r])`` and ``default_rng(0)`` is the same stream as
``default_rng([0, 0])``, which put every canary into one K-fold fold): one permutation of the
eligible training examples,
whose consecutive blocks are the flipped, outlier and duplicate examples; then the new labels; then
the flipped examples that get test copies.

Rows (index.parquet, pipeline/data/dataset.py): ``source`` is the base's name and ``source_index``
the base example a row came from (for a duplicate, the example that gave the image); ``planted`` is
the canary kind, '' for clean rows.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import Counter

import numpy as np

from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.schema import spec_defaults

KINDS = ("flipped", "outlier", "duplicate", "test_copy")


PLANTED_STREAM = zlib.crc32(b"planted")  # the planted draws' stream tag (see the docstring)

def inverted(images: np.ndarray) -> np.ndarray:
    """The atypical version of an image: every pixel value v becomes 255 - v."""
    return (255 - np.asarray(images, dtype=np.uint8)).astype(np.uint8)


def _digest(image: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()


def eligible_examples(base: Dataset) -> np.ndarray:
    """Training indices of the base whose image is unique in the base and whose inverted image
    occurs nowhere in it: the examples a canary may come from."""
    counts = Counter(_digest(image) for image in base.images)
    train = base.indices("train")
    return np.array([i for i in train
                     if counts[_digest(base.images[i])] == 1 and _digest(inverted(base.images[i])) not in counts],
                    dtype=np.int64)


# What a canary may replace, as the job counts it (``eligible_examples``).
USABLE = "usable ones", " (usable: image unique in the base, its inverse absent)"


def check_counts(name: str, spec: dict, n_eligible: int | None, n_classes: int | None,
                 usable: tuple[str, str] = USABLE) -> None:
    """Each count against what is left for it; the error names the first key that asks too much.
    ``n_eligible`` and ``n_classes`` None: not known (the start-up check, pipeline/config.py, before the
    base is prepared; it passes the base's training size, an upper bound, with its own ``usable``)."""
    key = f"config key 'datasets.{name}"
    if spec["flipped"] and n_classes is not None and n_classes < 2:
        raise PipelineError(f"{key}.flipped': base '{spec['base']}' has {n_classes} class in its training "
                            "split; flipping a label needs two")
    needed = 0
    for kind, rows in (("flipped", spec["flipped"]), ("outlier", spec["outlier"]),
                       ("duplicate", spec["duplicate"] * spec["copies"])):
        if n_eligible is not None and needed + rows > n_eligible:
            raise PipelineError(
                f"{key}.{kind}': asks for {rows} training examples, {n_eligible - needed} of the {n_eligible} "
                f"{usable[0]} of base '{spec['base']}' are left{usable[1]}")
        needed += rows
    if spec["test_copy"] > spec["flipped"]:
        raise PipelineError(f"{key}.test_copy': {spec['test_copy']} test copies need as many flipped "
                            f"examples, flipped is {spec['flipped']}")


def build_planted(name: str, spec: dict, base: Dataset) -> Dataset:
    """The base with canaries planted as the module docstring says; keys ``spec`` lacks take the
    schema's defaults."""
    spec = spec_defaults("datasets.*", spec, check=False)
    rng = np.random.default_rng([spec["seed"], PLANTED_STREAM])
    eligible = eligible_examples(base)
    labels = base.table["label"].to_numpy(dtype=np.int64)
    classes = np.unique(labels[base.indices("train")])
    check_counts(name, spec, len(eligible), len(classes))

    order = rng.permutation(eligible)
    n_flip, n_out, n_dup, copies = spec["flipped"], spec["outlier"], spec["duplicate"], spec["copies"]
    flipped = order[:n_flip]
    outliers = order[n_flip:n_flip + n_out]
    groups = order[n_flip + n_out:n_flip + n_out + n_dup * copies].reshape(n_dup, copies)

    images = np.array(base.images, dtype=np.uint8)  # a copy: the base may be memory-mapped
    new_labels = labels.copy()
    source_index = np.arange(len(images), dtype=np.int64)
    planted = np.full(len(images), "", dtype=object)

    if n_flip:  # another class, uniform: a random non-zero shift of the label's rank among the classes
        shift = rng.integers(1, len(classes), size=n_flip)
        new_labels[flipped] = classes[(np.searchsorted(classes, labels[flipped]) + shift) % len(classes)]
        planted[flipped] = "flipped"
    images[outliers] = inverted(base.images[outliers])
    planted[outliers] = "outlier"
    for group in groups:
        images[group] = inverted(base.images[group[0]])
        new_labels[group] = labels[group[0]]
        source_index[group] = group[0]
        planted[group] = "duplicate"

    copied = np.sort(rng.choice(flipped, size=spec["test_copy"], replace=False))
    split = base.table["split"].to_numpy(dtype=str)
    return Dataset.from_arrays(
        np.concatenate([images, images[copied]]),
        np.concatenate([new_labels, new_labels[copied]]),
        np.concatenate([split, np.full(len(copied), "test")]),
        source=spec["base"],
        source_index=np.concatenate([source_index, copied]),
        planted=np.concatenate([planted, np.full(len(copied), "test_copy", dtype=object)]),
    )


def training_kinds(index_table, indices, where: str) -> np.ndarray:
    """The ``planted`` kind ('' for clean) of each dataset index in ``indices``, all of which must be
    training examples of the data set whose index.parquet is ``index_table`` (``where`` names the table
    of ``indices`` in the error)."""
    indices = np.asarray(indices)
    train = index_table[index_table["split"] == "train"].set_index("index")["planted"]
    missing = np.setdiff1d(indices, train.index.to_numpy())
    if len(missing):
        raise PipelineError(f"{where}: examples {missing[:5].tolist()} are not training examples of the data set "
                            "its index.parquet describes")
    return train.reindex(indices).astype(str).to_numpy()
