"""Jobs import only what they need: a job that runs no torch model must not pay torch's start-up.

Importing torch takes seconds, and most workflow jobs are short (splits, scores, summaries,
figures), so a stray module-level ``import torch`` (or an import of a module that has one)
multiplies into minutes of a workflow run. The entry points checked are the ``python -m
pipeline.X`` commands of the rules and the package's other command-line tools; what each may
import is declared below. Imports inside functions (faiss for a neighbour search, torch for
``neighbors.resize_images``) happen only when a job takes that path and are not checked here.
"""

import json
import subprocess
import sys
from pathlib import Path

from conftest import RULE_MODULE

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "torchvision", "faiss", "sklearn")

# The heavy packages an entry point may import when it starts; every other one imports none.
TORCH = {"torch"}
NEEDS = {
    "pipeline.diffusion.train": TORCH,
    "pipeline.fid": TORCH,
    "pipeline.diffusion.sample": TORCH,
    "pipeline.feldman.train_shard": TORCH,
    "pipeline.kfold_vae.train": TORCH,
    "pipeline.kfold_vae.sample": TORCH,
    "pipeline.mrgan.embed": TORCH,
    "pipeline.mrgan.train": TORCH,
    "pipeline.mrgan.sample": TORCH,
    "pipeline.mrgan.score": {"sklearn"},  # k-means cells of the C_T test
    "pipeline.samples.score": {"sklearn"},  # the same C_T test
}

# Imports every module named on the command line in turn and prints, per module, the heavy
# packages that were not loaded before it.
PROBE = """
import importlib, json, sys
heavy, loaded, added = sys.argv[1].split(","), set(), {}
for name in sys.argv[2:]:
    importlib.import_module(name)
    now = {m for m in heavy if m in sys.modules}
    added[name], loaded = sorted(now - loaded), now
print(json.dumps(added))
"""


def rule_modules() -> set[str]:
    """The modules the rules run as ``python -m pipeline.X``."""
    text = "".join(path.read_text() for path in [REPO / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")])
    return set(RULE_MODULE.findall(text))


def entry_points() -> set[str]:
    """Every module of the package that runs as a command (has a ``__main__`` block)."""
    return {
        ".".join(path.relative_to(REPO).with_suffix("").parts)
        for path in (REPO / "pipeline").rglob("*.py")
        if 'if __name__ == "__main__":' in path.read_text()
    }


def test_declared_needs_name_modules_the_rules_run():
    assert set(NEEDS) <= rule_modules()
    assert rule_modules() <= entry_points()


def test_entry_points_import_no_heavy_package_they_do_not_need():
    # torch users are not imported (seconds each, and they need it); the others go in one process,
    # those allowed nothing first, so what each adds is what it imports itself
    modules = sorted((m for m in entry_points() if "torch" not in NEEDS.get(m, set())),
                     key=lambda m: (len(NEEDS.get(m, ())), m))
    result = subprocess.run([sys.executable, "-c", PROBE, ",".join(HEAVY), *modules], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    added = json.loads(result.stdout)
    wrong = {m: sorted(set(added[m]) - NEEDS.get(m, set())) for m in modules}
    assert not {m: extra for m, extra in wrong.items() if extra}, (
        "these entry points import heavy packages at start-up (find the chain with "
        "`python -X importtime -m MODULE --help`):"
    )


# Replaces every door into the CUDA driver with an error, then imports the modules given.
CUDA_PROBE = """
import importlib, sys, torch
def forbidden(*args, **kwargs):
    raise RuntimeError("CUDA was queried while importing")
torch._C._cuda_getDeviceCount = torch._C._cuda_init = forbidden
torch.cuda.is_available = torch.cuda.device_count = torch.cuda._lazy_init = forbidden
for name in sys.argv[1:]:
    importlib.import_module(name)
"""


def test_importing_a_rule_module_asks_nothing_of_cuda():
    # the job server imports a job's module and then forks; a CUDA driver that was started before a
    # fork does not work in the child, so only the job itself (after the fork) may touch CUDA
    result = subprocess.run([sys.executable, "-c", CUDA_PROBE, *sorted(rule_modules())], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_workflow_imports_only_light_modules_at_start_up():
    """The modules the Snakefile imports to build the DAG (the targets and each method's job-spec keys)
    import no third-party package: every dry run and every run would pay for it."""
    specs = sorted(f"pipeline.{path.parent.name}.spec" for path in (REPO / "pipeline").glob("*/spec.py"))
    modules = ["pipeline.targets", *specs]
    assert len(modules) >= 5, modules
    probe = ("import importlib, json, sys; before = set(sys.modules); "
             "[importlib.import_module(m) for m in sys.argv[1:]]; "
             "print(json.dumps(sorted({n.split('.')[0] for n in set(sys.modules) - before} - {'pipeline'})))")
    result = subprocess.run([sys.executable, "-c", probe, *modules], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    third_party = [name for name in json.loads(result.stdout) if name not in sys.stdlib_module_names]
    assert not third_party, third_party


def test_benchmarks_import_nothing_from_the_tests():
    for path in sorted((REPO / "benchmarks").glob("*.py")):
        text = path.read_text()
        assert "conftest" not in text and '"tests"' not in text and "'tests'" not in text, path.name
