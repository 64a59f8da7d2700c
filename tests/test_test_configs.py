"""Every tiny test config in .test/ is complete on its own: it validates against the schema and
dry-runs as its header says, with no config.yaml beside it to fill in what it lacks."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SHARED_RUN_CONFIGS, SNAKEMAKE, workflow_env
from pipeline.config import load_config

CONFIGS = sorted((REPO / ".test").glob("*.yaml"))
PROFILE = "workflow/profiles/default"


def test_there_are_test_configs():
    assert {"all_methods", "data_splits_neighbors", "default", "feldman", "kfold_vae"} <= {p.stem for p in CONFIGS}


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


def planned_jobs(repo: Path, config: Path, workdir: Path) -> list[str]:
    """The rule, wildcards and outputs of every job a dry run of ``config`` plans, as the shared runs
    start it (conftest.run_workflow: the config written into the run folder), with ``repo``'s Snakefile."""
    workdir.mkdir()
    (workdir / "config.yaml").write_text(config.read_text())
    command = [*SNAKEMAKE, "-s", str(repo / "Snakefile"), "--directory", str(workdir), "--cores", "2", "-n"]
    result = subprocess.run(command, capture_output=True, text=True, env=workflow_env(PYTHONPATH=str(repo)))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    blocks = re.findall(r"(?m)^(?:local)?rule \w+:\n(?:    .*\n)*", result.stdout)
    return sorted("".join(re.findall(r"(?m)^(?:\w+ \w+:|    (?:input|output|wildcards): .*)$\n?", block))
                  for block in blocks)


@pytest.mark.slow
def test_an_edit_to_config_yaml_reaches_no_workflow_test(tmp_path):
    """The shared workflow runs read .test/ configs only, and a run reads the config in its own folder:
    with the repository's config.yaml replaced by another valid experiment, a shared run plans exactly
    the same jobs."""
    assert all(path.parent == REPO / ".test" for path in SHARED_RUN_CONFIGS.values()), SHARED_RUN_CONFIGS
    repo = tmp_path / "repo"
    repo.mkdir()
    for part in ("Snakefile", "workflow", "pipeline"):
        copy = shutil.copytree if (REPO / part).is_dir() else shutil.copy2
        options = {"ignore": shutil.ignore_patterns("__pycache__")} if copy is shutil.copytree else {}
        copy(REPO / part, repo / part, **options)
    edited = yaml.safe_load((REPO / ".test" / "data_splits_neighbors.yaml").read_text())
    load_config(REPO / ".test" / "data_splits_neighbors.yaml")  # a valid experiment
    (repo / "config.yaml").write_text(yaml.safe_dump(edited))
    config = SHARED_RUN_CONFIGS["tiny_run"]
    jobs = planned_jobs(REPO, config, tmp_path / "here")
    assert len(jobs) > 20 and jobs == planned_jobs(repo, config, tmp_path / "edited")
