"""Which influence pairs beat chance (pipeline.feldman.chance): the null count at every cut is the job's
own count at that cut, noise alone yields (almost) nothing, real pairs are found, and the figure
draws only the pairs beyond chance."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.atlas.join import influence_columns
from pipeline.errors import PipelineError
from pipeline.feldman import figures
from pipeline.feldman.chance import FDR, beyond_chance, expected_at, step_up
from pipeline.feldman.estimate import chance_table, expected_by_chance, influence_pairs, significant
from pipeline.splits import subset_masks

T = 64  # runs, as in the default config
REPO = Path(__file__).resolve().parent.parent


def noise(n_train, n_test, seed, t=T):
    """Membership of t random 70 % subsets and test correctness independent of it (zero influence)."""
    member = subset_masks(n_train, t, 0.7, seed)
    rng = np.random.default_rng([seed, 1])
    return member, rng.random((t, n_test)) < rng.uniform(0.1, 0.95, n_test)


def plant(member, test_correct, pairs, seed):
    """Test example j right on 95 % of the runs that trained on i and 15 % of the others."""
    rng = np.random.default_rng(seed)
    for i, j in pairs:
        test_correct[:, j] = rng.random(len(member)) < np.where(member[:, i], 0.95, 0.15)
    return test_correct


def selected(member, test_correct, mem_threshold=0.25, infl_threshold=0.15, max_p=1.0):
    """(influence_pairs-like table, influence_chance table), as the estimate job forms them."""
    mem = np.ones(member.shape[1])  # every training example a candidate
    over = influence_pairs(member, test_correct, mem, mem_threshold, infl_threshold)
    pairs = significant(over, max_p).rename(columns={"train_pos": "train_index", "test_pos": "test_index"})
    chance = chance_table(member, test_correct, mem, mem_threshold, infl_threshold, max_p, len(over), len(pairs))
    return pairs, chance, mem


@pytest.mark.parametrize("infl_threshold", [0.15, -np.inf])
def test_the_null_count_at_each_cut_is_the_jobs_count_with_that_cut_as_max_p(infl_threshold):
    member, test_correct = noise(60, 40, seed=1)
    n_in, totals = member.sum(0), test_correct.sum(0)
    cuts = np.array([1e-12, 1e-6, 3e-4, 0.004, 0.02, 0.1, 0.31, 0.45, 1.0])  # none a p-value the null takes
    got = expected_at(n_in, totals, T, infl_threshold, cuts)
    want = [expected_by_chance(n_in, totals, T, infl_threshold, c)[1] for c in cuts]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert (np.diff(got) >= 0).all()
    # one cut alone
    np.testing.assert_allclose(expected_at(n_in, totals, T, infl_threshold, [0.004]), want[3:4], rtol=1e-9)


def test_step_up_keeps_ties_together_and_the_last_cut_that_passes():
    p = np.array([1e-9, 1e-9, 1e-3, 2e-3, 0.01, 0.2])
    # passes at 2 and at 4 (not at 3): the step-up keeps 4
    assert step_up(p, np.array([0.01, 0.01, 0.5, 0.15, 2.0, 9.0]), 0.05) == 4
    assert step_up(p, np.array([0.2, 0.2, 0.5, 0.5, 2.0, 9.0]), 0.05) == 0
    # a tie passes or fails as one: S counts both pairs at 1e-9
    assert step_up(p, np.array([0.1, 0.1, 0.5, 0.5, 2.0, 9.0]), 0.05) == 2


def test_noise_alone_beats_chance_almost_never():
    found = []
    for seed in range(5):
        member, test_correct = noise(100, 60, seed=seed)
        pairs, chance, mem = selected(member, test_correct)
        assert len(pairs) > 50  # plenty of noise pairs over the thresholds
        result = beyond_chance(pairs, member, test_correct, mem, chance)
        assert result.n_selected == len(pairs) and result.expected_selected == chance["expected_selected"].iloc[0]
        found.append(result.n_beyond)
    assert sum(found) <= 2, found


def test_planted_pairs_beat_chance_and_few_others_do():
    member, test_correct = noise(100, 60, seed=11)
    planted = [(3, 0), (17, 5), (40, 9), (41, 12), (88, 30)]
    test_correct = plant(member, test_correct, planted, seed=2)
    pairs, chance, mem = selected(member, test_correct)
    result = beyond_chance(pairs, member, test_correct, mem, chance)
    kept = set(zip(pairs["train_index"][result.mask], pairs["test_index"][result.mask]))
    assert set(planted) <= kept, kept
    assert len(kept - set(planted)) <= 2, kept - set(planted)
    assert result.n_beyond == len(kept) and result.n_beyond < len(pairs) / 10
    assert 0 <= result.expected_beyond <= FDR * result.n_beyond
    assert (pairs["p_value"][result.mask] <= result.cut).all() and (pairs["p_value"][~result.mask] > result.cut).all()
    # with a significance bound on the selection the same pairs beat chance
    bounded, bounded_chance, _ = selected(member, test_correct, max_p=0.05)
    again = beyond_chance(bounded, member, test_correct, mem, bounded_chance)
    assert set(zip(bounded["train_index"][again.mask], bounded["test_index"][again.mask])) == kept


def test_a_stricter_false_discovery_rate_keeps_fewer_pairs_each_kept_at_the_looser_one_too():
    """feldman.influence_fdr: the pairs kept at a smaller rate are a subset of those at a larger one (the
    cut only moves down), noise explains at most that share of each set, and the atlas counts follow it."""
    member, test_correct = noise(100, 60, seed=21)
    strong = [(3, 0), (17, 5), (40, 9)]
    test_correct = plant(member, test_correct, strong, seed=3)
    rng = np.random.default_rng(4)
    for i, j in [(50, 20), (51, 21), (52, 22), (60, 30), (61, 31)]:  # weaker influence: 80 % against 35 %
        test_correct[:, j] = rng.random(len(member)) < np.where(member[:, i], 0.8, 0.35)
    pairs, chance, mem = selected(member, test_correct)
    kept = {}
    for fdr in (0.001, FDR, 0.3):
        result = beyond_chance(pairs, member, test_correct, mem, chance, fdr)
        assert result.fdr == fdr and result.expected_beyond <= fdr * result.n_beyond
        kept[fdr] = set(zip(pairs["train_index"][result.mask], pairs["test_index"][result.mask]))
    assert set(strong) <= kept[0.001] <= kept[FDR] <= kept[0.3]
    assert len(kept[0.001]) < len(kept[0.3])
    base = pd.DataFrame({"index": np.arange(member.shape[1])})
    for fdr in (0.001, 0.3):
        counts = influence_columns(pairs, "pairs.parquet", chance, member, test_correct, mem, base, "mlp", fdr)
        assert counts["feldman_infl_beyond_chance_mlp"].sum() == len(kept[fdr])


def test_tables_of_other_runs_are_refused():
    member, test_correct = noise(60, 40, seed=4)
    pairs, chance, mem = selected(member, test_correct)
    with pytest.raises(PipelineError, match="not of these runs"):
        beyond_chance(pairs, member[:-1], test_correct[:-1], mem, chance)
    with pytest.raises(PipelineError, match="not of these runs"):
        beyond_chance(pairs.iloc[1:], member, test_correct, mem, chance)
    with pytest.raises(PipelineError, match="fdr"):
        beyond_chance(pairs, member, test_correct, mem, chance, fdr=0)


def drawn_indices(fig) -> tuple[set[int], set[int]]:
    """(training, test) dataset indices in the titles of a high-influence figure."""
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    return ({int(t.split()[1]) for t in titles if t.startswith("train ")},
            {int(t.split()[1]) for t in titles if t.startswith("test ")})


def test_the_figure_draws_only_the_pairs_beyond_chance_and_says_how_many():
    member, test_correct = noise(100, 60, seed=11)
    planted = [(3, 0), (17, 5), (88, 30)]
    test_correct = plant(member, test_correct, planted, seed=2)
    pairs, chance, mem = selected(member, test_correct)
    pairs = pairs.assign(train_label=0, test_label=1, test_index=pairs["test_index"] + 100)  # test rows after train
    result = beyond_chance(pairs, member, test_correct, mem, chance)
    images = np.random.default_rng(0).integers(0, 256, (160, 8, 8, 1), dtype=np.uint8)
    fig = figures.influence_grid(pairs, images, result)
    trains, tests = drawn_indices(fig)
    kept = pairs[result.mask]
    assert trains == set(kept["train_index"]) and tests <= set(kept["test_index"])
    assert {i for i, _ in planted} <= trains
    heading = fig._suptitle.get_text()
    assert heading.startswith(f"{result.n_beyond} of {len(pairs)} selected pairs beat chance")
    assert f"{chance['expected_selected'].iloc[0]:.1f} of all {len(pairs)}" in heading
    figures.plotting.close(fig)
    # unfiltered, the same pairs table draws noise pairs too
    fig = figures.influence_grid(pairs, images)
    assert not drawn_indices(fig)[0] <= set(kept["train_index"])
    figures.plotting.close(fig)


def test_with_no_pair_beyond_chance_the_figure_says_so():
    member, test_correct = noise(100, 60, seed=0)
    pairs, chance, mem = selected(member, test_correct)
    result = beyond_chance(pairs, member, test_correct, mem, chance)
    assert result.n_beyond == 0 and np.isnan(result.cut)
    fig = figures.influence_grid(pairs.assign(train_label=0, test_label=0), np.zeros((200, 8, 8, 1), np.uint8), result)
    text = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "no selected pair beats chance" in text and f"0 of {len(pairs)} selected pairs" in text
    figures.plotting.close(fig)


def test_the_caption_states_the_fdr_the_figure_uses():
    caption = " ".join((REPO / "workflow" / "report" / "feldman_influence_pairs.rst").read_text().split())
    assert f"at most ``feldman.influence_fdr`` of the pairs kept ({100 * FDR:g} % by default;" in caption
