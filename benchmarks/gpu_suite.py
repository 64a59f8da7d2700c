"""Everything a GPU machine should check and measure, in one command.

    python benchmarks/gpu_suite.py [--out results/gpu_suite] [--parts ceilings workflow benchmarks scale]
                                   [--mnist-root DIR] [--scale-models 4000]

Parts (all by default):
- ``ceilings``: the device's own limits measured here: float32, TF32 and bf16 matrix products
  (8192^3) and a device-to-device copy. Other parts' rates are read against these.
- ``workflow``: ``.test/all_methods.yaml`` (every training and sampling rule of every method, the
  atlas and the figures) run by Snakemake with ``device=cpu``, then twice with ``device=cuda``.
  Tables the GPU does not touch (data, splits, neighbours) must be equal. Tables of trained models
  must give the same statistics: per numeric column, the CUDA mean may differ from the CPU mean by
  at most max(0.25 x the CPU standard deviation, 4 standard errors of the difference of the two
  means, 10 % of |CPU mean|, 1e-6), and a column must hold as many NaN or infinite values. Training
  on another device follows another rounding path, and the DDPM's sampling and the VAE's importance
  samples draw from CUDA's own random streams, so per-example values may differ, a small table is
  two samples of one distribution (hence the standard errors), and the rows of a selection (atlas
  examples flagged by a score) may differ. A column with fewer than 10 values (one run's summary
  numbers: an FID, a correlation, a class's C_T) is reported, not judged: one number of a stochastic
  training moves between devices by more than any tolerance that would still catch a bug, and the
  per-example tables it is computed from are judged. Index and label columns are not compared. The
  two CUDA runs show whether the GPU path is deterministic (same config and seeds, same tables).
- ``benchmarks``: every benchmark of this folder that has a GPU path, run with ``--device cuda``;
  each prints its ratio against its own baseline measured in the same run. One that runs past
  ``--benchmark-timeout`` seconds (300) is stopped and reported so, and the next one runs.
- ``scale``: the Feldman & Zhang goal at GPU scale: ``--scale-models`` MLPs 784-512-256-10 on full
  MNIST (70 % subsets, 10 epochs, batch 128) with ``shard_size: auto``, through the workflow; the
  training time against the time the arithmetic alone takes at the measured TF32 matmul rate.
  Needs MNIST's four idx files under ``--mnist-root``/MNIST/raw.

Writes ``summary.json`` and ``summary.md`` under ``--out`` after every part, so that a run stopped by a
time limit keeps the parts it finished (a later run into the same ``--out`` keeps the parts it does not
rerun), and prints the summary last. A part that fails is recorded with its error, the parts after it
still run, and the exit status is 1; it counts only the parts this run ran.
Runs on a CPU-only machine too (``--device cpu``, small sizes) to check the suite itself.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from pipeline import io, jobserver, paths
from timing import timed

REPO = Path(__file__).resolve().parent.parent
EXACT_STAGES = ("data", "splits", "neighbors")  # tables no model computes: equal on any device
ID_COLUMNS = {"index", "run", "seed", "query", "rank", "ref_index", "repeat", "fold", "epoch", "step", "label",
              "source_index", "sample", "nearest_sample", "nearest_validation", "size", "width", "n_members",
              "nearest", "second", "nearest_label", "class", "cell", "position", "train_index", "test_index",
              "train_label", "test_label"}
PARTS = ("ceilings", "scale", "workflow", "benchmarks")  # in the order they run
MIN_JUDGED_VALUES = 10  # fewer: one run's summary numbers, reported but not judged (module docstring)


def log(message: str) -> None:
    print(message, flush=True)


def ceilings(device: str) -> dict:
    """Matrix-product rates and copy bandwidth of this device, each the median of 10 timed runs."""
    import torch

    dev = torch.device(device)
    n = 8192 if dev.type == "cuda" else 1024
    out = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
           "torch": torch.__version__}

    def median_seconds(fn, repeats=10):
        timed(fn, dev)  # warm-up
        return float(np.median([timed(fn, dev)[0] for _ in range(repeats)]))

    for name, dtype, tf32 in [("fp32", torch.float32, False), ("tf32", torch.float32, True),
                              ("bf16", torch.bfloat16, False)]:
        if dev.type == "cpu" and name != "fp32":
            continue
        torch.backends.cuda.matmul.allow_tf32 = tf32
        a, b = (torch.randn(n, n, device=dev, dtype=dtype) for _ in range(2))
        out[f"matmul_{name}_tflops"] = 2 * n**3 / median_seconds(lambda: a @ b) / 1e12
    torch.backends.cuda.matmul.allow_tf32 = True
    x = torch.randn(256 * 2**20 if dev.type == "cuda" else 16 * 2**20, device=dev)  # 1 GiB on a GPU
    y = torch.empty_like(x)
    out["copy_gbps"] = 2 * x.numel() * 4 / median_seconds(lambda: y.copy_(x)) / 1e9
    return out


def software() -> dict:
    """Versions this run used: a GPU image brings its own torch, numpy and pandas, not this project's pins."""
    import platform
    from importlib import metadata

    import torch

    versions = {"python": platform.python_version(), "cuda": torch.version.cuda,
                "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None}
    for name in ("torch", "torchvision", "numpy", "pandas", "pyarrow", "scipy", "snakemake", "faiss-cpu"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


# --- workflow on CPU and CUDA ----------------------------------------------------------------


def child_env() -> dict[str, str]:
    """This environment with the repository and this Python first on the paths, keeping what they held
    (a GPU node's offline bundle is on PYTHONPATH: docs/gpu.md, "A GPU machine that cannot download")."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}


def run_snakemake(workdir: Path, config: dict, *targets: str, cores: int) -> float:
    """Run the repository's workflow in ``workdir`` with ``config``; seconds taken."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--cores", str(cores), "--rerun-incomplete", *targets]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=child_env())
    if result.returncode != 0:
        raise RuntimeError(f"snakemake in {workdir} failed\n{failed_job_logs(workdir, result.stderr)}"
                           f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return time.perf_counter() - start


def failed_job_logs(workdir: Path, snakemake_output: str) -> str:
    """The last lines of each failed job's own log: they say why, where Snakemake only says that."""
    named = re.findall(r"log: (.+?) \(check log file", snakemake_output)
    logs = dict.fromkeys(log for line in named for log in line.split(", "))
    tails = []
    for log in logs:
        path = workdir / log
        lines = path.read_text(errors="replace").splitlines()[-5:] if path.is_file() else ["(no log written)"]
        tails.append(f"{log}:\n" + "\n".join(lines) + "\n")
    return "".join(tails)


def result_files(root: Path) -> dict[str, Path]:
    skip = ("logs", "benchmarks")
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*"))
            if p.suffix in (".parquet", ".npy") and p.relative_to(root).parts[0] not in skip}


def column_values(series: pd.Series) -> np.ndarray | None:
    """Numbers of a column as one float array (lists flattened), or None for text."""
    first = series.dropna().iloc[0] if series.notna().any() else None
    if isinstance(first, (list, np.ndarray)):
        return np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in series]) if len(series) else None
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=np.float64)
    return None


