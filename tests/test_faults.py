"""Faults on a tiny config with all four methods: killed training jobs resume from their checkpoints,
corrupt checkpoints and corrupt Parquet inputs stop a job with one line naming the file and are
rebuilt by the rerun; every time the final tables equal those of an uninterrupted run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, SNAKEMAKE, TINY_ALL_METHODS, assert_same_results, copy_of, run_workflow, workflow_env
from pipeline import paths

pytestmark = pytest.mark.workflow

# final tables only (no figures, no atlas): what the fault runs are compared on
KFOLD_RUN = paths.KFOLD_VAE.format(dataset="ink", seed=0)
TARGETS = [f"{paths.FELDMAN_ARCH.format(dataset='g', arch='mlp')}/memorization.parquet",
           f"{KFOLD_RUN}/kfold_scores.parquet", f"{paths.DIFFUSION.format(experiment='sweep')}/summary.parquet",
           f"{paths.MRGAN.format(dataset='g')}/summary.parquet"]

# one training job per method: its outputs, its resume checkpoint, its log, what its command line
# contains, and the files downstream of it (Snakemake rebuilds a missing file only when a target needs it)
FELDMAN = f"{paths.FELDMAN_ARCH.format(dataset='g', arch='mlp')}/shards/shard0.parquet"
KFOLD = f"{KFOLD_RUN}/models/r0_f0"
DIFFUSION = paths.DIFFUSION_JOB.format(experiment="sweep", size=8, width=8, seed=0)
MRGAN = paths.MRGAN_JOB.format(dataset="g", tau=paths.tau_label(0), seed=0)
TRAINING = {
    "feldman": ([FELDMAN], f"{FELDMAN}.resume.pt", f"{paths.LOGS}/feldman/g/mlp/shard0.log", FELDMAN,
                [f"{paths.FELDMAN_ARCH.format(dataset='g', arch='mlp')}/*.parquet"]),
    "kfold_vae": ([f"{KFOLD}/model.pt", f"{KFOLD}/logpx.parquet"], f"{KFOLD}/model.pt.resume.pt",
                  f"{paths.LOGS}/kfold_vae/ink/seed0/train_r0_f0.log", f"{KFOLD}/model.pt",
                  [f"{KFOLD_RUN}/*.parquet"]),
    "diffusion": ([f"{DIFFUSION}/model.pt", f"{DIFFUSION}/train_log.parquet"], f"{DIFFUSION}/model.pt.resume.pt",
                  f"{paths.LOGS}/diffusion/sweep/n8_w8_seed0_train.log", f"{DIFFUSION}/model.pt",
                  [f"{DIFFUSION}/*", TARGETS[2]]),
    "mrgan": ([f"{MRGAN}/generator.pt", f"{MRGAN}/train_log.parquet"], f"{MRGAN}/generator.pt.resume.pt",
              f"{paths.LOGS}/mrgan/g/tau0_seed0_train.log", "pipeline.mrgan.train",
              [f"{MRGAN}/*", f"{paths.MRGAN.format(dataset='g')}/*summary.parquet"]),
}


def run(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run_workflow(workdir, TINY_ALL_METHODS, "--rerun-incomplete", *args, *TARGETS, check=check)


@pytest.fixture
def reference(tiny_run) -> Path:
    """The tiny all-methods config run once without faults (shared with the SLURM test)."""
    return tiny_run


def remove_training_results(workdir: Path) -> None:
    """Delete each job's outputs and everything computed from them, so the next run retrains it."""
    for outputs, _, _, _, downstream in TRAINING.values():
        for path in [*(workdir / o for o in outputs), *(p for pattern in downstream for p in workdir.glob(pattern))]:
            path.unlink(missing_ok=True)


def training_processes(marker: str, workdir: Path) -> list[int]:
    """Pids of python training processes running in ``workdir`` whose command line contains ``marker``.

    The working directory tells this run's jobs from another run's on the same machine (under
    ``pytest -n`` the default run trains MR-GAN models with the same command at the same time).
    """
    pids, workdir = [], workdir.resolve()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            cwd = (entry / "cwd").resolve()
        except OSError:
            continue
        text = " ".join(part.decode(errors="replace") for part in argv)
        if "python" in argv[0].decode(errors="replace") and " -m pipeline." in text and marker in text \
                and cwd == workdir:
            pids.append(int(entry.name))
    return pids


def kill_after_checkpoint(popen: subprocess.Popen, workdir: Path, jobs: dict, timeout: float = 300) -> set[str]:
    """While ``popen`` runs, SIGKILL each job's training process as soon as its checkpoint appears."""
    killed: set[str] = set()
    deadline = time.monotonic() + timeout
    while popen.poll() is None and time.monotonic() < deadline:
        for name, (_, checkpoint, _, marker, _) in jobs.items():
            if name in killed or not (workdir / checkpoint).exists():
                continue
            for pid in training_processes(marker, workdir):
                os.kill(pid, signal.SIGKILL)
                killed.add(name)
        time.sleep(0.01)
    popen.wait(timeout=max(1.0, deadline - time.monotonic()))
    return killed


