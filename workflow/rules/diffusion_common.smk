# Helpers of the diffusion rules (Yoon et al.): paths, config lookups and targets. No science here.

DIFF = paths.DIFFUSION
DIFF_SUBSET = paths.DIFFUSION_SUBSET
DIFF_JOB = paths.DIFFUSION_JOB
DIFF_LOG = f"{paths.LOGS}/diffusion/{{experiment}}"
DIFF_BENCH = f"{paths.BENCHMARKS}/diffusion/{{experiment}}"
DIFF_TRAIN_KEYS = [
    "channel_mult",
    "num_res_blocks",
    "attention_resolutions",
    "dropout",
    "heads",
    "timesteps",
    "steps",
    "batch_size",
    "lr",
    "conditional",
    "checkpoint_every",
    "log_every",
]


def diffusion_experiment(wildcards):
    return config["diffusion"]["experiments"][wildcards.experiment]


def diffusion_dataset_files(wildcards):
    return dataset_files(diffusion_experiment(wildcards)["dataset"])


def diffusion_dataset_name(wildcards):
    return diffusion_experiment(wildcards)["dataset"]


def diffusion_report_dataset(wildcards):
    """Report subcategory of an experiment's figures: its data set, like every other method."""
    return diffusion_experiment(wildcards)["dataset"]


def diffusion_keep_label_arg(wildcards):
    label = diffusion_experiment(wildcards)["keep_label"]
    return "" if label < 0 else f"--keep-label {label}"


def diffusion_keep_label(wildcards):
    return diffusion_experiment(wildcards)["keep_label"]


def diffusion_subset_seed(wildcards):
    return diffusion_experiment(wildcards)["subset_seed"]


def diffusion_train_spec(wildcards):
    spec = {key: diffusion_experiment(wildcards)[key] for key in DIFF_TRAIN_KEYS}
    spec["width"] = int(wildcards.width)
    return as_json(spec)


def diffusion_sample_param(key):
    def param(wildcards):
        return diffusion_experiment(wildcards)[key]

    return param


def diffusion_job_dirs(experiment):
    spec = config["diffusion"]["experiments"][experiment]
    return [
        paths.DIFFUSION_JOB.format(
            experiment=experiment, size=size, width=width, seed=seed
        )
        for size in spec["sizes"]
        for width in spec["widths"]
        for seed in spec["seeds"]
    ]


def diffusion_scores(wildcards):
    return [f"{job}/scores.parquet" for job in diffusion_job_dirs(wildcards.experiment)]


def diffusion_grid_dirs(wildcards):
    """Smallest and largest subset at the largest width, first seed (figures show these)."""
    spec = diffusion_experiment(wildcards)
    sizes = sorted(set([min(spec["sizes"]), max(spec["sizes"])]))
    width, seed = max(spec["widths"]), spec["seeds"][0]
    return [
        paths.DIFFUSION_JOB.format(
            experiment=wildcards.experiment, size=size, width=width, seed=seed
        )
        for size in sizes
    ]


def diffusion_grid_files(wildcards):
    return [
        f"{job}/{name}"
        for job in diffusion_grid_dirs(wildcards)
        for name in ["samples.npy", "replicates.parquet"]
    ]


def diffusion_targets():
    return [
        f"{paths.DIFFUSION.format(experiment=experiment)}/{path}"
        for experiment in config["diffusion"]["run"]
        for path in [
            "summary.parquet",
            "figures/share_vs_size.png",
            "figures/per_class.png",
            "figures/grid.png",
        ]
    ]
