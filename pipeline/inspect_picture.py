"""One example across every table, as a picture: ``python -m pipeline.inspect results --example N --image out.png``.

The picture shows, from the tables ``pipeline.inspect --example`` finds (the same rows):

* the example itself: its pixels from results/data/<dataset>/images.npy, upscaled by a whole factor
  with nearest-neighbour so each pixel stays a sharp square, headed by its label, split and planted
  kind;
* its scores: every table row that mentions it, column by column (at most ``ROWS`` rows a table), as
  ``--example`` prints them;
* its neighbours, one strip per table that has some, nearest first (at most ``PER_GROUP``): the test
  examples it influences most or the training examples that influence it most (Feldman's
  influence_pairs.parquet: infl, its standard error and p-value), the references it is nearest to or
  the queries nearest to it (a shared neighbour table), the generated samples whose nearest training
  images it is (a diffusion job's neighbors.parquet with the sample's distance ratio, MR-GAN's
  nn_distances.parquet, a sample set's neighbors.parquet; MR-GAN's test points too), and its nearest
  validation image and VAE sample (K-fold rho.parquet). Generated samples come from the job's own
  samples.npy (a sample set's images.npy, with each sample's ratio d1 / d2 from the set's
  replicates.parquet); a strip whose array is missing is left out, saying so.

The figure is written atomically (pipeline.io.save_figure), in the format its suffix names.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import io, paths
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError

ROWS = 3        # rows of one table written out in the scores
PER_GROUP = 7   # neighbours drawn per strip
GROUPS = 10     # strips drawn at most
WIDTH = 12.0    # inches
DPI = 100
MAIN = 2.5      # inches of the example's image
THUMB = 1.2     # inches of a neighbour's image
TEXT_COLUMNS = 128  # characters of a line of scores


@dataclass
class Strip:
    """A row of neighbour images under one title, each with its caption."""
    title: str
    images: list = field(default_factory=list)
    captions: list = field(default_factory=list)
    total: int = 0  # neighbours the table holds (only the first PER_GROUP are drawn)

    def add(self, image, caption: str) -> None:
        self.total += 1
        if len(self.images) < PER_GROUP:
            self.images.append(image)
            self.captions.append(caption)


def upscale(image: np.ndarray, pixels: int) -> np.ndarray:
    """``image`` (H, W[, C]) repeated by the whole factor that brings its longer side closest to ``pixels``."""
    image = np.asarray(image)
    factor = max(1, round(pixels / max(image.shape[:2])))
    return image.repeat(factor, axis=0).repeat(factor, axis=1)


def value_text(value) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return "NA"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        return "NaN" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, (list, tuple, np.ndarray)):
        return f"[{len(value)} values]"
    return str(value)


def row_lines(label: str, rows: pd.DataFrame) -> list[str]:
    """A table's rows as ``column value`` runs, wrapped to TEXT_COLUMNS."""
    lines = [f"{label} ({len(rows)} row{'s' if len(rows) != 1 else ''})"]
    for _, row in rows.head(ROWS).iterrows():
        text = "  ".join(f"{column} {value_text(value)}" for column, value in row.items())
        lines += textwrap.wrap(text, TEXT_COLUMNS, initial_indent="  ", subsequent_indent="    ")
    if len(rows) > ROWS:
        lines.append(f"  ... {len(rows) - ROWS} more rows")
    return lines


def load_images(path: Path) -> np.ndarray | None:
    return io.read_array(path, mmap=True) if path.is_file() else None


