"""Config validation: the JSON schema in workflow/schemas plus cross-references between keys.

Errors come out as one line naming the offending key, e.g.
``config key 'datasets.mnist5k.test_fraction': 1.5 is greater than or equal to the maximum of 1``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from pipeline.errors import PipelineError

SCHEMA = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _describe(error) -> str:
    """One line for a jsonschema error; an unknown key is named by its own path."""
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in allowed)
        if unknown:
            path = _key([*error.absolute_path, unknown[0]])
            return f"config key '{path}': unknown key (allowed here: {sorted(allowed)})"
    return f"config key '{_key(error.absolute_path)}': {error.message}"


def validate_config(config: dict, schema: str | Path = SCHEMA) -> dict:
    """Validate ``config`` in place (filling defaults) and return it; raise PipelineError on the first problem."""
    import jsonschema
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    try:
        validate(config, str(schema), set_default=True)
    except WorkflowError as err:
        cause = err.__cause__ or err.__context__
        if not isinstance(cause, jsonschema.ValidationError):
            raise PipelineError(f"config: {err}") from err
        raise PipelineError(_describe(cause)) from err
    check_references(config)
    return config


def check_references(config: dict) -> None:
    """Every data set a key names must be declared under ``datasets``."""
    known = set(config["datasets"])

    def need(name: str, key: str) -> None:
        if name not in known:
            raise PipelineError(f"config key '{key}': unknown dataset '{name}'; declared: {sorted(known)}")

    for name, spec in config["datasets"].items():
        for i, part in enumerate(spec.get("parts", [])):
            need(part["dataset"], f"datasets.{name}.parts.{i}.dataset")
            if config["datasets"][part["dataset"]]["kind"] == "mixture":
                raise PipelineError(f"config key 'datasets.{name}.parts.{i}.dataset': a mixture cannot contain a mixture")
    for name in config["splits"]["datasets"]:
        need(name, "splits.datasets")
    for job, spec in config["neighbors"].items():
        for name in spec["datasets"]:
            need(name, f"neighbors.{job}.datasets")


def load_config(path: str | Path) -> dict:
    """Read and validate a config file (for tests and tools outside Snakemake)."""
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise PipelineError(f"{path}: cannot read config ({err})") from err
    return validate_config(config)
