"""A one-node SLURM cluster on localhost for the tests and benchmarks (munged + slurmctld + slurmd).

``LocalSlurmCluster`` installs Debian's ``slurm-wlm`` and ``munge`` when they are missing (apt-get,
as root), writes a slurm.conf without accounting into a scratch folder, starts the three daemons
and stops exactly those daemons, by pid, when it is closed.

The conf must live at ``/etc/slurm/slurm.conf`` while the cluster runs: snakemake's SLURM plugin
drops every ``SLURM_*`` variable from the job environment, so the ``srun`` inside a job finds the
cluster only through the default path. Outside the cluster's lifetime that file must not exist:
with a conf but no controller, every ``import snakemake`` (the plugin asks ``scontrol`` at import)
blocks for seconds. So a file already there is moved aside and put back on close, unless it is one
this module wrote (its first line is ``MARK``) and a killed test run left behind: that one is deleted.

Node: by default this machine's CPUs and a bit less memory than is free; ask for more CPUs or
memory than the machine has and the node declares them anyway (``SlurmdParameters=config_overrides``;
nothing enforces memory limits), which lets the profile's requests, sized for a real cluster, be
scheduled here. Up to five stand-in GPUs (``gpu`` GRES backed by /dev/null and friends), so rules
that ask for a GPU get scheduled and then run on the CPU (``--device auto``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SLURM_CONF = Path("/etc/slurm/slurm.conf")
GRES_CONF = Path("/etc/slurm/gres.conf")
SKIP_VARIABLE = "PIPELINE_SKIP_SLURM"
MARK = "# scratch cluster of benchmarks/slurm_cluster.py: deleted when the cluster stops"
# What the first line read when this module lived in tests/ (a file a killed run left then is the same kind).
EARLIER_MARKS = ("# scratch cluster of tests/slurm_cluster.py: deleted when the cluster stops",)


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be installed or started here; the message says why."""


