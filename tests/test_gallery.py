"""The gallery page (pipeline.atlas.gallery) of a finished tiny run, results/atlas/<dataset>/gallery.html as the
workflow wrote it: read as HTML (its sections, the top examples are the highest-scoring ones with their ranks
elsewhere, the generative models' nearest samples, the influence pairs beyond chance, every image the real
pixels of the data set or the model), and opened in headless Chromium (the images render, the page names the
config it came from)."""

from __future__ import annotations

import base64
import io as bytes_io
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from pipeline import io, paths
from pipeline.atlas import gallery
from pipeline.atlas.columns import method_of, mrgan_job_name, score_columns
from pipeline.config import load_config
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.feldman.chance import beyond_chance
from pipeline.feldman.runs import read_runs
from pipeline.targets import atlas_datasets, atlas_diffusion_jobs, gallery_sources, mrgan_job_files
from test_feldman_chance import noise, plant, selected

pytestmark = pytest.mark.workflow


class Page(HTMLParser):
    """What a gallery page holds: its meta tags, element ids, text, tables (attributes and rows, each row its
    attributes, cell texts and images) and every image."""

    def __init__(self, text: str):
        super().__init__()
        self.raw = text
        self.meta, self.ids, self.text, self.tables, self.images = {}, [], [], [], []
        self._tables, self._row, self._cell = [], None, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "meta" and "name" in attrs:
            self.meta[attrs["name"]] = attrs["content"]
        elif tag == "table":
            self._tables.append({"attrs": attrs, "rows": []})
            self.tables.append(self._tables[-1])
        elif tag == "tr" and self._tables and any(name.startswith("data-") for name in attrs):  # not a header
            self._row = {"attrs": attrs, "cells": [], "images": []}
            self._tables[-1]["rows"].append(self._row)
        elif tag == "td" and self._row is not None:
            self._row["cells"].append("")
        elif tag == "img":
            image = {**attrs, "table": self._tables[-1]["attrs"] if self._tables else {}}
            self.images.append(image)
            if self._row is not None:
                self._row["images"].append(image)

    def handle_endtag(self, tag):
        if tag == "table":
            self._tables.pop()
            self._row = None

    def handle_data(self, data):
        self.text.append(data)
        if self._row is not None and self._row["cells"]:
            self._row["cells"][-1] += data

    def table(self, **attrs) -> dict:
        found = [t for t in self.tables if all(t["attrs"].get(f"data-{k}") == v for k, v in attrs.items())]
        assert len(found) == 1, (attrs, len(found))
        return found[0]


def decoded(image: dict) -> np.ndarray:
    """The pixels of an <img>'s PNG data URI, as uint8 (H, W) or (H, W, 3)."""
    uri = image["src"]
    assert uri.startswith("data:image/png;base64,")
    pixels = matplotlib.image.imread(bytes_io.BytesIO(base64.b64decode(uri.split(",", 1)[1])), format="png")
    return np.rint(pixels * 255).astype(np.uint8)


def assert_real_pixels(shown: np.ndarray, original: np.ndarray) -> None:
    """``shown`` is ``original`` with each pixel a square of a whole factor, at a readable size."""
    original = original[..., 0] if original.shape[-1] == 1 else original
    factor = shown.shape[0] // original.shape[0]
    assert factor >= 2 and max(shown.shape[:2]) >= 48, shown.shape
    np.testing.assert_array_equal(shown, original.repeat(factor, axis=0).repeat(factor, axis=1))


@pytest.fixture(scope="module")
def run(tiny_run):
    """(the run's folder, its config as the rules saw it, its atlas data sets)."""
    config = load_config(tiny_run / "config.yaml")
    return tiny_run, config, atlas_datasets(config)


def page_of(run_dir: Path, dataset: str) -> Page:
    return Page((run_dir / paths.ATLAS.format(dataset=dataset) / "gallery.html").read_text(encoding="utf-8"))


