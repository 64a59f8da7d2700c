"""The config keys a DDPM training job reads, and its spec built from an experiment entry.

The rule passes exactly this spec (as a param, so a change to one of these keys reruns the training
jobs and a change to any other key of the experiment does not), and ``pipeline.diffusion.train``
completes it with the schema's defaults of the same keys. Standard library only: the Snakefile
imports this at start-up.
"""

from __future__ import annotations

# The keys of diffusion.experiments.<name> a training job's spec holds (besides ``width``, one of ``widths``).
TRAIN_KEYS = ("channel_mult", "num_res_blocks", "attention_resolutions", "dropout", "heads", "timesteps", "steps",
              "batch_size", "lr", "conditional", "checkpoint_every", "log_every")


def train_job_spec(experiment: dict, width: int) -> dict:
    """The training spec of one job of ``experiment`` (an entry of diffusion.experiments) at ``width``."""
    return {**{key: experiment[key] for key in TRAIN_KEYS}, "width": int(width)}
