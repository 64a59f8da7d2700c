# Helpers of the Feldman & Zhang rules (feldman.smk): the job's config lookups and input paths
# (pipeline.targets).


def feldman_shard_files(arch_key):
    """The shard tables of the architecture in wildcard ``arch_key``."""

    def files(wildcards):
        arch = getattr(wildcards, arch_key)
        return targets.feldman_shard_files(config, wildcards.dataset, arch)

    return files


def feldman_runs_file(wildcards):
    """The researcher's .npz of an architecture of kind runs (read in place, never moved)."""
    spec = config["feldman"]["architectures"][wildcards.arch]
    if spec["kind"] != "runs":
        raise ValueError(
            f"feldman.architectures.{wildcards.arch} is of kind {spec['kind']}, not runs: it has no file"
        )
    return spec["file"]


def feldman_split_seed(wildcards):
    return targets.feldman_split_seed(config, wildcards.arch)


def feldman_subsets_file(wildcards):
    return targets.feldman_subsets_file(config, wildcards.dataset, wildcards.arch)


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
FELDMAN_SHARD_OUTPUTS = {"table": f"{paths.FELDMAN_ARCH}/shards/shard{{shard}}.parquet"}
if config["feldman"]["save_checkpoints"]:
    FELDMAN_SHARD_OUTPUTS["models"] = f"{paths.FELDMAN_ARCH}/shards/shard{{shard}}.pt"


def feldman_models_arg(wildcards, output):
    return f"--save-models {output.models}" if "models" in output.keys() else ""


def feldman_pair_tables(wildcards):
    return targets.feldman_pair_tables(config, wildcards.dataset)


def feldman_thetas(wildcards):
    return " ".join(f"{theta:g}" for theta in config["feldman"]["thetas"])
