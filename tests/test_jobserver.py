"""The job server: a short job run as a fork of the warm server does exactly what its own process does.

Same tables, same output and log, same exit status, the child ends with its client, a client in
another interpreter setup runs itself, and the server leaves with its parent. The workflow runs
(tests/test_workflow.py and the SLURM comparison, where no server runs) check the whole table set.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO
from pipeline import jobserver

DIGITS = json.dumps({"kind": "digits", "seed": 0, "test_fraction": 0.2})
# A job that records its pid and then runs until it is killed (the server imports a job's module
# before it forks, so like every entry point it works only when run as __main__).
SLEEPER = """import os, sys, time
if __name__ == "__main__":
    open(sys.argv[1], "w").write(str(os.getpid()))
    time.sleep(600)
"""
# A torch job that prints the threads it computes with.
THREADS = """import torch
if __name__ == "__main__":
    print(torch.get_num_threads())
"""


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A job server for this test, as the Snakefile starts it; yields its log file."""
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "sleeper.py").write_text(SLEEPER)
    (tmp_path / "jobs" / "threads.py").write_text(THREADS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "jobs"))
    log = tmp_path / "jobserver.log"
    process = jobserver.start(str(log), str(REPO))
    # as a one-thread job's shell has it: the rules' PYTHONPATH, Snakemake's thread counts
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{tmp_path / 'jobs'}",
           **{name: "1" for name in jobserver.THREAD_VARIABLES}}
    yield process, log, env
    jobserver.stop(process)
    assert process.poll() is not None


def job(env, *args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.job", *args], env=env, capture_output=True,
                          text=True, **kwargs)


def served(log: Path) -> list[str]:
    """The modules the server forked a child for, in order."""
    return jobserver.jobs_in_log(log.read_text())[0]


def test_a_served_job_writes_the_tables_its_own_process_writes(server, tmp_path):
    process, log, env = server
    prepared = job(env, "pipeline.data.prepare", "--name", "digits", "--spec", DIGITS, "--data-root", "data",
                   "--out", "digits")
    assert prepared.returncode == 0, prepared.stderr
    served_run = job(env, "pipeline.splits", "kfold", "--dataset-dir", "digits", "--folds", "4", "--repeats", "2",
                     "--seed", "0", "--out", "served.parquet")
    assert served_run.returncode == 0, served_run.stderr
    own_env = {**env, jobserver.ADDRESS_VARIABLE: "off"}
    own = subprocess.run([sys.executable, "-m", "pipeline.splits", "kfold", "--dataset-dir", "digits", "--folds", "4",
                          "--repeats", "2", "--seed", "0", "--out", "own.parquet"], env=own_env, capture_output=True,
                         text=True)
    assert own.returncode == 0, own.stderr
    assert served(log) == ["pipeline.data.prepare", "pipeline.splits"]
    assert len(re.findall(r"ended: exit 0, \d+\.\d\d CPU-s", log.read_text())) == 2  # the children's own CPU time
    pd.testing.assert_frame_equal(pd.read_parquet("served.parquet"), pd.read_parquet("own.parquet"))
    train = pd.read_parquet("digits/index.parquet").query("split == 'train'")
    assert len(pd.read_parquet("served.parquet")) == 2 * len(train)  # every training digit in each repeat


def test_output_and_exit_status_reach_the_client(server):
    process, log, env = server
    usage = job(env, "pipeline.splits", "--help")
    assert usage.returncode == 0 and usage.stdout.startswith("usage: splits.py")
    wrong = job(env, "pipeline.splits", "kfold", "--dataset-dir", "missing", "--folds", "4", "--repeats", "1",
                "--seed", "0", "--out", "x.parquet")
    assert wrong.returncode == 1
    lines = wrong.stderr.strip().splitlines()
    assert len(lines) == 1 and "missing" in lines[0], wrong.stderr  # the module's one-line error, as is
    assert job(env, "pipeline.splits", "no-such-command").returncode == 2  # argparse's status
    with open("log.txt", "w") as handle:  # a shell's `2> {log}`: the child writes to the client's file
        subprocess.run([sys.executable, "-m", "pipeline.job", "pipeline.splits", "no-such-command"], env=env,
                       stderr=handle)
    assert "invalid choice" in Path("log.txt").read_text()
    assert served(log) == ["pipeline.splits"] * 4


