"""``python benchmarks/snakemake_fast_status.py ARGS``: snakemake ARGS, polling SLURM at least every few seconds.

The SLURM plugin waits 10 s longer after every status check that finds no finished job (up to
180 s): right for a busy cluster, but on the tests' one-node scratch cluster it would spend most
of a run asleep. This launcher caps that wait at PIPELINE_STATUS_CAP seconds (default 3) and is
used only by the tests and benchmarks; the profile and the plugin are unchanged.
"""

import os
import sys

from snakemake_interface_executor_plugins.executors.remote import RemoteExecutor

CAP = float(os.environ.get("PIPELINE_STATUS_CAP", "3"))
_interval = RemoteExecutor.next_seconds_between_status_checks
RemoteExecutor.next_seconds_between_status_checks = property(
    _interval.fget, lambda self, value: _interval.fset(self, None if value is None else min(value, CAP)))

if __name__ == "__main__":
    from snakemake.cli import main

    sys.argv[0] = "snakemake"
    sys.exit(main())
