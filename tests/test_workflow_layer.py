"""The workflow as a Snakemake citizen: caching follows the code, --config and --configfile behave
as in any workflow, bad targets get one line, and the workflow imports as a module."""

from __future__ import annotations

import re
import shutil
import subprocess
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from conftest import REPO, RULE_MODULE, SNAKEMAKE, TINY_ALL_METHODS, copy_of, scheduled_jobs, workflow_env
from pipeline import code_deps, paths
from pipeline.config import coerce_overrides

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())


def snakemake(workdir: Path, *args: str, snakefile: Path = REPO / "Snakefile", check: bool = True,
              **env: str) -> subprocess.CompletedProcess:
    command = [*SNAKEMAKE, "-s", str(snakefile), "--directory", str(workdir), "--cores", "2", *args,
               "--rerun-triggers", "mtime", "params", "input", "code"]
    result = subprocess.run(command, capture_output=True, text=True, env=workflow_env(**env))
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def scheduled_rules(dry_run_output: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r"(?m)^(?:local)?rule (\w+):", dry_run_output)} - {"all"}


# --- caching follows the code -----------------------------------------------------------------


def test_closure_follows_imports_including_those_inside_functions():
    figures = code_deps.module_closure("pipeline.feldman.figures")
    assert "pipeline.plotting" in figures and "pipeline.feldman.train_shard" not in figures
    assert "pipeline.plotting" not in code_deps.module_closure("pipeline.feldman.train_shard")
    assert "pipeline.feldman.stacking" in code_deps.module_closure("pipeline.feldman.train_shard")
    assert "faiss" in code_deps.third_party_imports("pipeline.neighbors")  # imported inside a function


def forget_code_versions() -> None:
    """code_deps remembers what it parsed and hashed; a test that edits code makes it look again."""
    for cached in (code_deps._parsed, code_deps.module_closure, code_deps._is_own_code, code_deps.code_version,
                   code_deps.factory_version):
        cached.cache_clear()


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    """code_deps pointed at a scratch copy of the package, so a test can edit its code."""
    root = tmp_path / "pipeline"
    shutil.copytree(REPO / "pipeline", root, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(code_deps, "PACKAGE_ROOT", root)
    forget_code_versions()
    yield root
    forget_code_versions()


def test_code_version_changes_with_code_not_with_comments_or_docstrings(package_copy):
    before = {m: code_deps.code_version(m) for m in ("pipeline.feldman.figures", "pipeline.feldman.train_shard")}
    plotting = package_copy / "plotting.py"
    text = plotting.read_text()
    plotting.write_text(text.replace('"""', '"""Reworded. ', 1) + "\n# a comment\n\n\n")
    forget_code_versions()
    assert {m: code_deps.code_version(m) for m in before} == before
    plotting.write_text(text + "\nEXTRA = 1\n")
    forget_code_versions()
    assert code_deps.code_version("pipeline.feldman.figures") != before["pipeline.feldman.figures"]
    assert code_deps.code_version("pipeline.feldman.train_shard") == before["pipeline.feldman.train_shard"]


def test_factory_version_follows_the_researchers_own_code(tmp_path, monkeypatch):
    lab = tmp_path / "mylab"
    lab.mkdir()
    (lab / "__init__.py").write_text("")
    (lab / "nets.py").write_text('"""Nets."""\nfrom mylab import blocks\n\n\ndef make(in_shape, n_classes):\n'
                                 '    return blocks.mlp(in_shape, n_classes)\n')
    (lab / "blocks.py").write_text("import os\nimport numpy\nimport layers\n\n\n"
                                   "def mlp(in_shape, n_classes):\n    return None\n")
    (lab / "unused.py").write_text("X = 1\n")
    (tmp_path / "layers.py").write_text("WIDTH = 64\n")  # another top-level module of the researcher's
    monkeypatch.chdir(tmp_path)  # where the jobs run, so where they import the researcher's modules from

    def version():
        forget_code_versions()
        return code_deps.factory_version("mylab.nets:make")

    before = version()
    assert code_deps.module_closure("mylab.nets") == ("mylab", "mylab.blocks", "mylab.nets")
    # their own modules wherever they are, not the standard library's or installed packages'
    assert code_deps.module_closure("mylab.nets", own_code=True) == ("layers", "mylab", "mylab.blocks", "mylab.nets")
    (lab / "unused.py").write_text("X = 2\n")  # not imported by the factory's module
    (lab / "nets.py").write_text((lab / "nets.py").read_text().replace("Nets.", "Networks, reworded.") + "# note\n")
    assert version() == before
    (tmp_path / "layers.py").write_text("WIDTH = 128\n")  # imported by a module the factory imports
    layers_edited = version()
    assert layers_edited != before
    (lab / "blocks.py").write_text((lab / "blocks.py").read_text().replace("return None", "return 1"))
    assert version() not in (before, layers_edited)
    # installed packages their code imports (numpy, via blocks.py) count by version: an upgrade reruns
    assert version().split(" ", 1)[1] == f"numpy {metadata.version('numpy')}"
    real_version = metadata.version
    with monkeypatch.context() as patch:
        patch.setattr(code_deps.importlib.metadata, "version",
                      lambda name: "99.0" if name == "numpy" else real_version(name))
        assert version().endswith("numpy 99.0")
    assert code_deps.factory_version("nowhere.nets:make") == "nowhere.nets: not found"  # the job says so
    (lab / "broken.py").write_text("def make(:\n")  # the job's import reports it in one line naming the key
    forget_code_versions()
    assert code_deps.factory_version("mylab.broken:make").startswith("mylab.broken: cannot be parsed (SyntaxError")
    # installed packages by their version; the pipeline's own factories by their code
    assert code_deps.factory_version("torchvision.models:resnet18") == f"torchvision {metadata.version('torchvision')}"
    assert code_deps.factory_version("pipeline.feldman.zoo:resnet18_cifar") == code_deps.code_version("pipeline.feldman.zoo")


def rule_blocks() -> list[tuple[str, str]]:
    blocks = []
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"(?m)^(?=rule )", path.read_text())[1:]:
            blocks.append((block.split(":")[0].split()[1], block))
    return blocks


