"""Shared fixtures: run the workflow on a tiny config in a scratch folder."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline import paths

REPO = Path(__file__).resolve().parent.parent
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# The module a rule's shell command runs: `python -m pipeline.job pipeline.X` (pipeline/job.py runs
# it on the job server or in its own process); also plain `python -m pipeline.X`.
RULE_MODULE = re.compile(r"\bpython3?\s+-m\s+(?:pipeline\.job\s+)?([\w.]+)")


def workflow_env(**extra: str) -> dict[str, str]:
    """Environment for a snakemake subprocess: rules' `python -m pipeline...` is this interpreter
    and this checkout, as an activated venv would make it."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {**os.environ, "PYTHONPATH": str(REPO), "PATH": path, **extra}


def run_workflow(workdir: Path, config: dict, *args: str, check: bool = True, **extra_env: str) -> subprocess.CompletedProcess:
    """Write ``config`` to workdir/config.yaml and run the repository's Snakefile there."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    command = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "2",
               "--rerun-triggers", "mtime", "params", "input", "code", *args]
    result = subprocess.run(command, capture_output=True, text=True, env=workflow_env(**extra_env))
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def scheduled_jobs(dry_run_output: str) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run lists."""
    jobs, rule = set(), None
    for line in dry_run_output.splitlines():
        if m := re.match(r"^(?:local)?rule (\w+):", line.strip()):
            rule = m.group(1)
            if rule == "all":
                jobs.add(("all", ""))
        elif rule and (m := re.match(r"wildcards: (.*)", line.strip())):
            jobs.add((rule, m.group(1)))
    return jobs


def tiny_config(name: str) -> dict:
    """A fresh copy of the tiny config .test/{name}.yaml (each file's header says what it exercises);
    a test that needs a variant changes keys of its copy."""
    return yaml.safe_load((REPO / ".test" / f"{name}.yaml").read_text())


# Every method, the atlas and the figures on a few hundred tiny images: the config the fault tests
# break and the SLURM test runs (a minute on 2 cores, against several for the default experiment).
TINY_ALL_METHODS = tiny_config("all_methods")

# The config of each session-wide workflow run: test configs only, never the user-facing config.yaml, so
# an edit to the default experiment neither breaks nor silences a test.
SHARED_RUN_CONFIGS = {"tiny_run": REPO / ".test" / "all_methods.yaml", "default_run": REPO / ".test" / "default.yaml"}

# Session-wide workflow runs: each fixture, and the names by which a test file asks for it. Under
# `pytest -n` (pyproject's addopts) every file naming one runs on one worker, so each run happens once.
SHARED_RUNS = {"tiny_run": ("tiny_run",), "default_run": ("default_run", "default_config")}
SCHEDULED_FIRST = ("default_run", "tiny_run")  # the longest groups first, so neither ends the suite alone


@functools.lru_cache(maxsize=None)
def worker_group(test_file: str) -> str:
    """The pytest-xdist group of a test file (path relative to the repository): the first shared run
    its text names (as a fixture argument or in ``request.getfixturevalue``), else the file itself, so
    a file's module-scoped fixtures are built once too."""
    text = (REPO / test_file).read_text()
    for run, fixtures in SHARED_RUNS.items():
        if any(re.search(rf"\b{name}\b", text) for name in fixtures):
            return run
    return test_file


def group_rank(nodeid: str) -> int:
    group = worker_group(nodeid.split("::")[0])
    return SCHEDULED_FIRST.index(group) if group in SCHEDULED_FIRST else len(SCHEDULED_FIRST)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """The shared-run groups first in the collection, which the scheduler below keeps in order."""
    items.sort(key=lambda item: group_rank(item.nodeid))


def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's scope scheduling with our groups as scopes, in collection order. (Its own
    ``xdist_group`` marks do not reach the scheduler under pytest 9, whose node ids they can no longer
    rewrite.)"""
    from xdist.scheduler import LoadScopeScheduling

    class SharedRunScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return worker_group(nodeid.split("::")[0])

    config.option.loadscopereorder = False
    return SharedRunScheduling(config, log)


@pytest.fixture(scope="session")
def torch_globals_at_start():
    """Torch's thread count and default dtype as the worker process started with them."""
    import torch

    return torch.get_num_threads(), torch.get_default_dtype()


