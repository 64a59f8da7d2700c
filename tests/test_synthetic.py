"""Statistical properties of the synthetic generators of Yoon et al. (see pipeline.diffusion)."""

import numpy as np
from scipy import stats

from pipeline.data import synthetic


def test_gaussian_mixture_noise_sd_before_clipping():
    images, component = synthetic.gaussian_mixture(4000, 8, seed=3, n_centers=100, sd=0.5, clip=False)
    centers = synthetic.gaussian_mixture_centers(8, 100, seed=0)
    noise = images - centers[component]
    assert abs(noise.mean()) < 0.01
    assert abs(noise.std() - 0.5) < 0.005
    # Gaussian, not just the right variance: KS test against N(0, 0.5^2) on a sample of the noise.
    assert stats.kstest(noise.reshape(-1)[:20000], "norm", args=(0, 0.5)).pvalue > 0.001


def test_gaussian_mixture_clipped_values_and_components():
    images, component = synthetic.gaussian_mixture(3000, 8, seed=4, n_centers=100)
    assert images.min() >= 0.0 and images.max() <= 1.0
    # clipping mass: with centre c ~ U(0,1), P(c + e < 0) averaged over c is E[Phi(-c/0.5)] ~ 0.19
    expected = np.mean(stats.norm.cdf(-np.linspace(0, 1, 10001) / 0.5))
    assert abs((images == 0.0).mean() - expected) < 0.01
    counts = np.bincount(component, minlength=100)
    assert stats.chisquare(counts).pvalue > 0.001  # components chosen uniformly
    # the 100 centres are fixed: another seed draws samples around the same centres
    _, other = synthetic.gaussian_mixture(10, 8, seed=5)
    assert other.max() < 100


def test_random_ink_is_fair_bernoulli():
    images = synthetic.random_ink(500, 16, seed=0)
    assert set(np.unique(images)) == {0.0, 1.0}
    assert abs(images.mean() - 0.5) < 0.005
    uint8 = synthetic.to_uint8(images)
    assert set(np.unique(uint8)) == {0, 255}


def test_mondrian_structure():
    """Four flat quadrants of distinct colours, split by a cross w = size / 8 pixels wide whose pixels
    are iid U(0, 1): the colour of every pixel off the cross is its quadrant's corner colour."""
    size, w = 16, 2
    images = synthetic.mondrian(200, size, seed=0)
    assert images.shape == (200, size, size, 3)
    assert images.min() >= 0 and images.max() <= 1
    cross_values = []
    for image in images:
        corners = image[[0, 0, -1, -1], [0, -1, 0, -1]]  # top-left, top-right, bottom-left, bottom-right
        assert len({tuple(c) for c in corners}) == 4  # four different quadrant colours (a.s.)
        cross = ~(image[:, :, None, :] == corners[None, None]).all(-1).any(-1)
        rows, cols = np.nonzero(cross.all(1))[0], np.nonzero(cross.all(0))[0]
        assert rows.tolist() == list(range(rows[0], rows[0] + w)) and cols.tolist() == list(range(cols[0], cols[0] + w))
        assert cross.sum() == 2 * w * size - w * w  # the cross and nothing else
        r, c = rows[0], cols[0]
        for block, corner in zip([image[:r, :c], image[:r, c + w:], image[r + w:, :c], image[r + w:, c + w:]], corners):
            assert (block == corner).all()
        assert image[cross].std() > 0.15  # noise within the image, not one colour per cross
        cross_values.append(image[cross])
    values = np.concatenate(cross_values)
    assert abs(values.mean() - 0.5) < 0.01 and abs(values.std() - 12 ** -0.5) < 0.01


def test_generators_are_deterministic():
    assert np.array_equal(synthetic.mondrian(5, 8, 1), synthetic.mondrian(5, 8, 1))
    assert not np.array_equal(synthetic.mondrian(5, 8, 1), synthetic.mondrian(5, 8, 2))
    a, _ = synthetic.gaussian_mixture(5, 8, 1)
    b, _ = synthetic.gaussian_mixture(5, 8, 1)
    assert np.array_equal(a, b)
