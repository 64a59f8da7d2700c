"""`python -m pipeline.inspect`: schema, row count and head of tables; one example across tables."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
import yaml

from pipeline import io, paths
from pipeline.errors import PipelineError
from pipeline.inspect import main

SUBSET = paths.DIFFUSION_SUBSET.format(experiment="sweep", size=4)  # the diffusion job of the fixtures
JOB = paths.DIFFUSION_JOB.format(experiment="sweep", size=4, width=8, seed=0)


@pytest.fixture
def results(tmp_path):
    io.write_parquet(pd.DataFrame({"index": [0, 1, 7], "label": [3, 4, 5], "feldman_mem_mlp": [0.0, 0.5, 0.9],
                                   "diffusion_replicates_sweep_n4_w8_seed0": pd.array([pd.NA, 2, 0], dtype="Int64")}),
                     tmp_path / paths.ATLAS.format(dataset="toy") / "atlas.parquet")
    io.write_parquet(pd.DataFrame({"index": [0, 1, 7], "label": [3, 4, 5], "mem": [0.0, 0.5, 0.9]}),
                     tmp_path / paths.FELDMAN_ARCH.format(dataset="toy", arch="mlp") / "memorization.parquet")
    io.write_parquet(pd.DataFrame({"train_index": [7, 1], "test_index": [2, 7], "infl": [0.3, 0.2]}),
                     tmp_path / paths.FELDMAN_ARCH.format(dataset="toy", arch="mlp") / "influence_pairs.parquet")
    # MR-GAN: `index` is a sample position, `nearest` the training example
    io.write_parquet(pd.DataFrame({"set": ["generated", "generated", "test"], "index": [7, 8, 0],
                                   "nearest": [1, 7, 0]}),
                     tmp_path / paths.MRGAN_JOB.format(dataset="toy", tau="0", seed=0) / "nn_distances.parquet")
    io.write_parquet(pd.DataFrame({"sample": [0, 1], "nearest": [7, 1], "second": [1, 0]}),
                     tmp_path / JOB / "replicates.parquet")
    # another data set with the same indices must not be mixed in
    io.write_parquet(pd.DataFrame({"index": [7], "label": [0], "mem": [0.1]}),
                     tmp_path / paths.FELDMAN_ARCH.format(dataset="other", arch="mlp") / "memorization.parquet")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"diffusion": {"experiments": {"sweep": {"dataset": "toy"}}}}))
    return tmp_path


def test_prints_schema_row_count_and_head(results, capsys):
    main([str(results / paths.ATLAS.format(dataset="toy") / "atlas.parquet"), "--head", "2"])
    out = capsys.readouterr().out
    assert "rows: 3" in out
    assert "feldman_mem_mlp" in out and "double" in out
    assert "diffusion_replicates_sweep_n4_w8_seed0  int64" in out
    head = out.split("head(2):")[1].strip().splitlines()
    assert len(head) == 3 and head[0].split()[:2] == ["index", "label"]  # header + 2 rows
    assert head[2].split()[:2] == ["1", "4"]


def test_folder_lists_every_table(results, capsys):
    main([str(results / paths.RESULTS), "--head", "0"])
    out = capsys.readouterr().out
    assert out.count("== ") == 6 and "head(" not in out


def test_example_lookup_across_tables_of_one_dataset(results, capsys, monkeypatch):
    monkeypatch.chdir(results)
    main([paths.RESULTS, "--dataset", "toy", "--example", "7"])
    out = capsys.readouterr().out
    assert out.startswith("example 7: found in 5 of 5 tables")
    blocks = {block.split("\n")[0].split(" (")[0]: block for block in out.split("== ")[1:]}
    assert list(blocks)[0].endswith("atlas.parquet")  # the atlas row comes first, column by column
    assert "feldman_mem_mlp" in blocks[list(blocks)[0]] and "0.9" in blocks[list(blocks)[0]]
    nn = next(b for name, b in blocks.items() if name.endswith("nn_distances.parquet"))
    assert "(1 rows)" in nn  # the sample at position 7 is not example 7; the one nearest to it is
    pairs = next(b for name, b in blocks.items() if name.endswith("influence_pairs.parquet"))
    assert "(2 rows)" in pairs  # as training example and as test example
    assert any("diffusion/sweep" in name for name in blocks)  # via config: sweep trains on toy
    assert not any("/other/" in name for name in blocks)


def test_unknown_example_and_bad_path(results, capsys):
    main([str(results / paths.RESULTS), "--dataset", "toy", "--example", "99"])
    assert capsys.readouterr().out.startswith("example 99: found in 0 of")
    with pytest.raises(PipelineError, match="nothere: no such file or folder"):
        main([str(results / "nothere")])


def test_a_folder_named_like_a_table_and_a_config_that_is_not_one_are_named(results, tmp_path, capsys):
    (results / paths.RESULTS / "odd.parquet").mkdir()  # skipped, not read as a table
    main([str(results / paths.RESULTS)])
    assert "odd.parquet" not in capsys.readouterr().out
    from pipeline.inspect import read_config

    for text in ("- a\n", "diffusion: [1]\n", "diffusion: {experiments: [sweep]}\n"):
        (tmp_path / "bad.yaml").write_text(text)
        with pytest.raises(PipelineError, match="bad.yaml: not a config"):
            read_config(tmp_path / "bad.yaml")
    with pytest.raises(PipelineError, match="a folder, not a config file"):
        read_config(tmp_path)


def test_command_line_reports_a_corrupt_table_in_one_line(results):
    bad = results / paths.ATLAS.format(dataset="toy") / "broken.parquet"
    bad.write_bytes(b"not parquet")
    result = subprocess.run([sys.executable, "-m", "pipeline.inspect", str(bad)], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"error: {bad}: not a readable Parquet file")
    assert len(result.stderr.strip().splitlines()) == 1


def add_diffusion_job(root, experiment="sweep", dataset=None):
    """A diffusion job's subset (positions 0-3 = dataset indices 7, 0, 1, 5) and its 2-NN table,
    whose ref_index are subset positions; with ``dataset`` also the job's scores (naming it)."""
    subset = root / paths.DIFFUSION_SUBSET.format(experiment=experiment, size=4)
    job = root / paths.DIFFUSION_JOB.format(experiment=experiment, size=4, width=8, seed=0)
    io.write_parquet(pd.DataFrame({"position": [0, 1, 2, 3], "index": [7, 0, 1, 5], "label": [5, 3, 4, 0]}),
                     subset / "subset.parquet")
    io.write_parquet(pd.DataFrame({"query": [0, 0, 1, 1], "rank": [0, 1, 0, 1], "ref_index": [0, 1, 1, 2],
                                   "distance": [0.1, 0.2, 0.3, 0.4]}),
                     job / "neighbors.parquet")
    if dataset is not None:
        io.write_parquet(pd.DataFrame({"experiment": [experiment], "dataset": [dataset], "class": [-1]}),
                         job / "scores.parquet")


