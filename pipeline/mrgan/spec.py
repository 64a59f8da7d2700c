"""The keys of the ``mrgan`` config section the training and scoring jobs read, and their specs.

The rules pass exactly these specs (as params, so a change to one of these keys reruns the jobs that
read it and a change to any other key of the section does not), and ``pipeline.mrgan.train`` and
``pipeline.mrgan.score`` complete them with the schema's defaults of the same keys. Standard library
only: the Snakefile imports this at start-up.
"""

from __future__ import annotations

# Their defaults (the schema's) are Bai et al.'s settings: batch 64, lr 2e-4, Adam(0.5, 0.999), 5 D steps per
# G step; fewer steps.
TRAIN_KEYS = ("steps", "batch_size", "lr", "beta1", "beta2", "loss", "d_steps", "z_dim", "width", "max_resample",
              "checkpoint_every")
SCORE_KEYS = ("kmeans_cells", "classwise_cells", "pca_dims")


def train_job_spec(section: dict) -> dict:
    """The spec of a training job: the TRAIN_KEYS of the ``mrgan`` section."""
    return {key: section[key] for key in TRAIN_KEYS}


def score_job_spec(section: dict) -> dict:
    """The spec of a scoring job: the SCORE_KEYS of the ``mrgan`` section."""
    return {key: section[key] for key in SCORE_KEYS}
