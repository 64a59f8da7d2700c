"""C_T in pixel space (score.py's ct_pixels): a second space that memorization rejection never sees."""

import numpy as np
import pandas as pd
import pytest

from pipeline.mrgan import score

N_CLASSES = 4


def draw(n, rng, prototypes):
    """Noisy copies of a few prototype 8x8 images (one per class), as uint8 images and labels."""
    labels = np.arange(n) % N_CLASSES
    images = prototypes[labels] + rng.normal(0, 40, (n, 8, 8, 1))
    return np.clip(np.round(images), 0, 255).astype(np.uint8), labels


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    prototypes = rng.uniform(0, 255, (N_CLASSES, 8, 8, 1))
    train, train_y = draw(400, rng, prototypes)
    test, test_y = draw(200, rng, prototypes)
    fresh, fresh_y = draw(800, rng, prototypes)
    pick = rng.integers(len(train), size=800)  # near-copies: training images plus +-2 grey levels
    copies = np.clip(train[pick].astype(int) + rng.integers(-2, 3, train[pick].shape), 0, 255).astype(np.uint8)
    return rng, (train, train_y), (test, test_y), (fresh, fresh_y), (copies, train_y[pick])


def scores_of(generated, images, pca_dims=0):
    """score.score with embedding features that carry no copying signal (fresh Gaussian rows per set),
    so whatever ct_pixels shows comes from the pixels alone."""
    rng, (train, train_y), (test, test_y), *_ = images
    gen, gen_y = generated
    features = [rng.standard_normal((len(x), 16)) for x in (train, test, gen)]
    log = pd.DataFrame({"generated": [64], "kept": [64]})
    return score.score(features[0], train_y, features[1], test_y, features[2], gen_y, log,
                       train_images=train, test_images=test, gen_images=gen, dataset="toy", tau=0.0, seed=0,
                       embedding_kind="classifier", kmeans_cells=N_CLASSES, classwise_cells=1, pca_dims=pca_dims)


def test_pixels_are_flattened_and_scaled_to_unit_range():
    x = np.array([[[[0], [255]], [[51], [102]]]], dtype=np.uint8)
    assert score.pixels(x).tolist() == [[0.0, 1.0, 0.2, 0.4]]


@pytest.mark.parametrize("pca_dims", [0, 8])
def test_pixel_ct_of_near_copies_is_strongly_negative(images, pca_dims):
    tables = scores_of(images[4], images, pca_dims)
    row = tables["scores"].iloc[0]
    assert row["ct_pixels"] < -8, row
    assert abs(row["ct"]) < 3  # the embedding here sees no copying; only the pixels do
    classwise = tables["classwise"]
    assert sorted(classwise["label"]) == list(range(N_CLASSES))
    assert (classwise["ct_pixels"] < -3).all(), classwise


@pytest.mark.parametrize("pca_dims", [0, 8])
def test_pixel_ct_of_fresh_images_from_the_test_distribution_is_not_negative(images, pca_dims):
    tables = scores_of(images[3], images, pca_dims)
    assert abs(tables["scores"].iloc[0]["ct_pixels"]) < 2.5
    assert (tables["classwise"]["ct_pixels"].abs() < 3).all()
