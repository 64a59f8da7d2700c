"""What code a job runs: the modules a module imports from its own top-level package (found from
its source, imports inside functions included) and a fingerprint of their code.

The rules pass each job's fingerprint as a param, so Snakemake's ``params`` rerun trigger reruns a
job, and everything downstream, exactly when code it runs has changed. The fingerprint hashes the
parsed code with docstrings removed, so an edit to comments, docstrings or layout reruns nothing.
The same holds for a researcher's own module named in the config (``factory_version``) and their
modules it imports: they are found on the jobs' import path without being run. Standard library
only: the Snakefile imports this at start-up.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import os
import site
import sys
import sysconfig
from functools import lru_cache
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
PACKAGE = PACKAGE_ROOT.name


def module_path(name: str) -> Path | None:
    """Source file of a module or package, found without running it: a ``pipeline`` module in this
    package, any other where the jobs would import it from (their working directory first, then the
    import path); None when there is no such Python file."""
    parts = name.split(".")
    if parts[0] == PACKAGE:
        base = PACKAGE_ROOT.joinpath(*parts[1:])
        path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        return path if path.is_file() else None
    spec = module_spec(name)
    return Path(spec.origin) if spec is not None and spec.origin and spec.origin.endswith(".py") else None


def module_spec(name: str):
    """What the import system would load for module ``name`` where the jobs import it from (their
    working directory first, then the import path), found without running it; None when nothing."""
    parts = name.split(".")
    locations, spec = [os.getcwd(), *sys.path], None
    for depth in range(1, len(parts) + 1):
        if locations is None:  # a module has no submodules
            return None
        spec = _find_spec(".".join(parts[:depth]), locations)
        if spec is None:
            return None
        locations = spec.submodule_search_locations
    return spec


def _find_spec(name: str, locations: list[str]):
    """What the import system would load for ``name`` from ``locations`` (the finders of
    ``sys.meta_path`` in turn: plain folders, editable installs), without loading it."""
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        spec = find(name, locations) if find else None
        if spec is not None:
            return spec
    return None


@lru_cache(maxsize=None)
def _parsed(name: str) -> tuple[tuple[str, ...], bytes]:
    """A module's imports and its code without docstrings (name included), from one parse: the
    Snakefile asks for the closures of some forty modules that share most of their imports."""
    path = module_path(name)
    tree = ast.parse(path.read_text(), filename=str(path))
    imports = _imported_names(tree, name if path.name == "__init__.py" else name.rsplit(".", 1)[0])
    code = name.encode() + b"\0" + ast.dump(_without_docstrings(tree)).encode() + b"\0"
    return imports, code


def _statements(node: ast.AST):
    """Every statement under ``node``, at any depth. Imports, functions and classes are statements,
    so this finds them all while skipping the expressions, most of a tree (ast.walk took 5x longer)."""
    for field in ("body", "orelse", "finalbody", "handlers", "cases"):
        for child in getattr(node, field, None) or ():
            yield child
            yield from _statements(child)


def _imported_names(tree: ast.Module, package: str) -> tuple[str, ...]:
    """Absolute names of every import statement in the module, wherever it stands."""
    names = []
    for node in _statements(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names]  # `from pipeline import io`
    return tuple(names)


@lru_cache(maxsize=None)
def module_closure(name: str, own_code: bool = False) -> tuple[str, ...]:
    """``name`` and every module of its top-level package (``pipeline`` for the workflow's own) that
    it imports, directly or not, sorted; with ``own_code``, also those of every other package that
    is neither installed into this Python nor in the standard library (a researcher's modules
    beside their factory's, e.g. ``layers.py`` next to ``nets.py``).

    Importing ``pipeline.a.b`` runs the packages ``pipeline`` and ``pipeline.a`` too, so they count.
    """
    top = name.split(".")[0]
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        current_top = current.split(".")[0]
        followed = current_top == top or (own_code and _is_own_code(current_top))
        if current in seen or not followed or module_path(current) is None:
            continue
        seen.add(current)
        parts = current.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        todo += _parsed(current)[0]
    return tuple(sorted(seen))


@lru_cache(maxsize=None)
def _is_own_code(top: str) -> bool:
    """Whether the top-level module or package ``top`` is code the jobs import from source of the
    researcher's own: found, and neither standard library nor installed into this Python."""
    if top in sys.stdlib_module_names:
        return False
    path = module_path(top)
    return path is not None and not _is_installed(path)


def _is_installed(path: Path) -> bool:
    return any(path.resolve().is_relative_to(folder) for folder in _installed_folders())


def third_party_imports(name: str, own_code: bool = False) -> set[str]:
    """Top-level names of the modules outside the standard library, ``pipeline`` and a researcher's
    own code that the closure of ``name`` (``module_closure``, with ``own_code`` as there) imports
    (e.g. ``torch``, ``sklearn``)."""
    found = set()
    for module in module_closure(name, own_code):
        for imported in _parsed(module)[0]:
            top = imported.split(".")[0]
            if top and top != PACKAGE and top not in sys.stdlib_module_names and not _is_own_code(top):
                found.add(top)
    return found


def _without_docstrings(tree: ast.Module) -> ast.Module:
    for node in [tree, *_statements(tree)]:
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


@lru_cache(maxsize=None)
def code_version(name: str, own_code: bool = False) -> str:
    """Short hash of the code (not comments, docstrings or layout) of ``name``'s closure."""
    digest = hashlib.sha256()
    for module in module_closure(name, own_code):
        digest.update(_parsed(module)[1])
    return digest.hexdigest()[:16]


@lru_cache(maxsize=None)  # asked once per training job while Snakemake builds the DAG
def factory_version(factory: str) -> str:
    """What a researcher's ``package.module:callable`` runs, for the params of the jobs that call it:
    the code version of its module and of the researcher's own modules it imports, directly or not
    (those of any package not installed and not standard library), so editing that code reruns them,
    followed by the versions of the installed distributions that code imports (timm, torch), so
    upgrading one reruns them too; for a module installed into this Python, its distribution's
    version instead. The pipeline's own factories count by their code alone, as its modules do. A
    module that cannot be found or parsed gives a constant: its job reports it."""
    module = factory.partition(":")[0]
    path = module_path(module)
    if path is None:
        return f"{module}: not found"
    top = module.split(".")[0]
    if top != PACKAGE and _is_installed(path):
        try:
            return _distribution_versions([top])
        except importlib.metadata.PackageNotFoundError:  # installed files without metadata
            pass
    if top == PACKAGE:
        return code_version(module)
    try:
        installed = [name for name in third_party_imports(module, own_code=True) if name in _providers()]
        return " ".join([code_version(module, own_code=True), _distribution_versions(installed)]).strip()
    except (SyntaxError, ValueError) as err:  # ValueError: source with null bytes
        return f"{module}: cannot be parsed ({type(err).__name__}: {err})"


def factory_problem(factory: str) -> str | None:
    """Why a job could not import ``package.module:callable``, told without running the module: no
    such module where the jobs import from, source that does not parse, or source that binds no such
    name at its top level. None where it may be there (a compiled module, a module that makes its
    names at run time); the job that imports it checks the rest."""
    module, _, attr = factory.partition(":")
    path = module_path(module)
    if path is None:
        if module.split(".")[0] == PACKAGE or module_spec(module) is None:
            return f"cannot import '{module}' (no such module in the working directory or on the import path)"
        return None
    try:
        names = _top_level_names(ast.parse(path.read_text(), filename=str(path)))
    except (SyntaxError, ValueError) as err:  # ValueError: source with null bytes
        return f"cannot import '{module}' ({type(err).__name__}: {str(err).splitlines()[0]})"
    return None if names is None or attr in names else f"'{module}' has no callable '{attr}'"


def _top_level_names(tree: ast.Module) -> set[str] | None:
    """The names a module binds at its top level (definitions, assignments, imports, inside ifs and
    trys too); None where its source cannot tell (a star import, a module __getattr__, globals())."""
    names, todo = set(), list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name == "__getattr__":
                return None
            names.add(node.name)
            continue  # its body binds names of its own
        if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            return None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in DYNAMIC_BINDERS:
            return None
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {alias.asname or alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        todo += ast.iter_child_nodes(node)
    return names


# Calls through which a module may bind names its source does not spell out.
DYNAMIC_BINDERS = ("globals", "vars", "setattr", "exec", "locals")


@lru_cache(maxsize=None)  # reads every installed distribution's file list: once a run
def _providers() -> dict[str, list[str]]:
    """Top-level module name -> the installed distributions that provide it."""
    return importlib.metadata.packages_distributions()


def _distribution_versions(tops: list[str]) -> str:
    """``name version`` of the distributions that provide the top-level modules ``tops``, sorted."""
    names = sorted({name for top in tops for name in _providers().get(top, [top])})
    return " ".join(f"{name} {importlib.metadata.version(name)}" for name in names)


@lru_cache(maxsize=None)  # the same for the whole run; asked for every top-level import
def _installed_folders() -> frozenset[Path]:
    """Where packages are installed into this Python (site-packages, user and system ones too)."""
    folders = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    folders |= {*site.getsitepackages(), site.getusersitepackages()}
    return frozenset(Path(folder).resolve() for folder in folders)


if __name__ == "__main__":  # python -m pipeline.code_deps pipeline.feldman.train_shard
    for arg in sys.argv[1:]:
        print(arg, code_version(arg), " ".join(module_closure(arg)), sorted(third_party_imports(arg)))