def block_of(out: str, suffix: str) -> str:
    return next(block for block in out.split("== ")[1:] if block.split(" (")[0].endswith(suffix))


def test_diffusion_neighbour_positions_are_mapped_to_dataset_indices(results, capsys, monkeypatch):
    """ref_index of a diffusion job's neighbors.parquet is a position in its subset, not a dataset index."""
    add_diffusion_job(results)
    monkeypatch.chdir(results)
    main([paths.RESULTS, "--dataset", "toy", "--example", "1"])
    nn = block_of(capsys.readouterr().out, "w8/seed0/neighbors.parquet")
    assert "(1 rows)" in nn  # position 2 holds example 1; the rows with ref_index 1 (example 0) are not about it
    assert "ref_dataset_index" in nn and "subset.parquet" in nn
    row = nn.strip().splitlines()[-1].split()
    assert row[:4] == ["1", "1", "2", "1"]  # query, rank, ref_index (position 2), ref_dataset_index (example 1)
    main([paths.RESULTS, "--dataset", "toy", "--example", "3"])  # position 3 exists, dataset index 3 is in no subset
    out = capsys.readouterr().out
    assert "neighbors.parquet" not in out and "subset.parquet" not in out


def test_diffusion_neighbours_without_their_subset_are_not_searched(results, capsys, monkeypatch):
    add_diffusion_job(results)
    (results / SUBSET / "subset.parquet").unlink()
    monkeypatch.chdir(results)
    main([paths.RESULTS, "--dataset", "toy", "--example", "2"])  # ref_index 2 must not pass for example 2
    out = capsys.readouterr().out
    assert f"note: {JOB}/neighbors.parquet: not searched" in out
    assert f"== {JOB}/neighbors.parquet" not in out


