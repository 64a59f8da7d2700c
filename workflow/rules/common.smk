# Config loading and validation, and the helpers rules share. No science here.
import json
import os
import sys

from pipeline.config import validate_config
from pipeline.errors import PipelineError

try:
    validate_config(
        config,
        os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml"),
    )
except PipelineError as err:
    sys.exit(f"error: {err}")


RESULTS = "results"
# Where every training and sampling job runs (config keys device and tf32), as command-line options.
DEVICE_ARGS = f"--device {config['device']} --tf32 {'on' if config['tf32'] else 'off'}"
# Each rules file registers a function returning its part of the default target.
TARGET_FUNCTIONS = []


def all_targets(wildcards):
    return [path for targets in TARGET_FUNCTIONS for path in targets()]


def dataset_dir(name):
    return f"{RESULTS}/data/{name}"


def dataset_files(name):
    return [f"{dataset_dir(name)}/images.npy", f"{dataset_dir(name)}/index.parquet"]


def as_json(value):
    """Config values as a JSON argument; as a rule param it also makes a change rerun the rule."""
    return json.dumps(value, sort_keys=True)


# --- data.smk helpers ---


def dataset_spec(wildcards):
    return as_json(config["datasets"][wildcards.dataset])


def mixture_part_files(wildcards):
    parts = config["datasets"][wildcards.dataset].get("parts", [])
    return [path for part in parts for path in dataset_files(part["dataset"])]


def mixture_part_args(wildcards):
    parts = config["datasets"][wildcards.dataset].get("parts", [])
    names = sorted({part["dataset"] for part in parts})
    return " ".join(f"--part {name}={dataset_dir(name)}" for name in names)


def data_targets():
    targets = [path for name in config["datasets"] for path in dataset_files(name)]
    for name in config["splits"]["datasets"]:
        for seed in config["splits"]["seeds"]:
            targets.append(
                f"{RESULTS}/splits/{name}/seed{seed}/feldman_subsets.parquet"
            )
            targets.append(f"{RESULTS}/splits/{name}/seed{seed}/kfold.parquet")
    return targets


# --- neighbors.smk helpers ---


def neighbors_spec(wildcards):
    return config["neighbors"][wildcards.job]


def neighbors_dataset_files(wildcards):
    return dataset_files(wildcards.dataset)


def neighbors_dataset_dir(wildcards):
    return dataset_dir(wildcards.dataset)


def neighbors_targets():
    return [
        f"{RESULTS}/neighbors/{name}/{job}.parquet"
        for job, spec in config["neighbors"].items()
        for name in spec["datasets"]
    ]