def same_statistics(a: np.ndarray, b: np.ndarray) -> tuple[bool, float, float, float]:
    """(agree, cpu mean, cuda mean, tolerance) under the rule in this module's docstring; columns of
    equal length must also hold equally many NaN or infinite values (a diverged model's NaNs)."""
    same_gaps = len(a) != len(b) or np.isfinite(a).sum() == np.isfinite(b).sum()
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not len(a) or not len(b):
        return same_gaps and len(a) == len(b), math.nan, math.nan, 0.0
    standard_error = math.sqrt(float(a.var()) / len(a) + float(b.var()) / len(b))
    tolerance = max(0.25 * float(a.std()), 4 * standard_error, 0.1 * abs(float(a.mean())), 1e-6)
    agree = same_gaps and abs(float(a.mean()) - float(b.mean())) <= tolerance
    return agree, float(a.mean()), float(b.mean()), tolerance


def compare_tables(cpu_root: Path, cuda_root: Path, names: tuple[str, str] = ("cpu", "cuda")) -> list[dict]:
    """One row per table: its status (equal, same statistics, reported, different, missing), whether
    it passes, and the columns behind the status. ``names``: what the two runs are called in it."""
    rows = []
    cpu, cuda = result_files(cpu_root), result_files(cuda_root)
    for name in sorted(set(cpu) | set(cuda)):
        row = {"table": name, "stage": name.split("/")[0], "detail": ""}
        if name not in cpu or name not in cuda:
            rows.append({**row, "status": "missing on " + (names[1] if name in cpu else names[0]), "ok": False})
            continue
        npy = name.endswith(".npy")
        if npy:
            a, b = np.load(cpu[name]), np.load(cuda[name])
            shapes_ok = a.shape == b.shape
        else:
            a, b = pd.read_parquet(cpu[name]), pd.read_parquet(cuda[name])
            shapes_ok = list(a.columns) == list(b.columns)  # rows may differ: a selection by score
        if not shapes_ok:
            rows.append({**row, "status": "different", "detail": f"shape {a.shape} vs {b.shape}", "ok": False})
            continue
        if npy:
            equal = np.array_equal(a, b)
            columns = {"array": (a.astype(float).ravel(), b.astype(float).ravel())}
        else:
            equal = a.equals(b)
            columns = {col: (column_values(a[col]), column_values(b[col])) for col in a.columns
                       if col not in ID_COLUMNS}
        differing, reported = [], []
        for col, (va, vb) in columns.items():
            if equal or va is None or vb is None or np.array_equal(va, vb, equal_nan=True):
                continue
            agree, ma, mb, tol = same_statistics(va, vb)
            text = f"{col}: mean {ma:.4g} ({names[0]}) vs {mb:.4g} ({names[1]})"
            if min(len(va), len(vb)) < MIN_JUDGED_VALUES:
                reported.append(f"{text}, {min(len(va), len(vb))} value(s), not judged")
            elif not agree:
                differing.append(f"{text}, tolerance {tol:.2g}")
        rows_note = [] if len(a) == len(b) else [f"{len(a)} vs {len(b)} rows"]
        exact_needed = row["stage"] in EXACT_STAGES
        if equal:
            status = "equal"
        elif exact_needed or differing:
            status = "different"
        else:
            status = "same statistics" if not reported else "reported"
        detail = "; ".join(rows_note + (differing or ([] if exact_needed else reported)))
        rows.append({**row, "status": status, "detail": detail, "ok": status != "different"})
    return rows


