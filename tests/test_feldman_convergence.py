"""Split-half convergence on the memorized tail (pipeline.feldman.convergence) and the estimator that
ranks the tail from fewer runs (estimators.shrink, mem_margin_eb): top sets cut where no tie decides
them, against hand counts; the standard errors' coverage, against simulated runs whose noise is
known; the shrinkage, against a known answer; and workflow/configs/mnist.yaml at a tiny t."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, run_workflow
from pipeline import paths
from pipeline.feldman import convergence, estimators
from pipeline.feldman.runs import Runs


# ---------------------------------------------------------------- top sets and ties, by hand

def test_top_cut_without_a_tie_takes_exactly_k():
    values = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    mask, how = convergence.top_cut(values, 2, values)
    assert mask.tolist() == [True, True, False, False, False] and how == "none"


def test_a_tie_of_too_few_runs_at_the_cut_is_left_out():
    # the 2nd and 3rd largest are tied at t' (value 4), but the estimate from all runs tells them apart
    values = np.array([5.0, 4.0, 4.0, 2.0, 1.0])
    full = np.array([0.9, 0.7, 0.6, 0.2, 0.1])
    mask, how = convergence.top_cut(values, 2, full)
    assert mask.tolist() == [True, False, False, False, False] and how == "runs"
    # a whole data set tied at the top (mem = 1 at t' = 8): nothing is left, the split gives no Jaccard
    mask, how = convergence.top_cut(np.ones(5), 2, full)
    assert not mask.any() and how == "runs"


def test_a_tie_of_the_estimand_at_the_cut_is_taken_whole():
    # three flipped examples have mem = 1 at every t: the top 2 cannot be told apart, ever
    values = np.array([1.0, 1.0, 1.0, 0.5, 0.1])
    full = np.array([1.0, 1.0, 1.0, 0.4, 0.0])
    mask, how = convergence.top_cut(values, 2, full)
    assert mask.tolist() == [True, True, True, False, False] and how == "estimand"
    # from all runs, mem = 0.999 and 1 are the same flipped label when their standard errors say so
    full = np.array([1.0, 0.999, 0.998, 0.4, 0.0])
    assert convergence.top_cut(values, 2, full, np.full(5, 0.0012))[1] == "estimand"  # 0.002 <= 1.96 * 0.0012
    assert convergence.top_cut(values, 2, full, np.full(5, 0.0005))[1] == "runs"
    assert convergence.top_cut(values, 2, full)[1] == "runs"  # no error: any difference tells them apart


def test_split_agreement_counts_ties_of_both_kinds_against_a_hand_count():
    """200 examples, top 1 % = 2. Half a: a block of 3 tied at the cut that all runs tell apart (left
    out: set {0}); half b: no tie (set {0, 5}). Jaccard 1/2, sizes 1 and 2, one half cut at a tie of
    too few runs. Top 5 % = 10: examples 0..9 in both halves, no tie: Jaccard 1."""
    n = 200
    full = np.linspace(1, 0, n)
    a, b = full.copy(), full.copy()
    a[[1, 2, 3]] = 0.999  # a block straddling the cut at k = 2
    b[5] = 1.5  # example 5 first in b
    se = np.full(n, 0.01)
    row = convergence.split_agreement((a, se), (b, se), (full, np.zeros(n)), threshold=0.95)
    assert row["top1_target"] == 2 and row["jaccard_top1"] == pytest.approx(1 / 2)
    assert row["top1_size"] == 1.5 and row["top1_tied_runs"] == 0.5 and row["top1_tied_estimand"] == 0
    assert row["top1_splits"] == 1
    assert row["top5_target"] == 10 and row["jaccard_top5"] == 1.0 and row["top5_tied_runs"] == 0
    # memorized: >= 0.95 holds 0..9 in both halves (full's step is 1/199)
    assert row["jaccard_memorized"] == 1.0 and row["memorized_size"] == 10
    # the halves differ at examples 1-3 (by at most 0.015) and 5 (by 0.53): only example 5 lies beyond
    # 1.96 * sqrt(2) * 0.01 = 0.028
    assert row["coverage_95"] == pytest.approx((n - 1) / n)


def test_the_memorized_threshold_of_another_estimator_matches_mems_count():
    full = {"mem": np.array([1.0, 0.5, 0.3, 0.25, 0.1, np.nan]),
            "mem_margin": np.array([0.2, 0.1, 0.4, 0.05, 0.3, 0.0])}
    assert convergence.memorized_threshold("mem", full, 0.25) == (0.25, 4)
    assert convergence.memorized_threshold("mem_margin", full, 0.25) == (0.1, 4)


# ---------------------------------------------------------------- coverage and Spearman-Brown on simulated runs

def gaussian_runs(rng, t, n, tau=0.5, noise=1.0, ratio=0.7):
    """Margins N(d_i [i in J_r], noise^2), d_i ~ |N(0, tau^2)|; correctness their sign; cumulative
    losses softplus(-m) of members, so the loss tracks d_i."""
    member = rng.random((t, n)) < ratio
    d = np.abs(rng.normal(0, tau, n))
    margin = (member * d + rng.normal(0, noise, (t, n))).astype(np.float32)
    cum_loss = np.where(member, np.logaddexp(0, -(margin + 2 * d)), 0).astype(np.float32)
    return Runs(member, margin > 0, margin=margin, cum_loss=cum_loss), d


def test_coverage_is_nominal_where_the_standard_error_is_right_and_low_where_it_is_not():
    """mem_margin's standard error is the sampling sd of independent per-model terms, so its 95 %
    intervals cover about 95 %; mem's binomial error is 0 wherever p_in and p_out are 0 or 1, which
    happens often at t' = 8, so there it covers less."""
    runs, _ = gaussian_runs(np.random.default_rng(3), 128, 2000)
    table = convergence.convergence_table(runs, ["mem", "mem_margin"], n_splits=3, seed=0)
    margin = table[table["estimator"] == "mem_margin"].set_index("runs")["coverage_95"]
    mem = table[table["estimator"] == "mem"].set_index("runs")["coverage_95"]
    assert margin[64] == pytest.approx(0.95, abs=0.02) and margin[32] == pytest.approx(0.95, abs=0.03)
    assert mem[8] < margin[8] - 0.05


