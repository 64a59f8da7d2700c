# Config loading and validation, and the helpers rules share. No science here.
import json
import os
import sys

from pipeline.config import validate_config
from pipeline.errors import PipelineError


try:
    validate_config(config, os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml"))
except PipelineError as err:
    sys.exit(f"error: {err}")


RESULTS = "results"
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
