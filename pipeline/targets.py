"""What the workflow builds: the default target of a config and the input paths of its rules.

Functions of the validated config (``pipeline.config.validate_config`` fills in the schema's
defaults) returning paths built from ``pipeline.paths``. The Snakefile's ``rule all`` and the rules'
input functions call them (the rules add only the wildcards), and the tests call them to know what
a run made, so what a config builds is written once. Standard library only: the Snakefile imports
this at start-up.
"""

from __future__ import annotations

from pipeline import paths
from pipeline.atlas.columns import diffusion_job_name, mrgan_job_name

# The sections of `snakemake --report`: one per method, keyed as the method's rules and captions are.
REPORT_SECTIONS = {
    "feldman": "Feldman & Zhang",
    "kfold_vae": "K-fold VAE",
    "diffusion": "Diffusion replicates",
    "mrgan": "MR-GAN",
    "atlas": "Memorization atlas",
    "claims": "Claims",
}

# The papers whose claims the config section ``claims`` may name, in the order of their figures, with
# the titles the figures show.
CLAIMS_PAPERS = {"feldman": "Feldman & Zhang", "kfold_vae": "van den Burg & Williams", "diffusion": "Yoon et al.",
                 "mrgan": "Bai et al."}


def default_target(config: dict) -> list[str]:
    """Every file ``snakemake`` builds with no target named: each stage's targets in turn."""
    stages = [data_targets, neighbors_targets, mrgan_targets, kfold_vae_targets, diffusion_targets,
              feldman_targets, samples_targets, atlas_targets, claims_targets]
    return [path for stage in stages for path in stage(config)]


# --- data and neighbours ---------------------------------------------------------------------


def dataset_files(name: str) -> list[str]:
    """The prepared files of data set ``name``."""
    folder = paths.DATASET.format(dataset=name)
    return [f"{folder}/{file}" for file in paths.DATASET_FILES]


def source_datasets(config: dict, name: str) -> list[str]:
    """The data sets ``name`` is built from: a mixture's parts, a planted data set's base."""
    spec = config["datasets"][name]
    parts = {part["dataset"] for part in spec.get("parts", [])}
    return sorted(parts | ({spec["base"]} if "base" in spec else set()))


def data_targets(config: dict) -> list[str]:
    targets = [path for name in config["datasets"] for path in dataset_files(name)]
    for name in config["splits"]["datasets"]:
        for seed in config["splits"]["seeds"]:
            folder = paths.SPLITS.format(dataset=name, seed=seed)
            targets += [f"{folder}/feldman_subsets.parquet", f"{folder}/kfold.parquet"]
    return targets


def neighbors_targets(config: dict) -> list[str]:
    return [paths.NEIGHBORS.format(dataset=name, job=job)
            for job, spec in config["neighbors"].items() for name in spec["datasets"]]


# --- FID, MR-GAN and sample sets -------------------------------------------------------------


def fid_inputs(n: int, folder: str, dataset: str) -> dict[str, str]:
    """With n > 0 FID images: the FID features of n generated images (``folder``/fid_features.npy)
    and of n test images of ``dataset`` (rule fid_split_features); nothing when n = 0 (no FID)."""
    if n == 0:
        return {}
    return {"fid_samples": f"{folder}/fid_features.npy",
            "fid_test": paths.FID_FEATURES.format(dataset=dataset, split="test", n=n)}


def mrgan_embedder_path(config: dict, name: str) -> str:
    """The embedding file of data set ``name``: the classifier rule mrgan_embedder trains, or Inception's weights."""
    embedding = config["mrgan"]["embedding"]
    if embedding["kind"] == "inception":
        return embedding["inception_weights"]
    return f"{paths.MRGAN.format(dataset=name)}/embedder/classifier.pt"


def mrgan_job_files(config: dict, dataset: str, name: str) -> list[str]:
    """File ``name`` of every (tau, seed) job of ``dataset``."""
    section = config["mrgan"]
    return [f"{paths.MRGAN_JOB.format(dataset=dataset, tau=paths.tau_label(tau), seed=seed)}/{name}"
            for tau in section["taus"] for seed in section["seeds"]]


def mrgan_fid_inputs(config: dict, dataset: str, tau: str, seed: str) -> dict[str, str]:
    """With mrgan.fid_images = n > 0: the FID features of n of the job's samples and of n test images."""
    job = paths.MRGAN_JOB.format(dataset=dataset, tau=tau, seed=seed)
    return fid_inputs(config["mrgan"]["fid_images"], job, dataset)