def strips_of(path: Path, rows: pd.DataFrame, example: int, data: Dataset) -> tuple[list[Strip], list[str]]:
    """The neighbour strips of one table's rows about ``example``, and notes on those not drawn."""
    posix = path.resolve().as_posix()
    strips, notes = [], []

    def missing(array: Path) -> None:
        notes.append(f"not drawn: {array} is missing")

    found = paths.locate(f"{paths.FELDMAN_ARCH}/influence_pairs.parquet", posix)
    if found:
        arch = found[1]["arch"]
        for own, other, title in (("train_index", "test_index", "the test examples it influences most"),
                                  ("test_index", "train_index", "the training examples that influence it most")):
            part = rows[rows[own] == example].sort_values("infl", ascending=False, kind="stable")
            if len(part):
                strip = Strip(f"Feldman {arch}: {title} (infl +- se, exact p-value of infl > 0)")
                for _, pair in part.iterrows():
                    strip.add(data.images[int(pair[other])], f"{other.split('_')[0]} {int(pair[other])}\n"
                              f"infl {pair['infl']:.2f} +- {pair.get('infl_se', np.nan):.2f}\n"
                              f"p {pair.get('p_value', np.nan):.1e}")
                strips.append(strip)
        return strips, notes
    found = paths.locate(paths.NEIGHBORS, posix)
    if found:
        job = found[1]["job"]
        for own, other, title in (("query", "ref_index", "its nearest references"),
                                  ("ref_index", "query", "the queries it is nearest to")):
            part = rows[rows[own] == example].sort_values(["distance", "rank"], kind="stable")
            if len(part):
                strip = Strip(f"neighbours {job}: {title} (distance)")
                for _, row in part.iterrows():
                    strip.add(data.images[int(row[other])], f"{int(row[other])} (rank {int(row['rank'])})\n"
                              f"d {row['distance']:.4g}")
                strips.append(strip)
        return strips, notes
    found = paths.locate(f"{paths.DIFFUSION_JOB}/neighbors.parquet", posix)
    if found and "ref_dataset_index" in rows.columns:
        job_dir = path.parent
        part = rows[rows["ref_dataset_index"] == example].sort_values(["distance", "rank"], kind="stable")
        samples = load_images(job_dir / "samples.npy")
        if len(part) and samples is None:
            missing(job_dir / "samples.npy")
        elif len(part):
            ratio = {}
            if (job_dir / "replicates.parquet").is_file():
                replicates = io.read_parquet(job_dir / "replicates.parquet", columns=["sample", "ratio", "replicate"])
                ratio = dict(zip(replicates["sample"], zip(replicates["ratio"], replicates["replicate"])))
            w = found[1]
            strip = Strip(f"diffusion {w['experiment']} n{w['size']} w{w['width']} seed{w['seed']}: the generated "
                          f"samples nearest to it (distance; ratio d1 / d2, * a replicate)")
            for _, row in part.iterrows():
                sample = int(row["query"])
                r, replicate = ratio.get(sample, (np.nan, False))
                strip.add(samples[sample], f"sample {sample} (rank {int(row['rank'])})\nd {row['distance']:.3g}"
                          f"  ratio {r:.2f}{' *' if replicate else ''}")
            strips.append(strip)
        return strips, notes
    found = paths.locate(f"{paths.MRGAN_JOB}/nn_distances.parquet", posix)
    if found:
        part = rows[rows["nearest"] == example].sort_values("distance", kind="stable")
        samples = load_images(path.parent / "samples.npy")
        test_indices = data.indices("test")
        strip = Strip(f"MR-GAN tau{found[1]['tau']} seed{found[1]['seed']}: the samples and test points nearest "
                      f"to it (1 - |cos| in the embedding)")
        for _, row in part.iterrows():
            position = int(row["index"])
            if row["set"] == "test":
                strip.add(data.images[test_indices[position]],
                          f"test {test_indices[position]}\nd {row['distance']:.3g}")
            elif samples is not None:
                strip.add(samples[position], f"sample {position}\nd {row['distance']:.3g}")
        if samples is None and (part["set"] != "test").any():
            missing(path.parent / "samples.npy")
        if strip.total:
            strips.append(strip)
        return strips, notes
    found = paths.locate(f"{paths.SAMPLES}/neighbors.parquet", posix)
    if found:
        part = rows[rows["ref_index"] == example].sort_values(["space", "distance"], kind="stable")
        images = load_images(path.parent / "images.npy")
        if len(part) and images is None:
            missing(path.parent / "images.npy")
        elif len(part):
            ratio = {}
            if (path.parent / "replicates.parquet").is_file():
                replicates = io.read_parquet(path.parent / "replicates.parquet", ["sample", "ratio", "replicate"])
                ratio = {sample: f"  ratio {r:.2f}{' *' if replicate else ''}"
                         for sample, r, replicate in zip(replicates["sample"], replicates["ratio"],
                                                         replicates["replicate"])}
            strip = Strip(f"samples {found[1]['sample_set']}: the samples nearest to it (distance per space; ratio "
                          f"d1 / d2 in pixels, * a replicate)")
            for _, row in part.iterrows():
                sample = int(row["sample"])
                strip.add(images[sample], f"sample {sample}\n{row['space']} d {row['distance']:.3g}"
                          f"{ratio.get(sample, '')}")
            strips.append(strip)
        return strips, notes
    found = paths.locate(f"{paths.KFOLD_VAE}/rho.parquet", posix)
    if found:
        part = rows[rows["index"] == example]
        samples = load_images(path.parent / "full" / "samples.npy")
        for _, row in part.iterrows():
            strip = Strip(f"K-fold VAE seed{found[1]['seed']}: its nearest validation image and nearest sample of the "
                          f"VAE trained on all (rho = {row['rho']:.3g})")
            strip.add(data.images[int(row["nearest_validation"])],
                      f"validation {int(row['nearest_validation'])}\nd {row['d_validation']:.3g}")
            if samples is None:
                missing(path.parent / "full" / "samples.npy")
            else:
                strip.add(samples[int(row["nearest_sample"])],
                          f"sample {int(row['nearest_sample'])}\nd {row['d_sample']:.3g}")
            strips.append(strip)
    return strips, notes


