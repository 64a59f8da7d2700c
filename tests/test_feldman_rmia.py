"""RMIA on Feldman's runs (pipeline.feldman.rmia): a hand-computed 3-model case, a direct transcription
of the paper's formulas (the ladder's first k references, and every other model as the per-pair
table's), simulated runs with and without a membership signal (membership.parquet's RMIA rows), and
the weighted ROC the bootstrap uses (pipeline.feldman.ladder)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from pipeline.errors import PipelineError
from pipeline.feldman import ladder, membership, rmia
from pipeline.feldman.ladder import FPR_GRID

LOGIT = {0.9: np.log(9.0), 0.8: np.log(4.0), 0.75: np.log(3.0), 0.5: 0.0, 0.25: -np.log(3.0)}


# ---------------------------------------------------------------- by hand

def hand_case():
    """3 models, 4 examples; model 0 the target, references in the order 1, 2."""
    member = np.array([[True, True, False, False],
                       [False, True, True, False],
                       [True, False, False, True]])
    prob = np.array([[0.8, 0.75, 0.5, 0.25],
                     [0.5, 0.9, 0.75, 0.5],
                     [0.9, 0.5, 0.25, 0.75]])
    phi = np.vectorize(LOGIT.get)(prob).astype(np.float32)
    return member, phi


def test_hand_computed_scores():
    # Offline, k = 1, a = 0.5: Pr(x) = 0.75 P_out + 0.25, P_out from the first reference without x
    # (x0: model 1 (0.5), x1: model 2 (0.5), x2: model 2 (0.25), x3: model 1 (0.5)):
    #   LR = 0.8 / 0.625 = 1.28, 0.75 / 0.625 = 1.2, 0.5 / 0.4375 = 8 / 7, 0.25 / 0.625 = 0.4.
    # Online, k = 2: one model with x and one without, Pr(x) = (P_in + P_out) / 2
    #   x0: (0.9 + 0.5) / 2 = 0.7, x1: (0.9 + 0.5) / 2, x2: (0.75 + 0.25) / 2, x3: (0.75 + 0.5) / 2
    #   LR = 0.8 / 0.7 = 8 / 7, 0.75 / 0.7 = 15 / 14, 0.5 / 0.5 = 1, 0.25 / 0.625 = 0.4.
    # Population: the target's non-members x2 and x3 (a point is never its own z). gamma = 1.1:
    #   offline x0: 1.28 / (8/7) = 1.12 and 1.28 / 0.4 beat 1.1 -> 1; x1: 1.2 / (8/7) = 1.05 does not,
    #   1.2 / 0.4 does -> 1/2; x2 (z = x3 only): (8/7) / 0.4 -> 1; x3 (z = x2 only): 0.4 / (8/7) -> 0.
    #   online x0: (8/7) / 1 = 1.14 -> 1; x1: (15/14) / 1 = 1.07 no, / 0.4 yes -> 1/2; x2: 1 / 0.4 -> 1;
    #   x3: 0.4 / 1 -> 0.
    member, phi = hand_case()
    out = rmia.log_ratios(member, phi, 0, np.array([1, 2]), {"offline": [1], "online": [2]}, offline_a=0.5)
    offline, offline_used = out["offline"]
    online, online_used = out["online"]
    np.testing.assert_allclose(np.exp(offline[0]), [1.28, 1.2, 8 / 7, 0.4], rtol=1e-6)
    np.testing.assert_allclose(np.exp(online[0]), [8 / 7, 15 / 14, 1.0, 0.4], rtol=1e-6)
    np.testing.assert_array_equal(offline_used[0], [1, 1, 1, 1])
    np.testing.assert_array_equal(online_used[0], [2, 2, 2, 2])
    for ratios in (offline, online):
        np.testing.assert_array_equal(rmia.pairwise_scores(ratios[0], ~member[0], gamma=1.1), [1, 0.5, 1, 0])
    # gamma = 1: every member beats both population points; a point beats no copy of itself
    np.testing.assert_array_equal(rmia.pairwise_scores(offline[0], ~member[0], gamma=1.0), [1, 1, 1, 0])


def test_undefined_pairs_are_nan():
    member, phi = hand_case()
    phi[1, 0] = np.nan  # x0's only reference without it (model 1) recorded nothing
    offline, used = rmia.log_ratios(member, phi, 0, np.array([1, 2]), {"offline": [1]}, 0.5)["offline"]
    assert np.isnan(offline[0, 0]) and used[0, 0] == 0 and not np.isnan(offline[0, 1:]).any()
    # online k = 1 holds no model of either group: nothing is defined
    online, _ = rmia.log_ratios(member, phi, 0, np.array([1, 2]), {"online": [1]}, 0.5)["online"]
    assert np.isnan(online).all()
    scores = rmia.pairwise_scores(np.array([np.nan, 1.0, 0.5, 0.2]), np.array([False, False, True, True]))
    assert np.isnan(scores[0]) and scores[1] == 1.0 and scores[2] == 1.0 and scores[3] == 0.0


# ---------------------------------------------------------------- against the paper's formulas

def transcribed(member, phi, target, others, k, variant, a, gamma):
    """Zarifzadeh et al. 2024 written out per example with plain probabilities: Pr(x | theta) =
    sigmoid(phi); Pr(x) the mean over the first references (offline: the first k without x, with
    ((1 + a) / 2) Pr_OUT + (1 - a) / 2; online: (Pr_IN + Pr_OUT) / 2 over the first k // 2 of each);
    score(x) = mean over population points z != x of [LR(x) / LR(z) > gamma]."""
    prob = expit(phi.astype(np.float64))
    n = member.shape[1]

    def likelihood_ratio(i):
        outs = [o for o in others if not member[o, i]][:k if variant == "offline" else k // 2]
        ins = [o for o in others if member[o, i]][:k // 2]
        p_out = np.mean([prob[o, i] for o in outs])
        if variant == "offline":
            reference = (1 + a) / 2 * p_out + (1 - a) / 2
        else:
            reference = (np.mean([prob[o, i] for o in ins]) + p_out) / 2
        return prob[target, i] / reference

    lr = np.array([likelihood_ratio(i) for i in range(n)])
    population = [z for z in range(n) if not member[target, z]]
    return np.array([np.mean([lr[x] / lr[z] > gamma for z in population if z != x]) for x in range(n)]), lr


@pytest.mark.parametrize("variant,k,a,gamma", [("offline", 1, 0.3, 1.0), ("offline", 3, 0.0, 1.0),
                                               ("offline", 2, 1.0, 1.3), ("online", 2, 0.3, 1.0),
                                               ("online", 4, 0.3, 0.8)])
def test_matches_the_transcribed_formulas(variant, k, a, gamma):
    rng = np.random.default_rng(7)
    t, n = 9, 40
    member = rng.random((t, n)) < 0.5
    member[:, 0] = [True] * 4 + [False] * 5  # every example holds 2 models of each group among any 8
    member[:, 1] = [False] * 4 + [True] * 5
    member[:, 2:] = np.where(member[:, 2:].sum(0) < 3, True, member[:, 2:])
    member[:3, 2:] = np.where((~member[:, 2:]).sum(0) < 3, False, member[:3, 2:])
    phi = rng.normal(0, 3, (t, n)).astype(np.float32)
    for target in (0, 4):
        others = rng.permutation(np.delete(np.arange(t), target))
        expected, lr = transcribed(member, phi, target, others, k, variant, a, gamma)
        ratios, _ = rmia.log_ratios(member, phi, target, others, {variant: [k]}, a)[variant]
        np.testing.assert_allclose(np.exp(ratios[0]), lr, rtol=1e-10)
        np.testing.assert_array_equal(rmia.pairwise_scores(ratios[0], ~member[target], gamma), expected)


def test_every_other_model_as_reference_matches_the_transcription():
    # membership_pairs.parquet's scores: every other model of each group (k // 2 >= t - 1 online,
    # k >= t - 1 offline), each group's column total less the target's own term
    rng = np.random.default_rng(8)
    t, n = 7, 30
    member = rng.random((t, n)) < 0.6
    member[0], member[1] = np.arange(n) % 2 == 0, np.arange(n) % 2 == 1
    member[2], member[3] = ~member[0], ~member[1]  # whatever the target, one model of each group remains
    phi = rng.normal(0, 3, (t, n)).astype(np.float32)
    totals = rmia.group_totals(member, phi)
    for variant, k in (("online", 2 * t), ("offline", t)):
        ratios = rmia.all_reference_ratios(member, phi, slice(0, t), 0.3, totals)[variant]
        np.testing.assert_array_equal(rmia.all_reference_ratios(member, phi, slice(2, 5), 0.3)[variant], ratios[2:5])
        for target in range(t):
            expected, lr = transcribed(member, phi, target, np.delete(np.arange(t), target), k, variant, 0.3, 1.0)
            np.testing.assert_allclose(np.exp(ratios[target]), lr, rtol=1e-10)
            np.testing.assert_array_equal(rmia.pairwise_scores(ratios[target], ~member[target], 1.0), expected)
    # undefined: an example no other model lacks (both variants need a model without it), or no statistic
    member[:, 0] = True
    phi[4, 1] = np.nan
    both = rmia.all_reference_ratios(member, phi, slice(0, t), 0.3)
    for ratio in both.values():
        assert np.isnan(ratio[:, 0]).all() and np.isnan(ratio[4, 1]) and not np.isnan(ratio[:, 2:]).any()


def test_sure_models_keep_their_precision():
    # p = 1 - 1e-12 against references at 1 - 1e-10: 1 - p is kept exactly, so LR < 1 shows
    member = np.array([[True], [False]])
    phi = np.array([[np.log((1 - 1e-12) / 1e-12)], [np.log((1 - 1e-10) / 1e-10)]])
    ratio, _ = rmia.log_ratios(member, phi, 0, np.array([1]), {"offline": [1]}, 1.0)["offline"]
    np.testing.assert_allclose(ratio[0, 0], np.log1p(-1e-12) - np.log1p(-1e-10), rtol=1e-6)
    assert ratio[0, 0] > 0


# ---------------------------------------------------------------- simulated runs

def simulated(t=32, n=300, shift=1.0, seed=0, ratio=0.7):
    """phi = difficulty of the example + shift for members + model noise: references tell the attack
    each example's difficulty, so more of them help."""
    rng = np.random.default_rng(seed)
    member = rng.random((t, n)) < ratio
    difficulty = rng.normal(0, 2, n)
    phi = difficulty[None, :] + shift * member + rng.normal(0, 1, (t, n))
    return member, phi.astype(np.float32)


def rmia_rows(member, phi, **options):
    """membership.parquet's RMIA rows."""
    table = membership.membership_table(member, phi, **options)
    return table[table["attack"] == "rmia"]


def summary(table):
    return table.groupby(["variant", "references"]).first()


def test_membership_signal_is_found_and_grows_with_references():
    member, phi = simulated(n=600)
    table = summary(rmia_rows(member, phi, targets=16, bootstrap=50))
    for variant in rmia.VARIANTS:
        auc = table.loc[variant, "auc"]
        assert auc.iloc[-1] > 0.65, auc
        assert auc.iloc[-1] > auc.iloc[0] + 0.01, auc  # the paper: 68.6 with 1, 71.7 with 127
        assert (np.diff(auc.to_numpy()) > -0.01).all(), auc  # growing, up to noise
        lo, hi = table.loc[variant, "auc_low"], table.loc[variant, "auc_high"]
        assert ((lo <= auc) & (auc <= hi)).all()
    online, offline = table.loc["online"], table.loc["offline"]
    assert online.index[0] == 2 and offline.index[0] == 1
    # about 180 population points per target: 1 % FPR is within reach, 0.01 % is not
    assert (table["tpr_at_fpr_1pct"] > 0.02).all() and (table["tpr_at_fpr_0_01pct"] == 0).all()
    assert (table["population"] > 150).all()


def test_no_membership_signal_gives_auc_one_half():
    member, phi = simulated(shift=0.0, seed=1)
    table = summary(rmia_rows(member, phi, targets=16, bootstrap=50))
    np.testing.assert_allclose(table["auc"], 0.5, atol=0.03)
    assert ((table["auc_low"] < 0.5) & (table["auc_high"] > 0.5)).all()


def test_nonmember_scores_are_uniform():
    # a non-member and a population point are exchangeable: its score is uniform on [0, 1]
    member, phi = simulated(seed=2)
    scores = rmia.attack(member, phi, np.arange(8), {"offline": [4]}, 0.3, 1.0, np.random.default_rng(0))[0]
    values = scores.scores[~member[:8]]
    assert abs(values.mean() - 0.5) < 0.02 and abs((values < 0.25).mean() - 0.25) < 0.03


def test_rows_and_their_references():
    member, phi = simulated(t=12, n=60)
    table = rmia_rows(member, phi, targets=5, bootstrap=3)
    assert (table["design"] == "ladder").all() and (table["gamma"] == 1.0).all()
    assert (table["targets"] == 5).all() and table["offline_a"].isna().eq(table["variant"] == "online").all()
    for (variant, k), curve in table.groupby(["variant", "references"]):
        np.testing.assert_array_equal(curve["fpr"], FPR_GRID)
        assert curve["tpr"].is_monotonic_increasing and curve["tpr"].iloc[-1] == 1.0
        # pairs whose example no reference model of a needed group lacks (or holds) are left out
        assert 0.9 * 5 * 60 < curve["n_member_pairs"].iloc[0] + curve["n_nonmember_pairs"].iloc[0] <= 5 * 60
        assert curve["references_used"].iloc[0] <= k
    # no k past the one at which every example has all its models: (t - 1 = 11) would repeat 8's models
    outside = (~member).sum(0).max()
    assert table.query("variant == 'offline'")["references"].max() <= max(8, outside)
    with pytest.raises(PipelineError, match="at least 2 runs"):
        membership.membership_table(member[:1], phi[:1])
    with pytest.raises(PipelineError, match="feldman.rmia.offline_a"):
        membership.membership_table(member, phi, offline_a=1.5)


# ---------------------------------------------------------------- the weighted ROC

def brute_force(scores, positive, grid):
    pos, neg = scores[positive], scores[~positive]
    auc = np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg])
    tpr = [max([0.0] + [np.mean(pos >= s) for s in np.unique(scores) if np.mean(neg >= s) <= f]) for f in grid]
    return auc, np.array(tpr)


