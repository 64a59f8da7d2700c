"""The schema (workflow/schemas/config.schema.yaml) is the one source of config defaults.

Each method's module-level fill (what its entry point and library functions do with a partial spec)
gives the schema's defaults; filling a whole config the way modules fill their specs agrees with
validate_config; and no module keeps a second copy of defaults for config keys (read from the source).
"""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path

import pytest
import yaml

from pipeline.config import validate_config
from pipeline.errors import PipelineError
from pipeline.schema import SCHEMA, schema_default, schema_node, spec_defaults

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "pipeline"


def defaults_of(path: str, keys) -> dict:
    """The schema's default of each of ``keys`` of the object at ``path`` that has one."""
    properties = schema_node(path)["properties"]
    return {key: properties[key]["default"] for key in keys if "default" in properties[key]}


# --- each method's fill gives the schema's values ----------------------------------------------------

def test_feldman_architecture_spec_takes_the_schema_defaults():
    from pipeline.feldman.train_shard import full_spec

    spec = full_spec({"kind": "cnn"})
    expected = defaults_of("feldman.architectures.*", schema_node("feldman.architectures.*")["properties"])
    assert spec == {"kind": "cnn", **expected}
    assert spec["epochs"] == schema_default("feldman.architectures.*.epochs")
    assert full_spec({"kind": "mlp", "epochs": 3})["epochs"] == 3  # given values are kept


def test_diffusion_training_spec_takes_the_schema_defaults():
    from pipeline.diffusion.train import TRAIN_KEYS, train_spec

    spec = train_spec({})
    assert spec["steps"] == schema_default("diffusion.experiments.*.steps") == 400
    assert {key: spec[key] for key in TRAIN_KEYS} == defaults_of("diffusion.experiments.*", TRAIN_KEYS)
    assert spec["width"] == schema_default("diffusion.experiments.*.widths")[0]
    with pytest.raises(PipelineError, match=r"diffusion\.experiments\.\*\.stepz': unknown key"):
        train_spec({"stepz": 3})


def test_diffusion_cli_and_library_defaults_are_the_schema_ones():
    import inspect

    from pipeline.diffusion.replicates import ratio_flags
    from pipeline.diffusion.schedule import Diffusion

    assert inspect.signature(ratio_flags).parameters["threshold"].default == schema_default("diffusion.threshold")
    sample = inspect.signature(Diffusion.sample).parameters
    assert sample["n_steps"].default == schema_default("diffusion.experiments.*.sample_steps")
    assert sample["sampler"].default == schema_default("diffusion.experiments.*.sampler")


def test_mrgan_training_spec_takes_the_schema_defaults():
    from pipeline.mrgan.train import TRAIN_KEYS, settings

    spec = settings({})
    assert spec == defaults_of("mrgan", TRAIN_KEYS)
    assert spec["steps"] == schema_default("mrgan.steps")
    with pytest.raises(PipelineError, match=r"mrgan\.loss"):
        settings({"loss": "wasserstein"})


@pytest.mark.parametrize("kind,latent", [("bernoulli_mlp", 16), ("gaussian_conv", 64), ("constant_conv", 32)])
def test_kfold_vae_training_spec_takes_the_schema_defaults(kind, latent):
    from pipeline.kfold_vae.models import build_model
    from pipeline.kfold_vae.train import MODEL_KEYS, TRAINING_KEYS, check_spec

    spec = check_spec({"kind": kind})
    assert spec["latent_dim"] == latent  # the paper's L, the schema's per-kind default
    assert {key: spec[key] for key in MODEL_KEYS if key not in ("kind", "latent_dim")} == \
        defaults_of("kfold_vae.models.*", ["hidden", "width"])
    training = defaults_of("kfold_vae", TRAINING_KEYS)
    assert spec["epochs"] == training["epochs"] == schema_default("kfold_vae.epochs")
    assert {key: spec[key] for key in ("lr", "batch_size", "n_importance")} == \
        {key: training[key] for key in ("lr", "batch_size", "n_importance")}
    assert spec["eval_epochs"] == [training["epochs"]]  # the last epoch is always scored
    assert build_model(kind, 3).latent_dim == build_model(kind, 3, latent_dim=0).latent_dim == latent
    with pytest.raises(PipelineError, match=r"kfold_vae\.models\.\*"):
        check_spec({"latent_dim": 4})  # kind is required