def draw_image(ax, image: np.ndarray, inches: float) -> None:
    from pipeline import plotting

    plotting.show_image(ax, upscale(image, int(inches * DPI)))
    ax.images[-1].set_interpolation("nearest")


def example_figure(example: int, data: Dataset, dataset: str, found: list[tuple[str, pd.DataFrame, list[Strip]]],
                   n_tables: int, notes: list[str]):
    """The picture: the example and its scores on top, then one strip of neighbours per table that has some."""
    from pipeline import plotting

    row = data.table.iloc[example]
    planted = f", planted {row['planted']}" if row["planted"] else ""
    heading = (f"{dataset}, example {example}: label {row['label']}, {row['split']} split{planted}; "
               f"found in {len(found)} of {n_tables} tables")
    lines = []
    for label, rows, _ in found:
        lines += row_lines(label, rows)
    strips = [strip for _, _, table_strips in found for strip in table_strips]
    if len(strips) > GROUPS:
        notes = notes + [f"not drawn: {len(strips) - GROUPS} more neighbour strips"]
        strips = strips[:GROUPS]
    lines += notes
    if not lines:
        lines = ["no table mentions this example"]
    head = max(MAIN + 0.5, 0.13 * len(lines) + 0.2)
    strip_height = THUMB + 0.95
    height = 0.6 + head + strip_height * len(strips) + 0.1
    fig = plotting.plt.figure(figsize=(WIDTH, height), dpi=DPI)

    def box(left: float, top: float, w: float, h: float):
        return fig.add_axes((left / WIDTH, (height - top - h) / height, w / WIDTH, h / height))

    fig.text(0.3 / WIDTH, 1 - 0.3 / height, heading, fontsize=11, weight="bold", va="center")
    draw_image(box(0.3, 0.7, MAIN, MAIN), data.images[example], MAIN)
    text = box(MAIN + 0.7, 0.6, WIDTH - MAIN - 0.9, head)
    text.axis("off")
    text.text(0, 1, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=7.5,
              transform=text.transAxes)
    for k, strip in enumerate(strips):
        top = 0.6 + head + k * strip_height
        shown = len(strip.images)
        more = f" ({strip.total} in all, the first {shown} shown)" if strip.total > shown else ""
        fig.text(0.3 / WIDTH, 1 - (top + 0.15) / height, strip.title + more, fontsize=9, weight="bold", va="center")
        for j, (image, caption) in enumerate(zip(strip.images, strip.captions)):
            ax = box(0.3 + j * (THUMB + 0.45), top + 0.3, THUMB, THUMB)
            draw_image(ax, image, THUMB)
            ax.set_xlabel(caption, fontsize=7)
    return fig


def write_example_picture(out: Path, example: int, dataset: str, searched: list[Path],
                          tables: list[tuple[Path, pd.DataFrame, str]], notes: list[str]) -> None:
    """Draw ``example`` of ``dataset`` and write ``out``: ``tables`` are the (path, rows about the
    example, note) that pipeline.inspect.gather_example found among the ``searched`` tables, ``notes``
    its notes. The images are read from the results folder the tables lie in (results/data/<dataset>/)."""
    from pipeline import plotting

    formats = plotting.plt.figure().canvas.get_supported_filetypes()
    plotting.plt.close("all")
    if out.suffix.lstrip(".").lower() not in formats:
        raise PipelineError(f"--image {out}: the name must end in a figure format ({', '.join(sorted(formats))})")
    located = paths.locate(paths.RESULTS, searched[0].resolve().as_posix())
    if located is None:
        raise PipelineError(f"--image: {searched[0]} does not lie in a {paths.RESULTS}/ folder, where the "
                            f"images of data set '{dataset}' would be")
    data_dir = Path(located[0] + paths.DATASET.format(dataset=dataset))
    if not (data_dir / "images.npy").is_file():
        raise PipelineError(f"{data_dir / 'images.npy'}: no such file, so no images of data set '{dataset}' to draw")
    data = Dataset.load(data_dir, mmap=True)
    if not 0 <= example < len(data.images):
        raise PipelineError(f"example {example}: not in data set '{dataset}' "
                            f"(its indices run 0..{len(data.images) - 1})")
    found, all_notes = [], list(notes)
    results = Path(located[0] + paths.RESULTS)
    for path, rows, _ in tables:
        strips, table_notes = strips_of(path, rows, example, data)
        resolved = path.resolve()
        found.append((str(resolved.relative_to(results)) if resolved.is_relative_to(results) else str(path), rows,
                      strips))
        all_notes += table_notes
    fig = example_figure(example, data, dataset, found, len(searched), all_notes)
    io.save_figure(fig, out, dpi=DPI)
    plotting.close(fig)
