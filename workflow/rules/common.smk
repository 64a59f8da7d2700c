# Config loading and validation, and the helpers rules share. No science here.
import json
import os
import re
import shlex
import shutil
import sys

# The package this workflow runs lives two folders up; put it on the path of this process (the
# Snakefile imports it) and of every job, also when the workflow is imported as a module.
REPO_ROOT = os.path.abspath(os.path.join(workflow.current_basedir, "..", ".."))
# First on the path, before the working directory, which may hold another copy of the package.
if sys.path[0] != REPO_ROOT:
    sys.path.insert(0, REPO_ROOT)
shell.prefix(
    f"set -euo pipefail; export PYTHONPATH={shlex.quote(REPO_ROOT)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
)

from pipeline import jobserver, paths, targets
from pipeline.code_deps import code_version, factory_version
from pipeline.config import validate_config
from pipeline.data.files import array_files, folder_listing
from pipeline.errors import PipelineError
from pipeline.parallel import ANALYSIS_THREADS

try:
    validate_config(
        config,
        os.path.join(REPO_ROOT, "workflow", "schemas", "config.schema.yaml"),
    )
except PipelineError as err:
    sys.exit(f"error: {err}")


# Jobs run through pipeline/job.py start as forks of one warm process in a local run
# instead of each starting Python and importing its libraries (pipeline/jobserver.py); cluster jobs
# and PIPELINE_JOBSERVER=off run them as plain processes. Stopped when the run ends.
JOB_SERVER = []


onstart:
    if workflow.local_exec and not workflow.remote_exec:
        # The jobs run on this machine, so whether it has the GPU config key device names is known
        # before the first of them. Only now: Snakemake picks the executor after reading this file,
        # so a dry run cannot tell a local run from a cluster's, whose jobs check on their nodes.
        if config["device"].startswith("cuda"):
            from pipeline.devices import device_here

            try:
                device_here(config["device"])
            except PipelineError as err:
                sys.exit(f"error: {err}")
        JOB_SERVER.append(jobserver.start(f"{paths.LOGS}/jobserver.log", REPO_ROOT))


onsuccess:
    for server in JOB_SERVER:
        jobserver.stop(server)


onerror:
    for server in JOB_SERVER:
        jobserver.stop(server)


# Where every training and sampling job runs (config keys device and tf32), as command-line options.
DEVICE_ARGS = f"--device {config['device']} --tf32 {'on' if config['tf32'] else 'off'}"
# Training jobs take the precision too (config key precision): a change reruns them and what follows,
# not the sampling and feature jobs, which compute in float32 whatever it says.
TRAIN_DEVICE_ARGS = f"{DEVICE_ARGS} --precision {config['precision']}"
# GPUs a training or sampling job takes: with the profile's `resources: [gpu=1]`, two such jobs never
# share one GPU (raise the limit to share). Jobs that will run on the CPU take none (auto: no
# NVIDIA driver tools here).
GPU_JOB = (
    0
    if config["device"] == "cpu"
    or (config["device"] == "auto" and shutil.which("nvidia-smi") is None)
    else 1
)


def one_of(names):
    """A wildcard constraint accepting exactly these names (none: a pattern that never matches)."""
    return "|".join(re.escape(str(name)) for name in names) or "(?!)"


# Every wildcard takes only values the config declares, so a bad target gets Snakemake's one-line
# "no rule to produce" instead of a traceback.
wildcard_constraints:
    dataset=one_of(config["datasets"]),
    seed=r"\d+",
    shard=r"\d+",
    repeat=r"\d+",
    fold=r"\d+",
    size=r"\d+",
    width=r"\d+",
    split=one_of(["train", "test", "valid"]),
    job=one_of(config["neighbors"]),
    arch=one_of(config["feldman"]["architectures"]),
    arch_b=one_of(config["feldman"]["architectures"]),
    experiment=one_of(config["diffusion"]["experiments"]),
    tau=one_of(paths.tau_label(tau) for tau in config["mrgan"]["taus"]),
    sample_set=one_of(config["samples"]),


def dataset_input(wildcards):
    """The prepared files of the job's {dataset}."""
    return targets.dataset_files(wildcards.dataset)


def report_figure(method, path, subcategory="{dataset}", **options):
    """A figure in the report: in its method's section, under its data set unless said
    otherwise, captioned by workflow/report/METHOD_NAME.rst (NAME: the file's name)."""
    name = os.path.splitext(os.path.basename(path))[0]
    caption = f"../report/{method}_{name}.rst"
    return report(
        path,
        caption=caption,
        category=targets.REPORT_SECTIONS[method],
        subcategory=subcategory,
        **options,
    )


def input_folder(key):
    """A param: the folder of the job's input ``key``. Paths handed to commands come from the
    job's own inputs, so they carry a module's prefix like the inputs do."""

    def folder(wildcards, input):
        files = input[key]
        return os.path.dirname(files if isinstance(files, str) else files[0])

    return folder


def as_json(value):
    """Config values as a JSON argument; as a rule param it also makes a change rerun the rule."""
    return json.dumps(value, sort_keys=True)


# --- data.smk helpers ---


def dataset_spec(wildcards):
    return as_json(config["datasets"][wildcards.dataset])


def source_dataset_files(wildcards):
    """The prepared files of the data sets the job's {dataset} is built from, named by data set
    (unpacked into the rule's input)."""
    return {
        name: targets.dataset_files(name)
        for name in targets.source_datasets(config, wildcards.dataset)
    }


def source_dataset_args(wildcards, input):
    return " ".join(
        f"--source {name}={os.path.dirname(input[name][0])}"
        for name in targets.source_datasets(config, wildcards.dataset)
    )


def user_data_files(wildcards):
    """An arrays data set's own files, those that exist, as absolute paths (no module prefix is
    put before them): a newer file reruns the prepare job; the job reports a missing one, naming
    its config key. Image folders rerun through ``user_folder_listing`` instead."""
    spec = config["datasets"][wildcards.dataset]
    if spec["kind"] != "arrays":
        return []
    return sorted(
        {os.path.abspath(p) for p in array_files(spec).values() if os.path.isfile(p)}
    )


def user_folder_listing(wildcards):
    """A param: the digest of an image folder's listing (paths, sizes, modification
    times), so adding, removing or rewriting an image reruns the prepare job; '' for
    other kinds."""
    spec = config["datasets"][wildcards.dataset]
    return folder_listing(spec["path"]) if spec["kind"] == "image_folder" else ""


# --- neighbors.smk helpers ---


def neighbors_spec(wildcards):
    return config["neighbors"][wildcards.job]
