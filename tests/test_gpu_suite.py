"""The GPU suite's comparison of a CPU and a CUDA run: exact where no model computes, statistics elsewhere."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import gpu_suite  # noqa: E402


def write(root, name, frame):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path)


def test_tables_compare_exactly_or_by_statistics(tmp_path):
    rng = np.random.default_rng(0)
    cpu, cuda = tmp_path / "cpu", tmp_path / "cuda"
    index = pd.DataFrame({"index": np.arange(100), "label": rng.integers(0, 10, 100)})
    mem = rng.uniform(0, 1, 100)
    for root, shift in ((cpu, 0.0), (cuda, 0.01)):
        write(root, "data/d/index.parquet", index)
        write(root, "feldman/d/mlp/memorization.parquet", pd.DataFrame({"index": np.arange(100), "mem": mem + shift}))
        write(root, "mrgan/d/nn.parquet", pd.DataFrame({"distance": mem * (1 if root is cpu else 3)}))
        logpx = -100 * mem if root is cpu else np.where(np.arange(100) < 10, np.nan, -100 * mem)
        write(root, "kfold_vae/d/logpx.parquet", pd.DataFrame({"logpx": logpx}))  # CUDA: 10 diverged to NaN
        write(root, "mrgan/d/scores.parquet", pd.DataFrame({"ct": [-1.0 if root is cpu else 5.0]}))
        flagged = np.flatnonzero(mem + shift > 0.6)  # a selection by score: rows differ with the scores
        write(root, "atlas/d/flagged.parquet", pd.DataFrame({"index": flagged, "mem": mem[flagged] + shift}))
    rows = {r["table"]: r for r in gpu_suite.compare_tables(cpu, cuda)}
    assert rows["data/d/index.parquet"]["status"] == "equal" and rows["data/d/index.parquet"]["ok"]
    assert rows["feldman/d/mlp/memorization.parquet"]["status"] == "same statistics"
    assert rows["atlas/d/flagged.parquet"]["status"] == "same statistics"
    n_cpu, n_cuda = (mem > 0.6).sum(), (mem + 0.01 > 0.6).sum()
    assert n_cpu != n_cuda and rows["atlas/d/flagged.parquet"]["detail"] == f"{n_cpu} vs {n_cuda} rows"
    # per-example distances three times as large: not the same finding
    assert not rows["mrgan/d/nn.parquet"]["ok"] and rows["mrgan/d/nn.parquet"]["detail"].startswith("distance: mean")
    assert not rows["kfold_vae/d/logpx.parquet"]["ok"]  # the finite 90 alone would look the same
    # one run's single number is shown, not judged: the per-example tables it comes from are
    assert rows["mrgan/d/scores.parquet"]["status"] == "reported" and rows["mrgan/d/scores.parquet"]["ok"]
    assert rows["mrgan/d/scores.parquet"]["detail"] == "ct: mean -1 (cpu) vs 5 (cuda), 1 value(s), not judged"
    # a table no model computes must be equal, not merely similar, and have the same rows
    write(cuda, "data/d/index.parquet", index.assign(label=(index["label"] + 1) % 10))
    write(cuda, "data/d/other.parquet", index)
    write(cpu, "data/d/other.parquet", index[:99])
    rows = {r["table"]: r for r in gpu_suite.compare_tables(cpu, cuda)}
    assert not rows["data/d/index.parquet"]["ok"] and not rows["data/d/other.parquet"]["ok"]
    assert rows["data/d/other.parquet"]["detail"] == "99 vs 100 rows"
    compared, differ = gpu_suite.identical(cpu, cuda)
    assert compared == 7 and set(differ) == {"data/d/index.parquet", "data/d/other.parquet", "atlas/d/flagged.parquet",
                                             "feldman/d/mlp/memorization.parquet", "mrgan/d/nn.parquet",
                                             "mrgan/d/scores.parquet", "kfold_vae/d/logpx.parquet"}


def test_gpu_bundle_fetches_only_what_the_target_lacks(tmp_path):
    """The target's freeze file, in any of pip's spellings, removes those distributions and the project itself."""
    import gpu_bundle

    have = tmp_path / "have.txt"
    have.write_text("# the GPU image\nPyYAML==6.0.3\nnumpy @ file:///wheels/numpy.whl\ntorch\n"
                    "scikit_learn>=1.0\n-e /src\n")
    assert gpu_bundle.read_have(have) == {"pyyaml", "numpy", "torch", "scikit-learn"}
    resolved = {"pyyaml": "6.0.3", "numpy": "2.4.6", "torch": "2.14.1", "scikit-learn": "1.9.1",
                "snakemake": "9.27.1", "connection-pool": "0.0.3", "memorization-pipeline": "0.1.0"}
    assert gpu_bundle.missing(resolved, gpu_bundle.read_have(have), own="memorization-pipeline") == {
        "connection-pool": "0.0.3", "snakemake": "9.27.1"}
    have.write_text("torch 2.11.0\n")  # `pip list`'s columns, not a freeze
    with pytest.raises(SystemExit, match=r"^--have .*have\.txt: 'torch 2\.11\.0' is not a package name or "
                                         r"requirement \(Expected[^\n]*\)$"):
        gpu_bundle.read_have(have)


def test_a_failing_part_is_recorded_and_the_parts_before_and_after_it_are_kept(tmp_path, monkeypatch, capsys):
    """A GPU lease is short: a part that breaks must not cost the others their measurements."""
    def scale_fails(*args):
        raise RuntimeError("snakemake in scale failed: no MNIST")

    monkeypatch.setattr(gpu_suite, "ceilings", lambda device: {"device": "test device", "matmul_tf32_tflops": 1.5})
    monkeypatch.setattr(gpu_suite, "scale_part", scale_fails)
    monkeypatch.setattr(gpu_suite, "benchmarks_part", lambda out, device, small, timeout: {
        "neighbors": {"command": "python benchmarks/neighbors_throughput.py", "seconds": 2.0, "output": "ratio 3.1x"}})
    monkeypatch.setattr(sys, "argv", ["gpu_suite.py", "--out", str(tmp_path), "--device", "cpu",
                                      "--parts", "benchmarks", "scale", "ceilings"])
    with pytest.raises(SystemExit) as exit_status:
        gpu_suite.main()
    assert exit_status.value.code == 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert list(summary) == ["software", "ceilings", "scale", "benchmarks"]  # the suite's order, not the argument's
    assert summary["ceilings"]["matmul_tf32_tflops"] == 1.5
    assert summary["scale"] == {"error": "RuntimeError: snakemake in scale failed: no MNIST"}
    assert summary["benchmarks"]["neighbors"]["output"] == "ratio 3.1x"
    text = (tmp_path / "summary.md").read_text()
    assert text.startswith("# GPU suite: test device")
    assert "## Feldman at scale\n\nFAILED:\n\n```\nRuntimeError: snakemake in scale failed: no MNIST\n```\n" in text
    assert "### neighbors (2 s)" in text and not list(tmp_path.glob(".*.tmp"))
    printed = capsys.readouterr().out
    assert "--- scale FAILED\nTraceback (most recent call last):" in printed and "in scale_fails" in printed


def test_the_exit_status_counts_only_the_parts_this_run_ran(tmp_path, monkeypatch):
    """A later call in the same --out folder keeps the older parts' results but is judged by its own."""
    def workflow_result(failed):
        return {"seconds": {"cpu": 60.0}, "tables": 2, "equal": 1, "same_statistics": 0, "reported": [],
                "failed": failed, "repeat_compared": 2, "repeat_differ": [], "served_jobs": 9, "refused_jobs": 0}

    (tmp_path / "summary.json").write_text(json.dumps({"workflow": workflow_result(["scores.parquet: differ"])}))
    monkeypatch.setattr(gpu_suite, "ceilings", lambda device: {"device": "test device", "matmul_tf32_tflops": 1.5})
    monkeypatch.setattr(sys, "argv", ["gpu_suite.py", "--out", str(tmp_path), "--device", "cpu", "--parts", "ceilings"])
    with pytest.raises(SystemExit) as exit_status:
        gpu_suite.main()
    assert exit_status.value.code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["workflow"]["failed"] == ["scores.parquet: differ"]  # kept, not counted
    assert summary["ceilings"]["matmul_tf32_tflops"] == 1.5
    monkeypatch.setattr(gpu_suite, "workflow_part",
                        lambda out, device, cores: workflow_result(["atlas.parquet: differ"]))
    monkeypatch.setattr(sys, "argv", ["gpu_suite.py", "--out", str(tmp_path), "--device", "cpu", "--parts", "workflow"])
    with pytest.raises(SystemExit) as exit_status:
        gpu_suite.main()
    assert exit_status.value.code == 1