def test_data_set_specs_take_the_schema_defaults():
    from pipeline.data import registry, synthetic
    import inspect

    spec = spec_defaults("datasets.*", {"kind": "gaussian_mixture", "n_train": 3})
    assert spec == {"kind": "gaussian_mixture", "n_train": 3, "n_test": 0, "size": 32, "seed": 0, "n_centers": 100,
                    "sd": 0.5, "center_seed": 0}
    mixture = spec_defaults("datasets.*", {"kind": "mixture", "parts": [{"dataset": "a", "n_train": 1}]})
    assert mixture["parts"][0]["n_test"] == 0 and mixture["seed"] == 0
    parameters = inspect.signature(synthetic.gaussian_mixture).parameters
    assert {key: parameters[key].default for key in ("n_centers", "sd", "center_seed")} == \
        {key: spec[key] for key in ("n_centers", "sd", "center_seed")}
    assert registry.build("m", {"kind": "mondrian", "n_train": 2}, Path(".")).images.shape == (2, 32, 32, 3)


def test_fill_does_not_share_the_schemas_lists():
    first = spec_defaults("feldman.architectures.*", {"kind": "mlp"})
    first["hidden"].append(7)
    assert spec_defaults("feldman.architectures.*", {"kind": "mlp"})["hidden"] == [512, 256]


# --- the same filling as validate_config -------------------------------------------------------------

@pytest.mark.parametrize("config", ["config.yaml", ".test/all_methods.yaml", "workflow/configs/paper_kfold_vae.yaml"])
def test_filling_a_whole_config_matches_validate_config(config):
    path = REPO / config
    if not path.is_file():
        pytest.skip(f"{config} not in this checkout")
    raw = yaml.safe_load(path.read_text()) or {}
    assert spec_defaults("", copy.deepcopy(raw)) == validate_config(copy.deepcopy(raw))


def test_a_bad_value_is_named_by_its_key():
    with pytest.raises(PipelineError, match=r"config key 'feldman\.architectures\.wide\.lr': -1"):
        spec_defaults("feldman.architectures.*", {"kind": "mlp", "lr": -1}, where="feldman.architectures.wide")
    with pytest.raises(PipelineError, match="no key"):
        schema_node("mrgan.nothing")
    with pytest.raises(PipelineError, match="has no default"):
        schema_default("kfold_vae.models.*.kind")



@pytest.mark.parametrize("key,value,message", [
    ("datasets", {"my data": {"kind": "digits"}}, r"config key 'datasets\.my data': not a valid name \(names "
                                                  r"become folder and file names\); use letters, digits"),
    ("neighbors", {"nn": {"datasets": ["digits"], "query_split": "tset"}},
     r"config key 'neighbors\.nn\.query_split': 'tset' is not one of \['train', 'test', 'valid'\]"),
])
def test_a_name_that_cannot_be_a_folder_and_an_unknown_split_are_named(key, value, message):
    config = {"datasets": {"digits": {"kind": "digits"}}}
    config[key] = {**config.get(key, {}), **value}
    with pytest.raises(PipelineError, match=message):
        validate_config(config)


