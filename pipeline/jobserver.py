"""The workflow's job server: jobs start as forks of one warm process instead of a new Python.

Most jobs of a run last a second or two, and most of that is start-up: a new interpreter importing
numpy, pandas, pyarrow, scipy, matplotlib or torch (torch alone takes over 2 s). In a local run
(``snakemake --cores N``) the Snakefile starts this server once; a job's command
``python -m pipeline.job pipeline.X ARGS`` (see ``pipeline.job``) hands the server its module,
arguments, working directory, environment and its stdin/stdout/stderr, and the server forks a
child that runs ``python -m pipeline.X ARGS`` in the state the server has warmed up. The server
imports each module the first time it is asked for it, so every later job of that module, and of
any module sharing its imports, starts in milliseconds. The job's exit status goes back to the
client, which exits with it: to Snakemake the job is an ordinary shell command with its own log.

Why it is safe: the server only imports; it never computes or reads data, so the thread pools of
torch, OpenBLAS and pyarrow start in the child, at its first use, and a fork inherits no half-held
lock. The one thread that an import starts, the background purge thread of pyarrow's jemalloc, is
fork-safe: jemalloc holds its own locks across fork() and resets them in the child. A client whose interpreter or import path differs from the server's (a job in a
conda environment, ``--sdm conda``) is refused and runs itself; so is a job with more than one
thread (OpenMP and BLAS fixed their thread counts when the server loaded them); and every job runs
itself when no server is up (cluster runs, ``PIPELINE_JOBSERVER=off``). A client that is killed
takes its child with it, so killing a job's process (the one Snakemake started) ends the job.

The server is a single-threaded loop over the listening socket, one connection per job and one
pidfd per child; it leaves when Snakemake stops it or when its parent process is gone.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import os
import re
import runpy
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

# The environment variable that tells a job where the server listens (an abstract Unix socket
# name); "off" before a run keeps the server from starting.
ADDRESS_VARIABLE = "PIPELINE_JOBSERVER"
MAX_REQUEST = 1 << 20  # bytes: a job's arguments and environment
STATUS_BYTES = 16
# Thread counts that OpenMP, OpenBLAS and MKL read once, when the server loads them; Snakemake sets
# them to each job's `threads`. The server runs with 1 (every rule's default), and serves only jobs
# that ask for the same, so a child computes with the threads its own process would have had.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "GOTO_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
SERVER_THREADS = "1"


def interpreter_fingerprint() -> list:
    """What a forked child inherits from the server: the Python, its import path, the thread counts."""
    return [sys.version, sys.prefix, sys.path, [os.environ.get(name) for name in THREAD_VARIABLES]]


def jobs_in_log(log_text: str) -> tuple[list[str], list[str]]:
    """The modules a server's log says it forked a job for, and those it refused, in order."""
    return (re.findall(r"(?m)^job \d+ started: (\S+)", log_text),
            re.findall(r"(?m)^refused (\S+):", log_text))


def start(log_path: str, package_root: str) -> subprocess.Popen | None:
    """Start the server for this run and publish its address to the jobs (the Snakefile's onstart).

    ``package_root`` goes first on the server's PYTHONPATH, as the rules' shell prefix puts it first
    on every job's, so that server and jobs import the same ``pipeline``."""
    if os.environ.get(ADDRESS_VARIABLE) == "off":
        return None
    address = f"pipeline-jobserver-{uuid.uuid4().hex}"
    inherited = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": package_root + (f":{inherited}" if inherited else ""),
           **{name: SERVER_THREADS for name in THREAD_VARIABLES}}
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.jobserver", "--address", address, "--parent", str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
    if not _wait_until_listening(address, process):
        stop(process)
        return None  # jobs run as their own processes
    os.environ[ADDRESS_VARIABLE] = address
    return process


