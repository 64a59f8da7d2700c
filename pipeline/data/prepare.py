"""Entry point of the ``prepare_dataset`` rule: build one data set into its cached form.

    python -m pipeline.data.prepare --name NAME --spec JSON --data-root DIR --out DIR [--source NAME=DIR ...]

Data sets built from other prepared ones (a mixture from its parts, a planted data set from its base)
get those folders by name with ``--source``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pipeline import cli
from pipeline.data import planted, registry
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError
from pipeline.progress import get_logger

log = get_logger("data.prepare")


def prepare(name: str, spec: dict, data_root: Path, out: Path, sources: dict[str, Path]) -> Dataset:
    log.info("building dataset %s (kind=%s)", name, spec["kind"])
    loaded = {source: Dataset.load(path) for source, path in sources.items()}
    if spec["kind"] == "mixture":
        dataset = registry.build_mixture(name, spec, loaded)
    elif spec["kind"] == "planted":
        dataset = planted.build_planted(name, spec, loaded[spec["base"]])
        log.info("%s: rows per canary kind %s", name, dataset.table["planted"].value_counts().to_dict())
    else:
        dataset = registry.build(name, spec, data_root)
    counts = dataset.table.groupby("split").size().to_dict()
    if not counts.get("train"):
        raise PipelineError(f"config key 'datasets.{name}': no training examples (split sizes {counts}); "
                            f"every method trains or compares against the train split")
    log.info("%s: images %s, split sizes %s, labels %s", name, dataset.images.shape, counts,
             np.unique(dataset.table["label"]).tolist()[:20])
    dataset.save(out)
    log.info("wrote %s", out)
    return dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True)
    parser.add_argument("--spec", required=True, type=cli.json_arg)
    parser.add_argument("--data-root", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--source", action="append", default=[],
                        help="NAME=DIR of a prepared data set this one is built from (mixture part, planted base)")
    args = parser.parse_args()
    sources = dict(item.split("=", 1) for item in args.source)
    prepare(args.name, args.spec, args.data_root, args.out, {k: Path(v) for k, v in sources.items()})


if __name__ == "__main__":
    cli.run(main)
