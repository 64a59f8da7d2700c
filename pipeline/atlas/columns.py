"""Names, types and meanings of the atlas columns, and which of them are memorization scores.

A column's method is the prefix of its name (``feldman``, ``kfold``, ``diffusion``, ``mrgan``,
``samples``);
``index`` and ``label`` belong to the data set. Scores are the columns where a higher value
means "more memorized"; the analysis compares exactly those.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

METHODS = {
    "feldman": "Feldman & Zhang",
    "kfold": "K-fold VAE",
    "diffusion": "Diffusion replicates",
    "mrgan": "MR-GAN",
    "samples": "Sample sets",
}


@dataclass(frozen=True)
class Column:
    pattern: str
    dtype: str
    method: str
    score: bool
    meaning: str
    # Another estimate of a quantity a primary score already measures (Feldman's estimators beside
    # mem): compared with every score, but not counted again when the examples a method flags are
    # gathered, so a method flags its own primary scores' top sets whatever estimators ride along.
    alternative: bool = False


COLUMNS = [
    Column(r"index", "int64", "data", False,
           "dataset index (row of results/data/<dataset>/images.npy); training split only"),
    Column(r"label", "int64", "data", False, "class label from the data set's index.parquet"),
    # the estimators beside mem (pipeline.feldman.estimators, .lira), before feldman_mem_ so that
    # feldman_mem_margin_{arch} is not read as mem of an architecture "margin_{arch}"
    Column(r"feldman_mem_margin_se_(?P<arch>.+)", "float64", "feldman", False,
           "standard error of feldman_mem_margin_{arch}"),
    Column(r"feldman_mem_margin_(?P<arch>.+)", "float64", "feldman", True,
           "mem_margin of architecture {arch}: mean sigma(margin) of the models trained with the example minus "
           "that of the models trained without it", alternative=True),
    Column(r"feldman_lira_fixed_(?P<arch>.+)", "float64", "feldman", True,
           "LiRA online with fixed (global) variances, architecture {arch}: leave-one-model-out AUC of the "
           "example's membership", alternative=True),
    Column(r"feldman_lira_(?P<arch>.+)", "float64", "feldman", True,
           "LiRA online (Carlini et al. 2022), architecture {arch}: leave-one-model-out AUC of the example's "
           "membership", alternative=True),
    Column(r"feldman_slowness_(?P<arch>.+)", "float64", "feldman", True,
           "1 - learning_speed of architecture {arch} (Jiang et al. 2021): share of epochs in which the models "
           "trained on the example got it wrong", alternative=True),
    Column(r"feldman_mem_(?P<arch>.+)", "float64", "feldman", True,
           "Feldman & Zhang memorization estimate mem_i of architecture {arch}"),
    Column(r"feldman_se_(?P<arch>.+)", "float64", "feldman", False, "standard error of feldman_mem_{arch}"),
    Column(r"kfold_M", "float64", "kfold", True, "K-fold memorization score M_i = U_i - V_i"),
    Column(r"kfold_U", "float64", "kfold", False, "U_i: log mean p(x_i) of the K-fold models trained on i"),
    Column(r"kfold_V", "float64", "kfold", False, "V_i: log mean p(x_i) of the K-fold models holding i out"),
    Column(r"kfold_rho", "float64", "kfold", True,
           "rho_i = d(x_i, nearest validation image) / d(x_i, nearest sample of the full VAE)"),
    Column(r"kfold_logpx_full", "float64", "kfold", False,
           "log p(x_i) in nats under the VAE trained on all training data (last epoch)"),
    Column(r"diffusion_replicates_(?P<job>.+)", "Int64", "diffusion", True,
           "samples of diffusion model {job} that replicate the example (ratio criterion); "
           "<NA> when the example was not in that model's training subset"),
    Column(r"mrgan_nn_(?P<job>.+)", "int64", "mrgan", True,
           "GAN samples of model {job} whose nearest training point (embedding, 1 - |cos|) is the example; "
           "tau0 = without memorization rejection"),
    Column(r"samples_(?P<set>.+)_nn_count", "int64", "samples", True,
           "samples of sample set {set} whose nearest training image (pixels, L2) is the example"),
    Column(r"samples_(?P<set>.+)_replicated", "int64", "samples", True,
           "replicates (ratio criterion) of sample set {set} whose nearest training image is the example"),
]


def describe(name: str) -> Column | None:
    """The Column entry of an atlas column name (meaning filled in), or None for an unknown name."""
    for column in COLUMNS:
        match = re.fullmatch(column.pattern, name)
        if match:
            return dataclasses.replace(column, meaning=column.meaning.format(**match.groupdict()))
    return None


def method_of(name: str) -> str:
    info = describe(name)
    return "unknown" if info is None else info.method


def score_columns(columns, primary_only: bool = False) -> list[str]:
    """The memorization scores among ``columns``, in their order (without the alternative estimates
    when ``primary_only``)."""
    return [name for name in columns if (info := describe(name)) is not None and info.score
            and not (primary_only and info.alternative)]


def diffusion_job_name(experiment: str, size: int, width: int, seed: int) -> str:
    return f"{experiment}_n{size}_w{width}_seed{seed}"


def mrgan_job_name(tau: float, seed: int) -> str:
    return f"tau{float(tau):g}_seed{seed}"
