"""The estimators beside mem (pipeline.feldman.estimators, .lira) and their convergence (.convergence),
on simulated runs whose answers are known: hand-computed values, a direct transcription of LiRA's
formulas, and Gaussian cases whose correlations have closed forms."""

from __future__ import annotations

import functools
import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy.stats import norm

from pipeline import io
from pipeline.atlas.columns import describe, score_columns
from pipeline.atlas.join import build
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.feldman import columns, convergence, estimators, lira
from pipeline.feldman.estimators import learning_speed, margin_memorization, memorization
from pipeline.feldman.runs import Runs, read_runs, with_records

LOG3 = np.log(3.0)  # sigma(log 3) = 0.75, sigma(-log 3) = 0.25


# ---------------------------------------------------------------- mem_margin and learning_speed by hand

def test_mem_margin_by_hand():
    # 8 runs, members 0-3. Example 0: members' sigma(m) 0.75, 0.25, 0.75, 0.25 (mean 0.5, var 1/12),
    # non-members 0.25 each (mean 0.25, var 0): mem_margin 0.25, se sqrt(1/12 / 4).
    # Example 1: margins 0 everywhere: 0, se 0. Example 2: one member's margin NaN (left out):
    # members 0.75, 0.75, 0.75, non-members 0.25, 0.75, 0.25, 0.75 -> 0.75 - 0.5 = 0.25.
    member = np.zeros((8, 3), bool)
    member[:4] = True
    margin = np.zeros((8, 3), np.float32)
    margin[:, 0] = [LOG3, -LOG3, LOG3, -LOG3, -LOG3, -LOG3, -LOG3, -LOG3]
    margin[:, 2] = [LOG3, LOG3, LOG3, np.nan, -LOG3, LOG3, -LOG3, LOG3]
    value, se = margin_memorization(member, margin)
    np.testing.assert_allclose(value, [0.25, 0.0, 0.25], atol=1e-7)
    var_out_2 = np.var([0.25, 0.75, 0.25, 0.75], ddof=1)
    np.testing.assert_allclose(se, [np.sqrt(1 / 12 / 4), 0.0, np.sqrt(var_out_2 / 4)], atol=1e-7)


def test_mem_margin_is_nan_without_margins_and_clipped_form_by_hand():
    member = np.array([[True], [True], [False], [False]])
    value, se = margin_memorization(member, np.full((4, 1), np.nan))
    assert np.isnan(value).all() and np.isnan(se).all()
    # clipped at c = 5: (clip(m) / 10 + 1/2): members 10 -> 1, 1 -> 0.6; non-members -10 -> 0, -1 -> 0.4
    value, _ = margin_memorization(member, np.array([[10.0], [1.0], [-10.0], [-1.0]]), form="clipped")
    np.testing.assert_allclose(value, [0.8 - 0.2])


def test_large_margins_give_mem():
    rng = np.random.default_rng(0)
    member = rng.random((40, 30)) < 0.7
    correct = rng.random((40, 30)) < 0.6
    margin = np.where(correct, 60.0, -60.0)  # sigma(+-60) is 1 or 0 to float precision
    np.testing.assert_allclose(margin_memorization(member, margin)[0], memorization(member, correct)["mem"])


def test_learning_speed_by_hand():
    # run 0 trained 10 epochs, run 1 20, run 2 10 (example 1 not in it); example 0 right in 5 of 10,
    # 20 of 20 and 0 of 10 epochs -> (0.5 + 1 + 0) / 3; example 1: (1 + 0.25) / 2; example 2 in no run.
    member = np.array([[True, True, False], [True, True, False], [True, False, False]])
    epoch_correct = np.array([[5, 10, 0], [20, 5, 0], [0, 0, 0]], np.float32)
    speed, se = learning_speed(member, epoch_correct, np.array([10, 20, 10]))
    np.testing.assert_allclose(speed[:2], [0.5, 0.625])
    # shares (0.5, 1, 0): sample variance 0.25 over 3 runs; (1, 0.25): 0.28125 over 2
    np.testing.assert_allclose(se[:2], [np.sqrt(0.25 / 3), np.sqrt(0.28125 / 2)])
    assert np.isnan(speed[2]) and np.isnan(se[2])
    assert np.isnan(learning_speed(member, np.full((3, 3), np.nan), np.full(3, np.nan))[0]).all()


