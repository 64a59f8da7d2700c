"""Config validation: the JSON schema in workflow/schemas plus cross-references between keys.

Errors come out as one line naming the offending key, e.g.
``config key 'datasets.mnist5k.test_fraction': 1.5 is greater than or equal to the maximum of 1``.
"""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from pipeline.errors import PipelineError
# The schema's location, error wording and defaults (re-exported: ``from pipeline.config import spec_defaults``
# works; jobs import pipeline.schema, which needs neither snakemake nor this module's checks).
from pipeline.schema import SCHEMA, _describe, schema_default, schema_node, spec_defaults  # noqa: F401


def _schema_types(schema: dict, root: dict) -> tuple[set[str], list]:
    """(JSON types, constants) a value may take under ``schema``, through $ref and oneOf/anyOf."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    types = schema.get("type", [])
    types = {types} if isinstance(types, str) else set(types)
    consts = list(schema.get("enum", [])) + ([schema["const"]] if "const" in schema else [])
    for branch in schema.get("oneOf", []) + schema.get("anyOf", []):
        more_types, more_consts = _schema_types(branch, root)
        types |= more_types
        consts += more_consts
    return types, consts


def _sub_schema(schema: dict, root: dict, key) -> dict | None:
    """Schema of item ``key`` (a property name, or 0 for array items), looking into $ref and the
    branches of allOf (if/then), oneOf and anyOf; None when the schema says nothing about it."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    if isinstance(key, int):
        items = schema.get("items")
        return items if isinstance(items, dict) else None
    found = []
    if schema.get("properties", {}).get(key):
        found.append(schema["properties"][key])
    elif isinstance(schema.get("additionalProperties"), dict):
        found.append(schema["additionalProperties"])
    branches = schema.get("oneOf", []) + schema.get("anyOf", [])
    branches += [part for branch in schema.get("allOf", []) for part in (branch.get("then"), branch.get("else")) if part]
    found += [sub for branch in branches if (sub := _sub_schema(branch, root, key)) is not None]
    return None if not found else found[0] if len(found) == 1 else {"anyOf": found}


def coerce_overrides(value, schema: dict, root: dict | None = None):
    """Turn strings into the numbers and booleans the schema asks for, recursively, and whole floats
    into the integers it asks for.

    ``snakemake --config 'feldman={"shard_size": 8}'`` hands nested values over as strings ('8');
    coerced here, an override means what the same value in a YAML file means. JSON Schema counts
    30.0 as an integer, but numpy and torch take no float for a size: ``n_train: 30.0`` becomes 30.
    """
    root = root or schema
    if isinstance(value, dict):
        for key, item in value.items():
            sub = _sub_schema(schema, root, key)
            if sub is not None:
                value[key] = coerce_overrides(item, sub, root)
        return value
    if isinstance(value, list):
        sub = _sub_schema(schema, root, 0)
        return [coerce_overrides(item, sub, root) for item in value] if sub is not None else value
    if isinstance(value, float):
        types, _ = _schema_types(schema, root)
        return int(value) if value.is_integer() and "integer" in types and "number" not in types else value
    if not isinstance(value, str):
        return value
    types, consts = _schema_types(schema, root)
    if "string" in types or value in consts:
        return value
    if "boolean" in types and value.lower() in ("true", "false"):
        return value.lower() == "true"
    for kind, parse in (("integer", int), ("number", float)):
        if kind in types:
            try:
                return parse(value)
            except ValueError:
                pass
    return value


def validate_config(config: dict, schema: str | Path = SCHEMA) -> dict:
    """Validate ``config`` in place (filling defaults) and return it; raise PipelineError on the first problem."""
    import jsonschema
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    coerce_overrides(config, yaml.safe_load(Path(schema).read_text()))
    check_finite(config)
    try:
        validate(config, str(schema), set_default=True)
    except WorkflowError as err:
        cause = err.__cause__ or err.__context__
        if not isinstance(cause, jsonschema.ValidationError):
            raise PipelineError(f"config: {err}") from err
        raise PipelineError(_describe(cause)) from err
    check_references(config)
    return config