def test_every_atlas_data_set_gets_a_page_naming_its_config(run):
    run_dir, config, datasets = run
    assert len(datasets) == 3
    for dataset in datasets:
        page = page_of(run_dir, dataset)
        assert page.meta["config-files"] == "config.yaml" and page.meta["dataset"] == dataset
        assert page.meta["top"] == str(config["atlas"]["gallery_examples"])
        assert "Config: config.yaml" in " ".join("".join(page.text).split())
        assert {"source", "top-examples", "generative", "influence"} <= set(page.ids)
        assert (run_dir / paths.LOGS / "atlas" / dataset / "gallery.log").is_file()
        assert "<script" not in page.raw and 'src="http' not in page.raw  # no JavaScript, nothing fetched


def rank_text(values: np.ndarray, position: int) -> str:
    """How the page gives the rank of ``values[position]`` (1 = highest): the span of ranks a tie shares."""
    v = values[position]
    if np.isnan(v):
        return "-"
    first, last = 1 + int((values > v).sum()), int((values >= v).sum())
    return str(first) if first == last else f"{first}-{last}"


def test_the_top_examples_are_the_highest_scoring_with_their_ranks_elsewhere(run):
    run_dir, config, datasets = run
    top = config["atlas"]["gallery_examples"]
    methods, longest = set(), 0
    for dataset in datasets:
        page = page_of(run_dir, dataset)
        atlas = io.read_parquet(run_dir / paths.ATLAS.format(dataset=dataset) / "atlas.parquet")
        planted = Dataset.load(run_dir / paths.DATASET.format(dataset=dataset)).table["planted"]
        scores = score_columns(atlas.columns)
        values = {s: pd.array(atlas[s], dtype="Float64").to_numpy(np.float64, na_value=np.nan) for s in scores}
        for score in scores:
            frame = pd.DataFrame({"index": atlas["index"], "value": values[score]}).dropna()
            frame = frame[frame["value"] > frame["value"].min()]
            want = frame.sort_values(["value", "index"], ascending=[False, True]).head(top)
            rows = page.table(score=score, top="True")["rows"] if len(want) else []
            assert [int(r["attrs"]["data-index"]) for r in rows] == want["index"].tolist(), (dataset, score)
            assert [float(r["attrs"]["data-value"]) for r in rows] == want["value"].tolist()
            others = [s for s in scores if s != score]
            assert all(len(row["cells"]) == 4 + len(others) for row in rows)
            for row in rows:
                position = int(np.flatnonzero(atlas["index"].to_numpy() == int(row["attrs"]["data-index"]))[0])
                assert row["cells"][0] == rank_text(values[score], position)
                for other, cell in zip(others, row["cells"][4:]):
                    assert cell == rank_text(values[other], position), (score, other)
                kind = planted.iloc[int(row["attrs"]["data-index"])]
                assert (f"planted {kind}" in row["cells"][2]) == bool(kind)
            methods.add(method_of(score))
            longest = max(longest, len(rows))
    assert methods == {"feldman", "kfold", "diffusion", "mrgan"} and longest == top


def mrgan_score(table: str) -> str:
    """The atlas score of the MR-GAN job whose nn_distances.parquet is ``table``."""
    found = paths.locate(paths.MRGAN_JOB, table)[1]
    return f"mrgan_nn_{mrgan_job_name(float(found['tau']), int(found['seed']))}"


def sample_arrays(run_dir: Path, config: dict, dataset: str) -> dict[str, Path]:
    """The generative model's atlas score -> the array its samples come from (the gallery table's data-generative)."""
    arrays = {}
    for name, replicates, _ in atlas_diffusion_jobs(config, dataset):
        arrays[f"diffusion_replicates_{name}"] = run_dir / replicates.rsplit("/", 1)[0] / "samples.npy"
    if dataset in config["mrgan"]["datasets"]:
        for table in mrgan_job_files(config, dataset, "nn_distances.parquet"):
            arrays[mrgan_score(table)] = run_dir / table.rsplit("/", 1)[0] / "samples.npy"
    if dataset in config["kfold_vae"]["datasets"]:
        arrays["kfold_rho"] = run_dir / paths.KFOLD_VAE.format(dataset=dataset, seed=config["kfold_vae"]["seed"]) \
            / "full" / "samples.npy"
    return arrays