def mrgan_targets(config: dict) -> list[str]:
    return [f"{paths.MRGAN.format(dataset=name)}/{path}"
            for name in config["mrgan"]["datasets"]
            for path in ["summary.parquet", "figures/fd_vs_ct.png", "figures/classwise_ct.png",
                         "figures/nn_distances.png"]]


SAMPLES_TABLES = ["neighbors.parquet", "replicates.parquet", "scores.parquet", "nn_counts.parquet"]


def samples_fid_inputs(config: dict, sample_set: str) -> dict[str, str]:
    """With samples.<name>.fid_images = n > 0: the FID features of n of the set's samples and of n test images."""
    spec = config["samples"][sample_set]
    return fid_inputs(spec["fid_images"], paths.SAMPLES.format(sample_set=sample_set), spec["dataset"])


def samples_targets(config: dict) -> list[str]:
    return [f"{paths.SAMPLES.format(sample_set=name)}/{table}"
            for name in config["samples"] for table in SAMPLES_TABLES]


# --- K-fold VAE --------------------------------------------------------------------------------


def kfold_vae_table(dataset: str, seed) -> str:
    """The fold assignment the K-fold VAE jobs of ``dataset`` train on (rule kfold_assignment)."""
    return f"{paths.SPLITS.format(dataset=dataset, seed=seed)}/kfold.parquet"


def kfold_vae_logpx_files(config: dict, dataset: str, seed) -> list[str]:
    """The log p(x) table of every (repeat, held-out fold) model of ``dataset``."""
    folds, repeats = config["splits"]["kfold"]["folds"], config["splits"]["kfold"]["repeats"]
    base = paths.KFOLD_VAE.format(dataset=dataset, seed=seed)
    return [f"{base}/models/r{r}_f{f}/logpx.parquet" for r in range(repeats) for f in range(folds)]


def kfold_vae_targets(config: dict) -> list[str]:
    seed = config["kfold_vae"]["seed"]
    return [f"{paths.KFOLD_VAE.format(dataset=name, seed=seed)}/{path}"
            for name in config["kfold_vae"]["datasets"]
            for path in ["kfold_scores.parquet", "rho.parquet", "figures/examples.png", "figures/logpx_histogram.png",
                         "figures/rho.png", "figures/m_quantiles.png"]]


# --- diffusion ---------------------------------------------------------------------------------


def diffusion_job_dirs(config: dict, experiment: str) -> list[str]:
    """The folder of every (size, width, seed) DDPM of ``experiment``."""
    spec = config["diffusion"]["experiments"][experiment]
    return [paths.DIFFUSION_JOB.format(experiment=experiment, size=size, width=width, seed=seed)
            for size in spec["sizes"] for width in spec["widths"] for seed in spec["seeds"]]


def diffusion_scores(config: dict, experiment: str) -> list[str]:
    return [f"{job}/scores.parquet" for job in diffusion_job_dirs(config, experiment)]


def diffusion_grid_dirs(config: dict, experiment: str) -> list[str]:
    """Smallest and largest subset at the largest width, first seed (the figures show these)."""
    spec = config["diffusion"]["experiments"][experiment]
    sizes = sorted({min(spec["sizes"]), max(spec["sizes"])})
    width, seed = max(spec["widths"]), spec["seeds"][0]
    return [paths.DIFFUSION_JOB.format(experiment=experiment, size=size, width=width, seed=seed) for size in sizes]


def diffusion_grid_files(config: dict, experiment: str) -> list[str]:
    return [f"{job}/{name}" for job in diffusion_grid_dirs(config, experiment)
            for name in ["samples.npy", "replicates.parquet"]]


def diffusion_targets(config: dict) -> list[str]:
    return [f"{paths.DIFFUSION.format(experiment=experiment)}/{path}"
            for experiment in config["diffusion"]["run"]
            for path in ["summary.parquet", "figures/share_vs_size.png", "figures/per_class.png", "figures/grid.png"]]


# --- Feldman & Zhang ---------------------------------------------------------------------------


