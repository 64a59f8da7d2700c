"""`python -m pipeline.inspect`: schema, row count and head of tables; one example across tables."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
import yaml

from pipeline import io
from pipeline.errors import PipelineError
from pipeline.inspect import main


@pytest.fixture
def results(tmp_path):
    r = tmp_path / "results"
    io.write_parquet(pd.DataFrame({"index": [0, 1, 7], "label": [3, 4, 5], "feldman_mem_mlp": [0.0, 0.5, 0.9],
                                   "diffusion_replicates_sweep_n4_w8_seed0": pd.array([pd.NA, 2, 0], dtype="Int64")}),
                     r / "atlas" / "toy" / "atlas.parquet")
    io.write_parquet(pd.DataFrame({"index": [0, 1, 7], "label": [3, 4, 5], "mem": [0.0, 0.5, 0.9]}),
                     r / "feldman" / "toy" / "mlp" / "memorization.parquet")
    io.write_parquet(pd.DataFrame({"train_index": [7, 1], "test_index": [2, 7], "infl": [0.3, 0.2]}),
                     r / "feldman" / "toy" / "mlp" / "influence_pairs.parquet")
    # MR-GAN: `index` is a sample position, `nearest` the training example
    io.write_parquet(pd.DataFrame({"set": ["generated", "generated", "test"], "index": [7, 8, 0],
                                   "nearest": [1, 7, 0]}),
                     r / "mrgan" / "toy" / "tau0" / "seed0" / "nn_distances.parquet")
    io.write_parquet(pd.DataFrame({"sample": [0, 1], "nearest": [7, 1], "second": [1, 0]}),
                     r / "diffusion" / "sweep" / "n4" / "w8" / "seed0" / "replicates.parquet")
    # another data set with the same indices must not be mixed in
    io.write_parquet(pd.DataFrame({"index": [7], "label": [0], "mem": [0.1]}),
                     r / "feldman" / "other" / "mlp" / "memorization.parquet")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"diffusion": {"experiments": {"sweep": {"dataset": "toy"}}}}))
    return tmp_path


def test_prints_schema_row_count_and_head(results, capsys):
    main([str(results / "results" / "atlas" / "toy" / "atlas.parquet"), "--head", "2"])
    out = capsys.readouterr().out
    assert "rows: 3" in out
    assert "feldman_mem_mlp" in out and "double" in out
    assert "diffusion_replicates_sweep_n4_w8_seed0  int64" in out
    head = out.split("head(2):")[1].strip().splitlines()
    assert len(head) == 3 and head[0].split()[:2] == ["index", "label"]  # header + 2 rows
    assert head[2].split()[:2] == ["1", "4"]


def test_folder_lists_every_table(results, capsys):
    main([str(results / "results"), "--head", "0"])
    out = capsys.readouterr().out
    assert out.count("== ") == 6 and "head(" not in out


def test_example_lookup_across_tables_of_one_dataset(results, capsys, monkeypatch):
    monkeypatch.chdir(results)
    main(["results", "--dataset", "toy", "--example", "7"])
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
    main([str(results / "results"), "--dataset", "toy", "--example", "99"])
    assert capsys.readouterr().out.startswith("example 99: found in 0 of")
    with pytest.raises(PipelineError, match="nothere: no such file or folder"):
        main([str(results / "nothere")])


def test_command_line_reports_a_corrupt_table_in_one_line(results):
    bad = results / "results" / "atlas" / "toy" / "broken.parquet"
    bad.write_bytes(b"not parquet")
    result = subprocess.run([sys.executable, "-m", "pipeline.inspect", str(bad)], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"error: {bad}: not a readable Parquet file")
    assert len(result.stderr.strip().splitlines()) == 1