def test_every_image_is_the_real_pixels_of_its_data_set_or_model(run):
    run_dir, config, datasets = run
    counted = {"data": 0, "sample": 0}
    for dataset in datasets:
        images = Dataset.load(run_dir / paths.DATASET.format(dataset=dataset)).images
        arrays = sample_arrays(run_dir, config, dataset)
        for image in page_of(run_dir, dataset).images:
            assert image["class"] == "thumb" and int(image["width"]) == decoded(image).shape[1]
            generated = image.get("data-generated", "")
            if "data-index" in image:
                assert_real_pixels(decoded(image), images[int(image["data-index"])])
                counted["data"] += 1
            elif generated.startswith("sample "):
                samples = io.read_array(arrays[image["table"]["data-generative"]])
                assert_real_pixels(decoded(image), samples[int(generated.split()[1])])
                counted["sample"] += 1
            else:  # a validation image (K-fold) or an MR-GAN test point: data set images by index
                kind, index = generated.split()[:2]
                assert kind in {"validation", "test"}, generated
                assert_real_pixels(decoded(image), images[int(index)])
                counted["data"] += 1
    assert counted["data"] > 50 and counted["sample"] > 10, counted


def test_generative_models_show_their_training_images_beside_the_samples_nearest_to_them(run):
    run_dir, config, datasets = run
    top = config["atlas"]["gallery_examples"]
    shown = set()
    for dataset in datasets:
        page = page_of(run_dir, dataset)
        atlas = io.read_parquet(run_dir / paths.ATLAS.format(dataset=dataset) / "atlas.parquet").set_index("index")
        for table in mrgan_job_files(config, dataset, "nn_distances.parquet") \
                if dataset in config["mrgan"]["datasets"] else []:
            nn = io.read_parquet(run_dir / table)
            generated = nn[nn["set"] == "generated"]
            closest = generated.groupby("nearest")["distance"].min()
            score = mrgan_score(table)
            order = pd.DataFrame({"count": atlas.loc[closest.index, score], "closest": closest,
                                  "index": closest.index}).sort_values(["count", "closest", "index"],
                                                                       ascending=[False, True, True])
            rows = page.table(generative=score)["rows"]
            assert [int(r["attrs"]["data-index"]) for r in rows] == order["index"].head(top).tolist()
            for row in rows:  # each sample shown has this training image as its nearest
                example = int(row["attrs"]["data-index"])
                for image in row["images"][1:]:
                    kind, position = image["data-generated"].split()[:2]
                    mine = nn[(nn["set"] == ("generated" if kind == "sample" else "test"))]
                    if kind == "sample":
                        assert int(mine[mine["index"] == int(position)]["nearest"].iloc[0]) == example
            shown.add("mrgan")
        for name, replicates, _ in atlas_diffusion_jobs(config, dataset):
            table = io.read_parquet(run_dir / replicates)
            rows = page.table(generative=f"diffusion_replicates_{name}")["rows"]
            closest = table.groupby("nearest")["ratio"].min()
            order = pd.DataFrame({"count": atlas.loc[closest.index, f"diffusion_replicates_{name}"].astype(float),
                                  "closest": closest, "index": closest.index})
            order = order.sort_values(["count", "closest", "index"], ascending=[False, True, True])
            assert [int(r["attrs"]["data-index"]) for r in rows] == order["index"].head(top).tolist()
            ratio = dict(zip(table["sample"], table["ratio"]))
            for row in rows:  # every caption gives the sample's own distance ratio
                captions = re.findall(r"sample \d+ \(rank.*?ratio [\d.]+", row["cells"][2], re.S)
                assert len(captions) == len(row["images"]) - 1
                for image, caption in zip(row["images"][1:], captions):
                    assert f"ratio {ratio[int(image['data-generated'].split()[1])]:.2f}" in caption
            shown.add("diffusion")
    assert shown == {"mrgan", "diffusion"}


def test_the_runs_influence_pairs_shown_are_those_beyond_chance(run):
    run_dir, config, datasets = run
    for dataset in datasets:
        page = page_of(run_dir, dataset)
        for option, arch, files, _ in gallery_sources(config, dataset):
            if option != "--influence":
                continue
            pairs_path, chance_path, memorization, *shards = (run_dir / f for f in files)
            pairs = io.read_parquet(pairs_path)
            runs = read_runs(shards, scores=False)
            chance = beyond_chance(pairs, runs.member, runs.test_correct,
                                   io.read_parquet(memorization)["mem"].to_numpy(), io.read_parquet(chance_path))
            kept = pairs[chance.mask]
            rows = page.table(arch=arch, pairs="True")["rows"] if len(kept) else []
            shown = {(int(r["attrs"]["data-train"]), int(r["attrs"]["data-test"])) for r in rows}
            assert shown <= set(zip(kept["train_index"], kept["test_index"]))
            assert len(rows) == min(len(kept), config["atlas"]["gallery_examples"])
            assert f"{chance.n_beyond} of {chance.n_selected} selected pairs beat chance" in "".join(page.text)


