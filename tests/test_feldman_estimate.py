"""Feldman-Zhang estimators on correctness matrices with known truth: the definitions, NaN guards,
blockwise influence equal to the dense one, convergence as t grows, and the consistency measures."""

import numpy as np
import pytest

from pipeline.feldman.consistency import infl_consistency, mem_consistency
from pipeline.feldman.estimate import influence_blocks, influence_pairs
from pipeline.feldman.estimators import memorization
from pipeline.splits import subset_masks


def dense_influence(member, test_correct):
    m, c = member.astype(float), test_correct.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (m.T @ c) / m.sum(0)[:, None] - ((1 - m).T @ c) / (1 - m).sum(0)[:, None]


def test_mem_follows_the_definition_and_is_nan_when_a_count_is_zero():
    member = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=bool)  # example 2 never in
    correct = np.array([[1, 1, 1], [1, 0, 0], [0, 0, 1], [0, 0, 1]], dtype=bool)
    mem = memorization(member, correct)
    assert mem["mem"][0] == pytest.approx(1.0 - 0.0)
    assert mem["mem"][1] == pytest.approx(1.0 - 0.5)
    assert np.isnan(mem["mem"][2]) and np.isnan(mem["se"][2])
    assert mem["n_in"].tolist() == [2, 2, 0] and mem["n_out"].tolist() == [2, 2, 4]
    assert mem["se"][0] == pytest.approx(0.0) and mem["se"][1] == pytest.approx(np.sqrt(0.25 / 2))


@pytest.mark.parametrize("block", [1, 7, 10_000])
def test_blockwise_influence_equals_the_dense_matrix(block):
    rng = np.random.default_rng(0)
    member = rng.random((40, 30)) < 0.7
    member[:, 3] = True  # never out: NaN column
    test_correct = rng.random((40, 11)) < 0.6
    dense = dense_influence(member, test_correct)
    got = np.full_like(dense, -9.0)
    for pos, infl, se in influence_blocks(member, test_correct, block=block):
        got[pos] = infl
        assert se.shape == infl.shape
    np.testing.assert_allclose(got, dense, equal_nan=True)
    assert np.isnan(got[3]).all()


def test_influence_pairs_are_exactly_the_selected_entries():
    rng = np.random.default_rng(1)
    member = rng.random((30, 50)) < 0.7
    train_correct = rng.random((30, 50)) < np.where(member, 0.9, 0.4)
    test_correct = rng.random((30, 20)) < 0.5
    mem = memorization(member, train_correct)["mem"].to_numpy()
    dense = dense_influence(member, test_correct)
    expect = {(i, j) for i, j in zip(*np.nonzero(dense >= 0.15)) if mem[i] >= 0.25}
    pairs = influence_pairs(member, test_correct, mem, 0.25, 0.15, block=8)
    assert set(zip(pairs["train_pos"], pairs["test_pos"])) == expect and len(expect) > 5
    np.testing.assert_allclose(pairs["infl"], dense[pairs["train_pos"], pairs["test_pos"]])


def simulate(t, n=300, n_test=50, seed=0):
    """Correctness drawn from known P[correct | in] and P[correct | out]; test example j depends on
    the membership of training example j (its 'copy'), with true influence q_in - q_out."""
    rng = np.random.default_rng(seed + 100)
    p_in, p_out = rng.uniform(0.6, 1.0, n), rng.uniform(0.0, 0.6, n)
    q_in, q_out = rng.uniform(0.5, 1.0, n_test), rng.uniform(0.0, 0.5, n_test)
    member = subset_masks(n, t, 0.7, seed)
    draw = np.random.default_rng([seed, t])
    correct = draw.random((t, n)) < np.where(member, p_in, p_out)
    test_correct = draw.random((t, n_test)) < np.where(member[:, :n_test], q_in, q_out)
    return member, correct, test_correct, p_in - p_out, q_in - q_out


def test_estimates_converge_as_t_grows_with_calibrated_errors():
    rmse_mem, rmse_infl = [], []
    for t in [25, 100, 400, 1600]:
        member, correct, test_correct, true_mem, true_infl = simulate(t)
        mem = memorization(member, correct)
        err = mem["mem"].to_numpy() - true_mem
        rmse_mem.append(np.sqrt(np.nanmean(err**2)))
        infl = dense_influence(member, test_correct)
        rmse_infl.append(np.sqrt(np.mean((np.diag(infl[: len(true_infl)]) - true_infl) ** 2)))
        if t == 1600:
            covered = np.abs(err) <= 1.96 * mem["se"].to_numpy()
            assert 0.88 <= covered.mean() <= 0.99  # the standard error is calibrated
            off_diagonal = infl[: len(true_infl)][~np.eye(len(true_infl), dtype=bool)]
            assert np.abs(off_diagonal).mean() < 0.05  # unrelated training examples: no influence
    assert all(a > b for a, b in zip(rmse_mem, rmse_mem[1:])), rmse_mem
    assert all(a > b for a, b in zip(rmse_infl, rmse_infl[1:])), rmse_infl
    assert rmse_mem[0] / rmse_mem[-1] > 4 and rmse_mem[-1] < 0.03  # ~ 1/sqrt(t): 64x runs -> ~8x smaller
    assert rmse_infl[-1] < 0.04


def test_consistency_of_identical_estimates_is_perfect_and_hand_case():
    rng = np.random.default_rng(2)
    member = rng.random((40, 60)) < 0.7
    correct = rng.random((40, 60)) < np.where(member, 0.95, 0.3)
    test_correct = rng.random((40, 25)) < 0.5
    mem = memorization(member, correct)["mem"].to_numpy()
    for row in mem_consistency(mem, mem, [0.1, 0.5]) + infl_consistency(
            member, test_correct, mem, member, test_correct, mem, [0.05, 0.2], 0.25, block=7):
        if row["n_either"]:
            assert row["jaccard"] == 1.0 and row["mean_abs_diff"] == 0.0
    a, b = np.array([0.9, 0.5, 0.1, np.nan]), np.array([0.7, 0.1, 0.6, 0.8])
    row = mem_consistency(a, b, [0.4])[0]
    # I = {0, 1}, I' = {0, 2, 3}: intersection 1, union 4; |diff| over the union: 0.2, 0.4, 0.5, NaN
    assert (row["n_a"], row["n_b"], row["n_both"], row["n_either"]) == (2, 3, 1, 4)
    assert row["jaccard"] == pytest.approx(0.25) and row["mean_abs_diff"] == pytest.approx(1.1 / 4)
