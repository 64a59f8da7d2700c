"""Which of the selected influence pairs beat chance.

influence_chance.parquet says how many of the selected pairs noise alone would select (most of
them on the default run: docs/running.md), not which. Ranked by their exact p-value
(pipeline.feldman.estimate), the pairs with the smallest ones are those noise is least likely to
give, and for a cut c the number of pairs noise alone would select with p_value <= c is exact, as
the job's count is:

    E(c) = sum over candidate pairs of P(H >= h_thr and p_value(H) <= c)

under the hypergeometric null of estimate.py (E at c = influence_max_p is expected_selected). With
S(c) the selected pairs with p_value <= c, the pairs beyond chance are those with p_value <= c*, c*
the largest p-value of a selected pair with E(c*) <= fdr * S(c*): Benjamini and Hochberg's step-up
rule with the exact null count E(c) in place of its bound m c (m candidate pairs), as Heyse (2011)
does for discrete tests. The hypergeometric p-values take few values, so m c overstates E(c) many
times over among the small p-values, where the cut falls. E is counted as if no candidate pair
had any influence, so it overstates what noise explains when some do; it remains an expectation,
not a bound on one run's count.

``beyond_chance`` returns the mask and the counts; pipeline.feldman.figures draws only those pairs.
What the default run can trust: docs/running.md (tests/test_feldman_chance_default_run.py recomputes
it from the run's tables).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import hypergeom

from pipeline.errors import PipelineError
from pipeline.feldman.estimate import candidate_rows, expected_by_chance, null_pvalue, pvalue_count, threshold_count
from pipeline.schema import schema_default

# the default share of the pairs kept that noise alone may explain, in expectation (config key
# feldman.influence_fdr, which the jobs that call beyond_chance pass on)
FDR = schema_default("feldman.influence_fdr")
RTOL = 1e-9  # p-values equal up to this are one value (the table's and the null's, computed alike)


@dataclass
class Chance:
    """What ``beyond_chance`` found: the mask over the pairs and the counts behind it."""
    mask: np.ndarray         # bool, per row of the pairs table: beyond chance
    n_selected: int          # rows of the pairs table
    expected_selected: float  # of them, expected from noise alone (influence_chance.parquet)
    n_beyond: int            # pairs beyond chance
    expected_beyond: float   # of them, expected from noise alone: E(c*)
    cut: float               # c*: the largest p-value kept (NaN when none is)
    fdr: float


def expected_at(n_in_rows, test_totals, n_runs: int, infl_threshold: float, cuts) -> np.ndarray:
    """E(c) for each c in ``cuts``: the pairs with infl >= infl_threshold and p_value <= c expected
    among the candidate pairs (runs with i: ``n_in_rows``; runs right on j: ``test_totals``) if none
    had any influence.

    Per (n_in, K) cell, E(c) is P(H >= max(h_thr, h_c)), h_c the smallest count with p_value <= c;
    between the smallest and the largest cut h_c runs over a short range, so each count in it is one
    atom (its p-value, its probability) and the counts past it one atom of their summed probability.
    E at every cut is then a cumulative sum over the atoms sorted by p-value."""
    cuts = np.asarray(cuts, dtype=np.float64)
    if cuts.size == 0:
        return np.zeros(0)
    n_values, n_counts = np.unique(np.asarray(n_in_rows, dtype=np.int64), return_counts=True)
    k_values, k_counts = np.unique(np.asarray(test_totals, dtype=np.int64), return_counts=True)
    n, k = np.meshgrid(n_values.astype(np.float64), k_values.astype(np.float64), indexing="ij")
    weight = (n_counts[:, None] * k_counts[None, :]).astype(np.float64).ravel()
    n, k = n.ravel(), k.ravel()
    h_thr = threshold_count(k, n, n_runs, infl_threshold)
    first = np.maximum(h_thr, pvalue_count(k, n, n_runs, float(cuts.max())))
    last = np.maximum(h_thr, pvalue_count(k, n, n_runs, float(cuts.min())))
    width = (last - first).astype(np.int64)
    cell = np.repeat(np.arange(len(n)), width)
    offset = np.arange(width.sum()) - np.repeat(np.cumsum(width) - width, width)
    h = first[cell] + offset
    p_range = null_pvalue(h, k[cell], n[cell], n_runs)
    mass_range = weight[cell] * hypergeom.pmf(h, n_runs, k[cell], n[cell])
    p_tail = null_pvalue(last, k, n, n_runs)
    p_atoms = np.concatenate([p_range, p_tail])
    mass = np.concatenate([mass_range, weight * p_tail])
    order = np.argsort(p_atoms, kind="stable")
    cumulative = np.concatenate([[0.0], np.cumsum(mass[order])])
    return cumulative[np.searchsorted(p_atoms[order], cuts * (1 + RTOL), side="right")]


def step_up(p_values, expected, fdr: float) -> int:
    """How many of the sorted ``p_values`` to keep: the largest i (ties kept together) with
    expected[i] <= fdr * (pairs with p-value <= p_values[i]); 0 if none."""
    p_values = np.asarray(p_values, dtype=np.float64)
    kept = np.searchsorted(p_values, p_values * (1 + RTOL), side="right")  # S(c) at each cut, ties included
    ok = np.flatnonzero(np.asarray(expected) <= fdr * kept)
    return int(kept[ok.max()]) if len(ok) else 0


def beyond_chance(pairs: pd.DataFrame, member, test_correct, mem, chance: pd.DataFrame | pd.Series,
                  fdr: float = FDR) -> Chance:
    """The rows of ``pairs`` (influence_pairs.parquet, its ``p_value``) beyond chance at ``fdr``.

    ``member`` (t, n) and ``test_correct`` (t, n_test) are the runs the pairs were estimated from,
    ``mem`` the memorization column of memorization.parquet, ``chance`` influence_chance.parquet (its
    thresholds; its expected_selected must be what the runs give, else the tables are not of these runs)."""
    if not 0 < fdr < 1:
        raise PipelineError(f"feldman.influence_fdr {fdr}: must lie strictly between 0 and 1")
    row = chance.iloc[0] if isinstance(chance, pd.DataFrame) else chance
    member, test_correct = np.asarray(member, dtype=bool), np.asarray(test_correct, dtype=bool)
    n_runs = len(member)
    n_in_rows = member[:, candidate_rows(mem, float(row["mem_threshold"]))].sum(0)
    test_totals = test_correct.sum(0)
    _, expected_selected = expected_by_chance(n_in_rows, test_totals, n_runs, float(row["infl_threshold"]),
                                              float(row["influence_max_p"]))
    if int(row["runs"]) != n_runs or len(pairs) != int(row["n_selected"]) or \
            not np.isclose(expected_selected, float(row["expected_selected"]), rtol=1e-6, atol=1e-9):
        raise PipelineError(f"influence_chance.parquet ({int(row['runs'])} runs, {int(row['n_selected'])} pairs, "
                            f"{float(row['expected_selected']):.4g} expected) is not of these runs and pairs "
                            f"({n_runs} runs, {len(pairs)} pairs, {expected_selected:.4g} expected): "
                            f"rerun the estimate")
    p_values = pairs["p_value"].to_numpy(np.float64)
    ranked = np.sort(p_values)
    expected = expected_at(n_in_rows, test_totals, n_runs, float(row["infl_threshold"]), ranked)
    keep = step_up(ranked, expected, fdr)
    cut = float(ranked[keep - 1]) if keep else float("nan")
    mask = p_values <= cut * (1 + RTOL) if keep else np.zeros(len(pairs), dtype=bool)
    return Chance(mask=mask, n_selected=len(pairs), expected_selected=float(row["expected_selected"]),
                  n_beyond=int(mask.sum()), expected_beyond=float(expected[keep - 1]) if keep else 0.0,
                  cut=cut, fdr=fdr)
