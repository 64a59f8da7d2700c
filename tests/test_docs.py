"""Facts in the prose that cannot drift: each count, list and path the README, docs/ and the prepared
configs' comments state is checked here against the code or a dry run, so a change that makes one
untrue fails a test instead of waiting for a reader.

(The generated pages, docs/configuration.md, outputs.md and claims.md, are checked in
test_reference_docs.py; measured figures live only in benchmarks/RESULTS.md, with their machine.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import REPO, run_workflow

# --- job counts -------------------------------------------------------------------------------------

# Where a job count may be written: the prepared configs' comments, in one of two forms a dry run
# can check. "N jobs in all": the whole plan from an empty directory. "N jobs of M runs": the Feldman
# training jobs (feldman.shard_size = M runs each).
TOTAL = re.compile(r"(\d[\d,]*) jobs in all\b")
SHARDS = re.compile(r"(\d[\d,]*) jobs of (\d[\d,]*) runs\b")
ANY_COUNT = re.compile(r"\b(\d[\d,]*) (?:[a-z-]+ )?jobs\b")
PROSE = ["README.md", "config.yaml", *(p.relative_to(REPO).as_posix() for p in sorted((REPO / "docs").glob("*.md"))),
         *(p.relative_to(REPO).as_posix() for p in sorted((REPO / ".test").glob("*.yaml")))]
PREPARED = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "workflow" / "configs").glob("*.yaml"))


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def stated_counts(path: str) -> tuple[list[int], list[tuple[int, int]]]:
    """The "N jobs in all" and "N jobs of M runs" statements of one file."""
    text = (REPO / path).read_text(encoding="utf-8")
    return ([_number(m[1]) for m in TOTAL.finditer(text)],
            [(_number(m[1]), _number(m[2])) for m in SHARDS.finditer(text)])


def test_job_counts_are_stated_only_where_a_dry_run_checks_them():
    """A number of jobs in the README, docs/ or a config's comments goes stale with the next rule or
    config key; the prepared configs may state one in a form checked below, nothing else may."""
    loose = []
    for path in PROSE + PREPARED:
        text = (REPO / path).read_text(encoding="utf-8")
        checked = {m.start(1) for pattern in (TOTAL, SHARDS) for m in pattern.finditer(text)} \
            if path in PREPARED else set()
        loose += [f"{path}: '{m[0]}'" for m in ANY_COUNT.finditer(text) if m.start(1) not in checked]
    assert not loose, f"job counts no test checks (drop them, or state them in a prepared config as " \
                      f"'N jobs in all' or 'N jobs of M runs'): {loose}"


def planned_jobs(config_path: str, workdir: Path) -> dict[str, int]:
    """Jobs per rule (and 'total') of a dry run of ``config_path`` in an empty directory."""
    config = yaml.safe_load((REPO / config_path).read_text())
    result = run_workflow(workdir, config, "-n", "--quiet", "rules")
    text = result.stdout + result.stderr
    stats = text.split("Job stats:", 1)[1]
    return {m[1]: int(m[2]) for m in re.finditer(r"(?m)^(\w+)\s+(\d+)\s*$", stats)}


@pytest.mark.workflow
@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in PREPARED if any(stated_counts(p))])
def test_a_prepared_configs_job_counts_are_its_dry_runs(path, tmp_path):
    totals, shards = stated_counts(path)
    jobs = planned_jobs(path, tmp_path / "run")
    config = yaml.safe_load((REPO / path).read_text())
    for total in totals:
        assert total == jobs["total"], f"{path} says {total} jobs in all; a dry run plans {jobs['total']}"
    for count, runs in shards:
        assert count == jobs.get("feldman_train_shard", 0), \
            f"{path} says {count} training jobs; a dry run plans {jobs.get('feldman_train_shard', 0)}"
        assert runs == config["feldman"]["shard_size"], f"{path} says {runs} runs a job"


def test_the_job_count_checks_read_the_configs():
    """The forms above are found where they are written (so the dry-run test has something to check)."""
    assert stated_counts("workflow/configs/paper.yaml")[0]
    assert stated_counts("workflow/configs/convergence.yaml")[1] == [(16, 125)]
    assert ANY_COUNT.search("about 106 jobs") and ANY_COUNT.search("16 training jobs")


# --- layout and output folders ------------------------------------------------------------------------


def layout_paths() -> list[str]:
    """The paths named in the first column of docs/architecture.md's layout table."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return [path for row in rows for path in re.findall(r"`([^`]+)`", row)]


