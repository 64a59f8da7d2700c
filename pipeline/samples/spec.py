"""The keys of a ``samples.<name>`` entry the scoring job reads, and its spec.

The rule passes exactly this spec (as a param, so a change to one of these keys reruns the scoring
job and a change to any other key of the entry does not), and ``pipeline.samples.score`` completes it
with the schema's defaults of the same keys. Standard library only: the Snakefile imports this at
start-up.
"""

from __future__ import annotations

SCORE_KEYS = ("threshold", "k", "kmeans_cells", "pca_dims")


def score_job_spec(entry: dict) -> dict:
    """The spec of the scoring job of a sample set: the SCORE_KEYS of its entry."""
    return {key: entry[key] for key in SCORE_KEYS}
