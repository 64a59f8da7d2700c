"""What each atlas score measures and which way it points: every score column states both in
pipeline/atlas/columns.py, every atlas figure shows them, and the generated docs carry them from
there (not all scores measure memorization: rho measures atypicality)."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.colors
import numpy as np
import pandas as pd
import pytest

from pipeline.atlas.analysis import flagged_table, pairs_table
from pipeline.atlas.columns import COLUMNS, MEASURES, describe, score_columns, what_it_measures
from pipeline.atlas.figures import (MEASURE_COLOURS, correlation_matrix, flagged_grid, measure_colour, scatter,
                                   short_name)
from pipeline.atlas.planted import planted_table
from pipeline.atlas.planted_figure import planted_figure
from pipeline.plotting import close

REPO = Path(__file__).resolve().parent.parent

# one column of every kind the atlas can hold, as the join names them
NAMES = ["feldman_mem_mlp", "feldman_se_mlp", "kfold_M", "kfold_U", "kfold_V", "kfold_rho", "kfold_logpx_full",
         "diffusion_replicates_sweep_n4_w8_seed0", "mrgan_nn_tau0_seed0", "samples_ddpm_nn_count",
         "samples_ddpm_replicated", "feldman_mem_margin_mlp", "feldman_mem_margin_se_mlp", "feldman_lira_mlp",
         "feldman_lira_fixed_mlp", "feldman_slowness_mlp", "feldman_infl_pairs_mlp",
         "feldman_infl_beyond_chance_mlp"]


def test_every_score_states_what_it_measures_and_which_way_it_points():
    scores = [column for column in COLUMNS if column.score]
    assert scores and {column.measures for column in scores} == set(MEASURES)  # every kind in use
    for column in COLUMNS:
        if column.score:
            assert column.measures in MEASURES and column.higher, column.pattern
        else:
            assert not column.higher and not column.alternative, column.pattern
    # the quantities the atlas does not take for memorization
    assert describe("kfold_rho").measures == "atypicality"
    assert describe("kfold_rho").higher == "farther from validation"
    assert describe("feldman_slowness_mlp").measures == "difficulty to learn"
    assert describe("feldman_lira_mlp").measures == describe("feldman_lira_fixed_mlp").measures == "membership"
    assert describe("mrgan_nn_tau0_seed0").measures == describe("samples_x_nn_count").measures \
        == "closeness to samples"
    assert {describe(n).measures for n in ["feldman_mem_mlp", "feldman_mem_margin_mlp", "kfold_M",
                                           "diffusion_replicates_a", "samples_x_replicated"]} == {"memorization"}
    assert what_it_measures("kfold_rho") == "atypicality, higher = farther from validation"
    assert set(MEASURE_COLOURS) == set(MEASURES) and len(set(MEASURE_COLOURS.values())) == len(MEASURES)
    with pytest.raises(ValueError, match="not an atlas score"):
        what_it_measures("feldman_se_mlp")


def test_each_name_is_read_by_its_most_specific_pattern():
    expected = dict(zip(NAMES, ["feldman_mem_{arch}", "feldman_se_{arch}", "kfold_M", "kfold_U", "kfold_V",
                                "kfold_rho", "kfold_logpx_full",
                                "diffusion_replicates_{experiment}_n{size}_w{width}_seed{seed}",
                                "mrgan_nn_tau{tau}_seed{seed}", "samples_{set}_nn_count", "samples_{set}_replicated",
                                "feldman_mem_margin_{arch}", "feldman_mem_margin_se_{arch}", "feldman_lira_{arch}",
                                "feldman_lira_fixed_{arch}", "feldman_slowness_{arch}", "feldman_infl_pairs_{arch}",
                                "feldman_infl_beyond_chance_{arch}"]))
    assert {name: describe(name).name for name in NAMES} == expected
    assert [c.name for c in COLUMNS] == list(dict.fromkeys(["index", "label", *expected.values()]))  # table order
    assert describe("feldman_mem_margin_mlp").meaning.startswith("mem_margin of architecture mlp:")
    assert describe("nothing_of_ours") is None


def every_kind_atlas(n=300, seed=0) -> pd.DataFrame:
    """An atlas with a score of every kind (values unrelated to the science: only the labels are tested)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"index": np.arange(n, dtype=np.int64), "label": np.arange(n, dtype=np.int64) % 10})
    for name in NAMES:
        info = describe(name)
        if info.dtype == "float64":
            frame[name] = rng.normal(size=n)
        else:
            frame[name] = pd.array(rng.poisson(0.3, n), dtype=info.dtype)
    return frame


def unwrapped(text: str) -> str:
    return " ".join(text.split())


