"""The membership audit (pipeline.feldman.membership): LiRA against the number of reference models
against a transcription of Carlini et al.'s formulas, the ladder both attacks share, membership.parquet's
rows and membership_pairs.parquet, the job and the export's copy, the log-log ROC figure, and the
per-example LiRA AUC's bootstrap standard error against the spread of repeated runs."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image
from scipy.stats import norm

from pipeline import io
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.feldman import export, figures, ladder, lira, membership, rmia
from pipeline.feldman.ladder import FPR_GRID
from pipeline.feldman.shard_table import shard_table


def simulated(t=32, n=300, shift=1.0, seed=0, ratio=0.7, spread=0.0):
    """phi = difficulty of the example + its gain for members + model noise (sd 1, or from 1 - spread to
    1 + spread by example)."""
    rng = np.random.default_rng(seed)
    member = rng.random((t, n)) < ratio
    difficulty = rng.normal(0, 2, n)
    noise = rng.uniform(1 - spread, 1 + spread, n)
    phi = difficulty[None, :] + shift * member + noise * rng.normal(0, 1, (t, n))
    return member, phi.astype(np.float32)


# ---------------------------------------------------------------- LiRA against k, transcribed

def transcribed_lira(member, phi, target, others, k):
    """Carlini et al. 2022's online test with the first k // 2 reference models with x and without it
    (in the order ``others``), written out per example: Lambda = log N(phi_r; mu_in, s_in^2) -
    log N(phi_r; mu_out, s_out^2), the variances per example (ddof 1) or, fixed, pooled over the examples:
    sum of squared deviations over sum of (count - 1) of the examples with two of the group."""
    phi = phi.astype(np.float64)
    n = member.shape[1]
    groups = {}
    for name, wanted in (("in", True), ("out", False)):
        chosen = [[o for o in others if member[o, i] == wanted and not np.isnan(phi[o, i])][:k // 2] for i in range(n)]
        values = [phi[c, i] for i, c in enumerate(chosen)]
        usable = [v for v in values if len(v) >= 2]
        pooled = sum(((v - v.mean()) ** 2).sum() for v in usable) / sum(len(v) - 1 for v in usable)
        groups[name] = values, pooled
    online, fixed = np.full(n, np.nan), np.full(n, np.nan)
    for i in range(n):
        (v_in, pooled_in), (v_out, pooled_out) = (groups["in"][0][i], groups["in"][1]), \
            (groups["out"][0][i], groups["out"][1])
        x = phi[target, i]
        if np.isnan(x) or not len(v_in) or not len(v_out):
            continue
        fixed[i] = norm.logpdf(x, v_in.mean(), np.sqrt(pooled_in)) - norm.logpdf(x, v_out.mean(), np.sqrt(pooled_out))
        if len(v_in) >= 2 and len(v_out) >= 2:
            online[i] = norm.logpdf(x, v_in.mean(), v_in.std(ddof=1)) - norm.logpdf(x, v_out.mean(), v_out.std(ddof=1))
    return {"online": online, "fixed": fixed}


@pytest.mark.parametrize("k", [4, 6, 10, 17])
def test_lira_against_k_matches_the_transcribed_formulas(k):
    member, phi = simulated(t=18, n=50, spread=0.5, seed=3)
    phi[5, 7] = np.nan
    rng = np.random.default_rng(4)
    for target in (0, 5, 11):
        others = rng.permutation(np.delete(np.arange(18), target))
        ratios = lira.ladder_log_ratios(member, phi, target, others, [k])
        expected = transcribed_lira(member, phi, target, others, k)
        for name in lira.VARIANTS:
            np.testing.assert_allclose(ratios[name][0][0], expected[name], rtol=1e-9, atol=1e-9, equal_nan=True)
            used = ratios[name][1][0]
            assert (used[~np.isnan(expected[name])] <= k).all() and (used[np.isnan(expected[name])] == 0).all()


# ---------------------------------------------------------------- the ladder

def test_reference_grid_and_useful_references():
    assert ladder.reference_grid(64) == [1, 2, 4, 8, 16, 32, 63]
    assert ladder.reference_grid(5) == [1, 2, 4]
    assert ladder.reference_grid(2) == [1]
    assert ladder.reference_grid(3, [1, 2, 9]) == [1, 2]
    member = np.zeros((9, 3), bool)
    member[:6] = True  # every example: 6 models with it, 3 without
    stat = np.zeros((9, 3))
    grid = ladder.reference_grid(9)  # 1, 2, 4, 8
    assert ladder.useful_references(member, stat, grid, "out") == [1, 2, 4]  # 3 without: 4 takes them all
    assert ladder.useful_references(member, stat, grid, "both") == [1, 2, 4, 8]


def test_first_of_group_sums_the_first_rows_of_each_column():
    rng = np.random.default_rng(5)
    group = rng.random((11, 30)) < 0.4
    values = rng.normal(size=(11, 30))
    ks = [1, 2, 3, 5, 20]
    first = ladder.FirstOfGroup(group, ks)
    sums = first.sums(values, "v")
    for j, k in enumerate(ks):
        for c in range(30):
            rows = np.flatnonzero(group[:, c])[:k]
            assert first.used[j, c] == len(rows)
            if len(rows):
                assert sums[j, c] == pytest.approx(values[rows, c].sum(), rel=1e-12)
            else:
                assert np.isnan(sums[j, c])


def test_both_attacks_attack_the_same_targets_with_the_same_references():
    # RMIA's rows are those of its own attack (rmia.attack) on the ladder's targets and orders
    member, phi = simulated(t=12, n=80)
    attack_rng, _ = ladder.streams(7)
    chosen, orders = ladder.draw_targets(12, 5, attack_rng)
    again_rng, _ = ladder.streams(7)
    results = rmia.attack(member, phi, np.sort(again_rng.choice(12, size=5, replace=False)), {"offline": [4]}, 0.3,
                          1.0, again_rng)
    for row, (target, others) in enumerate(zip(chosen, orders)):
        ratio, _ = rmia.log_ratios(member, phi, target, others, {"offline": [4]}, 0.3)["offline"]
        np.testing.assert_array_equal(results[0].scores[row], rmia.pairwise_scores(ratio[0], ~member[target]))


# ---------------------------------------------------------------- membership.parquet

def test_table_rows_schema_and_growth_with_references():
    member, phi = simulated(t=24, n=400)
    table = membership.membership_table(member, phi, targets=12, bootstrap=20)
    assert dict(table.dtypes.astype(str)) == membership.COLUMNS
    # LiRA's rows of design 'all' are lira.membership_table's, its columns and values
    whole = lira.membership_table(member, phi)
    pd.testing.assert_frame_equal(table[table["design"] == "all"].reset_index(drop=True)[list(whole.columns)], whole)
    assert (table.query("design == 'all'")[["references", "targets"]] == [23, 24]).all().all()
    assert table.query("design == 'all'")["auc_low"].isna().all()
    ladder_rows = table[table["design"] == "ladder"]
    assert set(ladder_rows.groupby(["attack", "variant"]).groups) == {("lira", "online"), ("lira", "fixed"),
                                                                      ("rmia", "online"), ("rmia", "offline")}
    assert (ladder_rows["targets"] == 12).all()
    for (attack, variant), part in ladder_rows.groupby(["attack", "variant"]):
        curves = part.groupby("references").first()
        assert curves.index.min() == {"lira": 4, "rmia": 2 if variant == "online" else 1}[attack]
        assert ((curves["auc_low"] <= curves["auc"]) & (curves["auc"] <= curves["auc_high"])).all()
        assert curves["auc"].iloc[-1] > curves["auc"].iloc[0], (attack, variant)  # more references, more power
        assert curves["auc"].iloc[-1] > 0.6
        for _, curve in part.groupby("references"):
            np.testing.assert_array_equal(curve["fpr"], FPR_GRID)
            assert curve["tpr"].is_monotonic_increasing
    assert ladder_rows.query("attack == 'lira'")[["population", "offline_a", "gamma"]].isna().all().all()
    # the same resamples of the same seed give the same table
    pd.testing.assert_frame_equal(membership.membership_table(member, phi, targets=12, bootstrap=20), table)


def test_the_attacks_against_k_run_on_a_sample_of_the_examples_beyond_the_cap():
    member, phi = simulated(t=12, n=400)
    whole = membership.membership_table(member, phi, targets=6, bootstrap=5, examples=400)
    assert whole.equals(membership.membership_table(member, phi, targets=6, bootstrap=5, examples=10 ** 6))
    capped = membership.membership_table(member, phi, targets=6, bootstrap=5, examples=150)
    cols = membership.ladder_examples(400, 150, 0)
    assert len(cols) == 150 and (np.diff(cols) > 0).all()
    # design 'all' keeps every example; the ladder is the same job on the drawn columns
    pd.testing.assert_frame_equal(capped.query("design == 'all'"), whole.query("design == 'all'"))
    sampled = membership.membership_table(member[:, cols], phi[:, cols], targets=6, bootstrap=5)
    pd.testing.assert_frame_equal(capped.query("design == 'ladder'").reset_index(drop=True),
                                  sampled.query("design == 'ladder'").reset_index(drop=True))
    ladder_pairs = capped.query("design == 'ladder'")[["n_member_pairs", "n_nonmember_pairs"]].iloc[0].sum()
    assert 0.9 * 6 * 150 <= ladder_pairs <= 6 * 150  # 6 targets x 150 examples (a few pairs without a score)


# ---------------------------------------------------------------- membership_pairs.parquet

def test_pair_table_holds_every_runs_statistics(monkeypatch):
    member, phi = simulated(t=10, n=40)
    phi[3, 4] = np.nan
    index = np.arange(100, 140)
    table = pd.concat(membership.pair_batches(member, phi, index, 0.3, 1.0), ignore_index=True)
    assert dict(table.dtypes.astype(str)) == membership.PAIR_COLUMNS and len(table) == 400
    np.testing.assert_array_equal(table["run"], np.repeat(np.arange(10), 40))
    np.testing.assert_array_equal(table["index"], np.tile(index, 10))
    np.testing.assert_array_equal(table["member"], member.ravel())
    ratios = lira.log_ratios(member, phi)
    for name, column in (("online", "lira"), ("fixed", "lira_fixed")):
        np.testing.assert_array_equal(table[column], ratios[name].ravel())
    for variant in rmia.VARIANTS:
        ratio = rmia.all_reference_ratios(member, phi, slice(0, 10), 0.3)[variant]
        expected = np.array([rmia.pairwise_scores(ratio[r], ~member[r]) for r in range(10)])
        np.testing.assert_array_equal(table[f"rmia_{variant}"], expected.ravel())
    assert table.loc[3 * 40 + 4, ["lira", "lira_fixed", "rmia_online", "rmia_offline"]].isna().all()
    # formed a few runs at a time: the same table
    monkeypatch.setattr(membership, "PAIR_BATCH_BYTES", 3 * 8 * 40)
    batches = list(membership.pair_batches(member, phi, index, 0.3, 1.0))
    assert len(batches) == 4
    pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), table)


# ---------------------------------------------------------------- the job, the export, the figure

@pytest.fixture
def shards(tmp_path):
    member, phi = simulated(t=10, n=50)
    records = {"train_correct": phi > 0, "test_correct": np.zeros((10, 3), bool),
               "train_margin": phi, "test_margin": np.zeros((10, 3), np.float32), "train_logit_conf": phi,
               "train_epoch_correct": np.zeros((10, 50), np.uint8), "train_cum_loss": np.zeros((10, 50))}
    paths = []
    for part, rows in enumerate((slice(0, 6), slice(6, 10))):
        path = tmp_path / f"shard{part}.parquet"
        pq.write_table(shard_table(np.arange(10)[rows], 0, 0, "mlp", member[rows],
                                   {key: value[rows] for key, value in records.items()}, 5), path)
        paths.append(str(path))
    Dataset.from_arrays(np.zeros((53, 1, 2, 2), np.uint8), np.arange(53) % 3, ["train"] * 50 + ["test"] * 3,
                        "toy").save(tmp_path / "data")
    return {"member": member, "phi": phi, "paths": paths, "data": tmp_path / "data"}


def test_job_writes_both_tables_and_the_export_copies_the_pairs(shards, tmp_path, monkeypatch):
    out, pairs = tmp_path / "membership.parquet", tmp_path / "membership_pairs.parquet"
    monkeypatch.setattr(sys, "argv", ["membership", "--shards", *shards["paths"], "--dataset-dir", str(shards["data"]),
                                      "--targets", "4", "--bootstrap", "5", "--out", str(out),
                                      "--out-pairs", str(pairs)])
    membership.main()
    member, phi = shards["member"], shards["phi"]
    expected = membership.membership_table(member, phi, targets=4, bootstrap=5)
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected)
    assert set(pd.read_parquet(out).query("attack == 'rmia'")["references"]) <= {1, 2, 4, 8, 9}
    whole = pd.concat(membership.pair_batches(member, phi, np.arange(50), 0.3, 1.0), ignore_index=True)
    pd.testing.assert_frame_equal(pd.read_parquet(pairs), whole)
    # the export reuses the table, and forms the same one without it
    export.export([*map(str, shards["paths"])], shards["data"], tmp_path / "copied", membership_pairs=pairs)
    export.export([*map(str, shards["paths"])], shards["data"], tmp_path / "formed")
    assert (tmp_path / "copied" / "membership_scores.parquet").read_bytes() == pairs.read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "formed" / "membership_scores.parquet"), whole)
    other = tmp_path / "other.parquet"
    io.write_parquet(whole.assign(member=~whole["member"]), other)
    with pytest.raises(PipelineError, match="other.parquet: not the membership statistics of these 10 runs"):
        export.export([*map(str, shards["paths"])], shards["data"], tmp_path / "bad", membership_pairs=other)


def test_roc_figure_is_drawn(tmp_path, monkeypatch):
    member, phi = simulated(t=20, n=200)
    table_path, figure_path = tmp_path / "membership.parquet", tmp_path / "roc.png"
    io.write_parquet(membership.membership_table(member, phi, targets=8, bootstrap=5), table_path)
    monkeypatch.setattr(sys, "argv", ["figures", "membership", "--membership", str(table_path), "--title", "toy",
                                      "--out", str(figure_path)])
    figures.main()
    pixels = np.asarray(Image.open(figure_path).convert("L"), dtype=float)
    assert pixels.shape[0] > 500 and pixels.shape[1] > 500
    assert pixels.std() > 20 and (pixels < 128).mean() > 0.01  # lines and text, not a blank page
    assert figures.shown_references([1, 2, 4, 8, 16, 32, 63]) == [1, 4, 16, 63]
    assert figures.shown_references([4, 8]) == [4, 8]


# ---------------------------------------------------------------- the per-example standard error

def test_weighted_resample_is_the_models_repeated():
    # counts of 1 give per_example; whole counts give the AUC of the models repeated that often, each
    # target's copies never among its own shadows
    member, phi = simulated(t=9, n=25, seed=6)
    pooled = lira.pooled_variances(member, phi)
    ones = lira._resampled_auc(member, phi, np.ones(9), pooled)
    for name, value in lira.per_example(member, phi).items():
        np.testing.assert_allclose(ones[name], value, rtol=1e-12, equal_nan=True)
    weight = np.array([2, 0, 1, 3, 1, 0, 1, 1, 0], float)
    resampled = lira._resampled_auc(member, phi, weight, pooled)["online"]
    phi64 = phi.astype(np.float64)
    for i in range(25):
        ratios, labels = [], []
        for r in np.flatnonzero(weight):
            terms = []
            for wanted in (True, False):
                shadows = np.repeat([phi64[o, i] for o in range(9) if o != r and member[o, i] == wanted],
                                    [int(weight[o]) for o in range(9) if o != r and member[o, i] == wanted])
                # two copies of one model alone have no spread: the variance floor, as in log_ratios
                terms.append(norm.logpdf(phi64[r, i], shadows.mean(), np.sqrt(max(shadows.var(ddof=1), lira.VAR_FLOOR)))
                             if len(shadows) >= 2 else np.nan)
            ratios += [terms[0] - terms[1]] * int(weight[r])
            labels += [member[r, i]] * int(weight[r])
        ratios, labels = np.array(ratios), np.array(labels)
        keep = ~np.isnan(ratios)
        pos, neg = ratios[keep & labels], ratios[keep & ~labels]
        expected = np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg]) if len(pos) and len(neg) else np.nan
        np.testing.assert_allclose(resampled[i], expected, rtol=1e-12, equal_nan=True)


def test_weighted_auc_counts_ties_half():
    scores = np.array([[1.0, 2.0], [1.0, 2.0], [0.5, np.nan], [1.0, 3.0]])
    positive = np.array([[True, True], [False, False], [False, True], [True, False]])
    auc = lira.weighted_column_auc(scores, positive, np.array([1.0, 2.0, 1.0, 1.0]))
    # column 0: positives 1.0 (x1), 1.0 (x1) against negatives 1.0 (x2), 0.5: (2 x (1 + 2 x 0.5)) / (2 x 3)
    # column 1: positive 2.0 against negatives 2.0 (x2) and 3.0: (2 x 0.5) / 3 (the NaN row left out)
    np.testing.assert_allclose(auc, [4 / 6, 1 / 3])


def test_standard_error_matches_the_spread_of_repeated_runs():
    # the same examples, new models each time: the per-example AUC's spread over the repetitions
    # against the mean bootstrap error; Hanley-McNeil's would be about half of it
    t, n, repetitions = 48, 150, 24
    rng = np.random.default_rng(9)
    difficulty, gain = rng.normal(0, 2, n), rng.uniform(0, 2, n)
    values = {name: [] for name in lira.VARIANTS}
    errors = {name: [] for name in lira.VARIANTS}
    for repetition in range(repetitions):
        run_rng = np.random.default_rng([9, repetition])
        member = run_rng.random((t, n)) < 0.7
        phi = (difficulty + gain * member + run_rng.normal(0, 1, (t, n))).astype(np.float32)
        for name, value in lira.per_example(member, phi).items():
            values[name].append(value)
        for name, error in lira.per_example_error(member, phi).items():
            errors[name].append(error)
    for name in lira.VARIANTS:
        spread = np.std(values[name], axis=0, ddof=1).mean()
        estimated = np.mean(errors[name])
        assert 0.8 < estimated / spread < 1.3, (name, estimated, spread)
    # deterministic
    np.testing.assert_array_equal(lira.per_example_error(member, phi)["online"], errors["online"][-1])
