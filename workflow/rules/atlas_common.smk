# Helpers of the atlas rules (atlas.smk): which method tables of a data set feed its atlas.
# Included after every method's rules, whose config sections and path helpers it reads.

ATLAS = f"{RESULTS}/atlas/{{dataset}}"


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
                    base = f"{RESULTS}/diffusion/{experiment}/n{size}"
                    jobs.append(
                        (
                            f"{experiment}_n{size}_w{width}_seed{seed}",
                            f"{base}/w{width}/seed{seed}/replicates.parquet",
                            f"{base}/subset.parquet",
                        )
                    )
    return jobs


def atlas_sources(name):
    """Command-line arguments and input files of the join for data set ``name``."""
    args, files = [], []
    if name in config["feldman"]["datasets"]:
        for arch in config["feldman"]["architectures"]:
            path = f"{RESULTS}/feldman/{name}/{arch}/memorization.parquet"
            args.append(f"--feldman {arch} {path}")
            files.append(path)
    if name in config["kfold_vae"]["datasets"]:
        base = f"{RESULTS}/kfold_vae/{name}/seed{config['kfold_vae']['seed']}"
        paths = [
            f"{base}/kfold_scores.parquet",
            f"{base}/rho.parquet",
            f"{base}/full/logpx.parquet",
        ]
        args.append(
            f"--kfold-scores {paths[0]} --rho {paths[1]} --logpx-full {paths[2]}"
        )
        files += paths
    for job, replicates, subset in atlas_diffusion_jobs(name):
        args.append(f"--diffusion {job} {replicates} {subset}")
        files += [replicates, subset]
    if name in config["mrgan"]["datasets"]:
        for tau in config["mrgan"]["taus"]:
            for seed in config["mrgan"]["seeds"]:
                tau_label = mrgan_tau_label(tau)
                path = f"{RESULTS}/mrgan/{name}/tau{tau_label}/seed{seed}/nn_distances.parquet"
                args.append(f"--mrgan tau{tau_label}_seed{seed} {path}")
                files.append(path)
    return args, sorted(set(files))


def atlas_input_files(wildcards):
    return atlas_sources(wildcards.dataset)[1]


def atlas_join_args(wildcards):
    return " ".join(atlas_sources(wildcards.dataset)[0])


def atlas_dataset_files(wildcards):
    return dataset_files(wildcards.dataset)


def atlas_dataset_dir(wildcards):
    return dataset_dir(wildcards.dataset)


def atlas_datasets():
    """Every data set on which at least one per-example method runs, in config order."""
    names = list(config["feldman"]["datasets"]) + list(config["kfold_vae"]["datasets"])
    names += [
        config["diffusion"]["experiments"][experiment]["dataset"]
        for experiment in config["diffusion"]["run"]
    ]
    names += list(config["mrgan"]["datasets"])
    return [name for name in dict.fromkeys(names) if atlas_sources(name)[0]]


def atlas_targets():
    return [
        f"{RESULTS}/atlas/{name}/{path}"
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