def test_every_rule_passes_the_code_version_of_the_module_it_runs():
    checked = 0
    for name, block in rule_blocks():
        modules = set(RULE_MODULE.findall(block))
        if not modules:
            continue
        versioned = set(re.findall(r'code=(?:code_version|feldman_code)\("(pipeline[\w.]*)"\)', block))
        assert versioned == modules, f"rule {name}: runs {modules}, code param covers {versioned}"
        checked += 1
    assert checked > 30


@pytest.mark.workflow
def test_an_edit_reruns_exactly_the_jobs_whose_code_changed(tiny_run, tmp_path):
    """From a dry run: a plotting edit reruns the figure jobs and nothing else; a comment or docstring
    edit reruns nothing."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for part in ("Snakefile", "workflow", "pipeline"):  # the run folder holds its config
        copy = shutil.copytree if (REPO / part).is_dir() else shutil.copy2
        copy(REPO / part, repo / part, **({"ignore": shutil.ignore_patterns("__pycache__")} if copy is shutil.copytree else {}))
    run = copy_of(tiny_run, tmp_path)
    snakefile, env = repo / "Snakefile", {"PYTHONPATH": str(repo)}
    assert "Nothing to be done" in snakemake(run, "-n", snakefile=snakefile, **env).stdout
    plotting = repo / "pipeline" / "plotting.py"
    text = plotting.read_text()
    plotting.write_text(text + "\n# only a comment\n")
    assert "Nothing to be done" in snakemake(run, "-n", snakefile=snakefile, **env).stdout
    plotting.write_text(text + "\nEXTRA_SETTING = 1\n")
    dry = snakemake(run, "-n", snakefile=snakefile, **env)
    rules = scheduled_rules(dry.stdout)
    plotting_users = {name for name, block in rule_blocks()
                      if any("pipeline.plotting" in code_deps.module_closure(m)
                             for m in RULE_MODULE.findall(block))}
    assert rules and rules <= plotting_users, (rules, dry.stdout[-2000:], dry.stderr[-2000:])
    assert not any("train" in rule or "sample" in rule for rule in rules)


# --- config overrides and experiment files ----------------------------------------------------


def test_override_strings_become_the_schema_types():
    config = {"feldman": {"shard_size": "8", "mem_threshold": "0.3", "save_checkpoints": "true"},
              "tf32": "false", "device": "cuda", "datasets": {"d": {"kind": "mondrian", "n_train": "12"}}}
    coerce_overrides(config, SCHEMA)
    assert config["feldman"] == {"shard_size": 8, "mem_threshold": 0.3, "save_checkpoints": True}
    assert config["tf32"] is False and config["device"] == "cuda"
    assert config["datasets"]["d"]["n_train"] == 12
    auto = coerce_overrides({"feldman": {"shard_size": "auto"}}, SCHEMA)
    assert auto["feldman"]["shard_size"] == "auto"
    # JSON Schema takes 30.0 as an integer, numpy and torch take no float for a size
    whole = coerce_overrides({"datasets": {"d": {"kind": "mondrian", "n_train": 30.0, "size": 8.0}},
                              "feldman": {"lr": 1.0, "shard_size": 4.0}}, SCHEMA)
    assert whole["datasets"]["d"] == {"kind": "mondrian", "n_train": 30, "size": 8}
    assert type(whole["datasets"]["d"]["n_train"]) is int and type(whole["feldman"]["shard_size"]) is int
    assert type(whole["feldman"]["lr"]) is float


@pytest.fixture
def tiny_workdir(tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "config.yaml").write_text(yaml.safe_dump(TINY_ALL_METHODS))
    return workdir


def shard_jobs(output: str) -> int:
    return len(re.findall(r"(?m)^rule feldman_train_shard:", output))


def test_nested_numeric_and_boolean_overrides_work_from_the_command_line(tiny_workdir):
    base = snakemake(tiny_workdir, "-n")
    assert shard_jobs(base.stdout) == 1  # runs 2, shard_size 2
    one = snakemake(tiny_workdir, "-n", "--config", 'feldman={"shard_size": 1}', "tf32=false")
    assert shard_jobs(one.stdout) == 2
    assert "--tf32 off" in snakemake(tiny_workdir, "-n", "-p", "--config", "tf32=false").stdout


def test_a_configfile_defines_the_experiment(tiny_workdir, tmp_path):
    own = tmp_path / "mine.yaml"
    own.write_text(yaml.safe_dump({"datasets": {"only": {"kind": "mondrian", "size": 8, "n_train": 12}},
                                   "splits": {"datasets": ["only"]}, "diffusion": {"run": []}}))
    result = snakemake(tiny_workdir, "-n", "--configfile", str(own))
    assert scheduled_rules(result.stdout) == {"prepare_dataset", "feldman_subsets", "kfold_assignment"}
    assert "dataset=only" in result.stdout and "dataset=g" not in result.stdout


@pytest.mark.parametrize("target", [f"{paths.FELDMAN_ARCH.format(dataset='g', arch='x')}/memorization.parquet",
                                    f"{paths.FELDMAN_ARCH.format(dataset='g', arch='mlp')}/seed0/memorization.parquet",
                                    f"{paths.DATASET.format(dataset='nope')}/images.npy",
                                    f"{paths.SPLITS.format(dataset='g', seed='X')}/kfold.parquet",
                                    f"{paths.MRGAN_JOB.format(dataset='g', tau='0.5', seed=0)}/scores.parquet"])
def test_a_bad_target_gets_one_line_not_a_traceback(tiny_workdir, target):
    result = snakemake(tiny_workdir, "-n", target, check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    assert "No rule to produce" in result.stdout + result.stderr


# --- the workflow as a Snakemake module --------------------------------------------------------


@pytest.mark.parametrize("prefix", [None, "memo"])
def test_the_workflow_imports_as_a_module(tmp_path, prefix):
    host = tmp_path / "host"
    host.mkdir()
    tiny = {"datasets": {"mo": {"kind": "mondrian", "size": 8, "n_train": 12, "n_test": 4}},
            "splits": {"datasets": ["mo"]}, "diffusion": {"run": []}}
    (host / "config.yaml").write_text(yaml.safe_dump({"memo": tiny}))
    prefix_line = f'    prefix: "{prefix}"\n' if prefix else ""
    (host / "Snakefile").write_text(textwrap.dedent(f"""\
        configfile: "config.yaml"


        module memo:
            snakefile:
                "{REPO / 'Snakefile'}"
            config:
                config["memo"]
        {prefix_line}

        use rule * from memo as memo_*
        """))
    under = f"{prefix}/" if prefix else ""
    kfold = f"{under}{paths.SPLITS.format(dataset='mo', seed=0)}/kfold.parquet"
    dry = snakemake(host, "-n", snakefile=host / "Snakefile")
    assert kfold in dry.stdout
    snakemake(host, kfold, snakefile=host / "Snakefile")
    assert (host / kfold).is_file()
    assert (host / under / paths.DATASET.format(dataset="mo") / "index.parquet").is_file()


def test_gpu_jobs_take_the_gpu_resource_only_where_they_run_on_cuda(tiny_workdir):
    def gpu_of_training(*config):
        out = snakemake(tiny_workdir, "-n", "--resources", "gpu=1", "--config", *config).stdout
        block = out[out.index("rule mrgan_train:"):]
        return re.search(r"resources: .*", block).group(0)

    assert "gpu=1" in gpu_of_training("device=cuda")
    assert "gpu=1" not in gpu_of_training("device=cpu")


def test_the_workflow_declares_its_version_and_report():
    text = (REPO / "Snakefile").read_text()
    assert re.search(r'min_version\("\d', text) and 'report: "workflow/report/workflow.rst"' in text
    assert (REPO / "workflow" / "report" / "workflow.rst").is_file()
    assert "gpu=1" in (REPO / "workflow" / "profiles" / "default" / "config.yaml").read_text()


def rule_bodies() -> tuple[dict[str, str], str]:
    """({rule name: its text up to the next rule}, the Snakefile and rule files' text)."""
    rules = "".join(p.read_text() for p in [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))])
    return dict(re.findall(r"^rule (\w+):(.*?)(?=^rule |^use rule |\Z)", rules, re.M | re.S)), rules