@pytest.fixture(autouse=True)
def restore_torch_globals(torch_globals_at_start):
    """Every test starts from the worker's own thread count and default dtype and leaves them so: a
    pytest-xdist worker runs many test files in one process, and a setting that one test (or a
    module-scoped fixture) leaves behind changes the last digits of the tests that run after it
    there, which ones depending on the scheduling."""
    import torch

    threads, dtype = torch_globals_at_start
    torch.set_num_threads(threads)
    torch.set_default_dtype(dtype)
    yield
    torch.set_num_threads(threads)
    torch.set_default_dtype(dtype)


@pytest.fixture
def workflow_runner(tmp_path):
    """Call as ``workflow_runner(config, *snakemake_args)``; runs in a fresh folder per test."""

    def run(config: dict, *args: str, check: bool = True):
        return run_workflow(tmp_path / "run", config, *args, check=check)

    run.workdir = tmp_path / "run"
    return run


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> Path:
    """The default experiment's test copy (.test/default.yaml) run once per session with the default
    profile.

    Tests that need real results of every method (atlas, claims, report, SLURM comparison) share
    this one run instead of each paying for it; returns the working directory.
    """
    workdir = tmp_path_factory.mktemp("default_run")
    config = yaml.safe_load(SHARED_RUN_CONFIGS["default_run"].read_text())
    run_workflow(workdir, config, "--workflow-profile", str(REPO / "workflow/profiles/default"))
    return workdir


@pytest.fixture(scope="session")
def default_config(default_run) -> dict:
    """The config ``default_run`` used, validated with the schema's defaults filled in (as the rules see it):
    tests assert on the default run through it, never through values copied from its file."""
    from pipeline.config import load_config

    return load_config(default_run / "config.yaml")


def result_files(workdir: Path) -> dict[str, Path]:
    """Every table (.parquet) and array (.npy) under workdir/results, by relative path."""
    results = Path(workdir) / paths.RESULTS
    return {str(p.relative_to(results)): p for suffix in ("*.parquet", "*.npy") for p in sorted(results.rglob(suffix))}


def assert_same_results(expected: Path, actual: Path, partial: bool = False) -> int:
    """The same set of tables and arrays under both results/ folders, equal cell by cell; returns the count.

    Figures, logs and benchmark timings may differ; nothing else may. With ``partial`` the actual
    run may have built fewer targets: each file it has must exist in, and equal, the expected run.
    """
    a, b = result_files(expected), result_files(actual)
    if partial:
        assert set(b) <= set(a), f"only in {actual}: {sorted(set(b) - set(a))}"
        a = {name: a[name] for name in b}
    assert sorted(a) == sorted(b), f"only in {expected}: {sorted(set(a) - set(b))}; only in {actual}: {sorted(set(b) - set(a))}"
    for name, path in a.items():
        if name.endswith(".npy"):
            np.testing.assert_array_equal(np.load(path), np.load(b[name]), err_msg=name)
        else:
            try:
                pd.testing.assert_frame_equal(pd.read_parquet(path), pd.read_parquet(b[name]))
            except AssertionError as err:
                raise AssertionError(f"{name}: {err}") from err
    return len(a)


def copy_of(run: Path, folder: Path) -> Path:
    """A finished run to change or break: ``run`` copied to folder/run with its .snakemake metadata and
    mtimes (so Snakemake sees it as finished), without a lock a running Snakemake would hold."""
    return Path(shutil.copytree(run, folder / "run", symlinks=True, ignore=shutil.ignore_patterns("locks", "incomplete")))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The tiny all-methods config (TINY_ALL_METHODS) run once per session, every target (figures and atlas
    included)."""
    workdir = tmp_path_factory.mktemp("tiny_run")
    run_workflow(workdir, yaml.safe_load(SHARED_RUN_CONFIGS["tiny_run"].read_text()))
    return workdir
