"""The conda environments in envs/ give every job what its code imports (checked statically).

conda channels cannot be reached from the development machine, so no env is ever solved here.
Instead, for every rule in the Snakefiles, this reads (from the .smk text) its ``conda:`` env and the
``python -m pipeline.X`` module(s) its shell command runs, and checks that each third-party module
those modules import, transitively through the ``pipeline`` package and inside functions too
(``pipeline.code_deps``), is provided by a package of that env. It also checks that each env file
is plain YAML on conda-forge, pins every package at the version pyproject.toml pins, lists nothing
no rule using it imports, and never installs this project itself (``-e ../`` or a local path: the
env is built from a copy under .snakemake/conda/, and the workflow puts the repository root on
PYTHONPATH for every job instead).
"""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from conftest import RULE_MODULE
from pipeline import code_deps

REPO = Path(__file__).resolve().parent.parent
SNAKEFILES = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))
CHANNELS = {"conda-forge", "nodefaults"}  # the package names below are conda-forge's

# Import name -> conda-forge packages any one of which provides it. An import not listed here is
# provided by the package of the same name (numpy, pandas, pyarrow, scipy, mlxtend, jsonschema, ...).
PROVIDERS: dict[str, set[str]] = {
    "torch": {"pytorch"},  # PyPI's "torch" is "pytorch" on conda-forge
    "sklearn": {"scikit-learn"},
    "yaml": {"pyyaml"},
    "faiss": {"faiss-cpu", "faiss-gpu", "faiss"},  # each installs the `faiss` module
    "matplotlib": {"matplotlib-base", "matplotlib"},  # -base: no Qt backend, enough for Agg figures
    "PIL": {"pillow", "torchvision", "matplotlib-base", "matplotlib"},  # both depend on pillow
}
# conda-forge name -> PyPI name in pyproject.toml, where they differ (for the version check).
PYPI_NAMES = {"pytorch": "torch", "matplotlib-base": "matplotlib"}
# Packages an env may list that no pipeline module imports.
SUPPORT_PACKAGES = {"python"}

PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]*)\s*(?P<op>==|=)\s*"
                 r"(?P<version>[0-9][A-Za-z0-9_.+!]*)(?:=(?P<build>\S+))?$")
PIP_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]*)==(?P<version>[0-9][A-Za-z0-9_.+!]*)$")
LOCAL = re.compile(r"(^|\s)-e\s|(^|[\s=@])\.{0,2}/|file:|\.\./")
PYTHON = re.compile(r"\bpython3?\b")


def providers(import_name: str) -> set[str]:
    return PROVIDERS.get(import_name, {canonicalize_name(import_name)})


# --- the Snakefiles, read as text -------------------------------------------------------------------

@dataclass
class Rule:
    name: str
    snakefile: Path
    directives: dict[str, str] = field(default_factory=dict)  # directive -> its source text
    base: str | None = None  # `use rule BASE as NAME with:`: the rule whose directives it inherits

    @property
    def where(self) -> str:
        return f"rule {self.name} ({self.snakefile.relative_to(REPO)})"

    def string(self, directive: str) -> str:
        """A directive's value, which must be a string literal (implicit concatenation allowed)."""
        source = self.directives[directive]
        try:
            value = ast.literal_eval(f"({source})")
        except (ValueError, SyntaxError):
            value = None
        if isinstance(value, tuple) and len(value) == 1:  # `"x",`
            value = value[0]
        assert isinstance(value, str), \
            f"{self.where}: {directive}: must be a plain string to be checked statically, is {source!r}"
        return value

    @property
    def modules(self) -> list[str]:
        return RULE_MODULE.findall(self.string("shell")) if "shell" in self.directives else []

    @property
    def env_file(self) -> Path | None:
        return (self.snakefile.parent / self.string("conda")).resolve() if "conda" in self.directives else None


