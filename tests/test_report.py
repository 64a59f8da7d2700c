"""`snakemake --report` of the default run: one HTML file embedding every figure the run made,
each with a caption naming its config, grouped by method (category) and data set (subcategory)."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest
import yaml

from conftest import REPO, SNAKEMAKE

pytestmark = pytest.mark.workflow

METHODS = {"feldman": "Feldman & Zhang", "kfold_vae": "K-fold VAE", "diffusion": "Diffusion replicates",
           "mrgan": "MR-GAN", "atlas": "Memorization atlas"}


def embedded_object(html: str, name: str) -> dict:
    """The JSON object the report assigns to ``var name = {...};``."""
    anchor = html.index(f'<script id="{name}">')
    start = html.index(f"var {name} = ", anchor) + len(f"var {name} = ")
    value, _ = json.JSONDecoder().raw_decode(html, start)
    return value


@pytest.fixture(scope="module")
def report(default_run):
    out = default_run / "report.html"
    result = subprocess.run([*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(default_run),
                             "--report", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ERROR/" not in result.stderr, result.stderr[-3000:]  # reStructuredText errors in a caption
    html = out.read_text()
    return {"results": embedded_object(html, "results"), "categories": embedded_object(html, "categories")}


def test_every_figure_of_the_run_is_embedded(default_run, report):
    figures = sorted(str(p.relative_to(default_run)) for p in (default_run / "results").rglob("*.png"))
    assert len(figures) >= 30
    assert sorted(report["results"]) == figures  # every figure, and only figures
    for path in figures:
        uri = report["results"][path]["data_uri"]
        assert uri.startswith("data:image/png;")
        assert base64.b64decode(uri.split("base64,", 1)[1]) == (default_run / path).read_bytes(), path


def test_every_caption_says_what_and_which_config(report):
    for path, record in report["results"].items():
        caption = record["caption"]
        assert len(caption) > 200, path
        assert "Config: <tt" in caption, path
        assert "{{" not in caption and "snakemake." not in caption, path  # templates rendered
    atlas = report["results"]["results/atlas/mnist5k/figures/correlations.png"]["caption"]
    assert "&quot;top_fraction&quot;: 0.05" in atlas  # the values, not just the key names
    feldman = report["results"]["results/feldman/mnist5k/mlp/figures/mem_histogram.png"]["caption"]
    assert "&quot;mem_threshold&quot;: 0.25" in feldman


def test_figures_are_grouped_by_method_and_dataset(default_run, report):
    config = yaml.safe_load((default_run / "config.yaml").read_text())
    experiments = config["diffusion"]["experiments"]
    diffusion_datasets = {name: experiments[name]["dataset"] for name in config["diffusion"]["run"]}
    categories = report["categories"]
    assert set(categories) == set(METHODS.values())
    for category, subcategories in categories.items():
        for dataset, paths in subcategories.items():
            for path in paths:
                parts = path.split("/")
                assert METHODS[parts[1]] == category, path
                expected = diffusion_datasets[parts[2]] if parts[1] == "diffusion" else parts[2]
                assert dataset == expected, path
    assert set(categories["Memorization atlas"]) == {"mnist5k", "digits", "mondrian8"}
    assert set(categories["Diffusion replicates"]) == {"mondrian8"}
