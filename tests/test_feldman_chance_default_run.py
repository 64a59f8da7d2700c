"""How many influence pairs a run of the default size can trust: docs/running.md's numbers are the
default run's, recomputed from its tables (the counts to a tolerance: training's last digits, and with
them a few pairs, differ from machine to machine), and its figure is headed with them."""

import re
from pathlib import Path

import pytest

from pipeline import io, paths
from pipeline.data.dataset import Dataset
from pipeline.feldman.chance import FDR, beyond_chance
from pipeline.feldman.figures import chance_heading
from pipeline.feldman.runs import read_runs

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parent.parent
DATASET, ARCH = "digits_planted", "mlp"  # the run docs/running.md describes


def test_docs_state_how_many_pairs_the_default_run_can_trust(default_run, default_config):
    assert DATASET in default_config["feldman"]["datasets"] and ARCH in default_config["feldman"]["architectures"]
    base = default_run / paths.FELDMAN_ARCH.format(dataset=DATASET, arch=ARCH)
    pairs = io.read_parquet(base / "influence_pairs.parquet")
    chance = io.read_parquet(base / "influence_chance.parquet")
    runs_of_run = read_runs(sorted((base / "shards").glob("shard*.parquet")), scores=False)
    result = beyond_chance(pairs, runs_of_run.member, runs_of_run.test_correct,
                           io.read_parquet(base / "memorization.parquet")["mem"].to_numpy(), chance)
    # the pairs beyond chance whose test example is the planted copy of their training example
    index = Dataset.load(default_run / paths.DATASET.format(dataset=DATASET), mmap=True).table.set_index("index")
    kept = pairs[result.mask]
    copies = int(((index.loc[kept["test_index"], "planted"].to_numpy() == "test_copy")
                  & (index.loc[kept["test_index"], "source_index"].to_numpy() == kept["train_index"].to_numpy())).sum())
    assert result.n_beyond >= copies > 0 and result.expected_beyond <= FDR * result.n_beyond
    assert result.n_beyond < result.n_selected - result.expected_selected  # the excess is mostly not identifiable

    docs = " ".join((REPO / "docs" / "running.md").read_text().split())
    stated = re.search(rf"On the default run \(`{DATASET}`, architecture `{ARCH}`, (\d+) runs\) the estimate selects "
                       r"about (\d+) pairs, of which noise alone would select about (\d+); about (\d+) beat chance "
                       r"\(about (\d+) of them expected from noise\), (\d+) of them the planted test copies", docs)
    assert stated, "docs/running.md no longer states the default run's pairs beyond chance"
    runs, n_selected, expected_selected, n_beyond, expected_beyond, n_copies = map(int, stated.groups())
    found = (f"{len(runs_of_run.member)} runs, {result.n_selected} selected, {result.expected_selected:.1f} expected, "
             f"{result.n_beyond} beyond chance, {result.expected_beyond:.1f} expected, {copies} copies")
    assert runs == len(runs_of_run.member) and n_copies == copies, found
    assert abs(result.n_selected - n_selected) <= 0.1 * n_selected, found
    assert abs(result.expected_selected - expected_selected) <= 0.1 * expected_selected, found
    assert abs(result.n_beyond - n_beyond) <= 0.25 * n_beyond, found
    assert abs(result.expected_beyond - expected_beyond) <= 0.5, found
    assert re.search(rf"explain {100 * FDR:g} % of the pairs kept", docs)
    # the figure job found the same and headed the figure with it
    log = (default_run / paths.LOGS / "feldman" / DATASET / ARCH / "figures.log").read_text()
    assert chance_heading(result) in log
    assert (base / "figures" / "influence_pairs.png").stat().st_size > 0