def identical(root_a: Path, root_b: Path) -> tuple[int, list[str]]:
    """(tables compared, names of those that differ) between two runs of the same config."""
    a, b = result_files(root_a), result_files(root_b)
    differ = []
    for name in sorted(set(a) & set(b)):
        if name.endswith(".npy"):
            same = np.array_equal(np.load(a[name]), np.load(b[name]))
        else:
            same = pd.read_parquet(a[name]).equals(pd.read_parquet(b[name]))
        if not same:
            differ.append(name)
    return len(set(a) & set(b)), differ + sorted(set(a) ^ set(b))


def workflow_part(out: Path, device: str, cores: int) -> dict:
    config = yaml.safe_load((REPO / ".test" / "all_methods.yaml").read_text())
    seconds = {}
    seconds["cpu"] = run_snakemake(out / "workflow_cpu", {**config, "device": "cpu"}, cores=cores)
    log(f"workflow on cpu: {seconds['cpu']:.0f} s")
    for run in ("a", "b"):
        seconds[f"{device}_{run}"] = run_snakemake(out / f"workflow_{device}_{run}", {**config, "device": device},
                                                   cores=cores)
        log(f"workflow on {device} ({run}): {seconds[f'{device}_{run}']:.0f} s")
    rows = compare_tables(out / "workflow_cpu" / paths.RESULTS, out / f"workflow_{device}_a" / paths.RESULTS)
    pd.DataFrame(rows).to_csv(out / "workflow_comparison.csv", index=False)
    compared, differ = identical(out / f"workflow_{device}_a" / paths.RESULTS,
                               out / f"workflow_{device}_b" / paths.RESULTS)
    # the CUDA jobs ran as forks of the job server (pipeline/jobserver.py), each initializing CUDA itself
    served, refused = jobserver.jobs_in_log((out / f"workflow_{device}_a" / paths.LOGS / "jobserver.log").read_text())
    return {"seconds": seconds, "tables": len(rows), "equal": sum(r["status"] == "equal" for r in rows),
            "same_statistics": sum(r["status"] == "same statistics" for r in rows),
            "reported": [f"{r['table']}: {r['detail']}" for r in rows if r["status"] == "reported"],
            "failed": [f"{r['table']}: {r['status']} ({r['detail']})" for r in rows if not r["ok"]],
            "repeat_compared": compared, "repeat_differ": differ,
            "served_jobs": len(served), "refused_jobs": len(refused)}