def test_every_path_the_layout_names_exists():
    named = layout_paths()
    assert len(named) > 15 and "pipeline/paths.py" in named
    missing = [path for path in named if not any(REPO.glob(path.rstrip("/")))]
    assert not missing, f"docs/architecture.md's layout names paths the repository lacks: {missing}"
    # every method subpackage's spec module is named, and only those that exist
    specs = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "pipeline").glob("*/spec.py"))
    assert sorted(path for path in named if path.endswith("/spec.py")) == specs


def results_tree() -> list[str]:
    """The folders of the README's outputs tree, relative to results/ ('feldman', 'data/{dataset}', ...)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("\n## Outputs\n", 1)[1].split("```\nresults/\n", 1)[1].split("```", 1)[0]
    folders = []
    for line in block.splitlines():
        names = re.match(r"  ((?:\S+/ )*\S+/)(?:\s|$)", line)
        assert names, f"README outputs tree: a line that names no folder: {line!r}"
        folders += [name.rstrip("/") for name in names[1].split()]
    return folders


def written_folders() -> dict[str, list[str]]:
    """Each top-level folder under results/ that pipeline/paths.py places outputs in, with its templates."""
    from pipeline import paths

    found: dict[str, list[str]] = {}
    for value in vars(paths).values():
        if isinstance(value, str) and value.startswith(f"{paths.RESULTS}/"):
            found.setdefault(value.split("/")[1], []).append(value)
    return found


def test_the_readmes_outputs_tree_names_every_results_folder():
    """Every top-level folder the workflow writes under results/ (pipeline/paths.py) is in the README's
    tree, and every folder the tree names is one paths.py places outputs in."""
    tree, written = results_tree(), written_folders()
    assert {"feldman", "fid", "logs"} <= set(written)
    assert sorted({folder.split("/")[0] for folder in tree}) == sorted(written)
    for folder in tree:
        templates = written[folder.split("/")[0]]
        assert any(f"{t}/".startswith(f"results/{folder}/") for t in templates), \
            f"README names results/{folder}/, which is no folder of pipeline/paths.py ({templates})"


# --- licence and citation -----------------------------------------------------------------------------

# The four papers the workflow implements: (first words of the title, authors' family names, year).
PAPERS = [
    ("What Neural Networks Memorize and Why", ["Feldman", "Zhang"], 2020),
    ("On Memorization in Probabilistic Deep Generative Models", ["Burg", "Williams"], 2021),
    ("Diffusion Probabilistic Models Generalize when They Fail to Memorize", ["Yoon", "Choi", "Kwon", "Ryu"], 2023),
    ("Reducing Training Sample Memorization in GANs by Training with Memorization Rejection",
     ["Bai", "Hsieh", "Kan", "Lin"], 2022),
]


def test_citation_cff_is_valid_yaml_and_names_the_four_papers():
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0" and cff["message"] and cff["title"] and cff["authors"]
    assert cff["license"] == "MIT" and "MIT License" in (REPO / "LICENSE").read_text()
    references = cff["references"]
    assert all({"type", "title", "authors"} <= set(ref) for ref in references)
    for title, authors, year in PAPERS:
        ref = next((ref for ref in references if ref["title"].startswith(title)), None)
        assert ref is not None, f"CITATION.cff does not name '{title}'"
        assert [a["family-names"] for a in ref["authors"]] == authors and ref["year"] == year, title
    assert next(ref for ref in references if ref["title"].startswith("Reducing"))["identifiers"][0]["value"] \
        == "arXiv:2210.12231"


# --- statements of docs/methods.md about the code and the configs -------------------------------------


def methods_md() -> str:
    return " ".join((REPO / "docs" / "methods.md").read_text(encoding="utf-8").split())


def test_methods_md_names_the_atlas_scores_that_flag_nothing():
    """The atlas's alternative estimates (``columns.Column.alternative``) are compared but flag nothing;
    docs/methods.md names each of them where it says which scores flag."""
    from pipeline.atlas.columns import COLUMNS

    names = {"feldman_mem_margin_": "mem_margin", "feldman_lira_fixed_": "LiRA (both variants)",
             "feldman_lira_": "LiRA", "feldman_slowness_": "slowness"}
    alternative = [column.pattern.split("(?P")[0] for column in COLUMNS if column.alternative]
    assert alternative and set(alternative) <= set(names), \
        f"a new alternative atlas score: name it in docs/methods.md's flagging paragraph and here ({alternative})"
    paragraph = methods_md().split("Flagging counts only each method's primary scores:", 1)[1]
    paragraph = paragraph.split("flag nothing", 1)[0]
    assert [names[prefix] for prefix in alternative if names[prefix] not in paragraph] == []


def test_methods_md_states_the_configs_numbers():
    """The numbers docs/methods.md gives of config.yaml, the schema and the prepared configs are theirs."""
    from pipeline.schema import schema_default

    text = methods_md()
    default = yaml.safe_load((REPO / "config.yaml").read_text())
    kfold = yaml.safe_load((REPO / "workflow/configs/paper_kfold_vae.yaml").read_text())["kfold_vae"]
    assert (f"`kfold_vae.n_importance` is {default['kfold_vae']['n_importance']} in `config.yaml` "
            f"({schema_default('kfold_vae.n_importance')} by the schema's default") in text
    assert kfold["models"]["mnist"]["n_importance"] == 256 and kfold["n_importance"] == 128  # the paper's N
    runs, kfold_split = default["splits"]["feldman"], default["splits"]["kfold"]
    sweep = default["diffusion"]["experiments"]["sweep"]
    assert f"t = {runs['runs']} Feldman runs of two MLPs" in text and len(default["feldman"]["architectures"]) == 2
    assert f"K = {kfold_split['folds']} x R = {kfold_split['repeats']} VAEs" in text
    assert f"DDPMs on up to {max(sweep['sizes'])} 8x8 Mondrian images" in text
    assert f"trained on {runs['ratio'] * 100:g} % subsets" in text
    assert f"({schema_default('splits.feldman.ratio') * 100:g} % by default)" in text
    for name, t in [("convergence", "2,000"), ("mnist", "256")]:
        config = yaml.safe_load((REPO / f"workflow/configs/{name}.yaml").read_text())
        assert f"t = {t}" in text and config["splits"]["feldman"]["runs"] == int(t.replace(",", ""))


@pytest.mark.parametrize("package", ["feldman", "kfold_vae", "diffusion", "mrgan"])
def test_each_paper_is_cited_as_citation_cff_cites_it(package):
    """docs/methods.md and the method's package docstring cite its paper with CITATION.cff's title,
    authors and year."""
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    title, authors, year = PAPERS[["feldman", "kfold_vae", "diffusion", "mrgan"].index(package)]
    ref = next(ref for ref in cff["references"] if ref["title"].startswith(title))
    for path in ("docs/methods.md", f"pipeline/{package}/__init__.py"):
        text = " ".join((REPO / path).read_text(encoding="utf-8").split())
        at = text.find(f'"{ref["title"]}"')
        assert at > 0, f"{path} does not cite '{ref['title']}'"
        assert all(name in text[max(0, at - 120):at] for name in authors), f"{path}: the authors of '{title}'"
        assert str(year) in text[at:at + len(ref["title"]) + 120], f"{path}: the year of '{title}'"


def test_every_results_path_the_docs_name_is_one_the_workflow_writes():
    """A path under results/ in the README or docs/ lies under a folder template of pipeline/paths.py
    (with the config's names in place of the wildcards), so a moved folder fails here."""
    from pipeline import paths

    templates = [value for value in vars(paths).values() if isinstance(value, str) and value.startswith("results/")]
    folders = [re.compile("".join(re.escape(part) if k % 2 == 0 else "[^/]+"
                                  for k, part in enumerate(re.split(r"\{(\w+)\}", template))) + "(/|$)")
               for template in templates]
    outside = {"results/gpu_suite/"}  # benchmarks/gpu_suite.py's report, not the workflow's
    stale = []
    for path in ["README.md", *(p.relative_to(REPO).as_posix() for p in sorted((REPO / "docs").glob("*.md")))]:
        for named in re.findall(r"`(results/[^`\s]*)`", (REPO / path).read_text(encoding="utf-8")):
            if named != "results/" and not any(named.startswith(prefix) for prefix in outside) \
                    and not any(f.match(named) for f in folders):
                stale.append(f"{path}: {named}")
    assert not stale, stale


def test_the_runs_file_key_names_every_array_a_runs_file_may_hold():
    from pipeline.feldman import runs_file

    row = next(line for line in (REPO / "docs" / "configuration.md").read_text().splitlines()
               if "a .npz of runs trained elsewhere" in line)
    for name in (*runs_file.REQUIRED, *runs_file.OPTIONAL):
        assert name in row, name