def parse_rules(snakefile: Path, text: str | None = None) -> list[Rule]:
    """The rules of one Snakefile with the source text of each directive (``shell``, ``conda``, ...).

    A rule is a ``rule NAME:`` (or ``checkpoint NAME:``) line and the lines indented deeper below it;
    its directives are the lines at the body's first indentation, each followed by its value. A
    ``use rule BASE as NAME with:`` rule holds the directives of its ``with:`` block and names its base
    (``resolve_bases`` fills in the rest); ``use rule`` from another module is not understood.
    """
    text = snakefile.read_text() if text is None else text
    rules, rule, start, indent, directive = [], None, 0, None, None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        width = len(line) - len(line.lstrip())
        header = re.match(r"^(?:rule|checkpoint)\s+(\w+)\s*:$", stripped)
        derived = re.match(r"^use\s+rule\s+(\w+)\s+as\s+(\w+)(?:\s+with\s*:)?$", stripped)
        assert header or derived or not stripped.startswith("use rule"), \
            f"{snakefile}: {stripped!r}: this form of `use rule` is not understood by tests/test_envs.py; extend it"
        if header or derived:
            name, base = (header.group(1), None) if header else (derived.group(2), derived.group(1))
            rule, start, indent, directive = Rule(name, snakefile, base=base), width, None, None
            rules.append(rule)
        elif rule is not None and width <= start:  # dedented to the rule line: the rule ended
            rule = None
        elif rule is not None:
            indent = width if indent is None else indent
            match = re.match(r"^(\w+):\s*(.*)$", stripped)
            if width == indent and match:
                directive = match.group(1)
                rule.directives[directive] = match.group(2)
            elif directive is not None:
                rule.directives[directive] += "\n" + stripped
    return rules


def resolve_bases(rules: list[Rule]) -> list[Rule]:
    """Give each ``use rule`` its base's directives, overridden by those of its own ``with:`` block."""
    by_name = {rule.name: rule for rule in rules}
    for rule in rules:
        if rule.base is not None:
            assert rule.base in by_name, f"{rule.where}: uses rule {rule.base}, which no Snakefile defines"
            rule.directives = {**by_name[rule.base].directives, **rule.directives}
    return rules


RULES = resolve_bases([rule for snakefile in SNAKEFILES for rule in parse_rules(snakefile)])
PIPELINE_RULES = [rule for rule in RULES if rule.modules]


# --- the env files ----------------------------------------------------------------------------------

@dataclass
class Env:
    path: Path
    channels: list
    pins: dict[str, tuple[str, str | None]]  # normalized name -> (version, build)
    problems: list[str]


def load_env(path: Path) -> Env:
    spec = yaml.safe_load(path.read_text())
    assert isinstance(spec, dict), f"{path}: not a YAML mapping"
    problems, pins = [], {}
    for entry in spec.get("dependencies") or []:
        if isinstance(entry, dict):  # a `pip:` section
            for key, items in entry.items():
                if key != "pip":
                    problems.append(f"unknown dependency section {key!r}")
                    continue
                for item in items or []:
                    match = PIP_PIN.match(str(item).strip())
                    if LOCAL.search(str(item)):
                        problems.append(f"pip entry {item!r} is a local path")
                    elif not match:
                        problems.append(f"pip entry {item!r} is not pinned as `name==version`")
                    else:
                        pins[canonicalize_name(match["name"])] = (match["version"], None)
            continue
        match = PIN.match(str(entry).strip())
        if LOCAL.search(str(entry)):
            problems.append(f"{entry!r} is a local path")
        elif not match:
            problems.append(f"{entry!r} is not pinned as `name=version` or `name==version`")
        else:
            pins[canonicalize_name(match["name"])] = (match["version"], match["build"])
    return Env(path, list(spec.get("channels") or []), pins, problems)


ENVS = {path.resolve(): load_env(path) for path in ENV_FILES}


def missing_imports(module: str, env: Env) -> dict[str, set[str]]:
    """Third-party imports of ``module``'s closure that no package of ``env`` provides."""
    return {name: providers(name) for name in sorted(code_deps.third_party_imports(module))
            if not providers(name) & env.pins.keys()}


def pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {}
    for dependency in project["dependencies"]:
        requirement = Requirement(dependency)
        exact = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        pins[canonicalize_name(requirement.name)] = exact[0] if exact else None
    return pins, SpecifierSet(project["requires-python"])


# --- tests ------------------------------------------------------------------------------------------

def test_the_snakefiles_are_read():
    """Guards the text parsing: it finds the rules, their modules and their envs."""
    names = {rule.name for rule in RULES}
    assert {"all", "prepare_dataset", "dataset_neighbors", "feldman_train_shard", "atlas_figures"} <= names
    assert len(PIPELINE_RULES) >= 30
    by_name = {rule.name: rule for rule in RULES}
    assert by_name["mrgan_dataset_features"].modules == ["pipeline.mrgan.embed"]
    assert by_name["feldman_train_shard"].env_file == REPO / "envs" / "torch.yaml"
    assert "{params.spec:q}" in by_name["prepare_dataset"].string("shell")


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_rule_runs_pipeline_code_through_a_shell_command(rule):
    """Only shell rules are checked; other ways to run code need this test extended first."""
    others = {"run", "script", "notebook", "wrapper", "cwl"} & rule.directives.keys()
    assert not others, f"{rule.where}: {sorted(others)} is not checked by tests/test_envs.py; extend it"
    if "shell" in rule.directives:
        shell = rule.string("shell")
        if PYTHON.search(shell):
            assert rule.modules and all(m.startswith("pipeline.") for m in rule.modules), \
                f"{rule.where}: its shell runs python other than `python -m pipeline.X`: {shell!r}"