def test_the_jobs_that_compute_on_threads_declare_them():
    """The jobs that run work on pipeline.parallel's threads (membership: the ladder's bootstrap and the
    pairs' RMIA sorts; convergence: the split halves) declare them as their rules' threads, so a local
    run counts those cores and a SLURM job asks for them (the profile's cpus_per_task is threads); no
    other rule does. A module that starts using the threads fails here until its rule says so."""
    users = sorted(p.relative_to(REPO).with_suffix("").as_posix().replace("/", ".")
                   for p in (REPO / "pipeline").rglob("*.py")
                   if re.search(r"\b(thread_map|analysis_pool)\(", p.read_text()) and p.name != "parallel.py")
    assert users == ["pipeline.feldman.convergence", "pipeline.feldman.ladder", "pipeline.feldman.membership"]
    bodies = rule_bodies()[0]
    declared = {name for name, body in bodies.items() if "threads: ANALYSIS_THREADS" in body}
    assert declared == {"feldman_membership", "feldman_convergence"}
    for name in declared:
        assert re.search(r"python -m pipeline\.job pipeline\.feldman\.(membership|convergence) ", bodies[name])
    profile = yaml.safe_load((REPO / "workflow" / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["default-resources"]["cpus_per_task"] == "threads"
    assert not any("cpus_per_task" in res for res in profile["set-resources"].values())


def test_the_slurm_profile_sends_exactly_the_gpu_jobs_to_gpu_nodes():
    """On a submit host without nvidia-smi, device auto gives GPU_JOB 0: the profile must ask a GPU for
    every rule that declares one, except those it groups with short CPU jobs on purpose (embedding
    samples with the small classifier), and name only rules that exist."""
    bodies, rules = rule_bodies()
    gpu_rules = {name for name, body in bodies.items() if "gpu=GPU_JOB" in body}
    for parent, child in re.findall(r"^use rule (\w+) as (\w+) with:", rules, re.M):  # inherits resources
        bodies[child] = bodies[parent]
        gpu_rules |= {child} if parent in gpu_rules else set()
    profile = yaml.safe_load((REPO / "workflow" / "profiles" / "slurm" / "config.yaml").read_text())
    assert set(profile["set-resources"]) | set(profile["groups"]) <= set(bodies)
    asks_gpu = {name for name, res in profile["set-resources"].items() if res.get("gpu")}
    assert asks_gpu == gpu_rules - set(profile["groups"]) and not asks_gpu & set(profile["groups"])


@pytest.mark.workflow
def test_a_precision_change_reruns_the_training_jobs_and_what_follows_them(tiny_run, tmp_path):
    """precision reaches the training jobs only: data, splits, embedders, features of the data sets
    and the neighbours of real images stay cached."""
    run = copy_of(tiny_run, tmp_path)
    rules = scheduled_rules(snakemake(run, "-n", "--config", "precision=float32").stdout)
    training = {"feldman_train_shard", "kfold_vae_train", "kfold_vae_full_model", "mrgan_train", "diffusion_train"}
    assert training <= rules, rules
    assert not rules & {"prepare_dataset", "kfold_assignment", "feldman_subsets", "diffusion_subset", "mrgan_embedder",
                        "mrgan_dataset_features", "mrgan_guideline", "dataset_neighbors"}, rules


@pytest.mark.workflow
def test_an_influence_fdr_change_reruns_what_picks_the_pairs_beyond_chance(tiny_run, tmp_path):
    """feldman.influence_fdr reaches the influence figure and the atlas of the data set Feldman ran on (its
    join, and what reads the atlas): not the estimate, and no other data set's atlas."""
    run = copy_of(tiny_run, tmp_path)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["feldman"]["influence_fdr"] = 0.2
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (dataset,) = config["feldman"]["datasets"]
    assert scheduled_jobs(snakemake(run, "-n").stdout) == {
        ("feldman_figures", f"dataset={dataset}, arch={arch}") for arch in config["feldman"]["architectures"]} | {
        (rule, f"dataset={dataset}") for rule in ("atlas_join", "atlas_analysis", "atlas_figures", "atlas_gallery")} | {
        ("all", "")}