def test_spearman_brown_is_projected_only_where_it_held():
    runs, _ = gaussian_runs(np.random.default_rng(4), 256, 3000, tau=1.0)
    table = convergence.convergence_table(runs, ["mem_margin"], n_splits=3, seed=0)
    assert not table["spearman_brown_checked"].iloc[0]  # t' = 8: nothing before it to check against
    assert table["spearman_brown_full"].isna().iloc[0] and table["runs_for_0_9"].isna().iloc[0]
    checked = table[table["spearman_brown_checked"]]
    assert len(checked) >= 2 and checked["spearman_brown_full"].notna().all()
    for _, row in table.iloc[1:].iterrows():
        before = table[table["runs"] < row["runs"]].iloc[-1]
        predicted = convergence.spearman_brown(before["spearman"], row["runs"] / before["runs"])
        assert row["spearman_brown_checked"] == (abs(predicted - row["spearman"]) <= 0.02)


def test_a_record_at_a_time_and_halves_side_by_side_change_nothing(monkeypatch):
    """The job reads one record at a time (``load``) and measures two halves at once: the table is
    the one of every record held and the halves one after the other, to the bit."""
    rng = np.random.default_rng(6)
    runs, _ = gaussian_runs(rng, 40, 300)
    runs.lira_statistic = (runs.margin - rng.random(runs.margin.shape)).astype(np.float32)
    runs.epoch_correct = (runs.member * rng.integers(0, 4, runs.member.shape)).astype(np.float32)
    runs.epochs = np.full(40, 3.0)
    names = list(estimators.ESTIMATORS)
    bools = Runs(runs.member, runs.correct)
    loaded = []

    def load(field):
        loaded.append(field)
        return replace(bools, **{field: getattr(runs, field)}, epochs=runs.epochs)

    held = convergence.convergence_table(runs, names, n_splits=2, seed=0)
    assert all(convergence.side_by_side(size, runs.member.shape) for size in convergence.sizes(40))
    pd.testing.assert_frame_equal(convergence.convergence_table(bools, names, n_splits=2, seed=0, load=load), held)
    assert loaded == list(estimators.RECORD_FIELDS.values())  # each record read once
    monkeypatch.setattr(convergence, "SIDE_BY_SIDE_BYTES", 0)
    pd.testing.assert_frame_equal(convergence.convergence_table(runs, names, n_splits=2, seed=0), held)