def test_only_the_pairs_beyond_chance_are_shown_smallest_p_value_first(run):
    """Planted influence among noise pairs: the section shows the pairs beyond chance and nothing else."""
    run_dir, config, _ = run
    dataset = config["feldman"]["datasets"][0]
    data = Dataset.load(run_dir / paths.DATASET.format(dataset=dataset))
    member, test_correct = noise(100, len(data.indices("test")), seed=11)
    planted = [(3, 0), (17, 5), (40, 9), (41, 12), (88, 30)]
    test_correct = plant(member, test_correct, planted, seed=2)
    pairs, chance_table, mem = selected(member, test_correct)
    train, test = data.indices("train"), data.indices("test")
    pairs["train_index"], pairs["test_index"] = train[pairs["train_index"]], test[pairs["test_index"]]
    kept, chance = gallery.pairs_beyond_chance(pairs, member, test_correct, mem, chance_table)
    mask = beyond_chance(pairs, member, test_correct, mem, chance_table).mask
    assert 5 <= chance.n_beyond == mask.sum() < len(pairs) / 10  # most selected pairs are noise
    for top in (3, 100):
        page = Page(gallery.page("x", gallery.feldman_html("mlp", "pairs", kept, chance, data, top), {}))
        rows = page.table(arch="mlp", pairs="True")["rows"]
        shown = [(int(r["attrs"]["data-train"]), int(r["attrs"]["data-test"])) for r in rows]
        assert len(shown) == min(top, mask.sum()) and set(shown) <= set(zip(pairs["train_index"][mask],
                                                                             pairs["test_index"][mask]))
        p_values = [float(r["attrs"]["data-p-value"]) for r in rows]
        assert p_values == sorted(p_values) and max(p_values) <= pairs["p_value"][mask].nsmallest(top).max()
        if top > mask.sum():  # every pair beyond chance, the planted ones among them
            assert set(shown) == set(zip(pairs["train_index"][mask], pairs["test_index"][mask]))
            assert {(train[i], test[j]) for i, j in planted} <= set(shown)
        for row, (_, pair) in zip(rows, kept.iterrows()):
            assert_real_pixels(decoded(row["images"][0]), data.images[int(pair["test_index"])])
            assert_real_pixels(decoded(row["images"][1]), data.images[int(pair["train_index"])])
            assert f"infl {pair['infl']:.4g}" in row["cells"][3] and f"p {pair['p_value']:.2e}" in row["cells"][3]


def test_planted_kinds_are_named_beside_their_examples(run, tmp_path):
    """The data set's index.parquet names each example's planted kind; the page shows it beside that example."""
    run_dir, config, _ = run
    dataset = config["mrgan"]["datasets"][0]
    data_dir = Path(shutil.copytree(run_dir / paths.DATASET.format(dataset=dataset), tmp_path / "data"))
    atlas_path = run_dir / paths.ATLAS.format(dataset=dataset) / "atlas.parquet"
    first = page_of(run_dir, dataset).tables[0]
    marked = [int(r["attrs"]["data-index"]) for r in first["rows"][:2]]
    index = io.read_parquet(data_dir / "index.parquet")
    index["planted"] = pd.array([""] * len(index), dtype="string")
    index.loc[marked, "planted"] = ["flipped", "outlier"]
    io.write_parquet(index, data_dir / "index.parquet")
    out = tmp_path / "gallery.html"
    gallery.main(["--atlas", str(atlas_path), "--dataset-dir", str(data_dir), "--dataset", dataset, "--top", "4",
                  "--config-files", "mine.yaml", "--config-overrides", '{"atlas": {"gallery_examples": 4}}',
                  "--out", str(out)])
    page = Page(out.read_text())
    assert page.meta["config-files"] == "mine.yaml" and '"gallery_examples": 4' in "".join(page.text)
    rows = page.table(score=first["attrs"]["data-score"], top="True")["rows"]
    assert len(rows) == min(4, len(first["rows"]))
    for row in rows:
        kind = dict(zip(marked, ["flipped", "outlier"])).get(int(row["attrs"]["data-index"]))
        assert ("planted" in row["cells"][2]) == (kind is not None) and (kind or "") in row["cells"][2]
    assert not list(tmp_path.glob(".gallery.html.*"))  # written atomically
    with pytest.raises(PipelineError, match="--top 0"):
        gallery.main(["--atlas", str(atlas_path), "--dataset-dir", str(data_dir), "--dataset", dataset, "--top", "0",
                      "--out", str(out)])
    with pytest.raises(PipelineError, match="not a table the gallery reads"):
        gallery.main(["--atlas", str(atlas_path), "--dataset-dir", str(data_dir), "--dataset", dataset, "--top", "2",
                      "--neighbours", str(atlas_path), "--out", str(out)])