def check_finite(value, key: str = "") -> None:
    """No NaN or infinity anywhere: the schema's bounds cannot catch them (every comparison with NaN
    is false), and a job would fail far from the key or compute with it."""
    if isinstance(value, dict):
        for name, item in value.items():
            check_finite(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_finite(item, f"{key}.{i}")
    elif isinstance(value, float) and not math.isfinite(value):
        raise PipelineError(f"config key '{key}': {value} is not a finite number")


def check_references(config: dict) -> None:
    """Every name a key refers to must be declared: data sets, architectures, models, experiments,
    files. The one place for these checks; each error names the key."""
    known = set(config["datasets"])

    def need(name: str, key: str) -> None:
        if name not in known:
            raise PipelineError(f"config key '{key}': unknown dataset '{name}'; declared: {sorted(known)}")

    for name, spec in config["datasets"].items():
        for i, part in enumerate(spec.get("parts", [])):
            need(part["dataset"], f"datasets.{name}.parts.{i}.dataset")
            if config["datasets"][part["dataset"]]["kind"] == "mixture":
                raise PipelineError(f"config key 'datasets.{name}.parts.{i}.dataset': a mixture cannot contain a mixture")
        if spec["kind"] == "planted":
            need(spec["base"], f"datasets.{name}.base")

    def built_from(name: str) -> list[str]:
        spec = config["datasets"][name]
        return [part["dataset"] for part in spec.get("parts", [])] + ([spec["base"]] if "base" in spec else [])

    for name, spec in config["datasets"].items():  # no data set built from itself (planted on planted...)
        reached, todo = set(), built_from(name)
        while todo:
            other = todo.pop()
            if other == name:
                key = "base" if spec["kind"] == "planted" else "parts"
                raise PipelineError(f"config key 'datasets.{name}.{key}': '{name}' would be built from itself")
            if other not in reached:
                reached.add(other)
                todo += built_from(other)
    for name in config["splits"]["datasets"]:
        need(name, "splits.datasets")
    for job, spec in config["neighbors"].items():
        for name in spec["datasets"]:
            need(name, f"neighbors.{job}.datasets")
    feldman = config["feldman"]
    for name in feldman["datasets"]:
        need(name, "feldman.datasets")
    for arch, spec in feldman["architectures"].items():
        if spec["kind"] == "runs" and not Path(spec["file"]).is_file():
            raise PipelineError(f"config key 'feldman.architectures.{arch}.file': file '{spec['file']}' not found")
    for pair in feldman["compare"]:
        for arch in pair:
            if arch not in feldman["architectures"]:
                raise PipelineError(f"config key 'feldman.compare': unknown architecture '{arch}'; "
                                    f"declared: {sorted(feldman['architectures'])}")
    kfold = config["kfold_vae"]
    for name in kfold["datasets"]:
        need(name, "kfold_vae.datasets")
        if name not in kfold["models"]:
            raise PipelineError(f"config key 'kfold_vae.models': no model for dataset '{name}'")
    diffusion = config["diffusion"]
    for name, spec in diffusion["experiments"].items():
        need(spec["dataset"], f"diffusion.experiments.{name}.dataset")
        too_small = [n for n in spec["sizes"] if n < 2]
        if spec["keep_label"] == -1 and too_small:  # with keep_label the kept images count too
            raise PipelineError(f"config key 'diffusion.experiments.{name}.sizes': {too_small[0]} is too small; the "
                                f"ratio criterion needs each sample's two nearest training images")
        if spec["sample_steps"] > spec["timesteps"]:  # respacing would quietly use the T steps there are
            raise PipelineError(f"config key 'diffusion.experiments.{name}.sample_steps': {spec['sample_steps']} is "
                                f"more than the {spec['timesteps']} diffusion steps it respaces (timesteps)")
    for name in diffusion["run"]:
        if name not in diffusion["experiments"]:
            raise PipelineError(f"config key 'diffusion.run': unknown experiment '{name}'; "
                                f"declared: {sorted(diffusion['experiments'])}")
    mrgan = config["mrgan"]
    for name in mrgan["datasets"]:
        need(name, "mrgan.datasets")
    embedding = mrgan["embedding"]
    if embedding["kind"] == "inception" and not Path(embedding["inception_weights"]).is_file():
        raise PipelineError(
            f"config key 'mrgan.embedding.inception_weights': file '{embedding['inception_weights']}' not found; "
            "save torchvision's ImageNet Inception-v3 state dict there (see pipeline/mrgan/embed.py) or use kind classifier")
    if mrgan["fid_images"] > mrgan["n_samples"]:
        raise PipelineError(f"config key 'mrgan.fid_images': {mrgan['fid_images']} images for FID, but each job draws "
                            f"only mrgan.n_samples = {mrgan['n_samples']} samples")
    check_samples(config)
    check_claims(config)


def check_claims(config: dict) -> None:
    """The experiments ``claims`` names are declared in their methods' sections (the claims read their
    tables); a dummies experiment names its fixed class (keep_label)."""
    claims = config["claims"]

    def need(key: str, where: str) -> None:
        section, name = where.split(".")
        declared = config[section][name]
        value = claims[key.split(".")[0]][key.split(".")[1]]
        if value not in declared:
            raise PipelineError(f"config key 'claims.{key}': '{value}' is not in {where}; declared: {sorted(declared)}")

    if "feldman" in claims:
        section = claims["feldman"]
        need("feldman.dataset", "feldman.datasets")
        for key in ("arch", "replicate", "other_arch"):
            if key in section:
                need(f"feldman.{key}", "feldman.architectures")
        for key in ("replicate", "other_arch"):
            if section.get(key) == section["arch"]:
                raise PipelineError(f"config key 'claims.feldman.{key}': must name another architecture entry than "
                                    f"arch '{section['arch']}'")
    if "kfold_vae" in claims:
        need("kfold_vae.dataset", "kfold_vae.datasets")
    for key in claims.get("diffusion", {}):
        need(f"diffusion.{key}", "diffusion.experiments")
    dummies = claims.get("diffusion", {}).get("dummies")
    if dummies is not None and config["diffusion"]["experiments"][dummies]["keep_label"] < 0:
        raise PipelineError(f"config key 'claims.diffusion.dummies': experiment '{dummies}' has no keep_label, "
                            "the class whose replicates the dummies should reduce")
    if "mrgan" in claims:
        need("mrgan.dataset", "mrgan.datasets")


def check_samples(config: dict) -> None:
    """Each sample set names a declared data set and files that exist (relative to the working directory)."""
    for name, spec in config["samples"].items():
        if spec["dataset"] not in config["datasets"]:
            raise PipelineError(f"config key 'samples.{name}.dataset': unknown dataset '{spec['dataset']}'; "
                                f"declared: {sorted(config['datasets'])}")
        path = Path(spec["path"])
        if not (path.is_dir() or (path.is_file() and path.suffix in (".npy", ".npz"))):
            raise PipelineError(f"config key 'samples.{name}.path': '{path}' is not an .npy file, an .npz file or "
                                "a folder of images" + ("" if path.exists() else " (not found)"))
        if "labels" in spec and not (Path(spec["labels"]).is_file() and spec["labels"].endswith(".npy")):
            raise PipelineError(f"config key 'samples.{name}.labels': '{spec['labels']}' is not an .npy file")


def load_config(path: str | Path) -> dict:
    """Read and validate a config file (for tests and tools outside Snakemake)."""
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise PipelineError(f"{path}: cannot read config ({err})") from err
    return validate_config(config)