def test_a_served_torch_job_computes_with_the_threads_of_a_one_thread_job(server):
    process, log, env = server
    result = job(env, "threads")
    assert result.returncode == 0 and result.stdout.strip() == "1" and served(log) == ["threads"]


def test_a_killed_client_takes_its_child_with_it(server, tmp_path):
    process, log, env = server
    client = subprocess.Popen([sys.executable, "-m", "pipeline.job", "sleeper", str(tmp_path / "pid")], env=env)
    deadline = time.time() + 60
    while not (tmp_path / "pid").exists() or not (tmp_path / "pid").read_text():
        assert time.time() < deadline and client.poll() is None
        time.sleep(0.1)
    child = int((tmp_path / "pid").read_text())
    assert child != client.pid and served(log) == ["sleeper"]
    client.send_signal(signal.SIGKILL)
    client.wait()
    while Path(f"/proc/{child}").exists():
        assert time.time() < deadline, "the job kept running after its client was killed"
        time.sleep(0.1)
    while "exit -9" not in log.read_text():  # the server logs the end just after it reaps the child
        assert time.time() < deadline, log.read_text()
        time.sleep(0.1)


def test_a_job_killed_by_sigkill_reports_it_and_its_client_dies_of_it(server, tmp_path):
    """The out-of-memory killer's signal: the child's client says so in one line and dies of SIGKILL
    too (exit 137 to the shell), not of a traceback from setting SIGKILL's handler."""
    process, log, env = server
    client = subprocess.Popen([sys.executable, "-m", "pipeline.job", "sleeper", str(tmp_path / "pid")], env=env,
                              stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (tmp_path / "pid").exists() or not (tmp_path / "pid").read_text():
        assert time.time() < deadline and client.poll() is None
        time.sleep(0.1)
    os.kill(int((tmp_path / "pid").read_text()), signal.SIGKILL)
    _, stderr = client.communicate(timeout=60)
    assert client.returncode == -signal.SIGKILL
    assert stderr.strip().splitlines() == ["error: sleeper was killed by SIGKILL"]


@pytest.mark.parametrize("change", ["import path", "threads"])
def test_a_client_the_server_does_not_match_runs_itself(server, tmp_path, change):
    process, log, env = server
    if change == "import path":
        other = {**env, "PYTHONPATH": env["PYTHONPATH"] + f":{tmp_path}"}
    else:  # a job with threads: 2, whose BLAS and OpenMP must start with 2 threads
        other = {**env, **{name: "2" for name in jobserver.THREAD_VARIABLES}}
    result = job(other, "pipeline.splits", "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: splits.py")
    assert jobserver.jobs_in_log(log.read_text()) == ([], ["pipeline.splits"])


def test_a_malformed_request_leaves_the_server_serving(server):
    process, log, env = server
    for message in (b"not json", b"[1, 2]", json.dumps({"module": "pipeline.splits"}).encode()):
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as raw:
            raw.connect("\0" + env[jobserver.ADDRESS_VARIABLE])
            socket.send_fds(raw, [message], [0, 1, 2])
            raw.settimeout(30)
            assert raw.recv(64) in (b"", b"refused")
    result = job(env, "pipeline.splits", "--help")
    assert result.returncode == 0 and served(log) == ["pipeline.splits"] and process.poll() is None


def test_no_server_after_off_and_the_server_leaves_with_its_parent(tmp_path, monkeypatch):
    monkeypatch.setenv(jobserver.ADDRESS_VARIABLE, "off")
    assert jobserver.start(str(tmp_path / "log"), str(REPO)) is None
    monkeypatch.delenv(jobserver.ADDRESS_VARIABLE)
    # a parent that starts a server and dies without stopping it (a killed snakemake)
    parent = subprocess.run([sys.executable, "-c", "import sys; from pipeline import jobserver; "
                             f"print(jobserver.start({str(tmp_path / 'log')!r}, {str(REPO)!r}).pid)"],
                            env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, check=True)
    orphan = int(parent.stdout)
    deadline = time.time() + 30
    while Path(f"/proc/{orphan}").exists() and Path(f"/proc/{orphan}/stat").read_text().split()[2] != "Z":
        assert time.time() < deadline, "the server outlived its parent"
        time.sleep(0.2)