def test_weighted_roc_is_the_roc_of_the_repeated_pairs():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 6, (5, 12)) / 5  # many ties
    scores[0, 0] = np.nan
    positive = rng.random((5, 12)) < 0.5
    grid = np.array([0.0, 0.05, 0.2, 0.5, 1.0])
    pairs = ladder.Pairs(scores, positive)
    defined = ~np.isnan(scores)
    auc, tpr = pairs.summary(grid=grid)
    expected_auc, expected_tpr = brute_force(scores[defined], positive[defined], grid)
    assert auc == pytest.approx(expected_auc) and np.allclose(tpr, expected_tpr)
    rows, cols = np.array([2, 0, 1, 0, 1], float), np.array([1, 0, 3, 1, 0, 2, 1, 1, 0, 1, 1, 1], float)
    auc, tpr = pairs.summary(rows, cols, grid)
    repeated = np.repeat(np.repeat(scores, rows.astype(int), 0), cols.astype(int), 1)
    repeated_positive = np.repeat(np.repeat(positive, rows.astype(int), 0), cols.astype(int), 1)
    keep = ~np.isnan(repeated)
    expected_auc, expected_tpr = brute_force(repeated[keep], repeated_positive[keep], grid)
    assert auc == pytest.approx(expected_auc) and np.allclose(tpr, expected_tpr)
