"""The Python API: its documented examples run and hold, and each entry point agrees with the workflow's code.

Every ```python block of docs/python-api.md's "Examples" section is executed on its own (the blocks
assert their own results: a memorized example gets mem near 1, near-copies are replicates and
give a negative C_T, ...), so the documentation cannot drift from the code.
"""

import ast
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import api
from pipeline.errors import PipelineError
from pipeline.feldman.estimate import influence_pairs
from pipeline.kfold_vae.score import logmeanexp

REPO = Path(__file__).resolve().parent.parent


def api_section() -> str:
    text = (REPO / "docs" / "python-api.md").read_text()
    match = re.search(r"^## Examples\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert match, "docs/python-api.md has no '## Examples' section"
    return match.group(1)


def examples() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", api_section(), flags=re.S | re.M)


def example_id(code: str) -> str:
    return re.search(r"from pipeline\.api import (\w+)", code).group(1)


@pytest.mark.parametrize("code", examples(), ids=example_id)
def test_documented_example_runs_and_its_assertions_hold(code):
    assert "assert " in code, "an example must check its own result"
    exec(compile(code, "docs/python-api.md (Examples)", "exec"), {"__name__": "readme_example"})


def test_every_api_name_has_a_documented_example_and_nothing_else_is_exported():
    shown = {name for code in examples() for name in re.findall(r"from pipeline\.api import (\w+)", code)}
    assert shown == set(api.__all__)
    assert all(callable(getattr(api, name)) for name in api.__all__)


def test_api_module_holds_no_logic_of_its_own():
    tree = ast.parse((REPO / "pipeline" / "api.py").read_text())
    kinds = {type(node) for node in tree.body}
    assert kinds <= {ast.Expr, ast.ImportFrom, ast.Assign}, kinds  # docstring, re-exports, __all__
    assert all(name in (ast.get_docstring(tree) or "") for name in api.__all__), "docstring lists every name"


def test_dense_influence_equals_the_workflows_selected_pairs():
    rng = np.random.default_rng(1)
    member = rng.random((60, 12)) < 0.7
    train_ok, test_ok = rng.random((60, 12)) < 0.8, rng.random((60, 9)) < 0.8
    test_ok[:, 2] = member[:, 5]
    mem, infl, infl_se = api.memorization_and_influence(member, train_ok, test_ok, block=5)
    pairs = influence_pairs(member, test_ok, mem["mem"].to_numpy(), -np.inf, -np.inf)
    assert len(pairs) == infl.size
    np.testing.assert_array_equal(infl[pairs["train_pos"], pairs["test_pos"]], pairs["infl"])
    np.testing.assert_array_equal(infl_se[pairs["train_pos"], pairs["test_pos"]], pairs["infl_se"])
    assert infl[5, 2] == 1.0 and infl_se[5, 2] == 0.0  # right exactly when trained on 5
    # by hand for one pair
    inside, outside = member[:, 0], ~member[:, 0]
    assert infl[0, 4] == pytest.approx(test_ok[inside, 4].mean() - test_ok[outside, 4].mean())


def test_memorization_is_nan_where_an_example_is_always_trained_on():
    member = np.ones((10, 3), bool)
    member[:5, 1] = False
    mem, infl, _ = api.memorization_and_influence(member, np.ones((10, 3)), np.ones((10, 2)))
    assert np.isnan(mem.loc[0, "mem"]) and mem.loc[1, "mem"] == 0.0
    assert np.isnan(infl[0]).all() and (infl[1] == 0).all()


def test_feldman_shape_mismatch_names_the_argument():
    with pytest.raises(PipelineError, match="test_correct"):
        api.memorization_and_influence(np.ones((4, 3)), np.ones((4, 3)), np.ones((5, 2)))
    with pytest.raises(PipelineError, match="train_correct"):
        api.memorization_and_influence(np.ones((4, 3)), np.ones((4, 2)), np.ones((4, 2)))


def test_matrices_that_are_not_0_1_are_named_not_cast_to_true():
    ones = np.ones((4, 3))
    with pytest.raises(PipelineError, match=r"member: entries must be 0/1 \(or bool\), found \[0.3\]"):
        api.memorization_and_influence(ones * 0.3, ones, ones)
    with pytest.raises(PipelineError, match=r"test_correct: entries must be 0/1 \(or bool\), found \[nan\]"):
        api.memorization_and_influence(ones, ones, np.full((4, 2), np.nan))


def test_distances_and_points_a_researcher_gets_wrong_are_named():
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(60, 3)), rng.normal(size=(30, 3))
    with pytest.raises(PipelineError, match=r"d1 of shape \(2,\) and d2 of shape \(1,\) must match"):
        api.ratio_flags(np.array([1.0, 2.0]), np.array([3.0]))
    with pytest.raises(PipelineError, match="0 <= d1 <= d2"):
        api.ratio_flags(np.array([-1.0]), np.array([2.0]))  # would be flagged a replicate
    with pytest.raises(PipelineError, match=r"threshold 5 must be in \(0, 1\]"):
        api.ratio_flags(np.array([1.0]), np.array([2.0]), 5)
    with pytest.raises(PipelineError, match=r"C_T: generated: points of shape \(0, 3\)"):
        api.ct_statistic(train, test, train[:0], n_cells=2)
    with pytest.raises(PipelineError, match="C_T: training, test and generated points have 3, 3 and 1 features"):
        api.ct_statistic(train, test, train[:, :1], n_cells=2)
    with pytest.raises(PipelineError, match=r"C_T: test: rows \[4\] hold NaN or inf"):
        api.ct_statistic(train, np.where(np.arange(30)[:, None] == 4, np.nan, test), train, n_cells=2)
    with pytest.raises(PipelineError, match=r"frechet_distance: features_b: rows \[0\] hold NaN or inf"):
        api.frechet_distance(train, np.vstack([[np.inf, 0, 0], test]))
    with pytest.raises(PipelineError, match=r"neighbors: query: rows \[1\] hold NaN or inf"):
        api.nearest_neighbors(np.array([[0.0, 0, 0], [np.nan, 0, 0]]), train, 1)
    # no samples is an empty answer, not an error from inside numpy
    positions, distances = api.nearest_neighbors(train[:0], train, 2)
    assert positions.shape == distances.shape == (0, 2)
    assert api.replicates(np.zeros((0, 4, 4), np.uint8), np.zeros((5, 4, 4), np.uint8)).empty