@pytest.mark.parametrize("rule", PIPELINE_RULES, ids=lambda rule: rule.name)
def test_rule_env_provides_every_import_of_its_code(rule):
    assert rule.env_file is not None, f"{rule.where} runs pipeline code but has no conda: directive"
    assert rule.env_file in ENVS, f"{rule.where}: conda: {rule.env_file} is not a file in envs/"
    env = ENVS[rule.env_file]
    for module in rule.modules:
        assert code_deps.module_path(module).is_file(), f"{rule.where}: no module {module}"
        missing = missing_imports(module, env)
        assert not missing, (f"{rule.where}: {module} imports {sorted(missing)} but "
                             f"{env.path.relative_to(REPO)} has none of {sorted(set().union(*missing.values()))}")


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda path: path.name)
def test_env_file_is_pinned_conda_forge_without_local_paths(path):
    assert "-e ../" not in path.read_text(), \
        f"{path.name} installs this project; the env is built from a copy under .snakemake/conda/"
    env = load_env(path)
    assert "conda-forge" in env.channels, f"{path.name}: channels {env.channels} lack conda-forge"
    assert set(env.channels) <= CHANNELS, f"{path.name}: channels {env.channels}: package names here are conda-forge's"
    assert not env.problems, f"{path.name}: {env.problems}"
    assert "python" in env.pins, f"{path.name}: pin python"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda path: path.name)
def test_env_versions_match_pyproject(path):
    pins, requires_python = pyproject()
    env = ENVS[path.resolve()]
    version, _ = env.pins["python"]
    assert requires_python.contains(version), f"{path.name}: python={version} outside {requires_python}"
    for name, (version, _) in env.pins.items():
        pypi = canonicalize_name(PYPI_NAMES.get(name, name))
        if pins.get(pypi):
            assert version == pins[pypi], f"{path.name}: {name}={version} but pyproject.toml pins {pypi}=={pins[pypi]}"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda path: path.name)
def test_env_lists_only_what_its_rules_import(path):
    """Keeps the envs small: every package is imported by a rule using the env, and each env is used."""
    env = ENVS[path.resolve()]
    users = [rule for rule in PIPELINE_RULES if rule.env_file == env.path.resolve()]
    assert users, f"{path.name} is used by no rule"
    imported = {name for rule in users for module in rule.modules for name in code_deps.third_party_imports(module)}
    needed = set().union(*(providers(name) for name in imported))
    unused = env.pins.keys() - needed - SUPPORT_PACKAGES
    assert not unused, f"{path.name}: {sorted(unused)} imported by none of its rules"


def test_missing_import_is_reported():
    """The check is not vacuous: an env without faiss fails the neighbour rule."""
    env = ENVS[(REPO / "envs" / "data.yaml").resolve()]
    without = Env(env.path, env.channels, {k: v for k, v in env.pins.items() if k != "faiss-cpu"}, [])
    assert missing_imports("pipeline.neighbors", env) == {}
    assert missing_imports("pipeline.neighbors", without) == {"faiss": PROVIDERS["faiss"]}
    [rule] = parse_rules(REPO / "workflow" / "example.smk",
                         'rule r:\n    conda:\n        "../envs/x.yaml"\n    shell:\n'
                         '        "python -m pipeline.neighbors "\n        # a comment\n        "--k 2 2> {log}"\n')
    assert rule.modules == ["pipeline.neighbors"] and rule.env_file == (REPO / "envs" / "x.yaml").resolve()
    assert rule.string("shell") == "python -m pipeline.neighbors --k 2 2> {log}"


def test_use_rule_inherits_its_bases_directives():
    """A `use rule ... with:` rule runs its base's command in its base's env unless its block overrides."""
    text = ('rule base:\n    conda:\n        "../envs/x.yaml"\n    shell:\n        "python -m pipeline.neighbors"\n\n\n'
            'use rule base as derived with:\n    output:\n        "y"\n')
    base, derived = resolve_bases(parse_rules(REPO / "workflow" / "example.smk", text))
    assert derived.name == "derived" and derived.modules == ["pipeline.neighbors"]
    assert derived.env_file == base.env_file and derived.directives["output"].strip() == '"y"'
    with pytest.raises(AssertionError, match="not understood"):
        parse_rules(REPO / "workflow" / "example.smk", "use rule * from other as other_*\n")
