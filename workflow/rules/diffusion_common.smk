# Helpers of the diffusion rules (diffusion.smk): the experiment's config lookups and input paths
# (pipeline.targets). No science here.
import pipeline.diffusion.spec


def diffusion_experiment(wildcards):
    return config["diffusion"]["experiments"][wildcards.experiment]


def diffusion_dataset(wildcards):
    """The experiment's data set (also its figures' report subcategory, like every other method's)."""
    return diffusion_experiment(wildcards)["dataset"]


def diffusion_dataset_files(wildcards):
    return targets.dataset_files(diffusion_dataset(wildcards))


def diffusion_keep_label_arg(wildcards):
    label = diffusion_experiment(wildcards)["keep_label"]
    return "" if label < 0 else f"--keep-label {label}"


def diffusion_train_spec(wildcards):
    return as_json(
        pipeline.diffusion.spec.train_job_spec(
            diffusion_experiment(wildcards), wildcards.width
        )
    )


def diffusion_param(key):
    """A param: ``key`` of the job's experiment."""

    def param(wildcards):
        return diffusion_experiment(wildcards)[key]

    return param


def diffusion_scores(wildcards):
    return targets.diffusion_scores(config, wildcards.experiment)


def diffusion_grid_dirs(wildcards):
    return targets.diffusion_grid_dirs(config, wildcards.experiment)


def diffusion_grid_files(wildcards):
    return targets.diffusion_grid_files(config, wildcards.experiment)