def _wait_until_listening(address: str, process: subprocess.Popen, timeout: float = 30.0) -> bool:
    """Whether the server answers within ``timeout`` seconds (Python's start-up: a fraction of one)."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as probe:
            try:
                probe.connect("\0" + address)
                return True
            except OSError:
                time.sleep(0.01)
    return False


def stop(process: subprocess.Popen | None) -> None:
    """Stop the server at the end of the run (the Snakefile's onsuccess and onerror)."""
    if process is None:
        return
    os.environ.pop(ADDRESS_VARIABLE, None)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def _findable(module: str) -> bool:
    """Whether ``python -m module`` finds something to run (a package runs its ``__main__``)."""
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError as err:  # a parent package missing, not an import of one that exists
        if err.name and (module + ".").startswith(err.name + "."):
            return False
        raise
    if spec is None:
        return False
    return spec.submodule_search_locations is None or _findable(module + ".__main__")


def run_job_module(module: str) -> None:
    """Run ``module`` as ``python -m module`` does (the caller has set sys.argv); a module that does
    not exist exits with one line naming it, not runpy's traceback."""
    if not _findable(module):
        sys.exit(f"error: no job module {module} (python -m pipeline.job MODULE ARGS runs a module of the "
                 f"workflow's jobs, such as pipeline.splits)")
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def _run_child(request: dict, fds: list[int]) -> None:
    """In the forked child: become the job (its files, folder, environment, argv) and run it."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None  # the job's TMPDIR, not one the server may have looked up
        module = request["module"]
        sys.modules.pop(module, None)  # runpy warns about a module already imported
        sys.argv = [module, *request["argv"]]
        run_job_module(module)
        code = 0
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            code = exit_.code or 0
        else:
            print(exit_.code, file=sys.stderr)
    except KeyboardInterrupt:
        code = 128 + signal.SIGINT
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        logging.shutdown()
        os._exit(code)


class Server:
    """Accepts jobs, forks one child per job, reports each child's exit status to its client."""

    def __init__(self, address: str, parent_pid: int):
        self.parent_pid = parent_pid
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.listener.bind("\0" + address)
        self.listener.listen(64)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, ("accept", None))
        self.children: dict[int, tuple[socket.socket, int]] = {}  # pid -> (client connection, pidfd)
        self.fingerprint = json.loads(json.dumps(interpreter_fingerprint()))  # as a client's arrives
        self.stopping = False

    def serve(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        print(f"server {os.getpid()} listening", flush=True)
        while not self.stopping and os.getppid() == self.parent_pid:
            for key, _ in self.selector.select(timeout=1.0):
                try:
                    self._handle(*key.data, key.fileobj)
                except Exception:  # one broken request or client must not end the other jobs
                    traceback.print_exc()
                    sys.stdout.flush()
        for pid in list(self.children):
            self._kill(pid)
        print("server stopped", flush=True)

    def _handle(self, kind: str, pid: int | None, fileobj) -> None:
        if kind == "accept":
            connection, _ = self.listener.accept()
            self.selector.register(connection, selectors.EVENT_READ, ("request", None))
        elif kind == "request":
            self._start_job(fileobj)
        elif pid not in self.children:  # its other event of this round ended the job
            return
        elif kind == "client":  # the client hung up before its child ended: end the child
            self._kill(pid)
        elif kind == "child":
            self._finish(pid)

    def _stop(self, signum, frame) -> None:
        self.stopping = True

    def _start_job(self, connection: socket.socket) -> None:
        self.selector.unregister(connection)
        try:
            data, fds, _, _ = socket.recv_fds(connection, MAX_REQUEST, 3)
            request = json.loads(data)
            if not isinstance(request, dict):
                raise ValueError("not a job request")
        except (OSError, ValueError):  # e.g. start()'s probe, which connects and hangs up
            connection.close()
            return
        if len(fds) != 3 or request.get("fingerprint") != self.fingerprint:
            for fd in fds:
                os.close(fd)
            print(f"refused {request.get('module')}: its Python, import path or thread counts "
                  f"{request.get('fingerprint')} are not the server's {self.fingerprint}", flush=True)
            try:
                connection.sendall(b"refused")
            finally:
                connection.close()
            return
        try:  # warm the server with the module's imports; a failing import fails in the child
            importlib.import_module(request["module"])
        except BaseException:
            pass
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self._close_for_child(connection)
            _run_child(request, fds)
        for fd in fds:
            os.close(fd)
        pidfd = os.pidfd_open(pid)
        self.children[pid] = (connection, pidfd)
        self.selector.register(connection, selectors.EVENT_READ, ("client", pid))
        self.selector.register(pidfd, selectors.EVENT_READ, ("child", pid))
        print(f"job {pid} started: {request['module']} {' '.join(request['argv'])}", flush=True)

    def _close_for_child(self, connection: socket.socket) -> None:
        """A child keeps none of the server's sockets and pidfds (only the job's three files)."""
        for other, pidfd in self.children.values():
            other.close()
            os.close(pidfd)
        connection.close()
        self.listener.close()
        self.selector.close()

    def _kill(self, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._finish(pid)

    def _finish(self, pid: int) -> None:
        connection, pidfd = self.children.pop(pid)
        _, status, usage = os.wait4(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        self.selector.unregister(connection)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        # Snakemake's benchmark file measures the waiting client; the child's CPU time is this. (Its
        # peak RSS would count the server's pages it shares, so it says nothing of the job's memory.)
        # Logged before the client hears of the end, so whoever waits for the job finds the line.
        print(f"job {pid} ended: exit {code}, {usage.ru_utime + usage.ru_stime:.2f} CPU-s", flush=True)
        try:
            connection.sendall(str(code).encode())
        except OSError:
            pass
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True, help="abstract Unix socket name to listen on")
    parser.add_argument("--parent", type=int, required=True, help="leave when this process is gone")
    args = parser.parse_args()
    Server(args.address, args.parent).serve()


if __name__ == "__main__":
    main()
