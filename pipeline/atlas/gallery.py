"""The gallery of one data set: ``results/atlas/<dataset>/gallery.html``, one self-contained page to look at.

Three sections, each list at most ``--top`` (config ``atlas.gallery_examples``) entries long:

* Top examples, per memorization score of the atlas (every method and estimator, ``columns.score_columns``):
  the examples with the highest scores, highest first (ties by dataset index; never an example at the
  column's minimum, as in the atlas's top sets), each with its image, label, planted kind (data sets of
  kind planted), its score with the standard error the atlas holds for it (Feldman's mem and mem_margin;
  the other scores have none), and its rank in every other score (1 = most memorized, among the examples
  that score defines).
* Per generative model (K-fold VAE, diffusion model, GAN, sample set): the training images most often
  nearest to its samples (the model's atlas score, then the closest copy first: smallest distance ratio
  d1 / d2, or distance for MR-GAN, whose table records one neighbour), each beside the samples nearest to
  it with their distances and ratios. The strips are those of ``python -m pipeline.inspect --image``
  (``pipeline.inspect.lookup_table`` and ``pipeline.inspect_picture.strips_of``), so the two agree.
* Per Feldman architecture: the selected high-influence pairs that beat chance
  (``pipeline.feldman.chance.beyond_chance``, as the influence figure draws them), smallest p-value first,
  each test image beside its training image with infl, its standard error and the p-value.

The page names the config file(s) and overrides of the run and the tables it read, embeds every image as
a PNG data URI (``gallery_html``) and needs no JavaScript; the same tables give the same bytes. It is
written atomically.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from pipeline import cli, io, paths
from pipeline.atlas.columns import (METHODS, describe, diffusion_job_name, method_of, mrgan_job_name, score_columns,
                                    what_it_measures)
from pipeline.atlas.figures import short_name
from pipeline.atlas.gallery_html import escape, figure, page, table, thumbnail
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.feldman.chance import FDR, beyond_chance
from pipeline.feldman.figures import chance_heading
from pipeline.feldman.runs import read_runs
from pipeline.inspect import example_rows, lookup_table
from pipeline.inspect_picture import strips_of, value_text
from pipeline.progress import get_logger

log = get_logger("atlas.gallery")


def as_float(column: pd.Series) -> np.ndarray:
    return pd.array(column, dtype="Float64").to_numpy(dtype=np.float64, na_value=np.nan)


def ranks(values: np.ndarray) -> list[str]:
    """Rank of each value, 1 = highest; tied values the span of ranks they share ("1-32" where 32 tie at the
    top); "-" where undefined."""
    out = np.full(len(values), "-", dtype=object)
    defined = ~np.isnan(values)
    first, last = rankdata(-values[defined], method="min"), rankdata(-values[defined], method="max")
    out[defined] = [str(int(a)) if a == b else f"{int(a)}-{int(b)}" for a, b in zip(first, last)]
    return list(out)


def top_order(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Positions of the examples above the column's minimum, highest value first, ties by dataset index."""
    defined = ~np.isnan(values)
    if not defined.any():
        return np.zeros(0, dtype=np.int64)
    above = np.flatnonzero(defined & (values > np.nanmin(values)))
    return above[np.lexsort((index[above], -values[above]))]


def ties(values: np.ndarray) -> str:
    """A sentence on the examples sharing a score's highest value (they are shown in dataset order), if several."""
    defined = values[~np.isnan(values)]
    tied = int((defined == defined.max()).sum()) if len(defined) else 0
    return f" {tied} examples share the highest value, {value_text(defined.max())}: they are in dataset order." \
        if tied > 1 else ""


def standard_errors(columns) -> dict[str, str]:
    """Score column -> the atlas column holding its standard error (columns.py: "standard error of <score>")."""
    found = {}
    for name in columns:
        info = describe(name)
        if info is not None and not info.score and info.meaning.startswith("standard error of "):
            found[info.meaning.removeprefix("standard error of ").split()[0]] = name
    return found


