"""The claims checks: each claim passes on synthetic tables where it holds and fails where it does not,
is `not run` when a piece is missing, the config section is cross-checked, and the rule asks for exactly
the tables of the configured pieces."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, SNAKEMAKE, tiny_config, workflow_env
import inspect

from pipeline.claims import criteria
from pipeline.claims import evaluate as ev
from pipeline.claims import figures
from pipeline.claims import tables
from pipeline.claims.tables import Inputs, Shards
from pipeline.config import validate_config
from pipeline.errors import PipelineError

CLAIMS = {claim.id: claim for claim in ev.CLAIMS}


def outcome(claim_id: str, **tables) -> dict:
    """The claims.parquet row of one claim on these tables (each named like the rule's inputs)."""
    inputs = Inputs({name: t for name, t in tables.items()}, {name: [f"{name}.parquet"] for name in tables})
    return ev.evaluate_claim(CLAIMS[claim_id], inputs)


def passed(claim_id: str, **tables) -> str:
    return outcome(claim_id, **tables)["passed"]


# --- a planted data set: 100 clean, 10 flipped, 10 outliers, 5 copies of one duplicate (train); 10 test
#     copies of the flipped examples and 10 clean test examples ---

N_CLEAN, N_FLIP, N_OUT, N_DUP = 100, 10, 10, 5


def planted_index() -> pd.DataFrame:
    kinds = [""] * N_CLEAN + ["flipped"] * N_FLIP + ["outlier"] * N_OUT + ["duplicate"] * N_DUP
    source = list(range(N_CLEAN + N_FLIP + N_OUT)) + [999] * N_DUP
    flipped_sources = source[N_CLEAN:N_CLEAN + N_FLIP]
    kinds += ["test_copy"] * N_FLIP + [""] * 10
    source += flipped_sources + list(range(2000, 2010))
    split = ["train"] * (len(kinds) - 20) + ["test"] * 20
    return pd.DataFrame({"index": np.arange(len(kinds)), "split": split, "planted": kinds,
                         "source_index": np.array(source, dtype=np.int64)})


def train_masks(index: pd.DataFrame) -> dict:
    train = index[index["split"] == "train"]
    return {kind or "clean": (train["planted"] == kind).to_numpy() for kind in ("", "flipped", "outlier", "duplicate")}


def score_table(index, column: str, by_kind: dict, seed: int = 0) -> pd.DataFrame:
    """A per-training-example table whose ``column`` is drawn per canary kind: by_kind[kind] = (mean, sd)."""
    rng = np.random.default_rng(seed)
    train = index[index["split"] == "train"]
    values = np.empty(len(train))
    for kind, mask in train_masks(index).items():
        mean, sd = by_kind[kind]
        values[mask] = rng.normal(mean, sd, mask.sum())
    return pd.DataFrame({"index": train["index"].to_numpy(), column: values})


MEM_MEMORIZED = {"clean": (0.05, 0.05), "flipped": (0.8, 0.05), "outlier": (0.7, 0.05), "duplicate": (0.1, 0.05)}


def test_fz1_flipped_labels_are_memorized():
    index = planted_index()
    assert passed("FZ1", feldman_index=index, feldman_mem=score_table(index, "mem", MEM_MEMORIZED)) == "true"
    flat = {kind: (0.05, 0.05) for kind in MEM_MEMORIZED}
    row = outcome("FZ1", feldman_index=index, feldman_mem=score_table(index, "mem", flat))
    assert row["passed"] == "false" and 0.2 < row["value"] < 0.8  # AUROC near chance
    # median >= 0.5 is needed too: flipped above every clean example, but only at 0.4
    low = {**MEM_MEMORIZED, "flipped": (0.4, 0.01)}
    row = outcome("FZ1", feldman_index=index, feldman_mem=score_table(index, "mem", low))
    assert row["value"] == 1.0 and row["passed"] == "false"


def shards_with_copies(index: pd.DataFrame, copied: bool, runs: int = 80) -> Shards:
    """Membership of the training examples in random subsets; each test copy is answered right exactly
    when its flipped source was trained on (infl = 1), or at random (infl near 0)."""
    rng = np.random.default_rng(1)
    n_train, n_test = (index["split"] == "train").sum(), (index["split"] == "test").sum()
    member = rng.random((runs, n_train)) < 0.7
    test_correct = rng.random((runs, n_test)) < 0.5
    if copied:
        for k in range(N_FLIP):
            test_correct[:, k] = member[:, N_CLEAN + k]
    return Shards(member, test_correct)


def all_copy_pairs(index) -> pd.DataFrame:
    return ev.copy_pairs(index).assign(infl=1.0)


def test_fz2_a_memorized_example_lifts_its_test_copy():
    index = planted_index()
    pairs = ev.copy_pairs(index)
    assert len(pairs) == N_FLIP
    assert (pairs["test_index"] - pairs["train_index"]).eq(N_OUT + N_DUP + N_FLIP).all()  # each flipped, its copy
    influence = ev.copy_influence(index, shards_with_copies(index, copied=True))
    np.testing.assert_allclose(influence["infl"], 1.0)
    assert passed("FZ2", feldman_index=index, feldman_pairs=all_copy_pairs(index),
                  feldman_shards=shards_with_copies(index, copied=True)) == "true"
    row = outcome("FZ2", feldman_index=index, feldman_pairs=all_copy_pairs(index),
                  feldman_shards=shards_with_copies(index, copied=False))
    assert row["passed"] == "false" and abs(row["value"]) < 0.3
    # high influence, but under 80 % of the pairs made it into influence_pairs.parquet
    assert passed("FZ2", feldman_index=index, feldman_pairs=all_copy_pairs(index).head(7),
                  feldman_shards=shards_with_copies(index, copied=True)) == "false"


def test_fz3_duplicates_are_not_memorized_single_outliers_are():
    index = planted_index()
    assert passed("FZ3", feldman_index=index, feldman_mem=score_table(index, "mem", MEM_MEMORIZED)) == "true"
    same = {**MEM_MEMORIZED, "duplicate": (0.6, 0.01)}
    row = outcome("FZ3", feldman_index=index, feldman_mem=score_table(index, "mem", same))
    assert row["passed"] == "false" and row["value"] < 0.3


def test_fz4_independent_runs_select_the_same_examples():
    index = planted_index()
    mem = score_table(index, "mem", MEM_MEMORIZED)
    rerun = mem.assign(mem=mem["mem"] + np.random.default_rng(2).normal(0, 0.01, len(mem)))
    row = outcome("FZ4", feldman_mem=mem, replicate_mem=rerun)
    assert row["passed"] == "true" and row["value"] == 1.0
    shuffled = mem.assign(mem=np.random.default_rng(3).permutation(mem["mem"].to_numpy()))
    assert passed("FZ4", feldman_mem=mem, replicate_mem=shuffled) == "false"


def test_fz5_architectures_rank_examples_alike():
    index = planted_index()
    mem = score_table(index, "mem", MEM_MEMORIZED)
    assert passed("FZ5", feldman_mem=mem, other_mem=mem.assign(mem=mem["mem"] ** 3)) == "true"
    assert passed("FZ5", feldman_mem=mem, other_mem=mem.assign(mem=-mem["mem"])) == "false"


M_SCORES = {"clean": (0.1, 0.05), "outlier": (2.0, 0.1), "duplicate": (0.2, 0.05), "flipped": (0.1, 0.05)}


def test_kf1_outliers_score_high():
    index = planted_index()
    assert passed("KF1", kfold_index=index, kfold_scores=score_table(index, "M", M_SCORES)) == "true"
    hidden = {**M_SCORES, "outlier": (0.1, 0.05)}
    assert passed("KF1", kfold_index=index, kfold_scores=score_table(index, "M", hidden)) == "false"


def test_kf2_copies_lower_the_score():
    index = planted_index()
    assert passed("KF2", kfold_index=index, kfold_scores=score_table(index, "M", M_SCORES)) == "true"
    # below the outliers, but by less than half the outlier-clean gap
    close = {**M_SCORES, "duplicate": (1.5, 0.01)}
    row = outcome("KF2", kfold_index=index, kfold_scores=score_table(index, "M", close))
    assert row["passed"] == "false" and 0 < row["value"] < 0.95


def unplanted_scores(n: int = 400, seed: int = 4) -> pd.DataFrame:
    return pd.DataFrame({"index": np.arange(n), "M": np.random.default_rng(seed).normal(0.2, 1.0, n)})


def full_logpx(scores: pd.DataFrame, values) -> pd.DataFrame:
    return pd.DataFrame({"index": scores["index"], "epoch": 6, "logpx": np.asarray(values, float)})


def test_kf3_memorization_is_not_only_low_likelihood():
    scores = unplanted_scores()
    assert passed("KF3", kfold_scores=scores, kfold_logpx_full=full_logpx(scores, scores["M"])) == "true"
    row = outcome("KF3", kfold_scores=scores, kfold_logpx_full=full_logpx(scores, -scores["M"]))
    assert row["passed"] == "false" and row["value"] == 0.0  # the top 5 % of M are the lowest log p(x)


def test_kf4_rho_and_m_unrelated():
    scores = unplanted_scores()
    noise = np.exp(np.random.default_rng(5).normal(size=len(scores)))
    rho = pd.DataFrame({"index": scores["index"], "rho": noise})
    assert passed("KF4", kfold_scores=scores, kfold_rho=rho) == "true"
    assert passed("KF4", kfold_scores=scores, kfold_rho=rho.assign(rho=np.exp(scores["M"]))) == "false"


def test_kf5_training_folds_fit_better():
    scores = unplanted_scores()
    assert passed("KF5", kfold_scores=scores) == "true"
    assert passed("KF5", kfold_scores=scores.assign(M=scores["M"] - 1)) == "false"


def test_kf_clean_leaves_out_canaries():
    index = planted_index()
    # clean M just above 0, the canaries far below: the median over clean examples decides
    scores = score_table(index, "M", {"clean": (0.05, 0.01), "outlier": (-5, 0.1), "duplicate": (-5, 0.1),
                                      "flipped": (-5, 0.1)})
    assert passed("KF5", kfold_scores=scores, kfold_index=index) == "true"


def sweep(shares: dict, cls: int = -1, sizes=(4, 32, 256), extra: dict | None = None) -> pd.DataFrame:
    """A diffusion summary: shares[width] = replicate share per size (two seeds, same values)."""
    rows = []
    for width, values in shares.items():
        for k, (size, share) in enumerate(zip(sizes, values)):
            for seed in (0, 1):
                row = {"size": size, "width": width, "seed": seed, "class": cls, "replicate_share": share}
                row.update({key: value[width][k] for key, value in (extra or {}).items()})
                rows.append(row)
    return pd.DataFrame(rows)


def test_capacity_size_interpolates_in_log_size():
    assert ev.capacity_size([4, 32, 256], [1.0, 0.75, 0.25]) == pytest.approx(np.sqrt(32 * 256))
    assert ev.capacity_size([4, 32], [1.0, 0.9]) == np.inf
    assert ev.capacity_size([4, 32], [0.4, 0.0]) == 0.0


def test_y1_replication_drops_past_capacity():
    assert passed("Y1", capacity=sweep({8: [1.0, 0.5, 0.0], 16: [1.0, 0.8, 0.05]})) == "true"
    assert passed("Y1", capacity=sweep({8: [1.0, 0.2, 0.3], 16: [1.0, 0.8, 0.05]})) == "false"  # rises 0.1
    assert passed("Y1", capacity=sweep({8: [1.0, 0.5, 0.2], 16: [1.0, 0.8, 0.05]})) == "false"  # not <= 0.1
    assert passed("Y1", capacity=sweep({8: [0.85, 0.5, 0.0]})) == "false"  # not >= 0.9 at the smallest


def test_y2_capacity_grows_with_width():
    row = outcome("Y2", capacity=sweep({8: [1.0, 0.5, 0.0], 16: [1.0, 0.8, 0.05]}))
    assert row["passed"] == "true" and row["value"] == pytest.approx(8 ** 0.4)  # MC 32 -> 32 * 8^0.4
    assert passed("Y2", capacity=sweep({8: [1.0, 0.5, 0.0], 16: [1.0, 0.5, 0.0]})) == "false"  # equal MC
    # larger MC, but the wider model replicates less at the largest size by more than 0.05
    assert passed("Y2", capacity=sweep({8: [1.0, 0.5, 0.1], 16: [1.0, 0.9, 0.0]})) == "false"
    assert passed("Y2", capacity=sweep({8: [1.0, 0.5, 0.0]})) == "not run"  # one width


def test_y3_dummies_induce_generalization():
    counts = {16: [8, 5, 0]}
    good = sweep({16: [0.9, 0.4, 0.05]}, cls=0, sizes=(0, 64, 512), extra={"n_train_replicated": counts})
    assert passed("Y3", dummies=good, dummies_class=0) == "true"
    rising = good.assign(n_train_replicated=good["n_train_replicated"].replace({5: 9}))
    assert passed("Y3", dummies=rising, dummies_class=0) == "false"
    still = sweep({16: [0.9, 0.4, 0.2]}, cls=0, sizes=(0, 64, 512), extra={"n_train_replicated": counts})
    assert passed("Y3", dummies=still, dummies_class=0) == "false"
    no_zero = sweep({16: [0.9, 0.05]}, cls=0, sizes=(64, 512), extra={"n_train_replicated": {16: [8, 0]}})
    assert passed("Y3", dummies=no_zero, dummies_class=0) == "not run"


def per_class(majority_share: float, minority_share: float, minority_images: float) -> pd.DataFrame:
    rows = [{"class": -1, "replicate_share": 0.1, "n_train_class": 64, "train_replicated_share": 0.1},
            {"class": 0, "replicate_share": majority_share, "n_train_class": 60, "train_replicated_share": 0.02},
            {"class": 1, "replicate_share": minority_share, "n_train_class": 4,
             "train_replicated_share": minority_images}]
    return pd.DataFrame([{"size": 64, "width": 16, "seed": 0, **row} for row in rows])


def test_y4_the_minority_class_is_memorized_the_majority_not():
    assert passed("Y4", minority=per_class(0.05, 0.7, 0.75)) == "true"
    assert passed("Y4", minority=per_class(0.2, 0.7, 0.75)) == "false"
    assert passed("Y4", minority=per_class(0.05, 0.7, 0.25)) == "false"


def gan_summary(ct: dict, kept: dict | None = None, fid: dict | None = None, guideline: float = 0.0035,
                pixels: dict | None = None) -> pd.DataFrame:
    """MR-GAN summary: ct[tau] = C_T per seed."""
    rows = []
    for tau, values in ct.items():
        for seed, value in enumerate(values):
            row = {"tau": tau, "seed": seed, "ct": value, "tau_guideline": guideline,
                   "kept_fraction": (kept or {}).get(tau, [1.0 - tau * 30] * len(values))[seed],
                   "fid_test": (fid or {}).get(tau, [10.0] * len(values))[seed]}
            if pixels is not None:
                row["ct_pixels"] = pixels[tau][seed]
            rows.append(row)
    return pd.DataFrame(rows)


CT_RISING = {0.0: [-5.0, -5.2], 0.003: [-3.0, -3.1], 0.006: [-1.0, -1.2]}


def test_b1_without_rejection_the_gan_copies():
    assert passed("B1", mrgan_summary=gan_summary(CT_RISING)) == "true"
    assert passed("B1", mrgan_summary=gan_summary({**CT_RISING, 0.0: [-2.0, -2.5]})) == "false"
    assert passed("B1", mrgan_summary=gan_summary({0.003: [-5.0]})) == "not run"  # no tau = 0


def test_b2_rejection_raises_ct_with_tau():
    assert passed("B2", mrgan_summary=gan_summary(CT_RISING)) == "true"
    dip = {0.0: [-5.0, -5.2], 0.003: [-6.0, -6.1], 0.006: [-1.0, -1.2]}  # falls by far more than one se
    assert passed("B2", mrgan_summary=gan_summary(dip)) == "false"
    small = {0.0: [-5.0, -5.2], 0.003: [-4.0, -4.1], 0.006: [-3.0, -3.2]}  # rises only 2
    assert passed("B2", mrgan_summary=gan_summary(small)) == "false"
    # a dip within one standard error of the difference is no fall: se(0) = 1, se(0.003) = 0.2
    noisy = {0.0: [-5.0, -3.0], 0.003: [-4.5, -4.1], 0.006: [0.0, 0.0]}
    assert passed("B2", mrgan_summary=gan_summary(noisy)) == "true"


def test_b3_moderate_rejection_costs_little_quality():
    fid = {0.0: [10.0, 11.0], 0.003: [12.0, 12.0], 0.006: [20.0, 20.0]}
    row = outcome("B3", mrgan_summary=gan_summary(CT_RISING, fid=fid, guideline=0.0035))
    assert row["passed"] == "true" and row["value"] == pytest.approx(12 / 10.5)
    assert passed("B3", mrgan_summary=gan_summary(CT_RISING, fid=fid, guideline=0.006)) == "false"
    # without FID, the Frechet distance in the embedding; with both, FID proper decides and is named
    embedding_only = gan_summary(CT_RISING, fid=fid).rename(columns={"fid_test": "fd_classifier_test"})
    row = outcome("B3", mrgan_summary=embedding_only)
    assert row["passed"] == "true" and row["detail"].startswith("fd_classifier_test at tau = 0.003")
    both = embedding_only.assign(fid_test=[50.0, 50.0, 90.0, 90.0, 60.0, 60.0])
    row = outcome("B3", mrgan_summary=both)
    assert row["passed"] == "false" and row["detail"].startswith("fid_test") and row["value"] == pytest.approx(90 / 50)
    no_distance = embedding_only.drop(columns="fd_classifier_test")
    assert passed("B3", mrgan_summary=no_distance) == "not run"


def test_b4_ct_rises_in_a_second_space():
    up = {0.0: [0.0, 0.0], 0.003: [1.0, 1.0], 0.006: [2.0, 2.0]}
    assert passed("B4", mrgan_summary=gan_summary(CT_RISING, pixels=up)) == "true"
    down = {tau: [-v for v in values] for tau, values in up.items()}
    assert passed("B4", mrgan_summary=gan_summary(CT_RISING, pixels=down)) == "false"
    assert passed("B4", mrgan_summary=gan_summary(CT_RISING)) == "not run"  # no ct_pixels column


def classwise(ct0: list, ct_last: list) -> pd.DataFrame:
    rows = [{"tau": tau, "seed": 0, "label": label, "ct": value}
            for tau, values in ((0.0, ct0), (0.006, ct_last)) for label, value in enumerate(values)]
    return pd.DataFrame(rows)


def test_b5_rejection_acts_on_the_memorized_classes():
    assert passed("B5", mrgan_classwise=classwise([-5, -4, 1, 2], [0, 0, 1, 2])) == "true"
    assert passed("B5", mrgan_classwise=classwise([-5, -4, 1, 2], [-5, -4, 4, 5])) == "false"


def test_b5s_seed_interval_is_the_bootstrap_of_its_statistic_over_seeds():
    """The vectorized interval equals B5's own statistic recomputed on each draw of the seeds."""
    rng = np.random.default_rng(3)
    rows = [{"tau": tau, "seed": seed, "label": label, "ct": rng.normal(-label + 3 * tau * (label < 3), 2)}
            for seed in range(5) for tau in (0.0, 0.5, 1.0) for label in range(6)]
    table = pd.DataFrame(rows).query("not (label == 5 and seed == 2 and tau == 1.0)")  # one missing cell
    low, high = ev.b5_seed_interval(table, draws=300)
    drawn = np.random.default_rng(0).integers(0, 5, (300, 5))
    by_seed = dict(list(table.groupby("seed")))
    values = [ev.b5(pd.concat([by_seed[s].assign(seed=i) for i, s in enumerate(draw)])).value for draw in drawn]
    assert (low, high) == pytest.approx(tuple(np.quantile(values, [0.025, 0.975])))
    assert low < ev.b5(table).value < high
    one_seed = table[table["seed"] == 0]
    assert ev.b5_seed_interval(one_seed) == pytest.approx((ev.b5(one_seed).value,) * 2)


def test_b6_rejection_keeps_fewer_fakes_with_larger_tau():
    assert passed("B6", mrgan_summary=gan_summary(CT_RISING)) == "true"
    leaky = {0.0: [1.0, 0.99], 0.003: [0.9, 0.9], 0.006: [0.8, 0.8]}
    assert passed("B6", mrgan_summary=gan_summary(CT_RISING, kept=leaky)) == "false"
    rising = {0.0: [1.0, 1.0], 0.003: [0.8, 0.8], 0.006: [0.9, 0.9]}
    assert passed("B6", mrgan_summary=gan_summary(CT_RISING, kept=rising)) == "false"
    assert passed("B6", mrgan_summary=gan_summary({0.0: [-5.0]})) == "not run"  # no rejection to check


def test_auroc_is_the_mann_whitney_probability_with_ties_half():
    assert ev.auroc([1, 2, 3], [0, 0]) == 1.0
    assert ev.auroc([1, 1], [1, 1]) == 0.5
    assert ev.auroc([0, 2], [1]) == 0.5
    assert ev.auroc([3, 1, 2], [2, 0]) == pytest.approx(4.5 / 6)


def test_missing_pieces_are_not_run_never_passed():
    table = ev.evaluate(Inputs())
    assert list(table["id"]) == list(CLAIMS) and len(table) == 20
    assert (table["passed"] == "not run").all() and table["value"].isna().all() and (table["tables"] == "").all()
    assert table.set_index("id").loc["FZ4", "detail"] == "not configured: needs claims.feldman, claims.feldman.replicate"
    # a data set without canaries: FZ1-FZ3 are not run, FZ5 runs; KF1-KF2 not run, KF3-KF5 run
    index = planted_index()
    mem = score_table(index, "mem", MEM_MEMORIZED)
    scores = unplanted_scores()
    inputs = Inputs({"feldman_mem": mem, "other_mem": mem, "kfold_scores": scores,
                     "kfold_logpx_full": full_logpx(scores, scores["M"]),
                     "kfold_rho": scores.rename(columns={"M": "rho"})},
                    {"feldman_mem": ["a/mem.parquet"], "other_mem": ["b/mem.parquet"], "kfold_scores": ["s"],
                     "kfold_logpx_full": ["l"], "kfold_rho": ["r"]})
    table = ev.evaluate(inputs).set_index("id")
    assert set(table.index[table["passed"] != "not run"]) == {"FZ5", "KF3", "KF4", "KF5"}
    assert table.loc["FZ5", "tables"] == "a/mem.parquet;b/mem.parquet"
    assert "planted" in table.loc["FZ1", "detail"] and "planted" in table.loc["KF1", "detail"]
    assert table.loc["FZ4", "detail"] == "not configured: needs claims.feldman.replicate"


# --- config ---


def claims_config(claims: dict) -> dict:
    config = tiny_config("all_methods")
    config["datasets"]["gp"] = {"kind": "planted", "base": "g", "flipped": 5, "outlier": 5, "duplicate": 1,
                                "copies": 3, "test_copy": 5}
    config["feldman"]["datasets"] = ["gp"]
    config["feldman"]["architectures"]["mlp_rerun"] = {**config["feldman"]["architectures"]["mlp"], "init_seed": 1}
    config["feldman"]["architectures"]["mlp_wide"] = {**config["feldman"]["architectures"]["mlp"], "hidden": [64]}
    config["diffusion"]["experiments"]["dummies"] = {"dataset": "g", "sizes": [0, 4], "keep_label": 0}  # g: 3 classes
    config["diffusion"]["experiments"]["sweep"]["sizes"] = [4, 8]  # capacity: Y1 and Y2 need two sizes
    config["claims"] = claims
    return config


@pytest.mark.parametrize("claims, key", [
    ({"feldman": {"dataset": "g", "arch": "mlp"}}, "claims.feldman.dataset"),
    ({"feldman": {"dataset": "gp", "arch": "cnn"}}, "claims.feldman.arch"),
    ({"feldman": {"dataset": "gp", "arch": "mlp", "replicate": "mlp"}}, "claims.feldman.replicate"),
    ({"feldman": {"dataset": "gp", "arch": "mlp", "other_arch": "nope"}}, "claims.feldman.other_arch"),
    ({"kfold_vae": {"dataset": "g"}}, "claims.kfold_vae.dataset"),
    ({"diffusion": {"capacity": "nope"}}, "claims.diffusion.capacity"),
    ({"diffusion": {"dummies": "sweep"}}, "claims.diffusion.dummies"),  # no keep_label
    ({"mrgan": {"dataset": "ink"}}, "claims.mrgan.dataset"),
    ({"feldman": {"dataset": "gp"}}, "claims.feldman"),  # arch is required
])
def test_config_names_declared_experiments(claims, key):
    with pytest.raises(PipelineError, match=f"config key '{key}'") as error:
        validate_config(claims_config(claims))
    assert "\n" not in str(error.value)


FULL_CLAIMS = {"feldman": {"dataset": "gp", "arch": "mlp", "replicate": "mlp_rerun", "other_arch": "mlp_wide"},
               "kfold_vae": {"dataset": "ink"}, "diffusion": {"capacity": "sweep", "dummies": "dummies"},
               "mrgan": {"dataset": "g"}}


def test_config_accepts_a_claims_section():
    config = validate_config(claims_config(FULL_CLAIMS))
    assert config["claims"] == FULL_CLAIMS
    assert validate_config(tiny_config("all_methods"))["claims"] == {}  # default: no claims


def dry_run(tmp_path, config: dict, *targets: str) -> str:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    command = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--cores", "1", "-n",
               "--configfile", str(tmp_path / "config.yaml"), *targets]
    result = subprocess.run(command, capture_output=True, text=True, env=workflow_env(), cwd=tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result.stdout + result.stderr


def rule_inputs(output: str, rule: str) -> list[str]:
    """The input files the dry run lists for the job of ``rule``."""
    lines = output[output.index(f"rule {rule}:\n"):].splitlines()
    return next(line for line in lines if line.strip().startswith("input:")).split(":", 1)[1].strip().split(", ")


@pytest.mark.workflow
def test_dry_run_asks_for_the_configured_tables_only(tmp_path):
    config = claims_config({"feldman": {"dataset": "gp", "arch": "mlp", "replicate": "mlp_rerun"},
                            "diffusion": {"capacity": "sweep"}})
    output = dry_run(tmp_path, config)
    assert sorted(rule_inputs(output, "claims")) == sorted([
        "results/data/gp/index.parquet", "results/feldman/gp/mlp/memorization.parquet",
        "results/feldman/gp/mlp/influence_pairs.parquet", "results/feldman/gp/mlp/shards/shard0.parquet",
        "results/feldman/gp/mlp_rerun/memorization.parquet", "results/diffusion/sweep/summary.parquet"])
    assert "rule claims_figures:" in output  # part of the default target
    # without a claims section nothing of it runs
    config["claims"] = {}
    assert "rule claims" not in dry_run(tmp_path, config)


def test_tables_that_do_not_fit_together_are_named():
    mem = unplanted_scores().rename(columns={"M": "mem"})
    inputs = Inputs({"feldman_mem": mem, "other_mem": mem.head(10)},
                    {"feldman_mem": ["a/memorization.parquet"], "other_mem": ["b/memorization.parquet"]})
    with pytest.raises(PipelineError, match="FZ5 on a/memorization.parquet, b/memorization.parquet: ") as error:
        ev.evaluate(inputs)
    assert "\n" not in str(error.value)


def test_the_reproduce_config_runs_every_claims_experiment():
    """workflow/configs/reproduce.yaml is valid and names an experiment for every claim (none `not run`)."""
    from pipeline.config import load_config

    config = load_config(Path(__file__).resolve().parent.parent / "workflow" / "configs" / "reproduce.yaml")
    claims = config["claims"]
    assert set(claims["feldman"]) == {"dataset", "arch", "replicate", "other_arch"}
    assert set(claims["diffusion"]) == {"capacity", "dummies", "minority"}
    assert {"kfold_vae", "mrgan"} <= set(claims)
    for key in ("feldman", "kfold_vae"):
        assert config["datasets"][claims[key]["dataset"]]["kind"] == "planted", key
    assert set(claims["diffusion"].values()) <= set(config["diffusion"]["run"])
    assert 0 in config["mrgan"]["taus"] and len(config["mrgan"]["taus"]) >= 2


# --- declared inputs and named criteria ---


def test_every_claim_declares_the_inputs_it_reads():
    """Each claim names its inputs (no inference from parameter names): declared inputs exist, the check and
    the figure panel take exactly them, and a declaration that does not match its check fails at once."""
    for claim in ev.CLAIMS:
        assert claim.needs and set(claim.uses()) <= set(tables.INPUTS), claim.id
        assert list(inspect.signature(claim.check).parameters) == claim.uses(), claim.id
        panel = [name for name in inspect.signature(figures.DRAW[claim.id]).parameters if name != "ax"]
        assert sorted(panel) == sorted(claim.uses()), claim.id
    with pytest.raises(PipelineError, match="claim FZ1: declared inputs.*unknown: feldman_memo"):
        ev.Claim("feldman", "FZ1", "c", "s", "k", ev.fz1, needs=("feldman_index", "feldman_memo"))
    with pytest.raises(PipelineError, match="claim KF3: declared inputs"):  # kfold_index left undeclared
        ev.Claim("kfold_vae", "KF3", "c", "s", "k", ev.kf3, needs=("kfold_scores", "kfold_logpx_full"))


PLANTED = {"gp"}.__contains__


def test_the_full_claims_section_builds_every_declared_input():
    """With every piece configured (planted data sets where canaries are needed), every claim gets its inputs."""
    claims = {**FULL_CLAIMS, "kfold_vae": {"dataset": "gp"}, "diffusion": {**FULL_CLAIMS["diffusion"],
                                                                           "minority": "mino"}}
    given = set(tables.expected_files(claims, PLANTED)) | {tables.DUMMIES_CLASS}
    assert given == set(tables.INPUTS)
    for claim in ev.CLAIMS:
        assert set(claim.needs) <= given, claim.id
    # pieces left out: exactly their inputs are not expected
    partial = tables.expected_files({"feldman": {"dataset": "g", "arch": "mlp", "other_arch": "cnn"}}, PLANTED)
    assert partial == ["feldman_mem", "other_mem"]


def test_inputs_the_rules_build_are_checked_against_the_declarations():
    """A renamed or forgotten claims input (pipeline.targets) stops the workflow instead of making a claim `not run`."""
    claims = {"feldman": {"dataset": "gp", "arch": "mlp"}, "kfold_vae": {"dataset": "ink"}}
    built = {"feldman_mem": "m", "feldman_index": "i", "feldman_pairs": "p", "feldman_shards": ["s"],
             "kfold_scores": "k", "kfold_rho": "r", "kfold_logpx_full": "l"}
    tables.check_built(built, claims, PLANTED)  # as declared: fine
    renamed = {("feldman_memorization" if k == "feldman_mem" else k): v for k, v in built.items()}
    with pytest.raises(PipelineError, match="not declared: feldman_memorization; declared but not built: feldman_mem"):
        tables.check_built(renamed, claims, PLANTED)
    forgotten = {k: v for k, v in built.items() if k != "kfold_logpx_full"}
    with pytest.raises(PipelineError, match="declared but not built: kfold_logpx_full$") as error:
        tables.check_built(forgotten, claims, PLANTED)
    assert "\n" not in str(error.value)
    # a table under a name no claim declares was silently ignored (its claims `not run`); now it is an error
    scores = unplanted_scores()
    with pytest.raises(PipelineError, match="undeclared inputs: kfold_logpx"):
        ev.evaluate(Inputs({"kfold_scores": scores, "kfold_logpx": full_logpx(scores, 0)},
                           {"kfold_scores": ["s"], "kfold_logpx": ["l"]}))


def test_criteria_texts_are_written_from_the_named_constants(monkeypatch):
    """Each threshold is a constant of pipeline.claims.criteria; the criterion column shows it and the check uses it."""
    texts = {claim.id: claim.criterion for claim in ev.CLAIMS}
    assert texts["FZ1"] == f"AUROC >= {criteria.FZ1_MIN_AUROC:g} and median >= {criteria.FZ1_MIN_MEDIAN_MEM:g}"
    assert texts["B1"] == f"<= {criteria.B1_MAX_CT:g}"
    # no criterion holds a number that is not one of the constants (or derived from one: percentages)
    constants = {float(v) for k, v in vars(criteria).items() if k.isupper()}
    allowed = constants | {round(100 * v, 10) for v in constants} | {round(1 - v, 10) for v in constants}
    for claim in ev.CLAIMS:
        for text in (claim.criterion, claim.statistic):
            numbers = {float(x) for x in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?", text)}
            assert numbers <= allowed | {0.0, 1.0}, (claim.id, text, numbers - allowed)
    # a check reads its constant: moving FZ5's threshold moves its outcome
    mem = unplanted_scores().rename(columns={"M": "mem"})
    noisy = mem.assign(mem=mem["mem"] + np.random.default_rng(1).normal(0, mem["mem"].std(), len(mem)))
    assert outcome("FZ5", feldman_mem=mem, other_mem=noisy)["passed"] == "true"
    monkeypatch.setattr(criteria, "FZ5_MIN_SPEARMAN", 0.99)
    assert outcome("FZ5", feldman_mem=mem, other_mem=noisy)["passed"] == "false"


@pytest.mark.workflow
def test_dry_run_gives_the_claims_every_declared_input(tmp_path):
    """The rule's command carries one option per declared input of the configured pieces, no other."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(claims_config(FULL_CLAIMS), sort_keys=False))
    command = [*SNAKEMAKE, "results/claims/claims.parquet", "-s", str(REPO / "Snakefile"), "--directory",
               str(tmp_path), "--cores", "1", "-n", "-p", "--configfile", str(tmp_path / "config.yaml")]
    result = subprocess.run(command, capture_output=True, text=True, env=workflow_env(), cwd=tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    line = next(line for line in result.stdout.splitlines() if "pipeline.claims.evaluate" in line)
    options = set(re.findall(r"(--[a-z-]+)", line)) - {"--out"}
    expected = tables.expected_files(FULL_CLAIMS, {"gp"}.__contains__) + [tables.DUMMIES_CLASS]
    assert options == {tables.option(name) for name in expected}


def test_declared_inputs_name_keys_of_the_claims_schema():
    """Each input's config piece is a key of the schema's claims section (a renamed key fails here)."""
    from pipeline.schema import schema_node

    section = schema_node("claims")["properties"]
    for name, spec in tables.INPUTS.items():
        assert spec.paper in section, name
        assert spec.key is None or spec.key in section[spec.paper]["properties"], name
        assert not spec.planted or "dataset" in section[spec.paper]["properties"], name
