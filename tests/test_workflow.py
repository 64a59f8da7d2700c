"""The workflow end to end on a tiny config: outputs, logs, determinism, reruns and config errors."""

import copy
import os
import signal
import subprocess
import time

import pandas as pd
import pytest

from conftest import REPO, SNAKEMAKE, copy_of, run_workflow, scheduled_jobs, tiny_config
from pipeline import jobserver, paths

pytestmark = pytest.mark.workflow

# data sets, splits and neighbours only; tests that need a variant change keys of a copy
TINY = tiny_config("data_splits_neighbors")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """TINY run once; tests that change it work on a copy (``copy_of``)."""
    workdir = tmp_path_factory.mktemp("tiny_data") / "run"
    run_workflow(workdir, TINY)
    return workdir


def test_tiny_run_outputs_logs_and_determinism(finished_run, tmp_path):
    first = finished_run
    splits = paths.SPLITS.format(dataset="mo", seed=0)
    neighbors = paths.NEIGHBORS.format(dataset="mo", job="t")
    for path in [f"{paths.DATASET.format(dataset='mix')}/index.parquet", f"{splits}/kfold.parquet",
                 f"{splits}/feldman_subsets.parquet", paths.NEIGHBORS.format(dataset="ri", job="t"),
                 f"{paths.LOGS}/data/mix.log", f"{paths.LOGS}/neighbors/mo/t.log", f"{paths.BENCHMARKS}/data/mo.tsv"]:
        assert (first / path).exists(), path
    assert "wrote" in (first / paths.LOGS / "neighbors/mo/t.log").read_text()
    nn = pd.read_parquet(first / neighbors)
    mo, k = TINY["datasets"]["mo"], TINY["neighbors"]["t"]["k"]
    assert len(nn) == mo["n_test"] * k and nn["query"].min() >= mo["n_train"]  # test queries against train references
    assert (nn["ref_index"] < mo["n_train"]).all()
    # the jobs ran as forks of the job server, which stopped with the run
    log = (first / paths.LOGS / "jobserver.log").read_text()
    served, refused = jobserver.jobs_in_log(log)
    assert {"pipeline.data.prepare", "pipeline.splits"} <= set(served) and not refused
    assert log.rstrip().endswith("server stopped")
    # same config, fresh folder, every job its own process: identical tables
    second = tmp_path / "b"
    run_workflow(second, TINY, PIPELINE_JOBSERVER="off")
    assert not (second / paths.LOGS / "jobserver.log").exists()
    mix = paths.DATASET.format(dataset="mix")
    for table in [f"{mix}/index.parquet", f"{splits}/kfold.parquet", neighbors]:
        pd.testing.assert_frame_equal(pd.read_parquet(first / table), pd.read_parquet(second / table))
    assert (first / mix / "images.npy").read_bytes() == (second / mix / "images.npy").read_bytes()
    # nothing left to do
    assert "Nothing to be done" in run_workflow(first, TINY, "-n").stdout


@pytest.mark.parametrize(
    "change,expected",
    [
        (lambda c: c["datasets"]["mo"].update(n_train=31),
         {("prepare_dataset", "dataset=mo"), ("prepare_dataset", "dataset=mix"),
          ("kfold_assignment", "dataset=mo, seed=0"), ("feldman_subsets", "dataset=mo, seed=0"),
          ("dataset_neighbors", "dataset=mo, job=t"), ("all", "")}),
        (lambda c: c["splits"]["kfold"].update(folds=4),
         {("kfold_assignment", "dataset=mo, seed=0"), ("all", "")}),
        (lambda c: c["neighbors"]["t"].update(k=3),
         {("dataset_neighbors", "dataset=mo, job=t"), ("dataset_neighbors", "dataset=ri, job=t"), ("all", "")}),
        (lambda c: c["datasets"]["mix"]["parts"][1].update(n_train=4),
         {("prepare_dataset", "dataset=mix"), ("all", "")}),
    ],
    ids=["dataset-size", "kfold-folds", "neighbors-k", "mixture-part"],
)
def test_changing_one_parameter_reruns_exactly_its_dependents(finished_run, tmp_path, change, expected):
    changed = copy.deepcopy(TINY)
    change(changed)
    dry = run_workflow(copy_of(finished_run, tmp_path), changed, "-n")
    assert scheduled_jobs(dry.stdout) == expected


@pytest.mark.parametrize(
    "bad,key",
    [
        ({"datasets": {"a": {"kind": "mnist5k", "test_fraction": 1.5}}}, "datasets.a.test_fraction"),
        ({"datasets": {"a": {"kind": "mondrian", "n_train": 5, "sise": 8}}}, "datasets.a.sise"),
        ({"datasets": {"a": {"kind": "mondrian", "n_train": "many"}}}, "datasets.a.n_train"),
        ({"splits": {"kfold": {"folds": 1}}}, "splits.kfold.folds"),
        ({"neighbors": {"t": {"datasets": ["nope"]}}}, "neighbors.t.datasets"),
        ({"datasetz": {}}, "datasetz"),
    ],
)
def test_config_errors_are_one_line_naming_the_key(workflow_runner, bad, key):
    result = workflow_runner(bad, "-n", check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and key in lines[0] and lines[0].startswith("error: config key"), result.stderr
    assert not (workflow_runner.workdir / "results").exists()


def test_interrupted_run_leaves_no_partial_output_and_resumes(tmp_path):
    """Kill snakemake while a job writes; nothing half-written survives; --rerun-incomplete finishes."""
    config = tiny_config("interrupt")  # one 60000-image data set
    workdir = tmp_path / "run"
    workdir.mkdir()
    import yaml

    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PATH": os.pathsep.join([os.path.dirname(__import__("sys").executable), os.environ["PATH"]])}
    proc = subprocess.Popen([*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "1"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = workdir / paths.LOGS / "data/big.log"
    deadline = time.monotonic() + 60
    while not (log.exists() and "building" in log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    out = workdir / paths.DATASET.format(dataset="big")
    assert not (out / "images.npy").exists() or not (out / "index.parquet").exists()
    run_workflow(workdir, config, "--unlock")  # a killed snakemake leaves its lock
    result = run_workflow(workdir, config, "--rerun-incomplete")
    assert result.returncode == 0
    assert pd.read_parquet(out / "index.parquet").shape[0] == config["datasets"]["big"]["n_train"]
    assert sorted(p.name for p in out.iterdir()) == ["images.npy", "index.parquet"]  # no stale temp files
