# Helpers of the atlas rules (atlas.smk): which method tables of a data set feed its atlas.
# Included after every method's rules, whose config sections and path helpers it reads.

ATLAS = paths.ATLAS


def atlas_diffusion_jobs(name):
    """(job name, replicates, subset) of every DDPM in diffusion.run trained on ``name``."""
    jobs = []
    for experiment in config["diffusion"]["run"]:
        spec = config["diffusion"]["experiments"][experiment]
        if spec["dataset"] != name:
            continue
        for size in spec["sizes"]:
            for width in spec["widths"]:
                for seed in spec["seeds"]:
                    base = paths.DIFFUSION_SUBSET.format(
                        experiment=experiment, size=size
                    )
                    jobs.append(
                        (
                            f"{experiment}_n{size}_w{width}_seed{seed}",
                            f"{base}/w{width}/seed{seed}/replicates.parquet",
                            f"{base}/subset.parquet",
                        )
                    )
    return jobs


def atlas_sources(name):
    """(option, label, paths) of every method table that feeds the atlas of data set ``name``."""
    sources = []
    if name in config["feldman"]["datasets"]:
        for arch in config["feldman"]["architectures"]:
            path = f"{paths.FELDMAN_ARCH.format(dataset=name, arch=arch)}/memorization.parquet"
            sources.append(("--feldman", arch, [path]))
    if name in config["kfold_vae"]["datasets"]:
        base = paths.KFOLD_VAE.format(dataset=name, seed=config["kfold_vae"]["seed"])
        for option, path in [
            ("--kfold-scores", f"{base}/kfold_scores.parquet"),
            ("--rho", f"{base}/rho.parquet"),
            ("--logpx-full", f"{base}/full/logpx.parquet"),
        ]:
            sources.append((option, None, [path]))
    for job, replicates, subset in atlas_diffusion_jobs(name):
        sources.append(("--diffusion", job, [replicates, subset]))
    if name in config["mrgan"]["datasets"]:
        for tau in config["mrgan"]["taus"]:
            for seed in config["mrgan"]["seeds"]:
                tau_label = paths.tau_label(tau)
                job = paths.MRGAN_JOB.format(dataset=name, tau=tau_label, seed=seed)
                path = f"{job}/nn_distances.parquet"
                sources.append(("--mrgan", f"tau{tau_label}_seed{seed}", [path]))
    for sample_set, spec in config["samples"].items():
        if spec["dataset"] == name:
            path = f"{paths.SAMPLES.format(sample_set=sample_set)}/nn_counts.parquet"
            sources.append(("--samples", sample_set, [path]))
    return sources


def atlas_input_files(wildcards):
    return sorted(
        {path for _, _, paths in atlas_sources(wildcards.dataset) for path in paths}
    )


def atlas_join_args(wildcards, input):
    """The join's options, each path taken from the job's inputs (so a module prefix carries over)."""
    actual = dict(zip(atlas_input_files(wildcards), input.tables))
    return " ".join(
        " ".join([option, *([label] if label else []), *(actual[p] for p in paths)])
        for option, label, paths in atlas_sources(wildcards.dataset)
    )


def atlas_datasets():
    """Every data set on which at least one per-example method runs, in config order."""
    names = list(config["feldman"]["datasets"]) + list(config["kfold_vae"]["datasets"])
    names += [
        config["diffusion"]["experiments"][experiment]["dataset"]
        for experiment in config["diffusion"]["run"]
    ]
    names += list(config["mrgan"]["datasets"])
    names += [spec["dataset"] for spec in config["samples"].values()]
    return [name for name in dict.fromkeys(names) if atlas_sources(name)]


def atlas_planted_datasets():
    """The atlas data sets of kind ``planted``: their canaries say how well each score detects memorization."""
    return [
        name
        for name in atlas_datasets()
        if config["datasets"][name]["kind"] == "planted"
    ]


def atlas_targets():
    targets = [
        f"{paths.ATLAS.format(dataset=name)}/{path}"
        for name in atlas_datasets()
        for path in [
            "atlas.parquet",
            "pairs.parquet",
            "flagged.parquet",
            "figures/correlations.png",
            "figures/scatter.png",
            "figures/flagged.png",
        ]
    ]
    return targets + [
        f"{paths.ATLAS.format(dataset=name)}/{path}"
        for name in atlas_planted_datasets()
        for path in ["planted.parquet", "figures/planted.png"]
    ]
