"""Significance of Feldman-Zhang influence pairs: the exact test against zero influence finds a real
influence, is calibrated on noise, the significance option removes noise pairs, and the number of
pairs expected by chance matches simulation."""

import numpy as np
import pytest
from scipy.stats import hypergeom

from pipeline.feldman.estimate import (expected_by_chance, infl_of_count, influence_pairs, null_pvalue,
                                       pvalue_count, significant, threshold_count)
from pipeline.splits import subset_masks

T = 64  # runs, as in the default config


def noise(n_train, n_test, seed, t=T):
    """Membership of t random 70 % subsets and test correctness independent of it (zero influence),
    each test example right with its own probability."""
    member = subset_masks(n_train, t, 0.7, seed)
    rng = np.random.default_rng([seed, 1])
    test_correct = rng.random((t, n_test)) < rng.uniform(0.1, 0.95, n_test)
    return member, test_correct


def every_row(n_train):
    return np.ones(n_train)  # mem = 1: every training example is a candidate


def test_a_pair_with_a_large_true_influence_gets_a_large_z_and_a_small_p():
    member, test_correct = noise(50, 20, seed=3)
    rng = np.random.default_rng(7)
    # test example 0 is right on 90 % of the runs that trained on example 4, 20 % of the others
    test_correct[:, 0] = rng.random(T) < np.where(member[:, 4], 0.9, 0.2)
    pairs = influence_pairs(member, test_correct, every_row(50), 0.25, 0.15)
    real = pairs[(pairs["train_pos"] == 4) & (pairs["test_pos"] == 0)].iloc[0]
    assert real["infl"] > 0.5 and real["z"] > 4 and real["p_value"] < 1e-4, real
    noise_pairs = pairs[pairs["test_pos"] != 0]
    assert noise_pairs["z"].median() < 2.5 and noise_pairs["p_value"].median() > 0.01


def test_p_values_are_calibrated_on_noise_and_the_option_removes_noise_pairs():
    member, test_correct = noise(300, 100, seed=0)
    every = influence_pairs(member, test_correct, every_row(300), 0.25, -np.inf)  # all 30,000 pairs
    assert len(every) == 300 * 100
    for alpha in [0.01, 0.05, 0.2]:  # exact, so valid: P(p <= alpha) <= alpha; discrete, so below it
        share = (every["p_value"] <= alpha).mean()
        assert 0.25 * alpha < share <= alpha, (alpha, share)
    # z: about standard normal under zero influence
    assert abs(every["z"].mean()) < 0.05 and abs(every["z"].std() - 1) < 0.05
    over = influence_pairs(member, test_correct, every_row(300), 0.25, 0.15)
    kept = significant(over, 0.01)
    assert len(over) > 2000 and len(kept) <= 0.1 * len(over), (len(over), len(kept))
    assert (kept["p_value"] <= 0.01).all() and len(significant(over, 1.0)) == len(over)


@pytest.mark.parametrize("threshold", [0.15, 0.3, -0.1])
def test_the_counts_that_qualify_are_exactly_those_the_selection_keeps(threshold):
    """P(H >= threshold_count) is the null probability of every h whose infl passes the threshold (the
    float comparison the selection makes), and likewise for the p-value bound."""
    n_in = np.arange(40, 50, dtype=float)[:, None, None]
    total = np.arange(0, T + 1, dtype=float)[None, :, None]
    h = np.arange(0, 51, dtype=float)[None, None, :]
    pmf = hypergeom.pmf(h, T, total, n_in)
    passes = infl_of_count(h, total, n_in, T) >= threshold
    np.testing.assert_allclose(null_pvalue(threshold_count(total[..., 0], n_in[..., 0], T, threshold), total[..., 0],
                                           n_in[..., 0], T), (pmf * passes).sum(-1), atol=1e-12)
    small = null_pvalue(h, total, n_in, T) <= 0.01
    np.testing.assert_allclose(null_pvalue(pvalue_count(total[..., 0], n_in[..., 0], T, 0.01), total[..., 0],
                                           n_in[..., 0], T), (pmf * small).sum(-1), atol=1e-12)


@pytest.mark.parametrize("max_p", [1.0, 0.05])
def test_pairs_expected_by_chance_match_a_simulation(max_p):
    selected, expected = 0, 0.0
    for seed in range(20):
        member, test_correct = noise(100, 80, seed=seed)
        pairs = significant(influence_pairs(member, test_correct, every_row(100), 0.25, 0.15), max_p)
        selected += len(pairs)
        expected += expected_by_chance(member.sum(0), test_correct.sum(0), T, 0.15, max_p)[1]
    assert expected > 200 and selected == pytest.approx(expected, rel=0.08), (selected, expected)


def test_expected_by_chance_counts_only_the_candidate_rows_and_falls_with_t():
    member, test_correct = noise(100, 80, seed=0)
    threshold_only, with_p = expected_by_chance(member.sum(0), test_correct.sum(0), T, 0.15, 0.01)
    assert with_p < 0.1 * threshold_only
    half, _ = expected_by_chance(member.sum(0)[:50], test_correct.sum(0), T, 0.15, 1.0)
    assert half == pytest.approx(threshold_only / 2, rel=0.15)
    member, test_correct = noise(100, 80, seed=0, t=1000)
    assert expected_by_chance(member.sum(0), test_correct.sum(0), 1000, 0.15, 1.0)[0] < 1e-3 * threshold_only


def test_an_example_in_every_subset_is_never_a_candidate():
    member, test_correct = noise(20, 10, seed=5)
    member[:, 3] = True  # mem_3 undefined (NaN): no model missed it
    mem = np.where(np.arange(20) == 3, np.nan, 1.0)
    pairs = influence_pairs(member, test_correct, mem, -np.inf, -np.inf)
    assert 3 not in set(pairs["train_pos"]) and len(pairs) == 19 * 10
    assert np.isfinite(pairs[["infl", "z", "p_value"]].to_numpy()).all()
