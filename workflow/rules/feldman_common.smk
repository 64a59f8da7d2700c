# Helpers of the Feldman & Zhang rules (feldman.smk), kept apart so rules and functions do not mix.
FELDMAN = paths.FELDMAN
FELDMAN_ARCH = paths.FELDMAN_ARCH


def feldman_n_shards():
    """Jobs per architecture; with shard_size auto one job trains every run, sizing its stacks itself."""
    runs, size = config["splits"]["feldman"]["runs"], config["feldman"]["shard_size"]
    return 1 if size == "auto" else -(-runs // size)


def feldman_arch_shards(dataset, arch):
    """The shard tables of one architecture: its trained shards, or for kind runs the one table
    made from its file (rule feldman_runs_shard)."""
    base = f"{paths.FELDMAN_ARCH.format(dataset=dataset, arch=arch)}/shards"
    if config["feldman"]["architectures"][arch]["kind"] == "runs":
        return [f"{base}/runs.parquet"]
    return [f"{base}/shard{k}.parquet" for k in range(feldman_n_shards())]


def feldman_shard_files(arch_key):
    def files(wildcards):
        return feldman_arch_shards(wildcards.dataset, getattr(wildcards, arch_key))

    return files


def feldman_runs_file(wildcards):
    """The researcher's .npz of an architecture of kind runs (read in place, never moved)."""
    spec = config["feldman"]["architectures"][wildcards.arch]
    if spec["kind"] != "runs":
        raise ValueError(f"feldman.architectures.{wildcards.arch} is of kind {spec['kind']}, not runs: it has no file")
    return spec["file"]


def feldman_split_seed(wildcards):
    """The splits seed whose subsets the architecture trains on: its split_seed, else feldman.seed."""
    spec = config["feldman"]["architectures"][wildcards.arch]
    return spec.get("split_seed", config["feldman"]["seed"])


def feldman_subsets_file(wildcards):
    seed = feldman_split_seed(wildcards)
    return f"{paths.SPLITS.format(dataset=wildcards.dataset, seed=seed)}/feldman_subsets.parquet"


def feldman_code(module):
    """The code param of a job that trains an architecture: the code version of ``module`` and, for
    kind module, of the researcher's factory (its code, or its installed package's version), so an
    edit to either reruns the job."""

    def code(wildcards):
        spec = config["feldman"]["architectures"][wildcards.arch]
        version = code_version(module)
        return (
            f"{version} {factory_version(spec['factory'])}"
            if spec["kind"] == "module"
            else version
        )

    return code


def feldman_arch_spec(wildcards):
    return as_json(config["feldman"]["architectures"][wildcards.arch])


# With feldman.save_checkpoints, each shard job also writes its trained models, a declared output.
FELDMAN_SHARD_OUTPUTS = {"table": f"{FELDMAN_ARCH}/shards/shard{{shard}}.parquet"}
if config["feldman"]["save_checkpoints"]:
    FELDMAN_SHARD_OUTPUTS["models"] = f"{FELDMAN_ARCH}/shards/shard{{shard}}.pt"


def feldman_models_arg(wildcards, output):
    return f"--save-models {output.models}" if "models" in output.keys() else ""


def feldman_pair_tables(wildcards):
    return [
        f"{paths.FELDMAN.format(dataset=wildcards.dataset)}/consistency/{a}_vs_{b}.parquet"
        for a, b in config["feldman"]["compare"]
    ]


def feldman_thetas(wildcards):
    return " ".join(f"{theta:g}" for theta in config["feldman"]["thetas"])


def feldman_targets():
    targets = []
    for name in config["feldman"]["datasets"]:
        for arch in config["feldman"]["architectures"]:
            base = paths.FELDMAN_ARCH.format(dataset=name, arch=arch)
            targets += [
                f"{base}/memorization.parquet",
                f"{base}/influence_pairs.parquet",
                f"{base}/influence_chance.parquet",
            ]
            targets += [
                f"{base}/figures/{fig}.png"
                for fig in ["mem_histogram", "extremes", "influence_pairs"]
            ]
        if config["feldman"]["compare"]:
            targets.append(
                f"{paths.FELDMAN.format(dataset=name)}/figures/consistency.png"
            )
    return targets


TARGET_FUNCTIONS.append(feldman_targets)