@dataclass
class Example:
    """One data set example as the page heads it: index, label and planted kind."""
    index: int
    label: int
    planted: str

    @classmethod
    def of(cls, data: Dataset, index: int) -> "Example":
        row = data.table.iloc[index]
        return cls(int(index), int(row["label"]), str(row["planted"]) if pd.notna(row["planted"]) else "")

    def thumbnail(self, data: Dataset, role: str = "example") -> str:
        return thumbnail(data.images[self.index], f"{role} {self.index}", index=self.index)

    def html(self) -> str:
        kind = f' <span class="planted">planted {escape(self.planted)}</span>' if self.planted else ""
        return f"#{self.index} label {self.label}{kind}"


def header_html(dataset: str, config_files: list[str], overrides: dict, sources: list[str], top: int) -> list[str]:
    """The page's head: what it shows and the config and tables it came from."""
    named = ", ".join(f"<code>{escape(f)}</code>" for f in config_files) or "<code>(none)</code>"
    extra = f"; command-line overrides <code>{escape(json.dumps(overrides, sort_keys=True))}</code>" if overrides \
        else ""
    return [f"<h1>Memorization gallery: {escape(dataset)}</h1>",
            f'<p class="note" id="source">Config: {named}{extra}. Data set <code>{escape(dataset)}</code>. At most '
            f"{top} entries a list (<code>atlas.gallery_examples</code>). Images are the real pixels, each enlarged "
            f"by a whole factor. Tables: " + ", ".join(f"<code>{escape(s)}</code>" for s in sources) + ".</p>"]


# --- top examples per score ---------------------------------------------------------------------


def top_examples_html(atlas: pd.DataFrame, data: Dataset, top: int) -> list[str]:
    """Per score: the top examples with image, label, planted kind, score +- se and ranks in the other scores."""
    scores = score_columns(atlas.columns)
    out = ['<h2 id="top-examples">Top examples per method and estimator</h2>',
           '<p class="note">Not every score measures memorization: each says what it measures and what a higher '
           'value means. Rank: 1 = the highest value of that score, among the examples it defines; tied values '
           'show the ranks they share ("1-32": 32 examples tie at the top); "-": not defined (e.g. outside a '
           "diffusion model's training subset); "
           "n: the examples a score defines. &plusmn;: the standard error the tables hold (Feldman's mem and "
           "mem_margin; the other scores have none).</p>"]
    if not scores:
        return out + ['<p class="note">No memorization score in this atlas.</p>']
    index = atlas["index"].to_numpy(np.int64)
    values = {name: as_float(atlas[name]) for name in scores}
    rank = {name: ranks(values[name]) for name in scores}
    defined = {name: int((~np.isnan(values[name])).sum()) for name in scores}
    errors = standard_errors(atlas.columns)
    for method in dict.fromkeys(method_of(name) for name in scores):
        out.append(f"<h3>{escape(METHODS.get(method, method))}</h3>")
        for name in [s for s in scores if method_of(s) == method]:
            others = [s for s in scores if s != name]
            order = top_order(values[name], index)
            out.append(f'<p class="note" id="score-{escape(name)}"><b>{escape(short_name(name))}</b> '
                       f"(<code>{escape(name)}</code>; {escape(what_it_measures(name))}): "
                       f"{escape(describe(name).meaning)}. "
                       f"{len(order)} of "
                       f"{defined[name]} examples above the score's minimum"
                       + (f", the first {top} shown" if len(order) > top else "") + "."
                       + (ties(values[name]) if len(order) else "") + "</p>")
            if not len(order):
                continue
            rows = []
            for position in order[:top]:
                example = Example.of(data, int(index[position]))
                se = errors.get(name)
                score = escape(value_text(values[name][position])) + \
                    (f" &plusmn; {escape(value_text(atlas[se].iloc[position]))}" if se else "")
                cells = "".join(f'<td class="rank">{rank[o][position]}</td>' for o in others)
                rows.append(f'<tr data-index="{example.index}" data-score="{escape(name)}" '
                            f'data-value="{escape(repr(float(values[name][position])))}">'
                            f'<td class="rank">{rank[name][position]}</td>'
                            f"<td>{example.thumbnail(data)}</td><td>{example.html()}</td><td>{score}</td>{cells}</tr>")
            header = ["rank", "image", "example", short_name(name) + (" ± se" if name in errors else "")]
            out.append(table(header + [f"rank in {short_name(o)} (n {defined[o]})" for o in others], rows,
                             score=name, top=True))
    return out


# --- generative models: training images beside their nearest samples ----------------------------