def test_killed_training_jobs_resume_from_their_checkpoints(reference, tmp_path):
    """Each method's training job is killed (SIGKILL) right after its first checkpoint; the rerun
    resumes every one of them from that checkpoint and ends with the uninterrupted run's tables."""
    workdir = copy_of(reference, tmp_path)
    remove_training_results(workdir)
    command = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "2",
               "--keep-going", *TARGETS]
    with open(tmp_path / "killed_run.txt", "w") as output:
        popen = subprocess.Popen(command, env=workflow_env(), stdout=output, stderr=subprocess.STDOUT)
        killed = kill_after_checkpoint(popen, workdir, TRAINING)
    assert popen.returncode != 0, "snakemake did not notice the killed jobs"
    assert killed == set(TRAINING), f"finished before it could be killed: {set(TRAINING) - killed}"
    for name, (outputs, checkpoint, *_) in TRAINING.items():
        assert (workdir / checkpoint).exists(), f"{name}: no checkpoint left after the kill"
        assert not any((workdir / output).exists() for output in outputs), name
    run(workdir)
    for name, (_, checkpoint, log, *_) in TRAINING.items():
        text = (workdir / log).read_text()
        assert re.search(r"resum(ed|ing) .*from .*" + re.escape(Path(checkpoint).name), text), f"{name} did not resume:\n{text[-2000:]}"
        assert not (workdir / checkpoint).exists(), f"{name}: checkpoint left behind"
    assert_same_results(reference, workdir, partial=True)


def test_corrupt_checkpoints_are_named_set_aside_and_rebuilt(reference, tmp_path):
    """A truncated checkpoint stops its job with one line naming it; the rerun trains afresh."""
    workdir = copy_of(reference, tmp_path)
    remove_training_results(workdir)
    for _, checkpoint, *_ in TRAINING.values():
        # the start of a zip (torch's format) and then garbage, as a crashed copy would leave it
        (workdir / checkpoint).write_bytes(b"PK\x03\x04" + os.urandom(64))
    result = run(workdir, "--keep-going", check=False)
    assert result.returncode != 0
    for name, (_, checkpoint, log, *_) in TRAINING.items():
        lines = [line for line in (workdir / log).read_text().splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and f"{checkpoint}: not a readable checkpoint" in lines[0], (name, lines)
        assert f"moved to {checkpoint}.corrupt, rerun to rebuild it" in lines[0]
        assert "Traceback" not in (workdir / log).read_text()
        assert (workdir / f"{checkpoint}.corrupt").exists() and not (workdir / checkpoint).exists()
    run(workdir)
    assert_same_results(reference, workdir, partial=True)


# two damaged tables in one run: a truncated Feldman shard (read by feldman_estimate) and an
# overwritten K-fold log p table (read by kfold_vae_score), each with the log of the job that reads it
DAMAGED = {"truncated": (FELDMAN, f"{paths.LOGS}/feldman/g/mlp/estimate.log", "feldman_train_shard"),
           "overwritten": (f"{KFOLD}/logpx.parquet", f"{paths.LOGS}/kfold_vae/ink/seed0/score.log", "kfold_vae_train")}


def test_corrupt_parquet_inputs_are_named_set_aside_and_rebuilt(reference, tmp_path):
    """A damaged table stops the job reading it with one line naming it; the rerun rebuilds it."""
    workdir = copy_of(reference, tmp_path)
    for damage, (table, _, _) in DAMAGED.items():
        data = (workdir / table).read_bytes()
        (workdir / table).write_bytes(data[: len(data) // 2] if damage == "truncated" else os.urandom(len(data)))
    result = run(workdir, "--keep-going", check=False)
    assert result.returncode != 0
    for table, log_path, _ in DAMAGED.values():
        log = (workdir / log_path).read_text()
        lines = [line for line in log.splitlines() if line.strip()]
        assert lines[-1].startswith(f"error: {table}: not a readable Parquet file"), log[-2000:]
        assert f"moved to {table}.corrupt" in lines[-1] and "Traceback" not in log
        assert not (workdir / table).exists() and (workdir / f"{table}.corrupt").exists()
    dry = run(workdir, "-n")
    for _, _, rebuilt_by in DAMAGED.values():
        assert rebuilt_by in dry.stdout  # the rerun rebuilds the damaged tables ...
    run(workdir)
    assert_same_results(reference, workdir, partial=True)  # ... to the very same tables