@pytest.mark.parametrize("override,message", [
    ({"kfold_vae": {"high_quantile": "nan"}}, "config key 'kfold_vae.high_quantile': nan is not a finite number"),
    ({"mrgan": {"taus": [0, float("inf")]}}, "config key 'mrgan.taus.1': inf is not a finite number"),
    ({"diffusion": {"experiments": {"e": {"dataset": "digits", "sizes": [1, 8]}}}},
     "config key 'diffusion.experiments.e.sizes': 1 is too small; the ratio criterion needs each sample's two"),
    ({"diffusion": {"experiments": {"e": {"dataset": "digits", "sizes": [8], "sample_steps": 5000}}}},
     "config key 'diffusion.experiments.e.sample_steps': 5000 is more than the 1000 diffusion steps it respaces"),
])
def test_values_no_schema_bound_catches_are_named(override, message):
    config = {"datasets": {"digits": {"kind": "digits"}}, **override}  # NaN fails no minimum or maximum either
    with pytest.raises(PipelineError, match=re.escape(message)):
        validate_config(config)


# --- no second copy of the defaults in the source ----------------------------------------------------

def _config_objects() -> list[dict]:
    """Key -> default of every object in the schema with defaults (branches of if/then included)."""
    objects = []

    def walk(node):
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict):
                defaults = {key: sub["default"] for key, sub in properties.items()
                            if isinstance(sub, dict) and "default" in sub}
                if defaults:
                    objects.append(defaults)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load(SCHEMA.read_text()))
    return objects


def _config_keys() -> set[str]:
    return {key for defaults in _config_objects() for key in defaults}


def _kind(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "array" if isinstance(value, (list, tuple)) else type(value).__name__


def _literal_defaults(node: ast.Dict, defaults: dict) -> list[str]:
    """Keys of ``node`` that are config keys with a scalar or list default and map to a literal of that
    default's type (a dict of column dtypes or of computed values is no defaults table)."""
    keys = []
    for key, value in zip(node.keys, node.values):
        if not (isinstance(key, ast.Constant) and key.value in defaults) or isinstance(defaults[key.value], dict):
            continue
        try:
            literal = ast.literal_eval(value)
        except ValueError:
            continue
        if _kind(literal) == _kind(defaults[key.value]):
            keys.append(key.value)
    return keys


def _is_literal(node: ast.AST) -> bool:
    """A constant expression other than None (``0.25``, ``1 / 3``, ``(512, 256)``)."""
    if isinstance(node, ast.Constant) and node.value is None:
        return False
    allowed = (ast.Constant, ast.Tuple, ast.List, ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop, ast.Load)
    return all(isinstance(sub, allowed) for sub in ast.walk(node))


def _sources():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(REPO), ast.parse(path.read_text())


def test_no_module_keeps_a_defaults_table():
    """No module-level name with DEFAULT in it and no dict literal giving literal values to config keys
    of one schema object (the shape of the old DEFAULT_SPEC / TRAIN_DEFAULTS / DEFAULTS tables)."""
    objects = _config_objects()
    found = []
    for path, tree in _sources():
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, ast.AnnAssign) else []
            found += [f"{path}:{node.lineno} {t.id}" for t in targets if isinstance(t, ast.Name) and "DEFAULT" in t.id]
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                for defaults in objects:
                    keys = _literal_defaults(node, defaults)
                    if len(keys) >= 2:
                        found.append(f"{path}:{node.lineno} dict of values for config keys {sorted(keys)}")
                        break
    assert not found, "defaults belong in the schema (pipeline.config.spec_defaults / schema_default):\n" + \
        "\n".join(found)


