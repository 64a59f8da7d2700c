"""Atlas analysis: rank correlations with bootstrap intervals, top sets, Jaccard, flagged examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from pipeline.atlas.analysis import (bootstrap_intervals, bootstrap_spearman, flagged_table, jaccard, pairs_table,
                                     spearman, top_set)


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 5, 200).astype(float)
    y = x + rng.normal(0, 2, 200)
    assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert np.isnan(spearman(np.ones(10), y[:10]))  # constant score: undefined, not 0


def test_bootstrap_interval_of_monotone_scores_is_at_one():
    x = np.random.default_rng(2).normal(size=300)
    low, high = bootstrap_spearman(x, np.exp(x), 300, 0.95, np.random.default_rng(0))
    assert low > 0.999 and high == pytest.approx(1.0)


def test_bootstrap_interval_of_independent_scores_covers_zero_and_is_calibrated():
    covered = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        x, y = rng.normal(size=200), rng.normal(size=200)
        low, high = bootstrap_spearman(x, y, 200, 0.9, rng)
        assert high - low < 0.4  # ~ 2 x 1.645 / sqrt(200)
        covered += low <= 0.0 <= high
    assert covered >= 30  # nominal 90 %: 36 of 40 expected


def test_bootstrap_interval_excludes_zero_for_a_real_correlation():
    rng = np.random.default_rng(3)
    x = rng.normal(size=500)
    low, high = bootstrap_spearman(x, x + rng.normal(size=500), 300, 0.95, rng)
    assert 0.5 < low < high < 0.8  # true Spearman of (x, x + e) with unit variances is about 0.68


def test_shared_bootstrap_is_ranking_each_resampled_copy():
    """Every pair's correlations over the shared resamples, from the examples' counts in each, are bit
    for bit those of ranking the resampled copies (drawn as the counts were): ties, a constant score."""
    rng = np.random.default_rng(4)
    n = 300
    base = rng.normal(size=n)
    columns = np.stack([base, np.round(base + rng.normal(size=n), 1), rng.integers(0, 4, n).astype(float),
                        np.r_[np.ones(n - 1), 2.0]])
    pairs = [(0, 1), (0, 2), (1, 2), (2, 3), (0, 3)]
    found = bootstrap_intervals(columns, pairs, 120, 0.9, np.random.default_rng(7), chunk=50)
    draws = np.random.default_rng(7)
    rows = np.concatenate([draws.integers(0, n, size=(size, n)) for size in (50, 50, 20)])
    alpha = 1 - 0.9
    for (a, b), interval in zip(pairs, found):
        values = np.array([spearman(columns[a][r], columns[b][r]) for r in rows])
        values = values[~np.isnan(values)]  # (2, 3): resamples without the one 2.0 are constant
        assert interval == tuple(np.quantile(values, [alpha / 2, 1 - alpha / 2]))
    # one pair alone: the same draws as the pair-by-pair bootstrap of the first pair
    assert bootstrap_spearman(columns[0], columns[1], 120, 0.9, np.random.default_rng(7), chunk=50) == found[0]


def test_pairs_on_the_same_examples_share_the_first_pairs_resamples():
    frame = atlas()
    table = pairs_table(frame, 0.05, 100, 0.9, seed=3)
    first = table.iloc[0]
    x, y = frame[first["score_a"]].to_numpy(float), frame[first["score_b"]].to_numpy(float)
    assert (first["ci_low"], first["ci_high"]) == bootstrap_spearman(x, y, 100, 0.9, np.random.default_rng([3, 0, 1]))


def test_top_set_takes_the_top_fraction_and_ignores_missing_and_the_minimum():
    values = np.arange(100.0)
    assert np.flatnonzero(top_set(values, 0.05)).tolist() == [95, 96, 97, 98, 99]
    counts = pd.array([0] * 97 + [3, 1, pd.NA], dtype="Int64")  # mostly zero counts, one missing
    assert np.flatnonzero(top_set(counts, 0.05)).tolist() == [97, 98]
    assert not top_set(np.zeros(50), 0.05).any()  # a constant score flags nothing
    assert not top_set(pd.array([pd.NA] * 3, dtype="Int64"), 0.05).any()


def test_jaccard():
    a = np.array([1, 1, 1, 0, 0], bool)
    b = np.array([0, 1, 1, 1, 0], bool)
    assert jaccard(a, b) == pytest.approx(2 / 4)
    assert jaccard(a, a) == 1.0
    assert np.isnan(jaccard(np.zeros(5, bool), np.zeros(5, bool)))


def atlas(n=400, seed=5):  # seed 5: the independent score has a sample Spearman of 0.006
    rng = np.random.default_rng(seed)
    mem = rng.uniform(size=n)
    return pd.DataFrame({
        "index": np.arange(n, dtype=np.int64) * 2, "label": np.arange(n, dtype=np.int64) % 10,
        "feldman_mem_mlp": mem, "feldman_se_mlp": np.full(n, 0.1),
        "kfold_M": mem * 10 + rng.normal(0, 0.01, n),    # same ranking as mem
        "kfold_rho": rng.uniform(size=n),                # independent of both
        "mrgan_nn_tau0_seed0": pd.array(np.zeros(n, np.int64)),
    })


def test_pairs_table_compares_every_pair_of_scores_once():
    table = pairs_table(atlas(), 0.05, 200, 0.95, seed=0)
    pairs = list(zip(table["score_a"], table["score_b"]))
    assert pairs == [("feldman_mem_mlp", "kfold_M"), ("feldman_mem_mlp", "kfold_rho"),
                     ("feldman_mem_mlp", "mrgan_nn_tau0_seed0"), ("kfold_M", "kfold_rho"),
                     ("kfold_M", "mrgan_nn_tau0_seed0"), ("kfold_rho", "mrgan_nn_tau0_seed0")]
    row = table.set_index(["score_a", "score_b"])
    same = row.loc[("feldman_mem_mlp", "kfold_M")]
    assert same["spearman"] > 0.99 and same["ci_low"] > 0.99 and same["jaccard"] > 0.7
    independent = row.loc[("feldman_mem_mlp", "kfold_rho")]
    assert independent["ci_low"] < 0 < independent["ci_high"] and independent["jaccard"] < 0.3
    assert np.isnan(row.loc[("kfold_M", "mrgan_nn_tau0_seed0"), "spearman"])  # all-zero counts
    assert row.loc[("kfold_M", "mrgan_nn_tau0_seed0"), "n_top_b"] == 0
    assert "feldman_se_mlp" not in set(table["score_a"]) | set(table["score_b"])  # se is not a score
    again = pairs_table(atlas(), 0.05, 200, 0.95, seed=0)
    pd.testing.assert_frame_equal(table, again)  # seeded bootstrap: deterministic


def test_pairs_skip_rows_where_a_score_is_missing():
    frame = atlas()
    frame["diffusion_replicates_sweep_n4_w8_seed0"] = pd.array([1, 5, 2, 0] + [pd.NA] * (len(frame) - 4),
                                                                dtype="Int64")
    table = pairs_table(frame, 0.05, 50, 0.95, seed=0)
    assert (table.loc[table["score_b"] == "diffusion_replicates_sweep_n4_w8_seed0", "n"] == 4).all()


def test_single_score_gives_no_pairs_but_flagged_examples():
    frame = atlas()[["index", "label", "feldman_mem_mlp"]]
    assert len(pairs_table(frame, 0.05, 50, 0.95, seed=0)) == 0
    flagged = flagged_table(frame, 0.05)
    assert len(flagged) == 20 and flagged["all_methods"].all() and (flagged["only_method"] == "feldman").all()


def test_flagged_examples_by_every_method_and_by_one():
    frame = atlas()
    flagged = flagged_table(frame, 0.05)
    mem_top = set(frame["index"][top_set(frame["feldman_mem_mlp"], 0.05)])
    m_top = set(frame["index"][top_set(frame["kfold_M"], 0.05)])
    rho_top = set(frame["index"][top_set(frame["kfold_rho"], 0.05)])
    assert set(flagged["index"]) == mem_top | m_top | rho_top
    # two methods have scores (feldman, kfold); mrgan's counts are all zero but it still counts as a method
    assert (flagged["n_methods_total"] == 3).all()
    assert not flagged["all_methods"].any()
    both = flagged[flagged["n_methods"] == 2]
    assert set(both["index"]) == mem_top & (m_top | rho_top)
    assert both["only_method"].isna().all()
    only_kfold = set(flagged.loc[flagged["only_method"] == "kfold", "index"])
    assert only_kfold == (m_top | rho_top) - mem_top
    assert flagged["n_methods"].is_monotonic_decreasing


def test_correlation_figure_states_the_interval_level_it_draws():
    from pipeline.atlas.figures import correlation_matrix

    table = pairs_table(atlas(), 0.05, 50, 0.8, seed=0)
    fig = correlation_matrix(table, ["feldman_mem_mlp", "kfold_M", "kfold_rho", "mrgan_nn_tau0_seed0"], "atlas")
    assert "[80% bootstrap CI]" in fig.axes[0].get_title()


def test_alternative_estimates_are_compared_but_flag_nothing():
    """mem_margin, LiRA and slowness ride along with mem: pairs compare them, flagged stays mem's."""
    frame = atlas()
    rng = np.random.default_rng(7)
    with_estimates = frame.assign(feldman_mem_margin_mlp=rng.normal(size=len(frame)),
                                  feldman_lira_mlp=rng.normal(size=len(frame)),
                                  feldman_slowness_mlp=rng.normal(size=len(frame)))
    pd.testing.assert_frame_equal(flagged_table(with_estimates, 0.05), flagged_table(frame, 0.05))
    pairs = pairs_table(with_estimates, 0.05, 20, 0.95, seed=0)
    assert "feldman_mem_margin_mlp" in set(pairs["score_a"]) | set(pairs["score_b"])