def test_without_a_config_scored_experiments_are_found_by_their_tables(results, capsys, monkeypatch):
    (results / "config.yaml").unlink()
    add_diffusion_job(results, "sweep", dataset="toy")
    add_diffusion_job(results, "elsewhere", dataset="other")
    io.write_parquet(pd.DataFrame({"experiment": ["sweep"], "dataset": ["toy"]}),
                     results / paths.DIFFUSION.format(experiment="sweep") / "summary.parquet")
    monkeypatch.chdir(results)
    main([paths.RESULTS, "--dataset", "toy", "--example", "7"])
    out = capsys.readouterr().out
    assert f"{JOB}/replicates.parquet" in out
    assert f"{SUBSET}/subset.parquet" in out
    assert "/elsewhere/" not in out
    # the tables win over a config that says otherwise (it may not be the one the run used)
    (results / "config.yaml").write_text(yaml.safe_dump({"diffusion": {"experiments": {"sweep": {"dataset": "x"}}}}))
    main([paths.RESULTS, "--dataset", "toy", "--example", "7"])
    assert f"{SUBSET}/subset.parquet" in capsys.readouterr().out


def test_unscored_experiment_without_a_config_is_one_clear_error(results, tmp_path, capsys, monkeypatch):
    (results / "config.yaml").unlink()  # the fixture's sweep has no scores yet: only the config names its data set
    monkeypatch.chdir(results)
    expected = rf"^{paths.DIFFUSION.format(experiment='sweep')}: no job scored yet, .* no ./config.yaml: pass --config PATH"
    with pytest.raises(PipelineError, match=expected):
        main([paths.RESULTS, "--dataset", "toy", "--example", "7"])
    with pytest.raises(PipelineError, match=r"--config nothere.yaml: no such file"):
        main([paths.RESULTS, "--dataset", "toy", "--example", "7", "--config", "nothere.yaml"])
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"datasets": {}}))
    with pytest.raises(PipelineError, match=r"has no diffusion.experiments.sweep.dataset"):
        main([paths.RESULTS, "--dataset", "toy", "--example", "7", "--config", str(tmp_path / "c.yaml")])
    (tmp_path / "run.yaml").write_text(yaml.safe_dump({"diffusion": {"experiments": {"sweep": {"dataset": "toy"}}}}))
    main([paths.RESULTS, "--dataset", "toy", "--example", "7", "--config", str(tmp_path / "run.yaml")])
    assert f"{JOB}/replicates.parquet" in capsys.readouterr().out
    # on the command line: one line on stderr, exit status 1, no tables silently left out
    result = subprocess.run([sys.executable, "-m", "pipeline.inspect", paths.RESULTS, "--dataset", "toy", "--example", "7"],
                            capture_output=True, text=True, cwd=results)
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--config PATH" in lines[0], result.stderr


def test_query_of_a_shared_neighbour_table_is_a_dataset_index(results, capsys, monkeypatch):
    # results/neighbors/<dataset>/<job>.parquet: test examples (query) against training examples (ref_index)
    io.write_parquet(pd.DataFrame({"query": [7, 7, 8], "rank": [0, 1, 0], "ref_index": [0, 1, 7],
                                   "distance": [0.1, 0.2, 0.3]}),
                     results / paths.NEIGHBORS.format(dataset="toy", job="t"))
    monkeypatch.chdir(results)
    main([paths.RESULTS, "--dataset", "toy", "--example", "7"])
    # as query twice, as neighbour once
    assert "(3 rows)" in block_of(capsys.readouterr().out, "neighbors/toy/t.parquet")
