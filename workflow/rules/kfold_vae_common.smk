# Helpers of the K-fold VAE rules (kfold_vae.smk): the job's spec and input paths (pipeline.targets).
import pipeline.kfold_vae.spec


def kfold_vae_spec(wildcards):
    """Training settings of a data set: its model entry over the section's defaults."""
    return as_json(
        pipeline.kfold_vae.spec.train_job_spec(config["kfold_vae"], wildcards.dataset)
    )


def kfold_vae_full_spec(wildcards):
    return as_json(
        pipeline.kfold_vae.spec.full_model_spec(config["kfold_vae"], wildcards.dataset)
    )


def kfold_vae_validation_split(wildcards):
    return pipeline.kfold_vae.spec.validation_split(
        config["kfold_vae"], wildcards.dataset
    )


def kfold_vae_table(wildcards):
    return targets.kfold_vae_table(wildcards.dataset, wildcards.seed)


def kfold_vae_logpx_files(wildcards):
    return targets.kfold_vae_logpx_files(config, wildcards.dataset, wildcards.seed)