# Literal defaults of parameters and options named like a config key that are not that key's default.
NOT_CONFIG_DEFAULTS = {
    # seeds of other things than the key of that name: job, classifier and k-means seeds
    ("pipeline/diffusion/train.py", "--seed"), ("pipeline/diffusion/sample.py", "--seed"),
    ("pipeline/mrgan/embed.py", "--seed"), ("pipeline/mrgan/ct_test.py", "seed"),
    # the neighbour search's own device (neighbors jobs run on CPU); library calls default to CPU too
    ("pipeline/neighbors.py", "--device"),
    # sampling batch size, figure counts, the embedding classifier's own width and lr (no config keys)
    ("pipeline/diffusion/sample.py", "batch_size"), ("pipeline/feldman/figures.py", "n_train"),
    ("pipeline/feldman/figures.py", "n_test"), ("pipeline/mrgan/embed.py", "width"),
    ("pipeline/mrgan/embed.py", "lr"),
    # atlas.join's sources per method (empty: none), not config values
    ("pipeline/atlas/join.py", "feldman"), ("pipeline/atlas/join.py", "diffusion"),
    ("pipeline/atlas/join.py", "mrgan"), ("pipeline/atlas/join.py", "--feldman"),
    ("pipeline/atlas/join.py", "--diffusion"), ("pipeline/atlas/join.py", "--mrgan"),
    ("pipeline/atlas/join.py", "samples"), ("pipeline/atlas/join.py", "--samples"),
    # the data's channel count, not a config key
    ("pipeline/kfold_vae/models.py", "channels"),
}


def test_no_literal_default_for_a_config_key():
    """Options and parameters named like a config key take their default from the schema
    (``schema_default``), not from a literal; the exceptions above are other quantities."""
    names = _config_keys()
    found = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args
                positional = args.posonlyargs + args.args
                pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
                pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
                for arg, default in pairs:
                    if arg.arg in names and arg.arg != "device" and _is_literal(default) and \
                            (str(path), arg.arg) not in NOT_CONFIG_DEFAULTS:
                        found.append(f"{path}:{node.lineno} {node.name}({arg.arg}={ast.unparse(default)})")
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument" and node.args:
                flag = node.args[0].value if isinstance(node.args[0], ast.Constant) else ""
                for keyword in node.keywords:
                    if keyword.arg == "default" and _is_literal(keyword.value) and \
                            flag.lstrip("-").replace("-", "_") in names and (str(path), flag) not in NOT_CONFIG_DEFAULTS:
                        found.append(f"{path}:{node.lineno} {flag} default={ast.unparse(keyword.value)}")
    assert not found, "take these from the schema (pipeline.config.schema_default):\n" + "\n".join(found)


# --- the methods' documentation (the package docstrings) ---------------------------------------------

METHODS = ["pipeline.feldman", "pipeline.kfold_vae", "pipeline.diffusion", "pipeline.mrgan"]


@pytest.mark.parametrize("package", METHODS)
def test_the_defaults_a_method_documents_are_the_schemas(package):
    """Each method package's docstring has a table of its defaults; every row holds the schema's value."""
    import importlib
    import re

    table = importlib.import_module(package).__doc__.split("\nDefaults", 1)[1].split("\n\n", 1)[0]
    lines = [line for line in table.splitlines() if line.startswith("    ")]
    rows = [re.fullmatch(r" {4}([a-z_][a-z0-9_]*(?:\.(?:[a-z_][a-z0-9_]*|\*))+) {2,}(\S.*?)(?: {2,}.*)?", line)
            for line in lines]
    assert len(rows) >= 10 and all(rows), f"{package}: a defaults table of rows 'key  value  [note]'"
    rows = [row.groups() for row in rows]
    for key, value in rows:
        assert yaml.safe_load(value) == schema_default(key), f"{package} documents {key} = {value}"


def test_methods_are_cited_from_the_repository():
    """The methods are explained in the package docstrings; a Markdown file the code names is one the
    repository has (README.md) or one the code itself writes, never a document outside the repository."""
    written = {"summary.md",  # benchmarks/gpu_suite.py's report
               "a.md", "b.md"}  # tests/test_reference_docs.py's scratch files
    known = {path.name for path in REPO.rglob("*.md") if ".venv" not in path.parts} | written
    stale = [f"{path.relative_to(REPO)}:{number}: {name}" for folder in ("pipeline", "tests", "benchmarks")
             for path in sorted((REPO / folder).rglob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), 1)
             for name in re.findall(r"[\w.-]+\.md\b", line) if name not in known]
    assert not stale, stale
