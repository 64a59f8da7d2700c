"""Export a Feldman architecture's runs and estimates in the field's own formats (docs/export.md):

    python -m pipeline.export --shards results/feldman/D/A/shards/*.parquet --dataset-dir results/data/D --out-dir DIR

The entry point to use outside the workflow. The work, its options and the files it writes are
``pipeline.feldman.export``'s, which the rule feldman_export runs: this module only hands over.
"""

from __future__ import annotations

from pipeline import cli
from pipeline.feldman.export import main

if __name__ == "__main__":
    cli.run(main)