def test_a_failed_workflow_run_shows_the_failed_jobs_own_log_first(tmp_path):
    """Snakemake says that a job failed; the job's log says why (here: no MNIST under --mnist-root)."""
    config = gpu_suite.scale_config(tmp_path / "no_mnist", 4, 1, "cpu")
    with pytest.raises(RuntimeError) as failure:
        gpu_suite.run_snakemake(tmp_path / "scale", config, "results/data/mnist/index.parquet", cores=1)
    message = str(failure.value)
    assert message.splitlines()[:2] == [f"snakemake in {tmp_path / 'scale'} failed", "results/logs/data/mnist.log:"]
    reason = message.index("error: dataset 'mnist': not found under data_root=")
    assert reason < message.index("Error in rule prepare_dataset")  # the job's reason, then Snakemake's account


def test_a_benchmark_past_its_time_is_stopped_with_what_it_printed_and_the_next_one_runs(tmp_path, monkeypatch):
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    (bench / "hangs.py").write_text("import time\nprint('baseline 1.0 s', flush=True)\ntime.sleep(60)\n")
    (bench / "quick.py").write_text("import sys\nprint('ratio 2.0x on', sys.argv[1:])\n")
    monkeypatch.setattr(gpu_suite, "REPO", tmp_path)
    monkeypatch.setattr(gpu_suite, "benchmark_commands", lambda device, small: {
        "hangs": ["hangs.py"], "quick": ["quick.py", "--device", device]})
    results = gpu_suite.benchmarks_part(tmp_path, "cpu", True, timeout=3)
    assert results["hangs"]["output"] == "stopped after 3 s (--benchmark-timeout); printed so far:\nbaseline 1.0 s"
    assert 3 <= results["hangs"]["seconds"] < 30
    assert results["quick"]["output"] == "ratio 2.0x on ['--device', 'cpu']"
    assert (tmp_path / "benchmark_hangs.txt").read_text() == "baseline 1.0 s\n"
