"""The generated reference (python -m pipeline.reference_docs): docs/configuration.md, outputs.md and claims.md
are what the generator writes from the schema, the writers' docstrings and the claims; a stale file fails."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline import reference_docs as ref
from pipeline.claims import criteria
from pipeline.claims.evaluate import CLAIMS
from pipeline.errors import PipelineError

REPO = Path(__file__).resolve().parent.parent


def test_generated_docs_are_current():
    for path, text in ref.render().items():
        assert path.exists(), f"{path.name} missing: run python -m pipeline.reference_docs"
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run python -m pipeline.reference_docs"


def test_check_mode_fails_on_a_stale_file(tmp_path, monkeypatch):
    command = [sys.executable, "-m", "pipeline.reference_docs", "--check"]
    assert subprocess.run(command, cwd=REPO, capture_output=True).returncode == 0
    files = {tmp_path / name: "text\n" for name in ("a.md", "b.md")}
    (tmp_path / "a.md").write_text("text\n")
    assert ref.stale(files) == [tmp_path / "b.md"]  # missing
    (tmp_path / "b.md").write_text("old text\n")
    assert ref.stale(files) == [tmp_path / "b.md"]  # differs
    monkeypatch.setattr(ref, "render", lambda: files)
    monkeypatch.setattr(ref, "REPO", tmp_path)
    monkeypatch.setattr(sys, "argv", ["reference_docs", "--check"])
    with pytest.raises(SystemExit) as stop:
        ref.main()
    assert stop.value.code == 1 and (tmp_path / "b.md").read_text() == "old text\n"  # --check writes nothing


WRITER = '''"""A writer of a new table.

widgets.parquet (one row per widget,
in widget order):
    widget        int64    the widget's id
    name          string
    a_rather_long_column_name
                  float64  a meaning that goes on
                           over two lines
