# Helpers of the claims rules (claims.smk): which result tables each configured paper's claims read.
# Included after every method's rules, whose config sections and path helpers it reads. The input
# names are declared in pipeline/claims/tables.py (INPUTS); what is built here is checked against them.

from pipeline.claims import tables as claim_inputs


def is_planted(name):
    return config["datasets"][name]["kind"] == "planted"


def claims_feldman_inputs(spec):
    name, arch = spec["dataset"], spec["arch"]
    base = paths.FELDMAN_ARCH.format(dataset=name, arch=arch)
    inputs = {"feldman_mem": f"{base}/memorization.parquet"}
    if is_planted(name):
        inputs["feldman_index"] = f"{paths.DATASET.format(dataset=name)}/index.parquet"
        inputs["feldman_pairs"] = f"{base}/influence_pairs.parquet"
        inputs["feldman_shards"] = targets.feldman_shard_files(config, name, arch)
    for key, option in [("replicate", "replicate_mem"), ("other_arch", "other_mem")]:
        if key in spec:
            other = paths.FELDMAN_ARCH.format(dataset=name, arch=spec[key])
            inputs[option] = f"{other}/memorization.parquet"
    return inputs


def claims_kfold_vae_inputs(spec):
    name = spec["dataset"]
    base = paths.KFOLD_VAE.format(dataset=name, seed=config["kfold_vae"]["seed"])
    inputs = {
        "kfold_scores": f"{base}/kfold_scores.parquet",
        "kfold_rho": f"{base}/rho.parquet",
        "kfold_logpx_full": f"{base}/full/logpx.parquet",
    }
    if is_planted(name):
        inputs["kfold_index"] = f"{paths.DATASET.format(dataset=name)}/index.parquet"
    return inputs


def claims_diffusion_inputs(spec):
    return {
        key: f"{paths.DIFFUSION.format(experiment=experiment)}/summary.parquet"
        for key, experiment in spec.items()
    }


def claims_mrgan_inputs(spec):
    base = paths.MRGAN.format(dataset=spec["dataset"])
    return {
        "mrgan_summary": f"{base}/summary.parquet",
        "mrgan_classwise": f"{base}/classwise_summary.parquet",
    }


def claims_input_files(wildcards=None):
    """Input name -> file(s) of every piece ``claims`` configures (names are the commands' options)."""
    builders = {
        "feldman": claims_feldman_inputs,
        "kfold_vae": claims_kfold_vae_inputs,
        "diffusion": claims_diffusion_inputs,
        "mrgan": claims_mrgan_inputs,
    }
    inputs = {}
    for paper in targets.CLAIMS_PAPERS:
        if paper in config["claims"]:
            inputs.update(builders[paper](config["claims"][paper]))
    claim_inputs.check_built(inputs, config["claims"], is_planted)
    return inputs


def claims_args(wildcards, input):
    """The commands' input options, each path taken from the job's inputs (a module prefix carries over)."""
    args = []
    for name in claims_input_files():
        files = input[name]
        files = [files] if isinstance(files, str) else list(files)
        args.append(" ".join([claim_inputs.option(name), *files]))
    dummies = config["claims"].get("diffusion", {}).get("dummies")
    if dummies is not None:
        label = config["diffusion"]["experiments"][dummies]["keep_label"]
        args.append(f"{claim_inputs.option(claim_inputs.DUMMIES_CLASS)} {label}")
    return " ".join(args)