# ---------------------------------------------------------------- the shrinkage estimator

def test_shrinkage_by_hand():
    """15 examples, bin_size 3 (5 bins: covariate 0-2, 3-5, ...). An example at its bin's median
    (1, 4, 7, ...) takes that bin's prior as it is. Bin 1: x = 0.1, 0.2, 0.6 (mean 0.3, variance
    0.14 / 3), per-model variances 0.02 in and 0.06 out from 2 and 3 models: noise 0.01 + 0.02 = 0.03,
    tau^2 = 0.14 / 3 - 0.03, w = tau^2 / (tau^2 + 0.03), so example 1 (x = 0.2) becomes
    0.3 + w (0.2 - 0.3), with standard error w sqrt(0.03) when the covariate is exact."""
    x = np.array([0.1, 0.2, 0.6, 0.0, 0.5, 1.0, 0.3, 0.3, 0.3, 0.2, 0.4, 0.9, 0.1, 0.1, 0.1])
    groups = (np.full(15, 0.02), np.full(15, 0.06), np.full(15, 2.0), np.full(15, 3.0))
    post, se = estimators.shrink(x, groups, np.arange(15.0), np.zeros(15), bin_size=3)
    tau2 = 0.14 / 3 - 0.03
    w = tau2 / (tau2 + 0.03)
    assert post[1] == pytest.approx(0.3 + w * (0.2 - 0.3)) and se[1] == pytest.approx(w * np.sqrt(0.03))
    # bin 3 (0.3 three times): no spread beyond the noise, tau^2 = 0: shrunk to the mean, error 0
    assert post[7] == pytest.approx(0.3) and se[7] == pytest.approx(0.0)
    # between two medians the prior is interpolated: example 2 lies a third of the way to bin 2's
    assert 0.3 < post[2] < 0.6
    # a noisy covariate adds the prior mean's movement along its slope to the error
    _, noisy = estimators.shrink(x, groups, np.arange(15.0), np.full(15, 1.0), bin_size=3)
    assert noisy[1] > se[1]
    # undefined covariate: the estimate and its own error unchanged; undefined estimate: NaN
    post, se = estimators.shrink(np.r_[0.3, np.nan, np.zeros(13)], groups, np.r_[np.nan, np.arange(14.0)],
                                 np.zeros(15), bin_size=3)
    assert post[0] == 0.3 and se[0] == pytest.approx(np.sqrt(0.03)) and np.isnan(post[1])


def test_shrinkage_is_closer_to_the_known_answer_at_few_runs_and_equal_at_many():
    """The true memorization of each simulated example is E[sigma(d + e)] - E[sigma(e)], e ~ N(0, 1),
    and its cumulative loss tracks d. At t = 16 the shrunk estimate is closer to the truth than
    mem_margin (mean squared error, and the top 1 %); from many runs the two are nearly equal."""
    rng = np.random.default_rng(5)
    n = 6000
    runs, d = gaussian_runs(rng, 512, n, tau=0.8)
    noise = rng.normal(0, 1, 4000)[:, None]
    truth = (1 / (1 + np.exp(-(d[None, :] + noise))) - 1 / (1 + np.exp(-noise))).mean(0)
    truth_top = truth >= np.quantile(truth, 0.99)
    few = runs.take(np.arange(16))
    raw, _ = estimators.margin_memorization(few.member, few.margin)
    shrunk, _ = estimators.margin_memorization_eb(few)
    ok = ~np.isnan(raw)
    assert np.mean((shrunk - truth)[ok] ** 2) < 0.7 * np.mean((raw - truth)[ok] ** 2)
    top = {name: value >= np.nanquantile(value, 0.99) for name, value in (("raw", raw), ("eb", shrunk))}
    assert (top["eb"] & truth_top).sum() > (top["raw"] & truth_top).sum()
    raw_all, _ = estimators.margin_memorization(runs.member, runs.margin)
    shrunk_all, _ = estimators.margin_memorization_eb(runs)
    assert np.corrcoef(raw_all, shrunk_all)[0, 1] > 0.97