@dataclass
class Generative:
    """A generative model's neighbour table as the gallery reads it."""
    title: str
    score: str                 # its atlas column: how many samples (or replicates) are nearest to an example
    candidates: str            # which training images it can show
    closeness: pd.Series = field(default_factory=lambda: pd.Series(dtype=np.float64))  # per dataset index


NEAREST = "training images the nearest of at least one sample"


def closest_by_nearest(table: pd.DataFrame, value: str) -> pd.Series:
    """Per training image (column ``nearest``), the smallest ``value`` among the samples nearest to it."""
    return table.groupby("nearest")[value].min()


def generative_of(path: Path) -> Generative:
    """What ``path`` is: a diffusion job's or a sample set's neighbours, MR-GAN's nn_distances, K-fold's rho."""
    posix = path.resolve().as_posix()
    found = paths.locate(f"{paths.DIFFUSION_JOB}/neighbors.parquet", posix)
    if found:
        w = found[1]
        name = diffusion_job_name(w["experiment"], int(w["size"]), int(w["width"]), int(w["seed"]))
        replicates = io.read_parquet(path.parent / "replicates.parquet", ["nearest", "ratio"])
        return Generative(f"{METHODS['diffusion']}: {name}", f"diffusion_replicates_{name}", NEAREST,
                          closest_by_nearest(replicates, "ratio"))
    found = paths.locate(f"{paths.MRGAN_JOB}/nn_distances.parquet", posix)
    if found:
        name = mrgan_job_name(float(found[1]["tau"]), int(found[1]["seed"]))
        nn = io.read_parquet(path, ["set", "nearest", "distance"])
        return Generative(f"{METHODS['mrgan']}: {name}", f"mrgan_nn_{name}", NEAREST,
                          closest_by_nearest(nn[nn["set"] == "generated"], "distance"))
    found = paths.locate(f"{paths.SAMPLES}/neighbors.parquet", posix)
    if found:
        name = found[1]["sample_set"]
        replicates = io.read_parquet(path.parent / "replicates.parquet", ["nearest", "ratio"])
        return Generative(f"{METHODS['samples']}: {name}", f"samples_{name}_nn_count", NEAREST,
                          closest_by_nearest(replicates, "ratio"))
    found = paths.locate(f"{paths.KFOLD_VAE}/rho.parquet", posix)
    if found:
        return Generative(f"{METHODS['kfold']}: seed {found[1]['seed']}", "kfold_rho",
                          "training images, each with its nearest sample of the VAE trained on all")
    raise PipelineError(f"--neighbours {path}: not a table the gallery reads (a diffusion job's or a sample set's "
                        f"neighbors.parquet, MR-GAN's nn_distances.parquet, K-fold's rho.parquet)")


def generative_html(path: Path, atlas: pd.DataFrame, data: Dataset, top: int) -> list[str]:
    """One generative model: its training images most often nearest to its samples, each beside them."""
    model = generative_of(path)
    if model.score not in atlas.columns:
        raise PipelineError(f"--atlas: no column {model.score} for {path}; rerun the atlas with every method's tables")
    index = atlas["index"].to_numpy(np.int64)
    score = as_float(atlas[model.score])
    closeness = model.closeness.reindex(index).to_numpy(np.float64) if len(model.closeness) else np.zeros(len(index))
    candidates = np.flatnonzero(~np.isnan(score) & ~np.isnan(closeness))
    candidates = candidates[np.lexsort((index[candidates], closeness[candidates], -score[candidates]))]
    table_rows, columns, note = lookup_table(path)
    rows, notes = [], [note] if note else []
    for position in candidates:
        example = Example.of(data, int(index[position]))
        strips, strip_notes = strips_of(path, example_rows(table_rows, columns, example.index), example.index, data)
        notes += [n for n in strip_notes if n not in notes]
        strips = [s for s in strips if s.images]
        if not strips:
            continue
        cells = []
        for strip in strips:
            shown = "".join(figure(thumbnail(image, caption.replace("\n", " "), generated=caption.split("\n")[0]),
                                   caption) for image, caption in zip(strip.images, strip.captions))
            more = f" ({strip.total} in all, the first {len(strip.images)} shown)" if strip.total > len(strip.images) \
                else ""
            cells.append(f'<div class="note">{escape(strip.title + more)}</div>{shown}')
        rows.append(f'<tr data-index="{example.index}">'
                    f"<td>{example.thumbnail(data)}</td><td>{example.html()}<br>{escape(short_name(model.score))} "
                    f"{escape(value_text(score[position]))}</td><td>{''.join(cells)}</td></tr>")
        if len(rows) == top:
            break
    out = [f"<h3>{escape(model.title)}</h3>",
           f'<p class="note"><code>{escape(path)}</code>: {len(candidates)} {escape(model.candidates)}; '
           + (f"the first {len(rows)} shown. " if rows else "none shown. ")
           + "".join(escape(n) + ". " for n in notes) + "</p>"]
    if rows:
        out.append(table(["training image", "example", "its nearest generated samples"], rows, generative=model.score))
    return out


