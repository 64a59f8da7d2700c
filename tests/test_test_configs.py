"""Every tiny test config in .test/ is complete on its own: it validates against the schema and
dry-runs as its header says, with no config.yaml beside it to fill in what it lacks."""

from __future__ import annotations

import subprocess

import pytest

from conftest import REPO, SNAKEMAKE, workflow_env
from pipeline.config import load_config

CONFIGS = sorted((REPO / ".test").glob("*.yaml"))
PROFILE = "workflow/profiles/default"


def test_there_are_test_configs():
    assert {"all_methods", "data_splits_neighbors", "feldman", "kfold_vae"} <= {p.stem for p in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_has_a_header_and_validates(path):
    header = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    assert 1 <= len(header) <= 3, f"{path.name}: a 1-3 line header comment saying what it exercises"
    command = f"snakemake --workflow-profile {PROFILE} --configfile .test/{path.name}"
    assert any(command in line for line in header), f"{path.name}: the header names the command {command!r}"
    config = load_config(path)  # the schema, with its defaults filled in, and the data set references
    assert config["datasets"], path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_dry_runs_alone(path, tmp_path):
    """``snakemake -n`` in an empty folder: nothing but this file configures the run."""
    command = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--workflow-profile", str(REPO / PROFILE),
               "--configfile", str(path), "--directory", str(tmp_path), "-n"]
    result = subprocess.run(command, capture_output=True, text=True, env=workflow_env(), cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "rule all:" in output or "localrule all:" in output, output[-4000:]
    assert not (tmp_path / "results").exists()  # a dry run writes nothing