def test_the_recommendation_is_what_the_table_shows():
    rows = []
    for name, jaccards, agrees in (("mem", [0.3, 0.5, 0.7], 1.0), ("mem_margin", [0.5, 0.85, 0.9], 0.9),
                                   ("lira", [0.9, 0.95, 0.97], 0.3)):
        rows += [{"estimator": name, "runs": t, "jaccard_top1": j, "full_jaccard_top1_mem": agrees}
                 for t, j in zip([8, 16, 32], jaccards)]
    table = pd.DataFrame(rows)
    # lira converges fastest but does not measure what mem does at full t: not recommended
    assert convergence.recommendation(table).startswith("recommended: mem_margin from t = 16 runs")
    table.loc[table["estimator"] == "mem_margin", "jaccard_top1"] = [0.5, 0.6, 0.75]
    sentence = convergence.recommendation(table)
    assert sentence.startswith("recommended: mem_margin, the top 1 % of two independent sets of 32 runs")
    assert "needs more than 32 runs" in sentence


# ---------------------------------------------------------------- workflow/configs/mnist.yaml at a tiny t

def _mnist_raw() -> Path | None:
    places = [Path(os.environ["PIPELINE_MNIST_RAW"])] if os.environ.get("PIPELINE_MNIST_RAW") else []
    places += [REPO / ".devdata" / "MNIST" / "raw", Path("/tmp/package/data")]
    return next((p for p in places if (p / "train-images-idx3-ubyte").is_file()
                 or (p / "train-images-idx3-ubyte.gz").is_file()), None)


@pytest.mark.workflow
def test_the_mnist_config_runs_at_a_tiny_t(tmp_path):
    """workflow/configs/mnist.yaml as it is, but 16 runs of 1 epoch: every estimator and its
    convergence on the 60,000 training digits, and the log recommends what the table shows."""
    raw = _mnist_raw()
    if raw is None:
        pytest.skip("full MNIST's IDX files are not on this machine; set PIPELINE_MNIST_RAW (docs/data.md)")
    config = yaml.safe_load((REPO / "workflow/configs/mnist.yaml").read_text())
    config["splits"]["feldman"]["runs"] = 16
    config["feldman"]["architectures"]["mlp"]["epochs"] = 1
    workdir = tmp_path / "run"
    (workdir / "data" / "MNIST").mkdir(parents=True)
    (workdir / "data" / "MNIST" / "raw").symlink_to(raw)
    target = f"{paths.FELDMAN_ARCH.format(dataset='mnist', arch='mlp')}/convergence.parquet"
    run_workflow(workdir, config, "--until", target)
    table = pd.read_parquet(workdir / target)
    assert table["runs"].unique().tolist() == [8] and table["runs_total"].iloc[0] == 16
    assert set(estimators.ESTIMATORS) == set(table["estimator"])
    # 1 % of the examples defined in both halves: all 60,000 for cum_loss (read from the models holding
    # each example), fewer for the estimators that need models without it too
    targets = table.set_index("estimator")["top1_target"]
    assert targets["cum_loss"] == 600 and (targets <= 600).all() and targets["mem"] < 600
    log = (workdir / paths.LOGS / "feldman/mnist/mlp/convergence.log").read_text()
    assert convergence.recommendation(table) in log


@pytest.mark.workflow
def test_the_default_runs_convergence_log_recommends_what_its_table_shows(default_run):
    tables = sorted((default_run / paths.RESULTS / "feldman").glob("*/*/convergence.parquet"))
    assert tables
    for path in tables:
        table = pd.read_parquet(path)
        dataset, arch = path.parts[-3], path.parts[-2]
        log = (default_run / paths.LOGS / "feldman" / dataset / arch / "convergence.log").read_text()
        assert convergence.recommendation(table) in log
        # no top set larger than its target unless a tie of the estimand was taken whole
        for top in convergence.TOP_FRACTIONS:
            plain = table[table[f"{top}_tied_estimand"] == 0]
            assert (plain[f"{top}_size"] <= plain[f"{top}_target"]).all()