def feldman_n_shards(config: dict) -> int:
    """Jobs per architecture; with shard_size auto one job trains every run, sizing its stacks itself."""
    runs, size = config["splits"]["feldman"]["runs"], config["feldman"]["shard_size"]
    return 1 if size == "auto" else -(-runs // size)


def feldman_shard_files(config: dict, dataset: str, arch: str) -> list[str]:
    """The shard tables of one architecture: its trained shards, or for kind runs the one table made
    from its file (rule feldman_runs_shard)."""
    base = f"{paths.FELDMAN_ARCH.format(dataset=dataset, arch=arch)}/shards"
    if config["feldman"]["architectures"][arch]["kind"] == "runs":
        return [f"{base}/runs.parquet"]
    return [f"{base}/shard{k}.parquet" for k in range(feldman_n_shards(config))]


def feldman_split_seed(config: dict, arch: str) -> int:
    """The splits seed whose subsets the architecture trains on: its split_seed, else feldman.seed."""
    return config["feldman"]["architectures"][arch].get("split_seed", config["feldman"]["seed"])


def feldman_subsets_file(config: dict, dataset: str, arch: str) -> str:
    seed = feldman_split_seed(config, arch)
    return f"{paths.SPLITS.format(dataset=dataset, seed=seed)}/feldman_subsets.parquet"


def feldman_pair_tables(config: dict, dataset: str) -> list[str]:
    """The consistency table of every compared pair of architectures on ``dataset``."""
    return [f"{paths.FELDMAN.format(dataset=dataset)}/consistency/{a}_vs_{b}.parquet"
            for a, b in config["feldman"]["compare"]]


def feldman_targets(config: dict) -> list[str]:
    targets = []
    for name in config["feldman"]["datasets"]:
        for arch in config["feldman"]["architectures"]:
            base = paths.FELDMAN_ARCH.format(dataset=name, arch=arch)
            targets += [f"{base}/memorization.parquet", f"{base}/influence_pairs.parquet",
                        f"{base}/influence_chance.parquet", f"{base}/membership.parquet",
                        paths.FELDMAN_MEMBERSHIP_PAIRS.format(dataset=name, arch=arch)]
            figures = ["mem_histogram", "extremes", "influence_pairs", "membership_roc"]
            # convergence compares two halves of >= 8 runs (convergence.SMALLEST); a file's runs are
            # counted by the job, which writes an empty table when they are too few
            spec = config["feldman"]["architectures"][arch]
            if spec["kind"] == "runs" or config["splits"]["feldman"]["runs"] >= 16:
                targets.append(f"{base}/convergence.parquet")
                figures.append("convergence")
            targets += [f"{base}/figures/{fig}.png" for fig in figures]
        if config["feldman"]["compare"]:
            targets.append(f"{paths.FELDMAN.format(dataset=name)}/figures/consistency.png")
    return targets


# --- the atlas ---------------------------------------------------------------------------------


def atlas_diffusion_jobs(config: dict, name: str) -> list[tuple[str, str, str]]:
    """(atlas job name, replicates table, subset table) of every DDPM in diffusion.run trained on ``name``."""
    jobs = []
    for experiment in config["diffusion"]["run"]:
        spec = config["diffusion"]["experiments"][experiment]
        if spec["dataset"] != name:
            continue
        for size in spec["sizes"]:
            for width in spec["widths"]:
                for seed in spec["seeds"]:
                    job = paths.DIFFUSION_JOB.format(experiment=experiment, size=size, width=width, seed=seed)
                    subset = paths.DIFFUSION_SUBSET.format(experiment=experiment, size=size)
                    jobs.append((diffusion_job_name(experiment, size, width, seed), f"{job}/replicates.parquet",
                                 f"{subset}/subset.parquet"))
    return jobs


def influence_fdr_option(config: dict, name: str) -> str:
    """The option that passes config key feldman.influence_fdr to an atlas job of data set ``name`` (which
    picks the influence pairs beyond chance), or nothing where no Feldman run feeds it: a rule parameter of
    its own (a parameter computed from a job's inputs is not compared for reruns), so a change reruns the
    Feldman data sets' atlas jobs and no other."""
    return f"--influence-fdr {config['feldman']['influence_fdr']:g}" if name in config["feldman"]["datasets"] else ""


def atlas_sources(config: dict, name: str) -> list[tuple[str, str | None, list[str]]]:
    """(option, label, paths) of every method table that feeds the atlas of data set ``name``."""
    sources = []
    if name in config["feldman"]["datasets"]:
        for arch in config["feldman"]["architectures"]:
            base = paths.FELDMAN_ARCH.format(dataset=name, arch=arch)
            sources.append(("--feldman", arch, [f"{base}/memorization.parquet"]))
        for arch in config["feldman"]["architectures"]:  # which selected pairs beat chance: the runs they came from
            base = paths.FELDMAN_ARCH.format(dataset=name, arch=arch)
            sources.append(("--feldman-influence", arch, [f"{base}/influence_pairs.parquet",
                                                          f"{base}/influence_chance.parquet",
                                                          *feldman_shard_files(config, name, arch)]))
    if name in config["kfold_vae"]["datasets"]:
        base = paths.KFOLD_VAE.format(dataset=name, seed=config["kfold_vae"]["seed"])
        for option, path in [("--kfold-scores", f"{base}/kfold_scores.parquet"), ("--rho", f"{base}/rho.parquet"),
                             ("--logpx-full", f"{base}/full/logpx.parquet")]:
            sources.append((option, None, [path]))
    for job, replicates, subset in atlas_diffusion_jobs(config, name):
        sources.append(("--diffusion", job, [replicates, subset]))
    if name in config["mrgan"]["datasets"]:
        for tau in config["mrgan"]["taus"]:
            for seed in config["mrgan"]["seeds"]:
                job = paths.MRGAN_JOB.format(dataset=name, tau=paths.tau_label(tau), seed=seed)
                sources.append(("--mrgan", mrgan_job_name(tau, seed), [f"{job}/nn_distances.parquet"]))
    for sample_set, spec in config["samples"].items():
        if spec["dataset"] == name:
            path = f"{paths.SAMPLES.format(sample_set=sample_set)}/nn_counts.parquet"
            sources.append(("--samples", sample_set, [path]))
    return sources


def source_options(sources: list[tuple], files: list[str], inputs: list[str]) -> str:
    """The command-line options of ``sources`` ((option, label, paths, ...) each), every path replaced by
    the job's input at its place in ``files`` (so a Snakemake module's prefix carries over)."""
    actual = dict(zip(files, inputs))
    return " ".join(" ".join([option, *([label] if label else []), *(actual[path] for path in passed)])
                    for option, label, passed, *_ in sources)


def atlas_input_files(config: dict, name: str) -> list[str]:
    return sorted({path for _, _, files in atlas_sources(config, name) for path in files})


def gallery_sources(config: dict, name: str) -> list[tuple[str, str | None, list[str], list[str]]]:
    """(option, label, the paths passed, the files read beside them) of every table the gallery of data set
    ``name`` shows (pipeline.atlas.gallery): each Feldman architecture's pairs, chance table, memorization and
    runs, and each generative model's neighbour table with its samples."""
    sources = []
    if name in config["feldman"]["datasets"]:
        for arch in config["feldman"]["architectures"]:
            base = paths.FELDMAN_ARCH.format(dataset=name, arch=arch)
            tables = [f"{base}/{table}" for table in ("influence_pairs.parquet", "influence_chance.parquet",
                                                      "memorization.parquet")]
            sources.append(("--influence", arch, tables + feldman_shard_files(config, name, arch), []))
    if name in config["kfold_vae"]["datasets"]:
        base = paths.KFOLD_VAE.format(dataset=name, seed=config["kfold_vae"]["seed"])
        sources.append(("--neighbours", None, [f"{base}/rho.parquet"], [f"{base}/full/samples.npy"]))
    for _, replicates, subset in atlas_diffusion_jobs(config, name):
        job = replicates.rsplit("/", 1)[0]
        sources.append(("--neighbours", None, [f"{job}/neighbors.parquet"], [replicates, subset, f"{job}/samples.npy"]))
    if name in config["mrgan"]["datasets"]:
        for table in mrgan_job_files(config, name, "nn_distances.parquet"):
            sources.append(("--neighbours", None, [table], [table.rsplit("/", 1)[0] + "/samples.npy"]))
    for sample_set, spec in config["samples"].items():
        if spec["dataset"] == name:
            base = paths.SAMPLES.format(sample_set=sample_set)
            sources.append(("--neighbours", None, [f"{base}/neighbors.parquet"],
                            [f"{base}/replicates.parquet", f"{base}/images.npy"]))
    return sources


def gallery_input_files(config: dict, name: str) -> list[str]:
    """Every table and array the gallery of ``name`` reads, but the atlas and the data set's files."""
    return sorted({path for _, _, passed, beside in gallery_sources(config, name) for path in passed + beside})


def atlas_datasets(config: dict) -> list[str]:
    """Every data set on which at least one per-example method runs, in config order: those with an atlas."""
    names = list(config["feldman"]["datasets"]) + list(config["kfold_vae"]["datasets"])
    names += [config["diffusion"]["experiments"][experiment]["dataset"] for experiment in config["diffusion"]["run"]]
    names += list(config["mrgan"]["datasets"])
    names += [spec["dataset"] for spec in config["samples"].values()]
    return [name for name in dict.fromkeys(names) if atlas_sources(config, name)]


def is_planted(config: dict, name: str) -> bool:
    """Is data set ``name`` of kind ``planted`` (canaries whose truth is known)?"""
    return config["datasets"][name]["kind"] == "planted"


def atlas_planted_datasets(config: dict) -> list[str]:
    """The atlas data sets of kind ``planted``: their canaries say how well each score detects memorization."""
    return [name for name in atlas_datasets(config) if is_planted(config, name)]


def atlas_targets(config: dict) -> list[str]:
    files = ["atlas.parquet", "pairs.parquet", "flagged.parquet", "figures/correlations.png", "figures/scatter.png",
             "figures/flagged.png", "gallery.html"]
    targets = [f"{paths.ATLAS.format(dataset=name)}/{path}" for name in atlas_datasets(config) for path in files]
    return targets + [f"{paths.ATLAS.format(dataset=name)}/{path}" for name in atlas_planted_datasets(config)
                      for path in ["planted.parquet", "figures/planted.png"]]


# --- claims ------------------------------------------------------------------------------------


def claims_targets(config: dict) -> list[str]:
    if not config["claims"]:
        return []
    figures = [f"{paper}.png" for paper in CLAIMS_PAPERS] + ["table.png"]
    return [f"{paths.CLAIMS}/claims.parquet"] + [f"{paths.CLAIMS}/figures/{name}" for name in figures]


def claims_feldman_inputs(config: dict, spec: dict) -> dict:
    name, arch = spec["dataset"], spec["arch"]
    base = paths.FELDMAN_ARCH.format(dataset=name, arch=arch)
    inputs = {"feldman_mem": f"{base}/memorization.parquet"}
    if is_planted(config, name):
        inputs["feldman_index"] = f"{paths.DATASET.format(dataset=name)}/index.parquet"
        inputs["feldman_pairs"] = f"{base}/influence_pairs.parquet"
        inputs["feldman_shards"] = feldman_shard_files(config, name, arch)
    for key, option in [("replicate", "replicate_mem"), ("other_arch", "other_mem")]:
        if key in spec:
            inputs[option] = f"{paths.FELDMAN_ARCH.format(dataset=name, arch=spec[key])}/memorization.parquet"
    return inputs


def claims_kfold_vae_inputs(config: dict, spec: dict) -> dict:
    name = spec["dataset"]
    base = paths.KFOLD_VAE.format(dataset=name, seed=config["kfold_vae"]["seed"])
    inputs = {"kfold_scores": f"{base}/kfold_scores.parquet", "kfold_rho": f"{base}/rho.parquet",
              "kfold_logpx_full": f"{base}/full/logpx.parquet"}
    if is_planted(config, name):
        inputs["kfold_index"] = f"{paths.DATASET.format(dataset=name)}/index.parquet"
    return inputs


def claims_diffusion_inputs(config: dict, spec: dict) -> dict:
    return {key: f"{paths.DIFFUSION.format(experiment=experiment)}/summary.parquet" for key, experiment in spec.items()}


def claims_mrgan_inputs(config: dict, spec: dict) -> dict:
    base = paths.MRGAN.format(dataset=spec["dataset"])
    return {"mrgan_summary": f"{base}/summary.parquet", "mrgan_classwise": f"{base}/classwise_summary.parquet"}


CLAIMS_INPUTS = {"feldman": claims_feldman_inputs, "kfold_vae": claims_kfold_vae_inputs,
                 "diffusion": claims_diffusion_inputs, "mrgan": claims_mrgan_inputs}


def claims_input_files(config: dict) -> dict[str, str | list[str]]:
    """Input name -> file(s) of every paper the section ``claims`` configures; the names are the claims
    commands' options, declared in ``pipeline.claims.tables`` (the rules check the two agree)."""
    inputs = {}
    for paper in CLAIMS_PAPERS:
        if paper in config["claims"]:
            inputs.update(CLAIMS_INPUTS[paper](config, config["claims"][paper]))
    return inputs
