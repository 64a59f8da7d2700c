"""Atomic writes and clear errors on corrupt inputs."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import io
from pipeline.errors import PipelineError


def test_failed_write_leaves_previous_file_and_no_temp(tmp_path):
    target = tmp_path / "table.parquet"
    io.write_parquet(pd.DataFrame({"a": [1, 2]}), target)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with io.atomic_path(target) as tmp:
            tmp.write_bytes(b"half a parq")
            raise Boom()
    assert io.read_parquet(target)["a"].tolist() == [1, 2]
    assert os.listdir(tmp_path) == ["table.parquet"]


def test_interrupted_array_write_never_creates_target(tmp_path, monkeypatch):
    target = tmp_path / "x.npy"

    def crash(handle, array, allow_pickle):
        handle.write(b"\x93NUMPY partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        io.write_array(np.arange(3), target)
    assert not target.exists() and os.listdir(tmp_path) == []


def test_truncated_parquet_names_the_file(tmp_path):
    target = tmp_path / "t.parquet"
    io.write_parquet(pd.DataFrame({"a": range(100)}), target)
    target.write_bytes(target.read_bytes()[:40])
    with pytest.raises(PipelineError, match="t.parquet: not a readable Parquet file"):
        io.read_parquet(target)


def test_missing_and_corrupt_inputs_name_the_file(tmp_path):
    with pytest.raises(PipelineError, match="nothing.npy: file not found"):
        io.read_array(tmp_path / "nothing.npy")
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    with pytest.raises(PipelineError, match="bad.npy"):
        io.read_array(tmp_path / "bad.npy")
    io.write_parquet(pd.DataFrame({"a": [1]}), tmp_path / "t.parquet")
    with pytest.raises(PipelineError, match=r"t.parquet: missing columns \['b'\]"):
        io.read_parquet(tmp_path / "t.parquet", columns=["b"])


def test_outputs_get_the_usual_file_mode_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        io.write_parquet(pd.DataFrame({"a": [1]}), tmp_path / "t.parquet")
    finally:
        os.umask(old)
    assert (tmp_path / "t.parquet").stat().st_mode & 0o777 == 0o644


def test_a_corrupt_workflow_output_is_moved_aside_but_a_researchers_file_is_left_in_place(tmp_path, monkeypatch, capsys):
    from pipeline import cli

    monkeypatch.chdir(tmp_path)
    for name in ("results/data/x/images.npy", "my_samples.npy"):
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_bytes(b"\x93NUMPY truncated")
    with pytest.raises(SystemExit):
        cli.run(lambda: io.read_array("results/data/x/images.npy"))
    assert "moved to results/data/x/images.npy.corrupt, rerun to rebuild it" in capsys.readouterr().err
    assert Path("results/data/x/images.npy.corrupt").exists() and not Path("results/data/x/images.npy").exists()
    with pytest.raises(SystemExit):
        cli.run(lambda: io.read_array(tmp_path / "my_samples.npy"))  # absolute path: the same rule
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "my_samples.npy: not a readable .npy array" in error
    assert "left in place (not a workflow output)" in error
    assert Path("my_samples.npy").exists() and not Path("my_samples.npy.corrupt").exists()