def generative_section(tables: list[Path], atlas: pd.DataFrame, data: Dataset, top: int) -> list[str]:
    out = ['<h2 id="generative">Training images beside their nearest generated samples</h2>',
           '<p class="note">Per generative model, the training images most often nearest to its samples (its '
           "atlas score; then the closest copy first), each beside the samples nearest to it: d is the distance, "
           "ratio d1 / d2 the sample's distance to its nearest over that to its second nearest training image "
           "(* a replicate); MR-GAN's table records one neighbour (d = 1 - |cos| in its embedding), so no ratio; "
           "K-fold's rho = d(nearest validation image) / d(nearest VAE sample).</p>"]
    if not tables:
        return out + ['<p class="note">No generative model ran on this data set.</p>']
    for path in tables:
        out += generative_html(path, atlas, data, top)
    return out


# --- Feldman: influence pairs beyond chance -------------------------------------------------------


@dataclass
class FeldmanTables:
    arch: str
    pairs: Path
    chance: Path
    memorization: Path
    shards: list[Path]

    @classmethod
    def parse(cls, values: list[str]) -> "FeldmanTables":
        if len(values) < 5:
            raise PipelineError(f"--influence {' '.join(values)}: give ARCH PAIRS CHANCE MEMORIZATION SHARD [SHARD ...]")
        arch, pairs, chance, memorization, *shards = values
        return cls(arch, Path(pairs), Path(chance), Path(memorization), [Path(s) for s in shards])


def pairs_beyond_chance(pairs: pd.DataFrame, member, test_correct, mem, chance_table: pd.DataFrame,
                        fdr: float = FDR):
    """(the rows of ``pairs`` beyond chance at ``fdr``, smallest p-value first, then largest infl; what
    beyond_chance found), from the runs (``member``, ``test_correct``) the pairs were estimated from."""
    chance = beyond_chance(pairs, member, test_correct, mem, chance_table, fdr)
    kept = pairs[chance.mask].sort_values(["p_value", "infl", "train_index", "test_index"],
                                          ascending=[True, False, True, True], kind="stable")
    return kept, chance


def beyond_chance_pairs(tables: FeldmanTables, fdr: float = FDR):
    """``pairs_beyond_chance`` of one architecture's tables."""
    runs = read_runs(tables.shards, scores=False)
    return pairs_beyond_chance(io.read_parquet(tables.pairs), runs.member, runs.test_correct,
                               io.read_parquet(tables.memorization, ["mem"])["mem"].to_numpy(),
                               io.read_parquet(tables.chance), fdr)


def feldman_html(arch: str, source: str, kept: pd.DataFrame, chance, data: Dataset, top: int) -> list[str]:
    """One architecture: the first ``top`` of the pairs beyond chance ``kept`` (beyond_chance_pairs), from the
    table ``source``."""
    out = [f"<h3>{escape(METHODS['feldman'])}: {escape(arch)}</h3>",
           f'<p class="note"><code>{escape(source)}</code>: {escape(chance_heading(chance))}'
           + (f"; the first {top} shown" if len(kept) > top else "") + ".</p>"]
    rows = []
    for _, pair in kept.head(top).iterrows():
        test, train = Example.of(data, int(pair["test_index"])), Example.of(data, int(pair["train_index"]))
        rows.append(f'<tr data-train="{train.index}" data-test="{test.index}" '
                    f'data-p-value="{escape(repr(float(pair["p_value"])))}">'
                    f"<td>{test.thumbnail(data, 'test')}</td><td>{train.thumbnail(data, 'training')}</td>"
                    f"<td>test {test.html()}<br>training {train.html()}, mem {escape(value_text(pair['mem']))}</td>"
                    f"<td>infl {escape(value_text(pair['infl']))} &plusmn; {escape(value_text(pair['infl_se']))}"
                    f"<br>p {float(pair['p_value']):.2e}</td></tr>")
    if rows:
        out.append(table(["test image", "training image", "examples", "infl ± se, p-value"], rows, arch=arch,
                         pairs=True))
    return out


