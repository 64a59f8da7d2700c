"""The tiny all-methods workflow (or the default one) through workflow/profiles/slurm on a real one-node
SLURM cluster.

The module starts munged, slurmctld and slurmd on localhost (benchmarks/slurm_cluster.py installs
Debian's slurm-wlm and munge with apt-get when they are missing) and stops them, by pid, at the
end. If SLURM can neither be found nor installed (not root, no apt-get) the tests fail with the
reason; set PIPELINE_SKIP_SLURM=1 to skip them instead.

One run covers the cluster path end to end: every job is an sbatch submission (short jobs in
the profile's group jobs), one training job is killed mid-way and the profile's retry resumes it
from its checkpoint, and every table and array equals those of a local run of the same config.

The config is TINY_ALL_METHODS (every training and sampling rule of every method, the atlas and the figures, on tiny
data; compared with ``tiny_run``), so the suite stays within CI's time. PIPELINE_SLURM_CONFIG=default
runs the default experiment's test copy (.test/default.yaml, the config of ``default_run``) instead and
compares with ``default_run`` (about 17 minutes on 2 cores against 8.5 for the local run).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SHARED_RUN_CONFIGS, TINY_ALL_METHODS, assert_same_results, workflow_env
from pipeline import paths
from test_faults import kill_after_checkpoint

sys.path.insert(0, str(REPO / "benchmarks"))
from slurm_cluster import SKIP_VARIABLE, LocalSlurmCluster, SlurmUnavailable  # noqa: E402

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

# the scratch cluster answers at once: first status check after 2 s, then at most every 3 s
# (benchmarks/snakemake_fast_status.py caps the plugin's growing interval; the profile is unchanged)
LAUNCHER = [sys.executable, str(REPO / "benchmarks" / "snakemake_fast_status.py")]
FAST_STATUS = ["--slurm-init-seconds-before-status-checks", "2"]

CONFIG_VARIABLE = "PIPELINE_SLURM_CONFIG"


def killed_shard(config: dict) -> dict:
    """The Feldman shard killed after its first epoch's checkpoint (the first data set and architecture
    of ``config``); the retry (attempt 2) must resume it."""
    dataset, arch = config["feldman"]["datasets"][0], next(iter(config["feldman"]["architectures"]))
    shard = f"{paths.FELDMAN_ARCH.format(dataset=dataset, arch=arch)}/shards/shard0.parquet"
    return {"feldman": ([shard], f"{shard}.resume.pt", f"{paths.LOGS}/feldman/{dataset}/{arch}/shard0.log", shard, [])}


@pytest.fixture
def case(request) -> tuple[dict, Path]:
    """(config, local run of it), chosen by PIPELINE_SLURM_CONFIG."""
    if os.environ.get(CONFIG_VARIABLE, "tiny") == "default":
        return yaml.safe_load(SHARED_RUN_CONFIGS["default_run"].read_text()), request.getfixturevalue("default_run")
    return TINY_ALL_METHODS, request.getfixturevalue("tiny_run")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(f"{SKIP_VARIABLE}=1")
    # a node as big as the profile's requests (8 CPUs, 16 GB jobs) on this small machine
    node = LocalSlurmCluster(tmp_path_factory.mktemp("slurm_cluster"), cpus=8, memory_mb=128000)
    try:
        node.start()
    except SlurmUnavailable as err:
        pytest.fail(f"cannot run the SLURM tests: {err}")
    yield node
    node.stop()


def test_workflow_under_slurm_equals_local_run(cluster, case, tmp_path):
    config, local_run = case
    killed_job = killed_shard(config)
    workdir = tmp_path / "slurm_run"
    workdir.mkdir()
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = workflow_env(PIPELINE_STATUS_CAP=os.environ.get("PIPELINE_STATUS_CAP", "1"))
    command = [*LAUNCHER, "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--workflow-profile", str(REPO / "workflow/profiles/slurm"), *FAST_STATUS]
    start = time.monotonic()
    with open(tmp_path / "snakemake.txt", "w") as output:
        popen = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        killed = kill_after_checkpoint(popen, workdir, killed_job, timeout=1500)
    seconds = time.monotonic() - start
    text = (tmp_path / "snakemake.txt").read_text()
    assert popen.returncode == 0, text[-5000:]
    assert killed == {"feldman"}, "the shard finished before it could be killed"

    # the killed job failed, was resubmitted with more memory and time, and resumed
    shard_log = (workdir / killed_job["feldman"][2]).read_text()
    assert re.search(r"resuming .* after epoch [1-4]\b", shard_log), shard_log[-2000:]
    assert "Trying to restart job" in text or "attempt 2" in text or "restart" in text.lower(), text[-3000:]

    # every job went through sbatch; the short ones in group jobs, so fewer submissions than jobs
    submissions = set(re.findall(r"SLURM jobid (\d+)", text))
    jobs = int(re.search(r"(\d+) of \1 steps \(100%\) done", text).group(1))
    assert 0 < len(submissions) < jobs - 1, (len(submissions), jobs)
    assert re.search(r"group_\w+", text), "no group job was submitted"

    n = assert_same_results(local_run, workdir)
    assert n > 20
    (tmp_path / "timing.yaml").write_text(yaml.safe_dump({"seconds": seconds, "jobs": jobs,
                                                          "submissions": len(submissions)}))
    print(f"\nSLURM run: {seconds:.0f} s, {jobs} jobs in {len(submissions)} submissions, {n} tables equal")