def test_kfold_scores_are_log_mean_exp_differences():
    rng = np.random.default_rng(2)
    table = pd.DataFrame({"index": np.repeat([7, 3], 6), "in_training": np.tile([1, 1, 1, 1, 0, 0], 2).astype(bool),
                          "logpx": rng.normal(-100, 30, 12)})
    scores = api.kfold_scores(table["index"], table["in_training"], table["logpx"]).set_index("index")
    for i, rows in table.groupby("index"):
        u = logmeanexp(rows.loc[rows["in_training"], "logpx"].to_numpy())
        v = logmeanexp(rows.loc[~rows["in_training"], "logpx"].to_numpy())
        assert scores.loc[i, "U"] == pytest.approx(u) and scores.loc[i, "V"] == pytest.approx(v)
        assert scores.loc[i, "M"] == pytest.approx(u - v)
    assert scores.index.tolist() == [3, 7] and (scores["n_in"] == 4).all() and (scores["n_out"] == 2).all()
    with pytest.raises(PipelineError, match="one length"):
        api.kfold_scores([0, 1], [True], [0.0, 1.0])


def test_replicates_use_the_two_nearest_training_images_and_the_threshold():
    train = np.array([[0.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    samples = np.array([[0.0, 0.2], [1.5, 0.0]])  # ratios 0.2 / 0.8 = 0.25 and 1.5 / 1.5 = 1
    table = api.replicates(samples, train)
    assert table["nearest"].tolist() == [0, 0] and table["second"].tolist() == [1, 2]
    np.testing.assert_allclose(table["ratio"], [0.25, 1.0])
    assert table["replicate"].tolist() == [True, False]
    assert not api.replicates(samples, train, threshold=0.2)["replicate"].any()
