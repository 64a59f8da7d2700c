"""The config schema (workflow/schemas/config.schema.yaml): where it is, how its errors read, and
the defaults of config keys, which live there and nowhere else.

validate_config (pipeline.config) fills a whole config; modules complete the (possibly partial) spec
they are handed with ``spec_defaults`` and take single defaults with ``schema_default``, so a library
call from a test and a workflow job see the same values. Both fill with the same jsonschema
machinery. Standard library, PyYAML and jsonschema only: every job imports this.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import yaml

from pipeline.errors import PipelineError

SCHEMA = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _describe(error, prefix=()) -> str:
    """One line for a jsonschema error; an unknown key is named by its own path (under ``prefix``)."""
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in allowed)
        if unknown:
            path = _key([*prefix, *error.absolute_path, unknown[0]])
            return f"config key '{path}': unknown key (allowed here: {sorted(allowed)})"
    if "propertyNames" in error.relative_schema_path:
        path = _key([*prefix, *error.absolute_path, error.instance])
        return f"config key '{path}': not a valid name (names become folder and file names); use letters, " \
               f"digits, '_', '.' and '-', starting with a letter or digit"
    return f"config key '{_key([*prefix, *error.absolute_path])}': {error.message}"


@lru_cache(maxsize=None)
def _load_schema(schema: str) -> dict:
    return yaml.safe_load(Path(schema).read_text())


def _resolve(node: dict, root: dict) -> dict:
    """Follow local ``$ref``s ("#/$defs/..."), the only kind the schema uses."""
    while "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise PipelineError(f"config schema: cannot follow $ref '{ref}' (only local ones)")
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def schema_node(path: str, schema: str | Path = SCHEMA) -> dict:
    """The schema of the config value at dotted ``path`` ("" is the whole config), $refs followed.

    A ``*`` part stands for any entry of a map (e.g. ``feldman.architectures.*``) or of a list.
    """
    root = _load_schema(str(schema))
    node = root
    for part in filter(None, path.split(".")):
        node = _resolve(node, root)
        if part == "*":
            sub = node.get("additionalProperties", node.get("items"))
        else:
            sub = node.get("properties", {}).get(part)
        if not isinstance(sub, dict):
            raise PipelineError(f"config schema: no key '{path}'")
        node = sub
    return _resolve(node, root)


def schema_default(path: str, schema: str | Path = SCHEMA):
    """The schema's default of one config key, e.g. ``schema_default("diffusion.threshold")``."""
    node = schema_node(path, schema)
    if "default" not in node:
        raise PipelineError(f"config schema: key '{path}' has no default")
    return copy.deepcopy(node["default"])


@lru_cache(maxsize=None)
def _filling_validator():
    """jsonschema's Draft 2020-12 validator that fills in defaults while it validates.

    The recipe of jsonschema's FAQ, which ``snakemake.utils.validate(..., set_default=True)`` (and so
    validate_config) uses: before an object's ``properties`` are validated, each property with a
    ``default`` that the object lacks is set to it (a copy here, so no spec shares the schema's
    lists). Defaults inside a filled-in default, ``$ref``s and ``if``/``then`` branches apply too.
    """
    from jsonschema import Draft202012Validator, validators

    validate_properties = Draft202012Validator.VALIDATORS["properties"]

    def fill_then_validate(validator, properties, instance, schema):
        if validator.is_type(instance, "object"):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(Draft202012Validator, {"properties": fill_then_validate})


def spec_defaults(path: str, spec: dict | None = None, keys=None, extra=(), check: bool = True,
                  where: str | None = None, schema: str | Path = SCHEMA) -> dict:
    """The complete spec: a copy of ``spec`` with every key the schema gives a default filled in.

    ``path`` names a config object in the schema as in ``schema_node`` (``"mrgan"``,
    ``"feldman.architectures.*"``). ``keys``: the config keys of that object the caller's spec
    holds, where a module takes part of a section (only these are filled in and allowed).
    ``extra``: keys the caller takes beyond the config object, passed through unchecked. With
    ``check``, a value the schema rejects, an unknown key or a missing required key raises
    PipelineError naming the key (under ``where``, default ``path``), as validate_config does.
    Values in ``spec`` are kept; filling is the same as validate_config's (``_filling_validator``).
    """
    from jsonschema.exceptions import best_match

    root = _load_schema(str(schema))
    node = dict(schema_node(path, schema))
    properties = dict(node.get("properties", {}))
    if keys is not None:
        keys = set(keys)
        if keys - set(properties):
            raise PipelineError(f"config schema: no keys {sorted(keys - set(properties))} under '{path}'")
        properties = {name: sub for name, sub in properties.items() if name in keys}
        node["required"] = [name for name in node.get("required", []) if name in keys]
    node["properties"] = {**properties, **{name: {} for name in extra}}
    node["$defs"] = root.get("$defs", {})  # local $refs inside the node resolve against the root's
    filled = copy.deepcopy(dict(spec or {}))
    errors = list(_filling_validator()(node).iter_errors(filled))  # iterating fills the defaults
    if check and errors:
        raise PipelineError(_describe(best_match(errors), prefix=(where or path).split(".")))
    return filled