# --- in a browser -----------------------------------------------------------------------------------

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser") if shutil.which(name)), None)
WINDOW = (1280, 1400)


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium on ``page`` (no sandbox: CI runs as root), at a fixed size and colour profile."""
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                           "--force-device-scale-factor=1", "--force-color-profile=srgb", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=120)


def find(template: np.ndarray, screen: np.ndarray, tolerance: int = 3) -> list[tuple[int, int]]:
    """Top-left corners where ``template`` (H, W, 3) appears in ``screen``, each pixel within ``tolerance``."""
    h, w = template.shape[:2]
    screen = screen.astype(np.int16)
    rng = np.random.default_rng(0)
    darkest = np.unravel_index(np.argmin(template.sum(-1)), (h, w))
    probes = [darkest, *zip(rng.integers(0, h, 40), rng.integers(0, w, 40))]
    y0, x0 = probes[0]
    view = screen[y0:y0 + screen.shape[0] - h + 1, x0:x0 + screen.shape[1] - w + 1]
    ys, xs = np.nonzero(np.all(np.abs(view - template[y0, x0]) <= tolerance, axis=-1))
    for dy, dx in probes[1:]:
        keep = np.all(np.abs(screen[ys + dy, xs + dx] - template[dy, dx]) <= tolerance, axis=-1)
        ys, xs = ys[keep], xs[keep]
    return [(y, x) for y, x in zip(ys, xs) if np.abs(screen[y:y + h, x:x + w] - template).max() <= tolerance]


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (.ci/run installs Debian's chromium as root)")
def test_the_page_renders_its_images_in_chromium_and_names_its_config(run, tmp_path):
    run_dir, config, _ = run
    dataset = config["feldman"]["datasets"][0]
    path = run_dir / paths.ATLAS.format(dataset=dataset) / "gallery.html"
    shot = tmp_path / "shot.png"
    result = chromium(path, tmp_path / "profile", f"--screenshot={shot}")
    assert shot.is_file(), result.stderr[-2000:]
    screen = np.rint(matplotlib.image.imread(shot)[..., :3] * 255).astype(np.uint8)
    assert screen.shape[:2] == (WINDOW[1], WINDOW[0])
    assert screen.std() > 20 and (screen.sum(-1) < 150).mean() > 0.002  # not blank: text and dark pixels
    # the first thumbnails, the top examples of the first score, are on screen pixel for pixel
    page = Page(path.read_text())
    for image in page.tables[0]["rows"][0]["images"][:1] + page.tables[0]["rows"][1]["images"][:1]:
        pixels = decoded(image)
        pixels = np.repeat(pixels[..., None], 3, axis=-1) if pixels.ndim == 2 else pixels
        found = find(pixels, screen)
        assert found, f"{image['alt']} is not on the screenshot"
        y, x = found[0]
        assert (screen[y:y + pixels.shape[0], x:x + pixels.shape[1]].sum(-1) < 150).any()  # its dark pixels drawn
    dom = chromium(path, tmp_path / "profile", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert '<meta name="config-files" content="config.yaml">' in dom.stdout
    assert re.search(r"Config: <code>config\.yaml</code>", dom.stdout)
    assert dom.stdout.count('class="thumb"') == len(page.images)