# --- benchmarks ------------------------------------------------------------------------------


def benchmark_commands(device: str, small: bool) -> dict[str, list[str]]:
    """Each benchmark with a GPU path, at a size that fills a GPU (or checks the suite on a CPU)."""
    if small:
        return {
            "feldman_shard_mlp": ["feldman_shard_throughput.py", "--quick", "--device", device],
            "neighbors": ["neighbors_throughput.py", "--queries", "200", "--refs", "2000", "--device", device],
            "diffusion": ["diffusion_throughput.py", "--quick", "--device", device],
            "kfold_vae_likelihood": ["kfold_vae_likelihood.py", "--quick", "--device", device],
            "mrgan_steps": ["mrgan_steps.py", "--quick", "--device", device],
            "precision": ["precision_throughput.py", "--quick", "--repeats", "1", "--device", device],
        }
    return {
        "feldman_shard_mlp": ["feldman_shard_throughput.py", "--device", device, "--models", "1000",
                              "--n-train", "5000", "--loop-models", "10"],
        "feldman_shard_mlp_fp32": ["feldman_shard_throughput.py", "--device", device, "--models", "1000",
                                   "--n-train", "5000", "--loop-models", "10", "--tf32", "off"],
        "feldman_shard_cnn": ["feldman_shard_throughput.py", "--device", device, "--arch", "cnn", "--models", "256",
                              "--n-train", "5000", "--loop-models", "4"],
        "neighbors": ["neighbors_throughput.py", "--queries", "10000", "--refs", "60000", "--dim", "784",
                      "--device", device],
        "diffusion": ["diffusion_throughput.py", "--device", device, "--widths", "16", "64", "--batch", "256",
                      "--size", "32", "--steps", "100", "--samples", "1024"],
        "kfold_vae_likelihood": ["kfold_vae_likelihood.py", "--device", device, "--examples", "4096",
                                 "--samples", "256"],
        "mrgan_steps": ["mrgan_steps.py", "--device", device, "--steps", "300"],
        "precision": ["precision_throughput.py", "--device", device, "--repeats", "3"],
    }


def benchmarks_part(out: Path, device: str, small: bool, timeout: float) -> dict:
    """Each benchmark in turn; one that runs past ``timeout`` seconds is stopped and reported so, with what it
    printed, and the next one runs (one slow benchmark must not use up a short GPU lease)."""
    results = {}
    for name, command in benchmark_commands(device, small).items():
        start = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / command[0]), *command[1:]],
                                  capture_output=True, text=True, timeout=timeout,
                                  env={**child_env(), "PYTHONUNBUFFERED": "1"})  # a stopped one's lines kept
            stdout, stderr = proc.stdout, proc.stderr
            text = stdout.strip() if proc.returncode == 0 else f"failed ({proc.returncode}): {stderr[-1500:]}"
        except subprocess.TimeoutExpired as expired:
            stdout, stderr = as_text(expired.stdout), as_text(expired.stderr)
            text = f"stopped after {timeout:g} s (--benchmark-timeout); printed so far:\n{stdout.strip()}"
        (out / f"benchmark_{name}.txt").write_text(stdout + stderr)
        results[name] = {"command": "python benchmarks/" + " ".join(command), "seconds": time.perf_counter() - start,
                         "output": text}
        log(f"--- {name} ({results[name]['seconds']:.0f} s)\n{text}")
    return results


