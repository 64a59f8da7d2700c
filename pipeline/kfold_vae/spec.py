"""The keys of the ``kfold_vae`` config section a training job reads, and its spec.

A training spec is a data set's entry of kfold_vae.models (MODEL_KEYS, and TRAINING_KEYS where the
entry overrides the section) over the section's TRAINING_KEYS. The rules pass exactly this spec (as a
param, so a change to one of these keys reruns the training jobs of the data sets it applies to, and a
change to any other key does not), and ``pipeline.kfold_vae.train`` completes it with the schema's
defaults of the same keys. Standard library only: the Snakefile imports this at start-up.
"""

from __future__ import annotations

MODEL_KEYS = ("kind", "latent_dim", "hidden", "width")
TRAINING_KEYS = ("epochs", "eval_epochs", "lr", "batch_size", "n_importance")


def training_settings(section: dict, dataset: str) -> dict:
    """The training settings of ``dataset``'s models: its model entry's, else the section's."""
    model = section["models"][dataset]
    return {key: model.get(key, section[key]) for key in TRAINING_KEYS}


def train_job_spec(section: dict, dataset: str) -> dict:
    """The spec of a fold model of ``dataset``: its model entry over the section's training settings."""
    model = section["models"][dataset]
    return {**training_settings(section, dataset), **{key: model[key] for key in MODEL_KEYS}}


def full_model_spec(section: dict, dataset: str) -> dict:
    """The full-data model's spec: a fold model's, scoring log p(x) at its last epoch only (the atlas's
    kfold_logpx_full)."""
    return {**train_job_spec(section, dataset), "eval_epochs": []}


def validation_split(section: dict, dataset: str) -> str:
    """The split rho compares the samples with: the model entry's validation_split, else the section's."""
    return section["models"][dataset].get("validation_split", section["validation_split"])