def feldman_section(architectures: list[FeldmanTables], data: Dataset, top: int, fdr: float = FDR) -> list[str]:
    out = ['<h2 id="influence">High-influence pairs that beat chance</h2>',
           '<p class="note">Per Feldman architecture, the selected pairs (training example i, test example j) '
           "whose influence beats chance: the smallest p-values, up to where noise alone would explain a "
           "false-discovery share of them (as in the influence figure). infl(i, j): how much more often the "
           "models trained on i get j right; p: the exact one-sided p-value of infl &gt; 0.</p>"]
    if not architectures:
        return out + ['<p class="note">No Feldman architecture ran on this data set.</p>']
    for tables in architectures:
        out += feldman_html(tables.arch, str(tables.pairs), *beyond_chance_pairs(tables, fdr), data, top)
    return out


# --- the page -------------------------------------------------------------------------------------


def gallery(atlas_path: Path, dataset_dir: Path, dataset: str, top: int, config_files: list[str],
            overrides: dict, feldman: list[FeldmanTables], neighbours: list[Path], influence_fdr: float = FDR) -> str:
    """The page's HTML (the influence pairs beyond chance at ``influence_fdr``)."""
    if top < 1:
        raise PipelineError(f"--top {top}: at least 1 (config key atlas.gallery_examples)")
    atlas = io.read_parquet(atlas_path)
    for column in ["index", "label"]:
        if column not in atlas:
            raise PipelineError(f"{atlas_path}: missing column '{column}'; not an atlas table")
    data = Dataset.load(dataset_dir, mmap=True)
    sources = [str(atlas_path), str(dataset_dir)] + [str(t.pairs) for t in feldman] + [str(p) for p in neighbours]
    body = header_html(dataset, config_files, overrides, sources, top)
    body += top_examples_html(atlas, data, top)
    body += generative_section(neighbours, atlas, data, top)
    body += feldman_section(feldman, data, top, influence_fdr)
    return page(f"Memorization gallery: {dataset}", body,
                {"dataset": dataset, "config-files": " ".join(config_files), "top": str(top)})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The gallery page of one data set's memorization atlas.")
    parser.add_argument("--atlas", required=True, type=Path)
    parser.add_argument("--dataset-dir", required=True, type=Path)
    parser.add_argument("--dataset", required=True, help="the data set's name, as the config gives it")
    parser.add_argument("--top", required=True, type=int, help="entries a list (config atlas.gallery_examples)")
    parser.add_argument("--config-files", nargs="*", default=[], help="the config file(s) of the run, to name them")
    parser.add_argument("--config-overrides", type=cli.json_arg, default={},
                        help="the run's command-line config overrides (JSON), to name them")
    parser.add_argument("--influence", nargs="+", action="append", default=[],
                        metavar="ARCH PAIRS CHANCE MEMORIZATION SHARD", help="one Feldman architecture's tables")
    parser.add_argument("--influence-fdr", type=float, default=FDR,
                        help="the false discovery rate of the pairs beyond chance (config key feldman.influence_fdr)")
    parser.add_argument("--neighbours", type=Path, action="append", default=[],
                        help="a generative model's neighbour table (samples and other tables read beside it)")
    parser.add_argument("--out", required=True, type=Path)
    a = parser.parse_args(argv)
    text = gallery(a.atlas, a.dataset_dir, a.dataset, a.top, a.config_files, a.config_overrides,
                   [FeldmanTables.parse(v) for v in a.influence], a.neighbours, a.influence_fdr)
    with io.atomic_path(a.out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    log.info("wrote %s (%d KB)", a.out, len(text) // 1024)


if __name__ == "__main__":
    cli.run(main)