def as_text(output: bytes | str | None) -> str:
    """What a stopped process printed (bytes even under text=True when it is stopped)."""
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


# --- Feldman at scale ------------------------------------------------------------------------


def scale_config(mnist_root: Path, models: int, epochs: int, device: str) -> dict:
    return {
        "data_root": str(mnist_root), "device": device,
        "datasets": {"mnist": {"kind": "mnist"}},
        "splits": {"datasets": [], "feldman": {"runs": models, "ratio": 0.7}},
        "neighbors": {},
        "feldman": {"datasets": ["mnist"], "shard_size": "auto", "compare": [],
                    "architectures": {"mlp": {"kind": "mlp", "hidden": [512, 256], "epochs": epochs,
                                              "batch_size": 128, "lr": 0.1, "momentum": 0.9}}},
        "kfold_vae": {"datasets": []}, "mrgan": {"datasets": []}, "diffusion": {"run": []},
    }


def scale_part(out: Path, mnist_root: Path, models: int, epochs: int, device: str, tf32_tflops: float | None) -> dict:
    workdir = out / "scale"
    config = scale_config(mnist_root.resolve(), models, epochs, device)
    shard = f"{paths.FELDMAN_ARCH.format(dataset='mnist', arch='mlp')}/shards/shard0.parquet"
    wall = run_snakemake(workdir, config, shard, cores=4)
    bench = pd.read_csv(workdir / paths.BENCHMARKS / "feldman/mnist/mlp/shard0.tsv", sep="\t")
    log_text = (workdir / paths.LOGS / "feldman/mnist/mlp/shard0.log").read_text()
    stack = re.search(r"-> (\d+) models at once", log_text)
    trained = re.search(r"trained \d+ models in ([\d.]+)s; mean test accuracy ([\d.]+)", log_text)
    table = pd.read_parquet(workdir / shard, columns=["run", "test_accuracy"])
    n_train = 60000
    steps = epochs * -(-round(0.7 * n_train) // 128)
    sizes = [784, 512, 256, 10]
    per_example = sum(2 * i * o for i, o in zip(sizes[:-1], sizes[1:]))
    flops = models * steps * 128 * (3 * per_example - 2 * 784 * 512)  # forward, and backward without input grads
    result = {"models": models, "epochs": epochs, "stack_size": int(stack.group(1)) if stack else None,
              "job_seconds": float(bench["s"].iloc[0]), "training_seconds": float(trained.group(1)) if trained else None,
              "workflow_seconds": wall, "mean_test_accuracy": float(table["test_accuracy"].mean()),
              "runs_in_table": len(table), "training_flop": flops}
    if tf32_tflops:
        result["arithmetic_seconds_at_tf32_matmul_rate"] = flops / (tf32_tflops * 1e12)
    return result


# --- summary ---------------------------------------------------------------------------------


def ceilings_lines(c: dict) -> list[str]:
    return [f"- {k}: {v:.3g}" if isinstance(v, float) else f"- {k}: {v}" for k, v in c.items()]


def workflow_lines(w: dict) -> list[str]:
    return [f"- seconds: {', '.join(f'{k} {v:.0f}' for k, v in w['seconds'].items())}",
            f"- {w['tables']} tables: {w['equal']} equal, {w['same_statistics']} same statistics, "
            f"{len(w['reported'])} with summary numbers reported, not judged, {len(w['failed'])} failed",
            *[f"  - FAILED {f}" for f in w["failed"]], *[f"  - reported {r}" for r in w["reported"]],
            f"- two CUDA runs: {w['repeat_compared']} tables compared, {len(w['repeat_differ'])} differ"
            + (f" ({', '.join(w['repeat_differ'][:8])})" if w["repeat_differ"] else ""),
            f"- jobs of the CUDA run forked by the job server: {w['served_jobs']} "
            f"(refused, run as their own process: {w['refused_jobs']})"]


def scale_lines(s: dict) -> list[str]:
    return [f"- {k}: {v}" for k, v in s.items()]


def benchmarks_lines(benchmarks: dict) -> list[str]:
    return [line for name, b in benchmarks.items()
            for line in [f"### {name} ({b['seconds']:.0f} s)", "", f"`{b['command']}`", "", "```", b["output"], "```", ""]]


SECTIONS = {"ceilings": ("Ceilings measured here", ceilings_lines),  # in the order of PARTS
            "scale": ("Feldman at scale", scale_lines),
            "workflow": ("Workflow (.test/all_methods.yaml), CPU vs CUDA", workflow_lines),
            "benchmarks": ("Benchmarks", benchmarks_lines)}


def markdown(summary: dict) -> str:
    lines = [f"# GPU suite: {summary.get('ceilings', {}).get('device', '?')}", ""]
    if "software" in summary:
        lines += ["## Software", "", ", ".join(f"{k} {v}" for k, v in summary["software"].items()), ""]
    for part, (title, part_lines) in SECTIONS.items():
        if part in summary:
            result = summary[part]
            body = ["FAILED:", "", "```", result["error"], "```"] if "error" in result else part_lines(result)
            lines += [f"## {title}", "", *body, ""]
    return "\n".join(lines)


def run_part(name: str, a: argparse.Namespace, summary: dict) -> dict:
    if name == "ceilings":
        return ceilings(a.device)
    if name == "scale":
        return scale_part(a.out, a.mnist_root, a.scale_models, a.scale_epochs, a.device,
                          summary.get("ceilings", {}).get("matmul_tf32_tflops"))
    if name == "workflow":
        return workflow_part(a.out, a.device, a.cores)
    return benchmarks_part(a.out, a.device, a.small, a.benchmark_timeout)


def write_summary(out: Path, summary: dict) -> None:
    for name, text in (("summary.json", json.dumps(summary, indent=1)), ("summary.md", markdown(summary))):
        with io.atomic_path(out / name) as tmp:
            tmp.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/gpu_suite"))
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--device", default="cuda", help="cuda, or cpu to check the suite on a CPU machine")
    parser.add_argument("--cores", type=int, default=min(8, os.cpu_count() or 1), help="snakemake --cores")
    parser.add_argument("--mnist-root", type=Path, default=Path("data"), help="holds MNIST/raw/*-ubyte")
    parser.add_argument("--scale-models", type=int, default=4000)
    parser.add_argument("--scale-epochs", type=int, default=10)
    parser.add_argument("--small", action="store_true", help="benchmarks at quick sizes (checking the suite)")
    parser.add_argument("--benchmark-timeout", type=float, default=300,
                        help="seconds after which one benchmark is stopped and reported so")
    a = parser.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    summary_path = a.out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    summary["software"] = software()
    for name in (part for part in PARTS if part in a.parts):
        try:
            summary[name] = run_part(name, a, summary)
            if name in ("ceilings", "scale"):
                log(json.dumps(summary[name], indent=1))
        except Exception as error:  # one part's failure must not cost the others their measurements
            summary[name] = {"error": f"{type(error).__name__}: {error}"}
            log(f"--- {name} FAILED\n{traceback.format_exc()}")
        write_summary(a.out, summary)  # after every part: a run stopped by a time limit keeps what it measured
    log(markdown({k: v for k, v in summary.items() if k != "benchmarks"}))
    failed = [name for name in a.parts if "error" in summary[name]]
    if "workflow" in a.parts:  # an older run's failures, kept in summary.json, are not this run's
        failed += summary["workflow"].get("failed", [])
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
