# Helpers of the K-fold VAE rules (kfold_vae.smk), kept apart so rules and functions do not mix.
KFOLD_VAE = paths.KFOLD_VAE
KFOLD_VAE_OVERRIDES = ["epochs", "eval_epochs", "lr", "batch_size", "n_importance"]


def kfold_vae_spec(wildcards):
    """Training settings of a data set: its model entry over the section's defaults."""
    section = config["kfold_vae"]
    model = section["models"][wildcards.dataset]
    spec = {key: model.get(key, section[key]) for key in KFOLD_VAE_OVERRIDES}
    for key in ["kind", "latent_dim", "hidden", "width"]:
        spec[key] = model[key]
    return as_json(spec)


def kfold_vae_full_spec(wildcards):
    """The full-data model scores log p(x) at its last epoch only (the atlas's kfold_logpx_full)."""
    spec = json.loads(kfold_vae_spec(wildcards))
    spec["eval_epochs"] = []
    return as_json(spec)


def kfold_vae_validation_split(wildcards):
    section = config["kfold_vae"]
    model = section["models"][wildcards.dataset]
    return model.get("validation_split", section["validation_split"])


def kfold_vae_table(wildcards):
    return f"{paths.SPLITS.format(dataset=wildcards.dataset, seed=wildcards.seed)}/kfold.parquet"


def kfold_vae_logpx_files(wildcards):
    folds = config["splits"]["kfold"]["folds"]
    repeats = config["splits"]["kfold"]["repeats"]
    return [
        f"{paths.KFOLD_VAE.format(dataset=wildcards.dataset, seed=wildcards.seed)}/models/r{r}_f{f}/logpx.parquet"
        for r in range(repeats)
        for f in range(folds)
    ]


def kfold_vae_targets():
    seed = config["kfold_vae"]["seed"]
    return [
        f"{paths.KFOLD_VAE.format(dataset=name, seed=seed)}/{path}"
        for name in config["kfold_vae"]["datasets"]
        for path in [
            "kfold_scores.parquet",
            "rho.parquet",
            "figures/examples.png",
            "figures/logpx_histogram.png",
            "figures/rho.png",
            "figures/m_quantiles.png",
        ]
    ]
