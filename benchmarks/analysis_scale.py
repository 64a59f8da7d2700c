"""Every analysis job at full-data scale: wall seconds, CPU seconds and peak memory of each, against
the goals of 30 s wall at n = 60,000 training examples (10,000 test) and t = 256 runs, and 4 GB
peak resident memory at t = 4,000 runs (benchmarks/RESULTS.md, "Analysis jobs at full-data scale").

    python benchmarks/analysis_scale.py [--examples 60000] [--test 10000] [--runs 256] [--memory-runs 4000]

Builds, in a temporary folder, inputs of that size in the formats the jobs read: a planted data set
(index.parquet with flipped, outlier, duplicated and test-copy canaries, images.npy), the Feldman
shard tables of two architectures on the same subsets (written by ``shard_table``, with a learning
signal: atypical and planted examples are got right mostly by the models trained on them, a test
copy by the models trained on its flipped original), and K-fold VAE tables (M, rho, log p(x)). Then
runs each job as its rule does, ``python -m pipeline.job <module> ...`` in a fresh process, the
job server off: feldman estimate (memorization, influence pairs and their chance), membership (LiRA
and RMIA, against the number of reference models, and the per-pair table), convergence, consistency and
figures; the atlas join of both architectures (with which of their influence pairs beat chance) and
the K-fold scores (12 scores, 66 pairs: the paper config's MNIST atlas), its analysis (1,000
bootstraps) and figures, how well its scores find the canaries (atlas planted, 1,000 bootstraps) and
that figure; the claims. Each job's wall and CPU seconds and peak RSS (``os.wait4``) are printed beside its goal.

With ``--memory-runs`` (0: skipped; ``--runs 0`` skips the timed runs) the jobs that read the shard
tables run again at that t, for their peak memory: shards of one architecture written as one file
(``shard_size: auto``, the paper config's layout; row groups of 250 runs), the consistency job
reading it as both architectures. The convergence job there measures one split per t' instead of
five (``SPLITS``; its memory does not depend on the count, its time would be half an hour). Python
caches compiled modules under the temporary folder, so no job pays for compiling the package.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline import io  # noqa: E402
from pipeline.data.dataset import Dataset  # noqa: E402
from pipeline.feldman.shard_table import shard_table  # noqa: E402

WALL_GOAL_S, MEMORY_GOAL_MB = 30.0, 4096.0
EPOCHS = 10
ROW_GROUP = 250
CANARIES = {"flipped": 0.01, "outlier": 0.005, "duplicate": 0.002}  # shares of the training examples
COPIES = 4


def cpu_model() -> str:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                platform.processor() or platform.machine())
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    return f"{name}{' with AVX-512 BF16' if 'avx512_bf16' in flags else ''}, {os.cpu_count()} cores"


def dataset(folder: Path, n: int, n_test: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A planted data set of n training and n_test test images; returns the training examples' kinds
    and the positions of the flipped examples that have a test copy (the first test examples)."""
    kinds = np.full(n, "", dtype=object)
    counts = {kind: int(share * n) for kind, share in CANARIES.items()}
    order = rng.permutation(n)
    flipped = order[:counts["flipped"]]
    outlier = order[counts["flipped"]:counts["flipped"] + counts["outlier"]]
    duplicate = order[len(flipped) + len(outlier):len(flipped) + len(outlier) + counts["duplicate"] * COPIES]
    kinds[flipped], kinds[outlier], kinds[duplicate] = "flipped", "outlier", "duplicate"
    source = np.arange(n + n_test)
    source[duplicate] = np.repeat(duplicate[::COPIES], COPIES)  # copies share their source
    copies = flipped[:min(len(flipped) // 2, n_test)]  # half the flipped examples have a test copy
    test_planted = np.full(n_test, "", dtype=object)
    test_planted[:len(copies)] = "test_copy"
    source[n:n + len(copies)] = copies
    labels = rng.integers(0, 10, n + n_test)
    images = rng.integers(0, 256, (n + n_test, 28, 28, 1), dtype=np.uint8)
    Dataset.from_arrays(images, labels, ["train"] * n + ["test"] * n_test, "synthetic", source,
                        np.concatenate([kinds, test_planted]).astype(str)).save(folder)
    return kinds, copies


def example_means(kinds: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per training example, the true-class margin of a model trained without it and with it: most
    examples are easy either way; 10 % are atypical (got right mostly when trained on); flipped and
    single outliers need their own training, duplicates much less so."""
    n = len(kinds)
    out = rng.normal(5.0, 1.5, n)
    atypical = rng.random(n) < 0.10
    out[atypical] = rng.normal(-0.5, 1.5, atypical.sum())
    gain = np.where(atypical, rng.uniform(1.0, 6.0, n), rng.uniform(0.0, 0.5, n))
    for kind, (low, boost) in {"flipped": (-5.0, 9.0), "outlier": (-3.0, 6.0), "duplicate": (2.0, 2.0)}.items():
        out[kinds == kind], gain[kinds == kind] = low, boost
    return out, out + gain


def write_shards(folder: Path, arch: str, t: int, shard_size: int, means, copies, n_test: int, noise: float,
                 seed: int) -> list[Path]:
    """The shard tables of ``t`` runs of one architecture, ``shard_size`` runs per file, written ROW_GROUP
    runs at a time. The subsets depend on the run alone, so every architecture has the same ones."""
    folder.mkdir(parents=True, exist_ok=True)
    out_mean, in_mean = means
    n = len(out_mean)
    test_mean = np.random.default_rng(seed).normal(4.0, 2.5, n_test)
    paths = []
    for first in range(0, t, shard_size):
        paths.append(folder / f"shard{len(paths)}.parquet")
        writer = None
        for start in range(first, min(first + shard_size, t), ROW_GROUP):
            runs = np.arange(start, min(start + ROW_GROUP, first + shard_size, t))
            member = np.random.default_rng([0, start]).random((len(runs), n)) < 0.7
            rng = np.random.default_rng([seed, start])
            margin = np.where(member, in_mean, out_mean) + rng.normal(0, noise, member.shape)
            test_margin = test_mean + rng.normal(0, noise, (len(runs), n_test))
            test_margin[:, :len(copies)] = np.where(member[:, copies], 3.0, -3.0) + rng.normal(
                0, noise, (len(runs), len(copies)))
            table = shard_table(runs, 0, 0, arch, member, _records(member, margin, test_margin, rng), EPOCHS)
            writer = writer or pq.ParquetWriter(paths[-1], table.schema)
            writer.write_table(table)
        writer.close()
    return paths


def _records(member, margin, test_margin, rng) -> dict:
    """The recorded columns of ``shard_table`` from the margins."""
    trained = np.where(member, 1.0, 0.0)
    return {"train_correct": margin > 0, "test_correct": test_margin > 0, "train_margin": margin,
            "test_margin": test_margin, "train_logit_conf": margin - rng.exponential(0.3, margin.shape),
            "train_epoch_correct": trained * np.clip(np.round(EPOCHS / (1 + np.exp(1 - margin))), 0, EPOCHS),
            "train_cum_loss": trained * EPOCHS * np.logaddexp(0, 1 - margin) * rng.uniform(0.8, 1.2, margin.shape)}


def kfold_tables(folder: Path, index: pd.DataFrame, means, rng) -> dict[str, Path]:
    """K-fold VAE scores, rho and full-model log p(x) of the training examples, M rising with the gap."""
    train = index[index["split"] == "train"]
    n = len(train)
    m = (means[1] - means[0]) * 20 + rng.normal(0, 10, n)
    tables = {"kfold_scores": pd.DataFrame({"index": train["index"], "label": train["label"], "U": -300 + m / 2,
                                            "V": -300 - m / 2, "M": m}),
              "rho": pd.DataFrame({"index": train["index"], "label": train["label"], "rho": rng.gamma(4, 0.25, n)}),
              "logpx": pd.DataFrame({"index": np.tile(train["index"], 2), "epoch": np.repeat([5, 10], n),
                                     "logpx": rng.normal(-300, 40, 2 * n)})}
    paths = {}
    for name, table in tables.items():
        paths[name] = folder / f"{name}.parquet"
        io.write_parquet(table.reset_index(drop=True), paths[name])
    return paths


def measure(command: list, env: dict, log: Path) -> dict:
    """Wall and CPU seconds and peak RSS (MB) of ``command`` in a fresh process (its output to ``log``)."""
    start = time.perf_counter()
    with open(log, "w") as out:
        child = subprocess.Popen([sys.executable, *map(str, command)], stderr=out, stdout=out, env=env,
                                 cwd=Path(__file__).resolve().parents[1])
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        sys.exit(f"{command[:3]} failed (status {status}); its log {log}:\n{log.read_text()[-3000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss": usage.ru_maxrss / 1024}


def run_jobs(jobs: dict[str, tuple], env: dict, logs: Path) -> dict[str, dict]:
    """Each job as its rule runs it: ``python -m pipeline.job <module> <arguments>``."""
    return {name: measure(["-m", "pipeline.job", module, *args], env, logs / f"{name.replace(' ', '_')}.log")
            for name, (module, args) in jobs.items()}


def feldman_jobs(root: Path, data: Path, shards: dict[str, list[Path]], figures: bool = True) -> dict[str, tuple]:
    """The Feldman jobs, name -> (module, arguments): estimate of each architecture, then membership,
    convergence and figures of the first, consistency of the first against the last."""
    out = root / "feldman"
    first, last = next(iter(shards)), list(shards)[-1]
    jobs = {f"feldman estimate ({arch})": ("pipeline.feldman.estimate", [
        "--shards", *paths, "--dataset-dir", data, "--out-mem", out / arch / "memorization.parquet",
        "--out-pairs", out / arch / "influence_pairs.parquet", "--out-chance", out / arch / "influence_chance.parquet"])
        for arch, paths in shards.items()}
    jobs["feldman membership"] = ("pipeline.feldman.membership", [
        "--shards", *shards[first], "--dataset-dir", data, "--out", out / first / "membership.parquet",
        "--out-pairs", out / first / "membership_pairs.parquet"])
    jobs["feldman convergence"] = ("pipeline.feldman.convergence", [
        "--shards", *shards[first], "--title", "synthetic", "--out", out / first / "convergence.parquet",
        "--out-figure", out / first / "convergence.png"])
    jobs["feldman consistency"] = ("pipeline.feldman.consistency", [
        "--shards-a", *shards[first], "--mem-a", out / first / "memorization.parquet", "--shards-b", *shards[last],
        "--mem-b", out / last / "memorization.parquet", "--arch-a", first, "--arch-b", last,
        "--thetas", 0.1, 0.25, 0.5, 0.75, "--out", out / "consistency.parquet"])
    if figures:
        jobs["feldman figures"] = ("pipeline.feldman.figures", [
            "estimates", "--memorization", out / first / "memorization.parquet", "--pairs",
            out / first / "influence_pairs.parquet", "--chance", out / first / "influence_chance.parquet",
            "--shards", *shards[first], "--dataset-dir", data, "--title", "synthetic",
            "--out-histogram", out / "hist.png", "--out-extremes", out / "extremes.png",
            "--out-influence", out / "influence.png"])
        jobs["feldman membership figure"] = ("pipeline.feldman.figures", [
            "membership", "--membership", out / first / "membership.parquet", "--title", "synthetic",
            "--out", out / "membership_roc.png"])
    return jobs


def atlas_jobs(root: Path, data: Path, shards: dict[str, list[Path]], kfold: dict[str, Path]) -> dict[str, tuple]:
    """The atlas of the architectures' memorization tables, influence pairs (which beat chance: the shard
    tables) and the K-fold tables: join, analysis, figures, and the canaries' detection (the data set is
    planted)."""
    out, atlas = root / "atlas", root / "atlas" / "atlas.parquet"
    feldman = root / "feldman"
    return {
        "atlas join": ("pipeline.atlas.join", [
            "--dataset-dir", data, *[x for arch in shards for x in
                                     ("--feldman", arch, feldman / arch / "memorization.parquet")],
            *[x for arch, paths in shards.items() for x in
              ("--feldman-influence", arch, feldman / arch / "influence_pairs.parquet",
               feldman / arch / "influence_chance.parquet", *paths)],
            "--kfold-scores", kfold["kfold_scores"], "--rho", kfold["rho"], "--logpx-full", kfold["logpx"],
            "--out", atlas]),
        "atlas analysis": ("pipeline.atlas.analysis", [
            "--atlas", atlas, "--out-pairs", out / "pairs.parquet", "--out-flagged", out / "flagged.parquet"]),
        "atlas figures": ("pipeline.atlas.figures", [
            "--atlas", atlas, "--pairs", out / "pairs.parquet", "--flagged", out / "flagged.parquet",
            "--dataset-dir", data, "--title", "synthetic", "--out-correlations", out / "correlations.png",
            "--out-scatter", out / "scatter.png", "--out-flagged", out / "flagged.png"]),
        "atlas planted": ("pipeline.atlas.planted", [
            "--atlas", atlas, "--index", data / "index.parquet", "--dataset", "synthetic", "--out",
            out / "planted.parquet"]),
        "atlas planted figure": ("pipeline.atlas.planted_figure", [
            "--planted", out / "planted.parquet", "--title", "synthetic", "--out", out / "planted.png"])}


def claims_job(root: Path, data: Path, shards: dict[str, list[Path]], kfold: dict[str, Path]) -> dict[str, tuple]:
    """The claims of Feldman & Zhang and van den Burg & Williams (the others read small summary tables)."""
    first, last = next(iter(shards)), list(shards)[-1]
    mem = {arch: root / "feldman" / arch / "memorization.parquet" for arch in shards}
    return {"claims": ("pipeline.claims.evaluate", [
        "--feldman-index", data / "index.parquet", "--feldman-mem", mem[first], "--feldman-pairs",
        root / "feldman" / first / "influence_pairs.parquet", "--feldman-shards", *shards[first],
        "--replicate-mem", mem[last], "--other-mem", mem[last], "--kfold-index", data / "index.parquet",
        "--kfold-scores", kfold["kfold_scores"], "--kfold-rho", kfold["rho"], "--kfold-logpx-full", kfold["logpx"],
        "--out", root / "claims.parquet"])}


# convergence at memory scale: the job's own steps with one split per t' (memory does not depend on it)
CONVERGENCE_ONE_SPLIT = ("from pipeline.feldman import convergence; convergence.SPLITS = 1; "
                         "import sys; sys.argv[0] = 'convergence'; convergence.main()")


def print_rows(title: str, results: dict[str, dict]) -> None:
    print(f"\n{title}")
    print("| job | wall s | CPU s | peak RSS MB | wall / 30 s | RSS / 4 GB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['rss']:.0f} | {r['wall'] / WALL_GOAL_S:.2f} | "
              f"{r['rss'] / MEMORY_GOAL_MB:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=60000)
    parser.add_argument("--test", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=256, help="t of the timed runs; 0 skips them")
    parser.add_argument("--shard-size", type=int, default=16, help="runs per shard table at --runs (mnist.yaml's)")
    parser.add_argument("--memory-runs", type=int, default=4000, help="t of the memory runs; 0 skips them")
    parser.add_argument("--keep", type=Path, help="build the inputs here and keep them (default: a temporary folder)")
    a = parser.parse_args()
    print(f"# {platform.node()}: {cpu_model()}; n = {a.examples:,} training and {a.test:,} test examples, "
          f"t = {a.runs} runs (memory: t = {a.memory_runs:,}); {time.strftime('%Y-%m-%d')}")
    with tempfile.TemporaryDirectory(prefix="analysis_scale.") as temp:
        root = a.keep or Path(temp)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PIPELINE_JOBSERVER="off", PYTHONPYCACHEPREFIX=str(Path(temp) / "pycache"))
        start = time.perf_counter()
        rng = np.random.default_rng(0)
        data = root / "data"
        kinds, copies = dataset(data, a.examples, a.test, rng)
        means = example_means(kinds, rng)
        archs = {"mlp": (1.5, 1), "cnn": (1.8, 2)}  # noise of the margins, seed
        shards = {arch: write_shards(root / "shards" / arch, arch, a.runs, a.shard_size, means, copies, a.test, *spec)
                  for arch, spec in archs.items()} if a.runs else {}
        kfold = kfold_tables(root / "kfold", io.read_parquet(data / "index.parquet"), means, rng)
        print(f"# inputs built in {time.perf_counter() - start:.0f} s under {root}", flush=True)
        subprocess.run([sys.executable, "-c", "import pipeline.feldman.convergence, pipeline.feldman.estimate, "
                        "pipeline.atlas.figures, pipeline.claims.evaluate, pipeline.job"], env=env, check=True,
                       cwd=Path(__file__).resolve().parents[1])
        logs = root / "logs"
        (logs / "memory").mkdir(parents=True, exist_ok=True)
        if a.runs:
            results = run_jobs({**feldman_jobs(root, data, shards), **atlas_jobs(root, data, shards, kfold),
                                **claims_job(root, data, shards, kfold)}, env, logs)
            print_rows(f"## t = {a.runs} runs: every analysis job", results)
        if not a.memory_runs:
            return
        start = time.perf_counter()
        big = {"mlp": write_shards(root / "memory" / "shards", "mlp", a.memory_runs, a.memory_runs, means, copies,
                                   a.test, *archs["mlp"])}
        print(f"\n# shards of t = {a.memory_runs:,} runs written in {time.perf_counter() - start:.0f} s", flush=True)
        jobs = {**feldman_jobs(root / "memory", data, big, figures=False),
                **claims_job(root / "memory", data, big, kfold)}
        convergence = jobs.pop("feldman convergence")
        results = run_jobs(jobs, env, logs / "memory")
        results["feldman convergence (1 split per t')"] = measure(
            ["-c", CONVERGENCE_ONE_SPLIT, *convergence[1]], env, logs / "memory" / "convergence.log")
        print_rows(f"## t = {a.memory_runs:,} runs: the jobs that read the shard tables", results)


if __name__ == "__main__":
    main()