# ---------------------------------------------------------------- LiRA against the paper's formulas

def lira_transcribed(member, phi):
    """Carlini et al. 2022, online LiRA, written out per target model and example: the shadows are the
    other models; Lambda = log N(phi; mu_in, s_in^2) - log N(phi; mu_out, s_out^2); fixed variance: s^2
    pooled over the examples (sum of squares over degrees of freedom of the shadows). Per example: the
    AUC over target models by counting pairs."""
    t, n = phi.shape
    ratio = {"online": np.full((t, n), np.nan), "fixed": np.full((t, n), np.nan)}
    for r in range(t):
        shadows = np.arange(t) != r
        pooled = {}
        for group in (True, False):
            ss = df = 0.0
            for i in range(n):
                x = phi[shadows & (member[:, i] == group), i]
                if len(x) >= 2:
                    ss += ((x - x.mean()) ** 2).sum()
                    df += len(x) - 1
            pooled[group] = ss / df
        for i in range(n):
            x_in = phi[shadows & member[:, i], i]
            x_out = phi[shadows & ~member[:, i], i]
            ratio["online"][r, i] = (norm.logpdf(phi[r, i], x_in.mean(), x_in.std(ddof=1))
                                     - norm.logpdf(phi[r, i], x_out.mean(), x_out.std(ddof=1)))
            ratio["fixed"][r, i] = (norm.logpdf(phi[r, i], x_in.mean(), np.sqrt(pooled[True]))
                                    - norm.logpdf(phi[r, i], x_out.mean(), np.sqrt(pooled[False])))
    auc = {}
    for name, values in ratio.items():
        auc[name] = np.array([np.mean([(a > b) + 0.5 * (a == b) for a in values[member[:, i], i]
                                       for b in values[~member[:, i], i]]) for i in range(n)])
    return ratio, auc


