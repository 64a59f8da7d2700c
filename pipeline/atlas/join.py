"""Join every method's per-training-example results of one data set into ``atlas.parquet``.

Nothing is recomputed from the models: each column is read from a table a method wrote. One row
per example of the data set's training split, in dataset order; a method that did not run on the
data set has no columns (never zeros).

atlas.parquet (one row per training example, in dataset order): its columns, their types and meanings, and
for each score what it measures and which way it points, are ``pipeline.atlas.columns.COLUMNS``, in the
order written here: index and label, then each method's columns (Feldman's mem and se per architecture,
the K-fold scores, diffusion, MR-GAN, sample sets), then Feldman's other estimators (after every other
method's columns, so that adding them kept the earlier scores' order and the analysis's seeds), then
the influence pairs per architecture.

The influence pairs' columns count, per training example i, its selected pairs (i, j) in
influence_pairs.parquet and those of them that beat chance (``pipeline.feldman.chance.beyond_chance``
at config key ``feldman.influence_fdr``, from the shard tables the pairs were estimated from and
the chance table influence_chance.parquet: the pairs the influence_pairs figure draws). Most
selected pairs of a run of the default size are noise, so the second count is the one to read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import cli, io
from pipeline.atlas.columns import describe
from pipeline.errors import PipelineError
from pipeline.feldman.chance import FDR, beyond_chance
from pipeline.feldman.runs import read_runs
from pipeline.progress import get_logger

log = get_logger("atlas.join")


def training_examples(index_table: pd.DataFrame) -> pd.DataFrame:
    """index and label of the training split, in dataset order (the atlas's rows)."""
    train = index_table[index_table["split"] == "train"]
    return pd.DataFrame({"index": train["index"].to_numpy(np.int64), "label": train["label"].to_numpy(np.int64)})


def _check_indices(values: np.ndarray, base: pd.Index, path, what: str, unique: bool = True) -> None:
    if unique:
        counts = pd.Series(values).value_counts()
        dups = counts[counts > 1].index.to_numpy()
        if len(dups):
            raise PipelineError(f"{path}: {what} {sorted(dups.tolist())[:5]} appear more than once")
    unknown = np.setdiff1d(values, base.to_numpy())
    if len(unknown):
        raise PipelineError(f"{path}: {len(unknown)} {what} are not training examples of the data set "
                            f"(e.g. {unknown[:5].tolist()}); rerun the method on this data set")


def _per_example(table: pd.DataFrame, path, base: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """``columns`` of a one-row-per-training-example table, renamed and aligned to ``base``."""
    order = pd.Index(base["index"])
    _check_indices(table["index"].to_numpy(), order, path, "indices")
    if len(table) != len(order):
        raise PipelineError(f"{path}: covers {len(table)} of {len(order)} training examples; rerun the method")
    table = table.set_index("index")
    if "label" in table and not np.array_equal(table["label"].reindex(order).to_numpy(), base["label"].to_numpy()):
        raise PipelineError(f"{path}: labels disagree with the data set's index.parquet")
    return table[list(columns)].rename(columns=columns).reindex(order).astype("float64").reset_index(drop=True)


def feldman_columns(table: pd.DataFrame, path, base: pd.DataFrame, arch: str) -> pd.DataFrame:
    return _per_example(table, path, base, {"mem": f"feldman_mem_{arch}", "se": f"feldman_se_{arch}"})


ESTIMATOR_COLUMNS = {"mem_margin": "feldman_mem_margin_{arch}", "mem_margin_se": "feldman_mem_margin_se_{arch}",
                     "lira": "feldman_lira_{arch}", "lira_fixed": "feldman_lira_fixed_{arch}",
                     "learning_speed": "feldman_slowness_{arch}"}


def feldman_estimator_columns(table: pd.DataFrame, path, base: pd.DataFrame, arch: str) -> pd.DataFrame:
    """The estimators beside mem of one architecture (learning_speed as slowness, 1 - learning_speed, so
    that higher = harder to learn, as the other scores point up). Columns missing from an older
    memorization.parquet or NaN throughout are left out."""
    names = {c: n.format(arch=arch) for c, n in ESTIMATOR_COLUMNS.items() if c in table and table[c].notna().any()}
    part = _per_example(table, path, base, names) if names else pd.DataFrame(index=base.index)
    if f"feldman_slowness_{arch}" in part:
        part[f"feldman_slowness_{arch}"] = 1.0 - part[f"feldman_slowness_{arch}"]
    return part


def influence_columns(pairs: pd.DataFrame, pairs_path, chance: pd.DataFrame, member, test_correct, mem,
                       base: pd.DataFrame, arch: str, fdr: float = FDR) -> pd.DataFrame:
    """Per training example: its selected influence pairs (``pairs``, influence_pairs.parquet, as its
    training example i) and those that beat chance (``beyond_chance`` of the runs ``member`` and
    ``test_correct`` the pairs came from, ``mem`` memorization.parquet's column, ``chance``
    influence_chance.parquet) at false discovery rate ``fdr``)."""
    order = pd.Index(base["index"])
    train = pairs["train_index"].to_numpy(np.int64)
    _check_indices(train, order, pairs_path, "training indices", unique=False)
    kept = beyond_chance(pairs, member, test_correct, mem, chance, fdr).mask
    return pd.DataFrame({
        f"feldman_infl_pairs_{arch}": _count(train, order),
        f"feldman_infl_beyond_chance_{arch}": _count(train[kept], order)})


def _count(values: np.ndarray, order: pd.Index) -> np.ndarray:
    """How often each of ``order`` occurs in ``values``, in ``order``'s order."""
    return pd.Series(values).value_counts().reindex(order, fill_value=0).to_numpy(np.int64)


def kfold_columns(table: pd.DataFrame, path, base: pd.DataFrame) -> pd.DataFrame:
    return _per_example(table, path, base, {"M": "kfold_M", "U": "kfold_U", "V": "kfold_V"})


def rho_columns(table: pd.DataFrame, path, base: pd.DataFrame) -> pd.DataFrame:
    return _per_example(table, path, base, {"rho": "kfold_rho"})


def logpx_full_columns(table: pd.DataFrame, path, base: pd.DataFrame) -> pd.DataFrame:
    """log p(x) of the full-data model at its last evaluated epoch."""
    if table.empty:
        raise PipelineError(f"{path}: no rows; rerun kfold_vae_full_model")
    last = table[table["epoch"] == table["epoch"].max()]
    return _per_example(last, path, base, {"logpx": "kfold_logpx_full"})


def diffusion_columns(replicates: pd.DataFrame, replicates_path, subset: pd.DataFrame, subset_path,
                      base: pd.DataFrame, name: str) -> pd.DataFrame:
    """Replicating samples per training example of one DDPM; <NA> outside its training subset."""
    order = pd.Index(base["index"])
    members = subset["index"].to_numpy()
    _check_indices(members, order, subset_path, "indices")
    nearest = replicates.loc[replicates["replicate"].to_numpy(bool), "nearest"].to_numpy()
    _check_indices(nearest, pd.Index(members), replicates_path, "nearest training images", unique=False)
    counts = pd.Series(0, index=pd.Index(members), dtype="int64")
    counts = counts.add(pd.Series(nearest).value_counts(), fill_value=0).astype("int64")
    column = counts.reindex(order).astype("Int64").reset_index(drop=True)
    return pd.DataFrame({f"diffusion_replicates_{name}": column})


def mrgan_columns(nn: pd.DataFrame, path, base: pd.DataFrame, name: str) -> pd.DataFrame:
    """GAN samples per training example that have it as their nearest training point."""
    order = pd.Index(base["index"])
    nearest = nn.loc[nn["set"] == "generated", "nearest"].to_numpy()
    _check_indices(nearest, order, path, "nearest training points", unique=False)
    counts = pd.Series(nearest).value_counts().reindex(order, fill_value=0).astype("int64")
    return pd.DataFrame({f"mrgan_nn_{name}": counts.reset_index(drop=True)})


def samples_columns(table: pd.DataFrame, path, base: pd.DataFrame, name: str) -> pd.DataFrame:
    """Per training example: the set's samples nearest to it and the replicates among them."""
    return _per_example(table, path, base, {"nn_count": f"samples_{name}_nn_count",
                                            "replicated": f"samples_{name}_replicated"})


def join(base: pd.DataFrame, parts: list[pd.DataFrame]) -> pd.DataFrame:
    """``base`` (index, label) beside the aligned method columns; a repeated column name is an error."""
    atlas = pd.concat([base.reset_index(drop=True), *parts], axis=1)
    dup = atlas.columns[atlas.columns.duplicated()].tolist()
    if dup:
        raise PipelineError(f"atlas: columns {dup} come from more than one table")
    for name in atlas.columns:
        info = describe(name)
        if info is None:
            raise PipelineError(f"atlas: column '{name}' is not documented in pipeline/atlas/columns.py")
        atlas[name] = atlas[name].astype(info.dtype)
    return atlas


def build(dataset_dir, feldman=(), kfold_scores=None, rho=None, logpx_full=None, diffusion=(), mrgan=(), samples=(),
          influence=(), influence_fdr: float = FDR):
    """Read the tables named by the arguments (paths; see main) and return the atlas. ``influence``:
    (architecture, influence_pairs.parquet, influence_chance.parquet, [shard tables]) of architectures
    also in ``feldman``, their pairs beyond chance at ``influence_fdr``."""
    base = training_examples(io.read_parquet(Path(dataset_dir) / "index.parquet", ["index", "label", "split"]))
    parts = []
    memorization = {arch: (path, io.read_parquet(path, ["index", "label", "mem", "se"])) for arch, path in feldman}
    for arch, (path, table) in memorization.items():
        parts.append(feldman_columns(table, path, base, arch))
    estimators = [feldman_estimator_columns(io.read_parquet(path), path, base, arch) for arch, path in feldman]
    if kfold_scores is not None:
        parts.append(kfold_columns(io.read_parquet(kfold_scores, ["index", "label", "M", "U", "V"]), kfold_scores,
                                   base))
    if rho is not None:
        parts.append(rho_columns(io.read_parquet(rho, ["index", "label", "rho"]), rho, base))
    if logpx_full is not None:
        parts.append(logpx_full_columns(io.read_parquet(logpx_full, ["index", "epoch", "logpx"]), logpx_full, base))
    for name, replicates, subset in diffusion:
        parts.append(diffusion_columns(io.read_parquet(replicates, ["nearest", "replicate"]), replicates,
                                       io.read_parquet(subset, ["index"]), subset, base, name))
    for name, path in mrgan:
        parts.append(mrgan_columns(io.read_parquet(path, ["set", "nearest"]), path, base, name))
    for name, path in samples:
        table = io.read_parquet(path, ["index", "label", "nn_count", "replicated"])
        parts.append(samples_columns(table, path, base, name))
    pairs = []
    for arch, pairs_path, chance_path, shards in influence:
        if arch not in memorization:
            raise PipelineError(f"{pairs_path}: influence pairs of architecture '{arch}' without its "
                                f"memorization.parquet (--feldman {arch} ...)")
        runs = read_runs([Path(shard) for shard in shards], scores=False)
        mem = memorization[arch][1]["mem"].to_numpy(np.float64)
        pairs.append(influence_columns(io.read_parquet(pairs_path, ["train_index", "p_value"]), pairs_path,
                                       io.read_parquet(chance_path), runs.member, runs.test_correct, mem, base, arch,
                                       influence_fdr))
    return join(base, parts + estimators + pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description="Join the methods' per-example tables of one data set.")
    parser.add_argument("--dataset-dir", required=True, type=Path)
    parser.add_argument("--feldman", nargs=2, action="append", default=[], metavar=("ARCH", "MEMORIZATION"))
    parser.add_argument("--kfold-scores", type=Path)
    parser.add_argument("--rho", type=Path)
    parser.add_argument("--logpx-full", type=Path)
    parser.add_argument("--diffusion", nargs=3, action="append", default=[], metavar=("JOB", "REPLICATES", "SUBSET"))
    parser.add_argument("--mrgan", nargs=2, action="append", default=[], metavar=("JOB", "NN_DISTANCES"))
    parser.add_argument("--samples", nargs=2, action="append", default=[], metavar=("SET", "NN_COUNTS"))
    parser.add_argument("--feldman-influence", nargs="+", action="append", default=[],
                        metavar="ARCH PAIRS CHANCE SHARD",
                        help="an architecture's influence_pairs.parquet, influence_chance.parquet and the shard "
                             "tables they were estimated from")
    parser.add_argument("--influence-fdr", type=float, default=FDR,
                        help="the false discovery rate of the pairs beyond chance (config key feldman.influence_fdr)")
    parser.add_argument("--out", required=True, type=Path)
    a = parser.parse_args()
    influence = []
    for values in a.feldman_influence:
        if len(values) < 4:
            parser.error(f"--feldman-influence {' '.join(values)}: needs ARCH PAIRS CHANCE and at least one SHARD")
        influence.append((values[0], Path(values[1]), Path(values[2]), [Path(v) for v in values[3:]]))
    atlas = build(a.dataset_dir, a.feldman, a.kfold_scores, a.rho, a.logpx_full, a.diffusion, a.mrgan, a.samples,
                  influence, a.influence_fdr)
    io.write_parquet(atlas, a.out)
    log.info("wrote %s: %d training examples x %d columns (%s)", a.out, len(atlas), atlas.shape[1],
             ", ".join(atlas.columns[2:]) or "no method columns")


if __name__ == "__main__":
    cli.run(main)
