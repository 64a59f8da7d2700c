"""`snakemake --report` of the default run (.test/default.yaml): one HTML file embedding every figure the run made
and each atlas's gallery page, each with a caption naming its config, grouped by method (category) and data set
(subcategory).
The expectations come from the config the run used (``default_config``), not from copies of its values."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest

from conftest import REPO, SNAKEMAKE
from pipeline import paths
from pipeline.targets import REPORT_SECTIONS as METHODS
from pipeline.targets import atlas_datasets

pytestmark = pytest.mark.workflow


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


def test_every_figure_of_the_run_is_embedded(default_run, default_config, report):
    figures = sorted(str(p.relative_to(default_run)) for p in (default_run / paths.RESULTS).rglob("*.png"))
    galleries = [f"{paths.ATLAS.format(dataset=name)}/gallery.html" for name in atlas_datasets(default_config)]
    assert figures and all((default_run / page).is_file() for page in galleries)
    assert sorted(report["results"]) == sorted(figures + galleries)  # every figure and gallery page, and only those
    for path in figures + galleries:
        uri = report["results"][path]["data_uri"]
        assert uri.startswith("data:image/png;" if path.endswith(".png") else "data:text/html;")
        assert base64.b64decode(uri.split("base64,", 1)[1]) == (default_run / path).read_bytes(), path


def test_every_caption_says_what_and_which_config(report, default_config):
    for path, record in report["results"].items():
        caption = record["caption"]
        assert len(caption) > 200, path
        assert "Config: <tt" in caption, path
        assert "{{" not in caption and "snakemake." not in caption, path  # templates rendered
    # the values, not just the key names
    assert atlas_datasets(default_config) and default_config["feldman"]["datasets"]
    for dataset in atlas_datasets(default_config):
        atlas = report["results"][f"{paths.ATLAS.format(dataset=dataset)}/figures/correlations.png"]["caption"]
        assert f"&quot;top_fraction&quot;: {json.dumps(default_config['atlas']['top_fraction'])}" in atlas, dataset
    for dataset in default_config["feldman"]["datasets"]:
        for arch in default_config["feldman"]["architectures"]:
            figure = f"{paths.FELDMAN_ARCH.format(dataset=dataset, arch=arch)}/figures/mem_histogram.png"
            feldman = report["results"][figure]["caption"]
            assert f"&quot;mem_threshold&quot;: {json.dumps(default_config['feldman']['mem_threshold'])}" in feldman


def test_figures_are_grouped_by_method_and_dataset(report, default_config):
    config = default_config
    experiments = config["diffusion"]["experiments"]
    diffusion_datasets = {name: experiments[name]["dataset"] for name in config["diffusion"]["run"]}
    categories = report["categories"]
    ran = {"feldman": config["feldman"]["datasets"], "kfold_vae": config["kfold_vae"]["datasets"],
           "diffusion": config["diffusion"]["run"], "mrgan": config["mrgan"]["datasets"],
           "atlas": atlas_datasets(config), "claims": list(config.get("claims") or {})}
    assert set(categories) == {METHODS[method] for method, names in ran.items() if names}
    for category, subcategories in categories.items():
        for dataset, figures in subcategories.items():
            for path in figures:
                parts = path.split("/")
                assert METHODS[parts[1]] == category, path
                if parts[1] == "claims":  # one page: the papers' figures and the table
                    assert dataset in ("figures", "table"), path
                    continue
                expected = diffusion_datasets[parts[2]] if parts[1] == "diffusion" else parts[2]
                assert dataset == expected, path
    assert set(categories.get("Memorization atlas", {})) == set(atlas_datasets(config))
    assert set(categories.get("Diffusion replicates", {})) == set(diffusion_datasets.values())