def test_the_scatter_axes_say_what_each_score_measures():
    frame = every_kind_atlas()
    scores = score_columns(frame.columns)
    fig = scatter(frame, scores, 0.05, "toy", max_scores=len(scores))
    labelled = {}
    for ax in fig.axes:
        for label in (ax.xaxis.label, ax.yaxis.label):
            if label.get_text():
                labelled[unwrapped(label.get_text())] = label.get_color()
    for name in scores:
        text = f"{short_name(name)} ({what_it_measures(name)})"
        assert text in labelled, (text, sorted(labelled))
        assert matplotlib.colors.same_color(labelled[text], measure_colour(name))
    assert "rho (atypicality, higher = farther from validation)" in labelled
    close(fig)


def test_the_correlation_matrix_colours_each_score_and_its_legend_says_what_the_colours_measure():
    frame = every_kind_atlas()
    scores = score_columns(frame.columns)
    fig = correlation_matrix(pairs_table(frame, 0.05, 20, 0.9, seed=0), scores, "toy")
    for ax in fig.axes[:2]:
        ticks = {tick.get_text(): tick.get_color() for tick in ax.get_xticklabels()}
        assert set(ticks) == {short_name(s) for s in scores}
        for name in scores:
            assert matplotlib.colors.same_color(ticks[short_name(name)], measure_colour(name)), name
    legend = {unwrapped(text.get_text()): text.get_color() for text in fig.texts if text.get_text()}
    for kind, meaning in MEASURES.items():
        line = next((line for line in legend if line.startswith(f"{kind} ({meaning}):")), None)
        assert line is not None, (kind, list(legend))
        mine = [s for s in scores if describe(s).measures == kind]
        assert matplotlib.colors.same_color(legend[line], measure_colour(mine[0]))
        for name in mine:
            assert re.search(rf"\b{re.escape(short_name(name))}\b[^:;]*: higher = {describe(name).higher}", line), \
                (name, line)
    close(fig)


def test_the_flagged_grid_says_what_the_scores_that_flag_each_row_measure():
    frame = every_kind_atlas()
    primary = score_columns(frame.columns, primary_only=True)
    methods = list(dict.fromkeys(describe(s).method for s in primary))
    flagged = flagged_table(frame, 0.05)
    fig = flagged_grid(flagged, np.zeros((len(frame), 4, 4, 1), np.uint8), methods, 3, "toy", primary)
    rows = {unwrapped(ax.get_ylabel()).split(" (")[0]: unwrapped(ax.get_ylabel()) for ax in fig.axes
            if ax.get_ylabel()}
    assert set(rows) == {"all methods", *(f"only {m}" for m in methods)}
    assert "memorization: M" in rows["only kfold"] and "atypicality: rho" in rows["only kfold"]
    assert "closeness to samples: gan tau0_seed0" in rows["only mrgan"]
    # a secondary score flags nothing, so its kind is not said to
    assert "membership" not in rows["only feldman"] and "memorization: mem mlp" in rows["only feldman"]
    close(fig)


def test_the_planted_figure_colours_each_score_by_what_it_measures():
    frame = every_kind_atlas()
    planted = np.where(np.arange(len(frame)) < 20, "outlier", "")
    table = planted_table(frame, planted, "toy", 0.05, 20, 0.9, seed=0)
    fig = planted_figure(table, "toy")
    ticks = {tick.get_text(): tick.get_color() for tick in fig.axes[0].get_yticklabels()}
    scores = score_columns(frame.columns)
    assert set(ticks) == {short_name(s) for s in scores}
    for name in scores:
        assert matplotlib.colors.same_color(ticks[short_name(name)], measure_colour(name)), name
    legend = " ".join(unwrapped(text.get_text()) for text in fig.texts)
    assert all(f"{kind} ({meaning}):" in legend for kind, meaning in MEASURES.items())
    close(fig)


def test_the_generated_docs_carry_each_columns_meaning_and_direction():
    """docs/outputs.md's atlas.parquet table is written from columns.py (python -m pipeline.reference_docs);
    docs/methods.md names the kinds of score and sends the reader there."""
    outputs = (REPO / "docs" / "outputs.md").read_text(encoding="utf-8")
    section = outputs.split("### `results/atlas/{dataset}/atlas.parquet`", 1)[1].split("\n### ", 1)[0]
    for column in COLUMNS:
        row = next((line for line in section.splitlines() if line.startswith(f"| `{column.name}` |")), None)
        assert row is not None, column.name
        assert f"| `{column.dtype}` |" in row
        if column.score:
            assert f"score of **{column.measures}**, higher = {column.higher}" in row, row
    for kind, meaning in MEASURES.items():
        assert f"**{kind}**: {meaning}" in section
    methods = unwrapped((REPO / "docs" / "methods.md").read_text(encoding="utf-8"))
    paragraph = methods.split("**What the scores measure.**", 1)[1].split("**", 1)[0]
    assert all(kind in paragraph for kind in MEASURES), paragraph
    assert "pipeline/atlas/columns.py" in paragraph and "outputs.md" in paragraph
    assert "higher = more memorized" not in methods  # no score is said to point that way for all