sprockets.parquet: every column of widgets.parquet plus a sprocket.
"""
'''


def test_a_writers_docstring_schema_reaches_outputs_md(tmp_path):
    (tmp_path / "pipeline" / "gadgets").mkdir(parents=True)
    (tmp_path / "pipeline" / "gadgets" / "write.py").write_text(WRITER)
    tables = ref.find_tables(tmp_path / "pipeline")
    assert [t.name for t in tables] == ["widgets.parquet", "sprockets.parquet"]
    widgets = tables[0]
    assert widgets.module == "pipeline/gadgets/write.py" and widgets.group == "gadgets"
    assert widgets.description == "one row per widget, in widget order"
    assert [(c.name, c.type, c.meaning) for c in widgets.columns] == [
        ("widget", "int64", "the widget's id"), ("name", "string", ""),
        ("a_rather_long_column_name", "float64", "a meaning that goes on over two lines")]
    text = ref.outputs_md(tables, [])
    assert "## gadgets" in text and "### widgets.parquet" in text and "`pipeline/gadgets/write.py`" in text
    assert "| `a_rather_long_column_name` | `float64` | a meaning that goes on over two lines |" in text
    assert "every column of widgets.parquet plus a sprocket." in text
    # and the real writers: every column of memorization.parquet, from pipeline/feldman/estimate.py
    outputs = (REPO / "docs" / "outputs.md").read_text()
    from pipeline.feldman import estimate

    block = estimate.__doc__.split("memorization.parquet (")[1].split("influence_pairs.parquet")[0]
    for line in block.splitlines()[1:]:
        name, kind = line.split()[:2]
        assert f"| `{name}` | `{kind}` |" in outputs


def test_a_malformed_schema_line_stops_the_generator(tmp_path):
    (tmp_path / "pipeline").mkdir()
    bad = '"""Bad.\n\nbad.parquet (one row):\n    a, b float64  one space\n"""\n'
    (tmp_path / "pipeline" / "bad.py").write_text(bad)
    with pytest.raises(PipelineError, match=r"pipeline/bad.py: bad.parquet, column 'a, b float64'") as error:
        ref.check_tables(ref.find_tables(tmp_path / "pipeline"))
    assert "\n" not in str(error.value)


# Output files of the rules whose name is a wildcard, by the table they are.
ALIASES = {"{arch}_vs_{arch_b}.parquet": "consistency.parquet", "{a}_vs_{b}.parquet": "consistency.parquet",
           "{job}.parquet": "neighbors.parquet",
           "shard{shard}.parquet": "shard{k}.parquet"}


def test_every_table_the_workflow_writes_has_a_schema():
    written = set()
    sources = [*(REPO / "workflow" / "rules").glob("*.smk"), REPO / "pipeline" / "paths.py",
               *(REPO / "pipeline").glob("targets.py")]  # where the rules' file names are written
    for path in sources:
        for name in re.findall(r"([\w{}]+\.parquet)", path.read_text()):
            name = name.replace("{{", "{").replace("}}", "}")
            written.add(ALIASES.get(name, name))
    documented = {name.strip() for table in ref.find_tables() for name in table.name.split("/")}
    assert written and written <= documented, sorted(written - documented)


def test_configuration_md_lists_every_key_with_its_default():
    text = (REPO / "docs" / "configuration.md").read_text()
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    assert "| `feldman.mem_threshold` | number | `0.25` |" in text
    assert "| `splits.feldman.ratio` | number | `0.7` | > 0, < 1 |" in text
    assert "| `kfold_vae.models.<name>.latent_dim` | integer | bernoulli_mlp: `16`; gaussian_conv: `64`; " \
           "constant_conv: `32` |" in text
    assert "required when kind is module" in text  # feldman.architectures.<name>.factory
    for section in schema["properties"]:
        assert f"`{section}" in text, section
    for key in schema["properties"]["mrgan"]["properties"]:
        assert f"| `mrgan.{key}` |" in text, key


def test_claims_md_has_every_claim_its_criterion_and_the_negative_results():
    text = (REPO / "docs" / "claims.md").read_text()
    for claim in CLAIMS:
        row = next(line for line in text.splitlines() if line.startswith(f"| {claim.id} |"))
        assert ref._cell(claim.criterion) in row
    assert f"| `FZ1_MIN_AUROC` | {criteria.FZ1_MIN_AUROC!r} |" in text
    assert "## Negative results: claim B5" in text
    assert not re.search(r"\b[0-9a-f]{7,40}\b", text.split("## Negative results")[1])  # no commit hashes


def test_every_prepared_config_is_named_where_the_prepared_configs_are_listed():
    """README.md and docs/running.md list workflow/configs/: a config added there and not to the
    lists (or listed and removed) fails here."""
    prepared = sorted(path.name for path in (REPO / "workflow" / "configs").glob("*.yaml"))
    for doc in ("README.md", "docs/running.md"):
        text = (REPO / doc).read_text(encoding="utf-8")
        named = sorted(set(re.findall(r"`(?:workflow/configs/)?([a-z_]+\.yaml)`", text)) - {"config.yaml", "my.yaml"})
        assert named == prepared, f"{doc} names {named}, workflow/configs/ holds {prepared}"


def test_memorization_rejection_is_credited_to_its_paper():
    """Memorization rejection is A. Bai, Hsieh, Kan and Lin's (arXiv:2210.12231), not the KDD 2021
    competition paper of C.-Y. Bai et al. (which introduced MiFID)."""
    texts = {path: path.read_text(encoding="utf-8") for pattern in ("README.md", "docs/*.md", "pipeline/**/*.py")
             for path in REPO.glob(pattern)}
    assert not [path for path, text in texts.items() if "KDD 2021" in text or "Raffel" in text]
    for path in ("docs/methods.md", "pipeline/mrgan/__init__.py"):
        assert "arXiv:2210.12231" in texts[REPO / path]
