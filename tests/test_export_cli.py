"""``python -m pipeline.export``, the documented export command: it is pipeline.feldman.export's
command (same options, same one-line errors), and docs/export.md names it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_help_lists_the_exports_options():
    shown = run("pipeline.export", "--help")
    assert shown.returncode == 0, shown.stderr
    for option in ["--shards", "--dataset-dir", "--out-dir", "--offline-a", "--gamma"]:
        assert option in shown.stdout, option
    usage = lambda text: text.split("usage:", 1)[1].split("\n\n", 1)[0].split(None, 1)[1]  # noqa: E731
    assert usage(shown.stdout) == usage(run("pipeline.feldman.export", "--help").stdout)


def test_a_missing_shard_table_is_one_line_naming_it(tmp_path):
    missing = tmp_path / "shard0.parquet"
    failed = run("pipeline.export", "--shards", str(missing), "--dataset-dir", str(tmp_path / "data"),
                 "--out-dir", str(tmp_path / "out"))
    assert failed.returncode == 1
    assert str(missing) in failed.stderr and "Traceback" not in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr
    assert not (tmp_path / "out").exists()


def test_the_docs_name_the_command():
    docs = " ".join((REPO / "docs" / "export.md").read_text(encoding="utf-8").split())
    assert "python -m pipeline.export --shards" in docs
    assert "python -m pipeline.feldman.export" not in docs
