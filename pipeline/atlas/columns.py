"""Names, types and meanings of the atlas columns, and for each score what it measures and which
way it points: the one home of both (the figures' labels and docs/outputs.md are written from it).

A column's method is the prefix of its name (``feldman``, ``kfold``, ``diffusion``, ``mrgan``,
``samples``); ``index`` and ``label`` belong to the data set. The scores are the columns with a
``measures``: the analysis ranks and compares exactly those, each in its own direction (higher =
``higher``). They do not all measure memorization: on the planted digits rho ranks the inverted
images (outliers and duplicates) above nearly every clean example and the flipped labels below
chance, for an inverted image lies far from every validation image whether or not a model copies
it; MEASURES says what each kind of score measures.
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

# What a score can measure, in the order the figures group them.
MEASURES = {
    "memorization": "how much training on the example changes what the model does on it, or how often "
                    "the model's samples copy it",
    "membership": "how well a model's output tells whether the example was in its training set",
    "difficulty to learn": "how hard the example is to learn, whether or not the model memorizes it",
    "atypicality": "how far the example lies from the held-out data, whether or not the model copies it",
    "closeness to samples": "how many of the model's samples lie nearer to the example than to any other "
                            "training example: a copied example collects them, and so does any example where "
                            "the model samples densely",
}


@dataclass(frozen=True)
class Column:
    pattern: str
    dtype: str
    method: str
    meaning: str
    measures: str | None = None  # a key of MEASURES for a score; None for any other column
    higher: str = ""  # what a higher value of the score means, short enough for an axis label
    # A secondary score of its method (Feldman's mem_margin, LiRA and slowness beside mem): compared
    # with every score, but not counted when the examples a method flags are gathered, so a method
    # flags its primary scores' top sets whatever other scores ride along. They measure other things
    # (``measures``): only mem_margin estimates mem.
    alternative: bool = False
    shown: str = ""  # the documented name, where the pattern's groups are built of several names

    @property
    def score(self) -> bool:
        return self.measures is not None

    @property
    def name(self) -> str:
        """The documented name: ``shown``, else the pattern with its groups as ``{group}``."""
        return self.shown or re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", self.pattern)

    @property
    def prefix(self) -> str:
        """The fixed start of the pattern: the longer it is, the more specific the pattern."""
        return self.pattern.split("(?P")[0]


# In atlas.parquet's order (pipeline.atlas.join): the later columns come after every other method's, so
# adding them kept the earlier scores' order and the analysis's seeds.
COLUMNS = [
    Column(r"index", "int64", "data", "dataset index (row of results/data/{dataset}/images.npy); training split only"),
    Column(r"label", "int64", "data", "class label from the data set's index.parquet"),
    Column(r"feldman_mem_(?P<arch>.+)", "float64", "feldman",
           "Feldman & Zhang memorization estimate mem_i of architecture {arch}: accuracy on the example of the "
           "models trained with it minus that of the models trained without it (memorization.parquet, mem)",
           "memorization", "more memorized"),
    Column(r"feldman_se_(?P<arch>.+)", "float64", "feldman", "standard error of feldman_mem_{arch}"),
    Column(r"kfold_M", "float64", "kfold",
           "K-fold memorization score M_i = U_i - V_i (kfold_scores.parquet)", "memorization", "more memorized"),
    Column(r"kfold_U", "float64", "kfold", "U_i: log mean p(x_i) of the K-fold models trained on i"),
    Column(r"kfold_V", "float64", "kfold", "V_i: log mean p(x_i) of the K-fold models holding i out"),
    Column(r"kfold_rho", "float64", "kfold",
           "rho_i = d(x_i, nearest validation image) / d(x_i, nearest sample of the full VAE) (rho.parquet); "
           "high for an example far from every validation image, copied or not", "atypicality",
           "farther from validation"),
    Column(r"kfold_logpx_full", "float64", "kfold",
           "log p(x_i) in nats under the VAE trained on all training data, last epoch (full/logpx.parquet)"),
    Column(r"diffusion_replicates_(?P<job>.+)", "Int64", "diffusion",
           "samples of that DDPM that replicate the example by the ratio criterion (replicates.parquet); <NA> "
           "when the example was not in the model's training subset", "memorization", "copied by more samples",
           shown="diffusion_replicates_{experiment}_n{size}_w{width}_seed{seed}"),
    Column(r"mrgan_nn_(?P<job>.+)", "int64", "mrgan",
           "samples of that GAN (tau0: trained without memorization rejection) whose nearest training point "
           "(embedding, 1 - |cos|) is the example (nn_distances.parquet, set 'generated')",
           "closeness to samples", "nearest to more samples", shown="mrgan_nn_tau{tau}_seed{seed}"),
    Column(r"samples_(?P<set>.+)_nn_count", "int64", "samples",
           "samples of sample set {set} whose nearest training image (pixels, L2) is the example "
           "(nn_counts.parquet, nn_count)", "closeness to samples", "nearest to more samples"),
    Column(r"samples_(?P<set>.+)_replicated", "int64", "samples",
           "replicates (ratio criterion) of sample set {set} whose nearest training image is the example",
           "memorization", "copied by more samples"),
    # Feldman's estimators beside mem (pipeline.feldman.estimators, .lira; memorization.parquet); an
    # estimator the runs could not form (all NaN: no margins or per-epoch record) has no column
    Column(r"feldman_mem_margin_(?P<arch>.+)", "float64", "feldman",
           "mem_margin of architecture {arch}: mean sigma(margin) of the models trained with the example minus "
           "that of the models trained without it", "memorization", "more memorized", alternative=True),
    Column(r"feldman_mem_margin_se_(?P<arch>.+)", "float64", "feldman",
           "standard error of feldman_mem_margin_{arch} (mem_margin_se)"),
    Column(r"feldman_lira_(?P<arch>.+)", "float64", "feldman",
           "LiRA online (Carlini et al. 2022), architecture {arch}: leave-one-model-out AUC of telling the models "
           "trained on the example from the others by their confidence on it", "membership",
           "membership easier to tell", alternative=True),
    Column(r"feldman_lira_fixed_(?P<arch>.+)", "float64", "feldman",
           "LiRA online with fixed (global) variances, architecture {arch}: the same AUC (lira_fixed)", "membership",
           "membership easier to tell", alternative=True),
    Column(r"feldman_slowness_(?P<arch>.+)", "float64", "feldman",
           "1 - learning_speed of architecture {arch} (Jiang et al. 2021): share of epochs in which the models "
           "trained on the example got it wrong", "difficulty to learn", "wrong in more epochs", alternative=True),
    # The selected influence pairs (influence_pairs.parquet) whose training example this is, and how many
    # of them beat chance (pipeline.feldman.chance: the pairs kept by the step-up rule at feldman.influence_fdr, as the
    # influence_pairs figure draws them); most selected pairs of a small run are noise
    Column(r"feldman_infl_pairs_(?P<arch>.+)", "int64", "feldman",
           "selected influence pairs (i, j) of architecture {arch} with the example as i, those noise alone "
           "would select included"),
    Column(r"feldman_infl_beyond_chance_(?P<arch>.+)", "int64", "feldman",
           "of them, the pairs that beat chance (the ones influence_pairs.png draws)"),
]


def describe(name: str) -> Column | None:
    """The Column entry of an atlas column name (meaning filled in), or None for an unknown name. Of
    the patterns that match, the most specific (longest fixed start) names it: feldman_mem_margin_mlp
    is mem_margin of mlp, not mem of an architecture "margin_mlp"."""
    matches = [(column, match) for column in COLUMNS if (match := re.fullmatch(column.pattern, name))]
    if not matches:
        return None
    column, match = max(matches, key=lambda found: len(found[0].prefix))
    groups = match.groupdict()
    meaning = re.sub(r"\{(\w+)\}", lambda field: groups.get(field[1], field[0]), column.meaning)
    return dataclasses.replace(column, meaning=meaning)


def method_of(name: str) -> str:
    info = describe(name)
    return "unknown" if info is None else info.method


def score_columns(columns, primary_only: bool = False) -> list[str]:
    """The scores among ``columns``, in their order (without the secondary ones, ``Column.alternative``,
    when ``primary_only``)."""
    return [name for name in columns if (info := describe(name)) is not None and info.score
            and not (primary_only and info.alternative)]


def what_it_measures(name: str) -> str:
    """'<what it measures>, higher = <what a higher value means>' of a score column."""
    info = describe(name)
    if info is None or not info.score:
        raise ValueError(f"{name} is not an atlas score")
    return f"{info.measures}, higher = {info.higher}"


def diffusion_job_name(experiment: str, size: int, width: int, seed: int) -> str:
    return f"{experiment}_n{size}_w{width}_seed{seed}"


def mrgan_job_name(tau: float, seed: int) -> str:
    return f"tau{float(tau):g}_seed{seed}"