def ensure_installed() -> None:
    """Install slurm-wlm and munge with apt-get if slurmctld is not on PATH."""
    if all(shutil.which(tool) for tool in ["slurmctld", "slurmd", "munged", "sbatch", "squeue"]):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SlurmUnavailable("slurm-wlm is not installed and apt-get cannot run here (needs root and "
                               f"Debian); install slurm-wlm and munge, or set {SKIP_VARIABLE}=1 to skip")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "slurm-wlm", "munge"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True)
        result = subprocess.run(install, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise SlurmUnavailable(f"apt-get install slurm-wlm munge failed: {result.stderr.strip()[-500:]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def available_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    raise SlurmUnavailable("cannot read MemAvailable from /proc/meminfo")


class LocalSlurmCluster:
    """Context manager: ``with LocalSlurmCluster() as cluster: ...`` (``cluster.root``: its scratch folder)."""

    def __init__(self, root: Path | None = None, cpus: int | None = None, memory_mb: int | None = None):
        self.root = Path(root or tempfile.mkdtemp(prefix="slurm-"))
        self.cpus = cpus or os.cpu_count() or 1  # may exceed the real count (then oversubscribed)
        self.memory_mb = memory_mb or int(available_memory_mb() * 0.85)
        self.host = socket.gethostname()
        self.pids: dict[str, int] = {}
        self.moved: dict[Path, Path] = {}
        self.written: list[Path] = []

    # --- configuration ---

    def oversized(self) -> bool:
        return self.cpus > (os.cpu_count() or 1) or self.memory_mb > available_memory_mb()

    def conf_text(self) -> str:
        run = self.root / "run"
        return "\n".join([
            MARK,
            "ClusterName=local",
            f"SlurmctldHost={self.host}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            f"AuthInfo=socket={run / 'munge.socket'}",
            f"StateSaveLocation={self.root / 'state'}",
            f"SlurmdSpoolDir={self.root / 'spool'}",
            f"SlurmctldPidFile={run / 'slurmctld.pid'}",
            f"SlurmdPidFile={run / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.root / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={self.root / 'log' / 'slurmd.log'}",
            f"SlurmctldPort={free_port()}",
            f"SlurmdPort={free_port()}",
            "ProctrackType=proctrack/pgid",
            "TaskPlugin=task/none",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "GresTypes=gpu",
            "ReturnToService=2",
            "MpiDefault=none",
            "SchedulerParameters=sched_interval=1,bf_interval=1",
            "MinJobAge=600",
            # a node bigger than the machine (config_overrides) lets the profile's 8-CPU and 16 GB rules
            # fit; nothing enforces memory limits here, so jobs only share the real cores
            *(["SlurmdParameters=config_overrides"] if self.oversized() else []),
            f"NodeName={self.host} CPUs={self.cpus} RealMemory={self.memory_mb} Gres=gpu:{len(self.gpu_files())} State=UNKNOWN",
            f"PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP",
            "",
        ])

    def gpu_files(self) -> list[str]:
        """Stand-in device files of the fake GPUs (slurmd counts GPUs by their files)."""
        return ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"][: min(self.cpus, 5)]

    def _install_file(self, target: Path, text: str) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and target.read_text().startswith((MARK, *EARLIER_MARKS)):  # left by a killed run: not the machine's
            target.unlink()
        if target.exists():
            backup = target.with_name(f"{target.name}.pipeline-test-{os.getpid()}")
            target.rename(backup)
            self.moved[target] = backup
        target.write_text(text)
        self.written.append(target)

    # --- daemons ---

    def _start(self, name: str, command: list[str], pid_file: Path, timeout: float = 30) -> None:
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise SlurmUnavailable(f"{command[0]} failed to start: {(result.stderr or result.stdout).strip()[-800:]}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pid_file.exists() and pid_file.read_text().strip():
                self.pids[name] = int(pid_file.read_text().split()[0])
                return
            time.sleep(0.1)
        raise SlurmUnavailable(f"{name} wrote no pid file {pid_file} within {timeout:.0f}s")

    def start(self) -> "LocalSlurmCluster":
        ensure_installed()
        for sub in ["state", "spool", "run", "log"]:
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        run = self.root / "run"
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            key = self.root / "munge.key"
            key.write_bytes(os.urandom(128))
            key.chmod(0o400)
        self._install_file(SLURM_CONF, self.conf_text())
        self._install_file(GRES_CONF, MARK + "\n" + "".join(f"NodeName={self.host} Name=gpu File={device}\n" for device in self.gpu_files()))
        try:
            self._start("munged", ["munged", "--force", f"--socket={run / 'munge.socket'}", f"--key-file={key}",
                                   f"--pid-file={run / 'munged.pid'}", f"--log-file={self.root / 'log' / 'munged.log'}",
                                   f"--seed-file={run / 'munge.seed'}"], run / "munged.pid")
            self._start("slurmctld", ["slurmctld", "-f", str(SLURM_CONF), "-i"], run / "slurmctld.pid")
            self._start("slurmd", ["slurmd", "-f", str(SLURM_CONF)], run / "slurmd.pid")
            self.wait_until_idle()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_until_idle(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            result = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True)
            state = result.stdout.strip()
            if state.startswith("idle"):
                return
            time.sleep(0.5)
        raise SlurmUnavailable(f"node {self.host} not idle after {timeout:.0f}s (state {state!r}); "
                               f"see {self.root / 'log'}")

    def stop(self) -> None:
        """Cancel leftover jobs, stop the daemons this object started (by pid), restore /etc/slurm."""
        if "slurmctld" in self.pids:
            subprocess.run(["scancel", "--full", "--user", str(os.getuid())], capture_output=True, timeout=30)
        for name in ["slurmd", "slurmctld", "munged"]:
            pid = self.pids.pop(name, None)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        for target in self.written:
            target.unlink(missing_ok=True)
        self.written.clear()
        for target, backup in self.moved.items():
            backup.rename(target)
        self.moved.clear()

    def __enter__(self) -> "LocalSlurmCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of ours counts as gone (daemons fork away, so they are not our children)
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
