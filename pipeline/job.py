"""Run one workflow job: ``python -m pipeline.job pipeline.X ARGS`` does what ``python -m pipeline.X ARGS`` does.

Every rule runs its job through this command. When the run's job server is up (a local
Snakemake run, see ``pipeline.jobserver``), the job runs as a fork of the warm server and this
process only waits for it, passing on its exit status; otherwise (a cluster job, a job in its own
conda environment, ``PIPELINE_JOBSERVER=off``) it runs the module here. Either way the job reads
and writes the same files, prints to the same log and exits with the same status. This module
imports only the standard library, so the waiting process starts in a few tens of milliseconds.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys

from pipeline.jobserver import ADDRESS_VARIABLE, MAX_REQUEST, STATUS_BYTES, interpreter_fingerprint, run_job_module


def run_on_server(address: str, module: str, argv: list[str]) -> int | None:
    """The job's exit status, run by the server; None when no server takes it."""
    request = {"module": module, "argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
               "fingerprint": interpreter_fingerprint()}
    data = json.dumps(request).encode()
    if len(data) > MAX_REQUEST:
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        connection.connect("\0" + address)
        socket.send_fds(connection, [data], [0, 1, 2])
    except OSError:  # no server at that address (it has stopped, or runs on another machine)
        connection.close()
        return None
    # Killed by SIGTERM or SIGINT, exit at once: the closed connection tells the server to end the child.
    handlers = {signum: signal.signal(signum, lambda number, frame: os._exit(128 + number))
                for signum in (signal.SIGTERM, signal.SIGINT)}
    reply = connection.recv(STATUS_BYTES)
    if reply == b"refused":  # the job runs here, with Python's usual signal handling
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        return None
    if not reply:
        sys.exit(f"error: the job server stopped while running {module}")
    return int(reply)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit("usage: python -m pipeline.job MODULE [ARGS...]   (e.g. pipeline.splits kfold ...)")
    module, argv = sys.argv[1], sys.argv[2:]
    address = os.environ.get(ADDRESS_VARIABLE, "off")
    code = run_on_server(address, module, argv) if address != "off" else None
    if code is None:
        sys.argv = [module, *argv]
        run_job_module(module)
        return
    if code < 0:  # the child died of a signal: die of the same one, as the job itself would have
        print(f"error: {module} was killed by {signal.Signals(-code).name}", file=sys.stderr)
        if -code not in (signal.SIGKILL, signal.SIGSTOP):  # their handlers cannot be set, nor need to be
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


if __name__ == "__main__":
    main()