def test_lira_matches_the_transcribed_formulas():
    rng = np.random.default_rng(1)
    t, n = 14, 6
    member = np.zeros((t, n), bool)
    for i in range(n):  # 7 or 8 members each: every leave-one-out group keeps >= 3 shadows
        member[rng.permutation(t)[:7 + i % 2], i] = True
    phi = rng.normal(0, 1, (t, n)) + member * np.linspace(0, 2, n) + rng.normal(0, 1, n)
    expected_ratio, expected_auc = lira_transcribed(member, phi)
    ratios = lira.log_ratios(member, phi)
    scores = lira.per_example(member, phi)
    for name in lira.VARIANTS:
        np.testing.assert_allclose(ratios[name], expected_ratio[name], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(scores[name], expected_auc[name], rtol=1e-12)


def test_lira_per_example_auc_reaches_the_gaussian_answer():
    # phi ~ N(d_i, 1) with the example, N(0, 1) without: the likelihood ratio is monotone in phi, so the
    # per-example AUC tends to P(N(d, 1) > N(0, 1)) = Phi(d / sqrt 2) for both variants.
    rng = np.random.default_rng(2)
    t, shifts = 2000, np.array([0.0, 0.5, 1.0, 2.0, 3.0])
    member = rng.random((t, len(shifts))) < 0.7
    phi = rng.normal(0, 1, member.shape) + member * shifts
    scores = lira.per_example(member, phi)
    for name in lira.VARIANTS:
        np.testing.assert_allclose(scores[name], norm.cdf(shifts / np.sqrt(2)), atol=0.03)


def test_lira_undefined_cases_are_nan():
    member = np.array([[True, True], [True, False], [False, False], [False, False]])
    phi = np.arange(8, dtype=float).reshape(4, 2)
    phi[0, 0] = np.nan
    scores = lira.per_example(member, phi)
    # example 1 has one member: no shadow in the member group when it is the target -> its online
    # and fixed Lambda for that model are NaN; what remains has no member row, so the AUC is NaN
    assert np.isnan(scores["online"][1]) and np.isnan(scores["fixed"][1])
    assert np.isnan(lira.per_example(member, np.full((4, 2), np.nan))["online"]).all()


def test_membership_table_roc_by_hand(monkeypatch):
    def table(member, scores):  # models x examples whose Lambda we fix through a monkeypatched ratio_blocks
        monkeypatch.setattr(lira, "ratio_blocks", lambda m, p: iter([(slice(None), dict.fromkeys(lira.VARIANTS,
                                                                                                  scores))]))
        return lira.membership_table(member, np.zeros(scores.shape)).query("variant == 'online'")

    # members 3, 2, 2; non-members 1, 0, -1: every member above every non-member
    rows = table(np.array([[True, False, True], [False, True, False]]), np.array([[3.0, 1.0, 2.0], [0.0, 2.0, -1.0]]))
    assert rows["auc"].iloc[0] == 1.0 and rows["tpr_at_fpr_0_1pct"].iloc[0] == 1.0 and (rows["tpr"] == 1.0).all()
    assert rows["n_member_pairs"].iloc[0] == 3 and rows["n_nonmember_pairs"].iloc[0] == 3
    # a tie: member and non-member at 1 (one ROC step to FPR 1, TPR 1/2), the other member at 0
    rows = table(np.array([[True, False, True]]), np.array([[1.0, 1.0, 0.0]]))
    assert rows["auc"].iloc[0] == 0.25  # the pairs (1 vs 1: 1/2, 0 vs 1: 0) = the area under the steps
    assert (rows["tpr"].iloc[:-1] == 0.0).all() and rows["tpr"].iloc[-1] == 1.0  # FPR < 1: no threshold


def test_column_auc_counts_every_pair_with_ties_and_missing_scores():
    rng = np.random.default_rng(5)
    scores = rng.integers(0, 4, (9, 40)).astype(float)  # ties everywhere but in the last columns
    scores[:, 30:] = rng.normal(size=(9, 10))
    scores[rng.random(scores.shape) < 0.1] = np.nan
    positive = rng.random(scores.shape) < 0.5
    expected = []
    for a, p in zip(scores.T, positive.T):
        pos, neg = a[p & ~np.isnan(a)], a[~p & ~np.isnan(a)]
        expected.append(np.mean([(x > y) + 0.5 * (x == y) for x in pos for y in neg]) if len(pos) and len(neg)
                        else np.nan)
    np.testing.assert_allclose(lira.column_auc(scores, positive), expected, rtol=1e-15)


def sorted_roc(scores, positive):
    """(fpr, tpr) at each distinct threshold from the highest down, sorting every pair: what
    ``membership_table`` gets without holding them all."""
    order = np.argsort(-scores, kind="stable")
    s, p = scores[order], positive[order]
    last = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    tp = np.cumsum(p)[last]
    return np.r_[0.0, (last + 1 - tp) / (~positive).sum()], np.r_[0.0, tp / positive.sum()]


def test_membership_table_is_the_roc_of_every_pair_sorted():
    rng = np.random.default_rng(6)
    member = rng.random((60, 50)) < 0.7
    phi = np.round(rng.normal(0, 1, member.shape) + member, 1)  # tied statistics, tied ratios
    phi[rng.random(member.shape) < 0.05] = np.nan
    table = lira.membership_table(member, phi)
    for name, ratio in lira.log_ratios(member, phi).items():
        defined = ~np.isnan(ratio)
        fpr, tpr = sorted_roc(ratio[defined], member[defined])
        rows = table[table["variant"] == name]
        best = [tpr[np.searchsorted(fpr, bound, side="right") - 1] for bound in lira.FPR_GRID]
        np.testing.assert_array_equal(rows["tpr"], best)  # the largest TPR with FPR <= the bound, to the bit
        assert rows["tpr_at_fpr_1pct"].iloc[0] == tpr[np.searchsorted(fpr, 0.01, side="right") - 1]
        assert rows["auc"].iloc[0] == pytest.approx(np.dot(np.diff(fpr), tpr[1:] + tpr[:-1]) / 2, abs=1e-14)


def test_membership_table_on_gaussian_runs():
    rng = np.random.default_rng(3)
    member = rng.random((400, 200)) < 0.7
    shift = 1.0
    phi = rng.normal(0, 1, member.shape) + member * shift
    table = lira.membership_table(member, phi)
    assert set(table["variant"]) == set(lira.VARIANTS)
    assert list(table.columns) == list(lira.MEMBERSHIP_COLUMNS)
    for _, rows in table.groupby("variant"):
        assert rows["n_member_pairs"].iloc[0] == member.sum()
        assert rows["n_nonmember_pairs"].iloc[0] == (~member).sum()
        np.testing.assert_allclose(rows["auc"].iloc[0], norm.cdf(shift / np.sqrt(2)), atol=0.01)
        # N(1, 1) vs N(0, 1): the 1 % FPR threshold is z = 2.326, TPR = 1 - Phi(1.326) = 0.092
        np.testing.assert_allclose(rows["tpr_at_fpr_1pct"].iloc[0], 1 - norm.cdf(norm.ppf(0.99) - shift), atol=0.02)
        assert np.all(np.diff(rows["tpr"].to_numpy()) >= 0) and rows["tpr"].iloc[-1] == 1.0


def test_blocks_of_examples_give_what_whole_matrices_give(monkeypatch):
    """The estimators run a block of examples at a time to bound their memory; with blocks of 7
    examples (and LiRA's fixed variances pooled over all blocks) every number is the one-block one."""
    rng = np.random.default_rng(9)
    t, n = 40, 30
    member = rng.random((t, n)) < 0.7
    margin = (rng.normal(0, 1, (t, n)) + member).astype(np.float32)
    margin[3, 4] = np.nan
    runs = Runs(member, margin > 0, margin=margin, lira_statistic=margin - np.float32(0.3),
                epoch_correct=np.where(member, rng.integers(0, 6, (t, n)), 0).astype(np.float32),
                epochs=np.full(t, 5.0), cum_loss=np.where(member, rng.random((t, n)), 0).astype(np.float32))
    whole_columns = estimators.estimator_columns(runs)
    whole_table = lira.membership_table(member, runs.lira_statistic)
    monkeypatch.setattr(columns, "BLOCK_BYTES", 8 * t * 7)
    assert len(columns.column_blocks(t, n)) == 5
    pd.testing.assert_frame_equal(estimators.estimator_columns(runs), whole_columns, rtol=1e-12)
    pd.testing.assert_frame_equal(lira.membership_table(member, runs.lira_statistic), whole_table, rtol=1e-12)
    # the run-level AUC (area under the ROC's steps) is the pairs' AUC with ties 1/2
    ratio = lira.log_ratios(member, runs.lira_statistic)["online"]
    defined = ~np.isnan(ratio)
    pairs_auc = lira.column_auc(ratio[defined][:, None], member[defined][:, None])[0]
    assert whole_table.loc[whole_table["variant"] == "online", "auc"].iloc[0] == pytest.approx(pairs_auc, abs=1e-12)


# ---------------------------------------------------------------- lower variance of the margin estimator

def simulated_runs(rng, t, n, effect, noise=1.0, ratio=0.5):
    """Margins N(base_i + effect_i [i in J_r], noise^2); correctness their sign."""
    member = rng.random((t, n)) < ratio
    base = np.linspace(-1, 1, n)
    margin = (base + member * effect + rng.normal(0, noise, (t, n))).astype(np.float32)
    return Runs(member, margin > 0, margin=margin)


def test_margin_estimator_has_lower_variance_than_mem():
    # the same runs, repeated 300 times: per example, the spread of mem_margin across repetitions is
    # below that of mem, and so is its standard error, at the same mean effect scale
    rng = np.random.default_rng(4)
    n, effect = 40, np.full(40, 0.5)
    mems, margins, ses, margin_ses = [], [], [], []
    for _ in range(300):
        runs = simulated_runs(rng, 32, n, effect)
        table = memorization(runs.member, runs.correct)
        value, se = margin_memorization(runs.member, runs.margin)
        mems.append(table["mem"]), margins.append(value), ses.append(table["se"]), margin_ses.append(se)
    var_mem, var_margin = np.nanvar(mems, axis=0), np.nanvar(margins, axis=0)
    assert (var_margin < var_mem).all()
    assert np.nanmean(var_margin) < 0.6 * np.nanmean(var_mem)
    assert np.nanmean(margin_ses) < np.nanmean(ses)
    # the standard error says what the spread is
    np.testing.assert_allclose(np.nanmean(margin_ses, axis=0) ** 2, var_margin, rtol=0.35)


# ---------------------------------------------------------------- convergence with a known answer

def test_convergence_matches_the_gaussian_reliability():
    # Near 0, sigma(m) = 1/2 + m / 4, so mem_margin ~ (mean_in m - mean_out m) / 4 with
    # m ~ N(d_i [i in J_r], s^2): an estimate of d_i / 4 with noise variance s^2 (1/n_in + 1/n_out) / 16
    # and d_i ~ N(0, tau^2) across examples. Two halves of t' runs (ratio 1/2: n_in ~ n_out ~ t'/2)
    # then correlate at rho = tau^2 / (tau^2 + 4 s^2 / t') (Pearson), and Spearman = 6/pi asin(rho/2).
    rng = np.random.default_rng(5)
    t, n, s, tau = 256, 3000, 0.1, 0.02
    member = rng.random((t, n)) < 0.5
    d = rng.normal(0, tau, n)
    margin = (member * d + rng.normal(0, s, (t, n))).astype(np.float32)
    runs = Runs(member, margin > 0, margin=margin)
    table = convergence.convergence_table(runs, ["mem_margin"], n_splits=3, seed=0)
    assert table["runs"].tolist() == [8, 16, 32, 64, 128]
    for _, row in table.iterrows():
        # n_in ~ Binomial(t', 1/2): E[1/n_in + 1/n_out] is a little above 4/t'
        k = row["runs"]
        inverse = np.mean([1 / a + 1 / (k - a) for a in rng.binomial(k, 0.5, 20000) if 0 < a < k])
        rho = tau ** 2 / (tau ** 2 + s ** 2 * inverse)
        assert row["spearman"] == pytest.approx(6 / np.pi * np.arcsin(rho / 2), abs=0.03)
    # Spearman-Brown from t' predicts the measured split-half reliability at 2 t'
    projected = convergence.spearman_brown(table["spearman"].to_numpy()[:-1], 2)
    np.testing.assert_allclose(projected, table["spearman"].to_numpy()[1:], atol=0.04)


def test_spearman_brown_and_runs_needed_by_hand():
    assert convergence.spearman_brown(0.5, 2) == pytest.approx(2 / 3)
    assert convergence.spearman_brown(0.71, 4) == pytest.approx(4 * 0.71 / (1 + 3 * 0.71))
    assert convergence.runs_for(0.5, 64) == pytest.approx(64 * 9)  # 0.9 needs k = 9 times the runs
    assert convergence.runs_for(0.9, 64) == pytest.approx(64)
    assert np.isnan(convergence.spearman_brown(1.0, 2)) and np.isnan(convergence.runs_for(-0.1, 8))
    assert convergence.sizes(64) == [8, 16, 32] and convergence.sizes(15) == [] and convergence.sizes(16) == [8]
    assert convergence.sizes(2000)[-3:] == [256, 512, 1000] and convergence.sizes(40) == [8, 16, 20]


def test_convergence_sentence_and_identical_halves():
    rng = np.random.default_rng(6)
    runs = simulated_runs(rng, 64, 200, np.linspace(0, 3, 200))
    runs.epoch_correct = np.where(runs.member, 5, 0).astype(np.float32)
    runs.epochs = np.full(64, 10.0)
    runs.cum_loss = np.where(runs.member, np.linspace(3, 0, 200) + rng.normal(0, 0.1, (64, 200)), 0).astype(np.float32)
    names = estimators.available(runs)
    assert names == list(estimators.ESTIMATORS)
    table = convergence.convergence_table(runs, names, n_splits=2, seed=0)
    again = convergence.convergence_table(runs, names, n_splits=2, seed=0)
    pd.testing.assert_frame_equal(table, again)  # seeded splits: deterministic
    assert list(table.columns) == list(convergence.CONVERGENCE_COLUMNS)
    # slowness is 0.5 for every example in every half: constant, so no rank correlation, and its top
    # sets are one block of ties that all runs keep (a tie of the estimand), taken whole
    slowness = table[table["estimator"] == "slowness"]
    assert slowness["spearman"].isna().all() and (slowness["top1_tied_estimand"] == 1).all()
    assert (slowness["top1_size"] > 10 * slowness["top1_target"]).all() and (slowness["jaccard_top1"] == 1).all()
    lines = convergence.sentences(table)
    assert len(lines) == len(names) + 1 and lines[-1].startswith("recommended: ")
    assert [line for line in lines if line.startswith("mem_margin at t' = 32: top 1 % Jaccard")]
    runs.margin = np.full(runs.member.shape, np.nan, np.float32)
    runs.lira_statistic = runs.margin
    assert estimators.available(runs) == ["mem", "slowness", "cum_loss"]


def test_too_few_runs_give_an_empty_convergence_table_and_a_figure():
    """Runs brought from a file may be fewer than two halves of 8: no agreement to report, no crash."""
    runs = simulated_runs(np.random.default_rng(7), 12, 50, np.ones(50))
    table = convergence.convergence_table(runs, ["mem", "mem_margin"], n_splits=2, seed=0)
    assert table.empty and list(table.columns) == list(convergence.CONVERGENCE_COLUMNS)
    assert convergence.sentences(table) == []
    convergence.plotting.close(convergence.figure(table, "too few"))


# ---------------------------------------------------------------- shard tables and the atlas

def write_shard(path, runs, rows, with_margins=True, logit_conf=None):
    columns = {"run": pa.array(rows, pa.int32()),
               "member": pa.array([runs.member[r].tolist() for r in rows], pa.list_(pa.bool_())),
               "train_correct": pa.array([runs.correct[r].tolist() for r in rows], pa.list_(pa.bool_())),
               "test_correct": pa.array([runs.test_correct[r].tolist() for r in rows], pa.list_(pa.bool_()))}
    if with_margins:
        columns["train_margin"] = pa.array([runs.margin[r].tolist() for r in rows], pa.list_(pa.float32()))
        columns["train_epoch_correct"] = pa.array([runs.epoch_correct[r].astype(np.uint8).tolist() for r in rows],
                                                  pa.list_(pa.uint8()))
        columns["epochs"] = pa.array([int(runs.epochs[r]) for r in rows], pa.int32())
        columns["train_cum_loss"] = pa.array([runs.cum_loss[r].tolist() for r in rows], pa.list_(pa.float32()))
    if logit_conf is not None:
        columns["train_logit_conf"] = pa.array([logit_conf[r].tolist() for r in rows], pa.list_(pa.float32()))
    io.write_parquet(pa.table(columns), path)


def test_read_runs_in_run_order_and_nan_without_margins(tmp_path, caplog):
    rng = np.random.default_rng(7)
    runs = simulated_runs(rng, 6, 5, np.ones(5))
    runs.epoch_correct = rng.integers(0, 10, (6, 5)).astype(np.float32) * runs.member
    runs.epochs = np.full(6, 10.0)
    write_shard(tmp_path / "b.parquet", runs, [3, 4, 5])
    write_shard(tmp_path / "a.parquet", runs, [0, 1, 2])
    back = read_runs([tmp_path / "b.parquet", tmp_path / "a.parquet"])
    np.testing.assert_array_equal(back.member, runs.member)
    np.testing.assert_array_equal(back.margin, runs.margin)
    np.testing.assert_array_equal(back.epoch_correct, runs.epoch_correct)
    write_shard(tmp_path / "old.parquet", runs, [0, 1, 2], with_margins=False)
    with caplog.at_level(logging.WARNING):
        old = read_runs([tmp_path / "old.parquet"])
    assert np.isnan(old.margin).all() and np.isnan(old.epochs).all()
    assert "train_margin" in caplog.text


def test_read_runs_reads_the_records_asked_for_a_few_runs_at_a_time(tmp_path, monkeypatch):
    rng = np.random.default_rng(9)
    runs = simulated_runs(rng, 7, 5, np.ones(5))
    runs.epoch_correct = rng.integers(0, 10, (7, 5)).astype(np.float32) * runs.member
    runs.epochs, runs.cum_loss = np.full(7, 10.0), rng.random((7, 5)).astype(np.float32)
    write_shard(tmp_path / "a.parquet", runs, [4, 0, 6, 2, 5])
    write_shard(tmp_path / "b.parquet", runs, [1, 3])
    monkeypatch.setattr(io, "parquet_batches", functools.partial(io.parquet_batches, rows=2))
    paths = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    loss = read_runs(paths, ("cum_loss",))  # batches of 2 runs, runs out of order across them
    np.testing.assert_array_equal(loss.member, runs.member)
    np.testing.assert_array_equal(loss.cum_loss, runs.cum_loss)
    assert np.isnan(loss.margin).all() and np.isnan(loss.lira_statistic).all()
    both = with_records(loss, paths, ("margin", "epoch_correct"))
    np.testing.assert_array_equal(both.margin, runs.margin)
    np.testing.assert_array_equal(both.epoch_correct, runs.epoch_correct)
    np.testing.assert_array_equal(both.epochs, runs.epochs)
    assert both.member is loss.member and both.cum_loss is loss.cum_loss  # nothing read twice
    half = both.take(np.arange(3))
    assert half.lira_statistic.shape == (3, 5) and half.lira_statistic.strides == (0, 0)  # unrecorded: no memory
    table = pa.table({"run": pa.array([0], pa.int32()), **{c: pa.array([[True] * 5], pa.list_(pa.bool_()))
                                                           for c in ("member", "train_correct", "test_correct")},
                      "train_margin": pa.array([[1.0] * 4], pa.list_(pa.float32()))})
    io.write_parquet(table, tmp_path / "short.parquet")
    with pytest.raises(PipelineError, match="short.parquet: column 'train_margin' has lists of other lengths than 5"):
        read_runs([tmp_path / "short.parquet"])


def test_lira_reads_the_logit_scaled_confidence_and_falls_back_to_margins_for_every_run(tmp_path, caplog):
    rng = np.random.default_rng(8)
    runs = simulated_runs(rng, 6, 5, np.ones(5))
    runs.epoch_correct, runs.epochs = np.zeros((6, 5), np.float32), np.full(6, 3.0)
    logit_conf = (runs.margin - rng.random((6, 5))).astype(np.float32)
    write_shard(tmp_path / "a.parquet", runs, [0, 1, 2], logit_conf=logit_conf)
    write_shard(tmp_path / "b.parquet", runs, [3, 4, 5], logit_conf=logit_conf)
    with caplog.at_level(logging.WARNING):
        both = read_runs([tmp_path / "a.parquet", tmp_path / "b.parquet"])
    np.testing.assert_array_equal(both.lira_statistic, logit_conf)
    np.testing.assert_array_equal(both.margin, runs.margin)
    assert "logit-scaled" not in caplog.text
    # one shard without it (written before it was recorded): LiRA uses the margin of every run, not a mix
    write_shard(tmp_path / "b.parquet", runs, [3, 4, 5])
    with caplog.at_level(logging.WARNING):
        mixed = read_runs([tmp_path / "a.parquet", tmp_path / "b.parquet"])
    np.testing.assert_array_equal(mixed.lira_statistic, runs.margin)
    assert "3 of 6 runs have no logit-scaled confidence (train_logit_conf): lira uses every run's margin" in caplog.text


def test_atlas_gets_the_estimators_after_every_other_column(tmp_path):
    split = np.array(["train", "train", "test", "train"])
    Dataset.from_arrays(np.zeros((4, 2, 2, 1), np.uint8), np.array([0, 1, 0, 1]), split, "toy").save(tmp_path / "d")
    table = pd.DataFrame({"index": [3, 0, 1], "label": [1, 0, 1], "mem": [0.3, 0.0, 0.1], "se": [0.1] * 3,
                          "mem_margin": [0.2, 0.05, 0.1], "mem_margin_se": [0.01] * 3, "lira": [0.9, 0.5, 0.6],
                          "lira_fixed": [np.nan] * 3, "learning_speed": [0.25, 1.0, 0.5]})
    io.write_parquet(table, tmp_path / "mem.parquet")
    io.write_parquet(pd.DataFrame({"index": [3, 0, 1], "label": [1, 0, 1], "rho": [1.0, 2.0, 3.0]}), tmp_path / "rho.parquet")
    atlas = build(tmp_path / "d", feldman=[("mlp", tmp_path / "mem.parquet")], rho=tmp_path / "rho.parquet")
    assert list(atlas.columns) == ["index", "label", "feldman_mem_mlp", "feldman_se_mlp", "kfold_rho",
                                   "feldman_mem_margin_mlp", "feldman_mem_margin_se_mlp", "feldman_lira_mlp",
                                   "feldman_slowness_mlp"]  # lira_fixed all NaN: no column
    np.testing.assert_allclose(atlas["feldman_slowness_mlp"], [0.0, 0.5, 0.75])  # rows 0, 1, 3
    np.testing.assert_allclose(atlas["feldman_lira_mlp"], [0.5, 0.6, 0.9])
    assert score_columns(atlas.columns) == ["feldman_mem_mlp", "kfold_rho", "feldman_mem_margin_mlp",
                                            "feldman_lira_mlp", "feldman_slowness_mlp"]
    assert describe("feldman_mem_margin_se_mlp").score is False
    assert "architecture mlp" in describe("feldman_lira_fixed_mlp").meaning
