"""The generated reference (python -m pipeline.reference_docs): docs/configuration.md, outputs.md and claims.md
are what the generator writes from the schema, the writers' docstrings and the claims; a stale file fails."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline import paths
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
    with pytest.raises(PipelineError, match=r"pipeline/gadgets/write.py: widgets.parquet: no path; add .* "
                                            r"TABLE_PATHS in pipeline/reference_docs.py"):
        ref.check_tables(tables)  # a table no entry of TABLE_PATHS places
    where = {("pipeline/gadgets/write.py", "widgets.parquet"): ["results/gadgets/{gadget}/widgets.parquet"],
             ("pipeline/gadgets/write.py", "sprockets.parquet"): ["results/gadgets/sprockets.parquet"]}
    ref.check_tables(tables, where)
    text = ref.outputs_md(tables, [], where)
    assert "## gadgets" in text and "### `results/gadgets/{gadget}/widgets.parquet`" in text
    assert "`pipeline/gadgets/write.py`" in text
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


def rule_output_tables() -> set[str]:
    """Every .parquet output pattern of the rules (workflow/rules/*.smk), pipeline/paths.py's templates
    filled in: ``f"{paths.FELDMAN_ARCH}/memorization.parquet"`` is
    ``results/feldman/{dataset}/{arch}/memorization.parquet``."""
    texts = [path.read_text() for path in sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    everything = "\n".join(texts)
    found = set()
    for text in texts:
        for block in re.finditer(r"(?m)^( +)output:\n((?:\1 +.*\n)+)", text):
            body = block[2]
            for name in re.findall(r"\*\*(\w+)", body):  # outputs gathered in a dict of the common file
                body += "\n".join(re.findall(rf"(?m)^{name}\b.*=(.*)$", everything))
            for literal in re.findall(r'f"([^"]*\.parquet)"', body):
                found.add(eval(f'f"{literal}"', {"paths": paths}))  # noqa: S307 (the repository's own rules)
            for name in re.findall(r"(?m)^\s*(?:\w+=)?paths\.(\w+),", body):
                if getattr(paths, name).endswith(".parquet"):
                    found.add(getattr(paths, name))
    return found


def outputs_headings() -> list[list[str]]:
    """The path patterns of each table heading of docs/outputs.md."""
    text = (REPO / "docs" / "outputs.md").read_text(encoding="utf-8")
    return [re.findall(r"`([^`]+)`", line) for line in text.splitlines()
            if line.startswith("### ") and line != "### Figures"]


def test_every_table_heading_is_a_path_the_rules_write():
    """docs/outputs.md heads each table with the path pattern(s) it is written at: each a .parquet output
    of a rule, no two headings naming one file, and every .parquet output of the rules under a heading."""
    written = rule_output_tables()
    assert len(written) > 40 and "results/feldman/{dataset}/consistency/{arch}_vs_{arch_b}.parquet" in written
    headings = outputs_headings()
    named = [path for heading in headings for path in heading]
    assert all(headings) and len(named) == len(set(named)), "a table heading without a path, or a path twice"
    assert not set(named) - written, f"headings no rule writes: {sorted(set(named) - written)}"
    unheaded = sorted(written - set(named))
    assert not unheaded, f"tables the rules write that outputs.md does not head: {unheaded}"
    assert set(named) == {path for paths_ in ref.TABLE_PATHS.values() for path in paths_}


def pattern_regex(pattern: str) -> re.Pattern:
    return re.compile("".join(re.escape(part) if k % 2 == 0 else "[^/]+"
                              for k, part in enumerate(re.split(r"\{(\w+)\}", pattern))))


@pytest.mark.workflow
def test_every_table_a_run_writes_is_under_a_heading(tiny_run):
    """Every .parquet file of a run of every method matches the path of a table heading of outputs.md."""
    headings = [pattern_regex(path) for heading in outputs_headings() for path in heading]
    files = sorted(path.relative_to(tiny_run).as_posix() for path in (tiny_run / "results").rglob("*.parquet"))
    assert len(files) > 30
    assert not [f for f in files if not any(h.fullmatch(f) for h in headings)]


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
        named = sorted(set(re.findall(r"`(?:workflow/configs/)?([a-z0-9_]+\.yaml)`", text)) - {"config.yaml", "my.yaml"})
        assert named == prepared, f"{doc} names {named}, workflow/configs/ holds {prepared}"


def test_memorization_rejection_is_credited_to_its_paper():
    """Memorization rejection is A. Bai, Hsieh, Kan and Lin's (arXiv:2210.12231), not the KDD 2021
    competition paper of C.-Y. Bai et al. (which introduced MiFID)."""
    texts = {path: path.read_text(encoding="utf-8") for pattern in ("README.md", "docs/*.md", "pipeline/**/*.py")
             for path in REPO.glob(pattern)}
    assert not [path for path, text in texts.items() if "KDD 2021" in text or "Raffel" in text]
    for path in ("docs/methods.md", "pipeline/mrgan/__init__.py"):
        assert "arXiv:2210.12231" in texts[REPO / path]
