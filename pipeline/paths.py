"""Where the workflow writes its outputs: one template per folder, in Snakemake's wildcard syntax.

The rules use them as patterns (``f"{paths.FELDMAN_ARCH}/memorization.parquet"``); the atlas,
``pipeline.inspect`` and the tests fill them in (``paths.FELDMAN_ARCH.format(dataset="mnist5k",
arch="mlp")``). One home for paths, so a folder moves in one place. Standard library only.
"""

RESULTS = "results"
LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"

DATASET = f"{RESULTS}/data/{{dataset}}"  # images.npy, index.parquet
SPLITS = f"{RESULTS}/splits/{{dataset}}/seed{{seed}}"  # feldman_subsets.parquet, kfold.parquet
NEIGHBORS = f"{RESULTS}/neighbors/{{dataset}}/{{job}}.parquet"

FELDMAN = f"{RESULTS}/feldman/{{dataset}}"  # consistency/, figures/
FELDMAN_ARCH = f"{FELDMAN}/{{arch}}"  # shards/, memorization.parquet, influence_pairs.parquet

KFOLD_VAE = f"{RESULTS}/kfold_vae/{{dataset}}/seed{{seed}}"  # models/, full/, kfold_scores.parquet, rho.parquet

DIFFUSION = f"{RESULTS}/diffusion/{{experiment}}"  # summary.parquet, figures/
DIFFUSION_SUBSET = f"{DIFFUSION}/n{{size}}"  # subset.parquet
DIFFUSION_JOB = f"{DIFFUSION_SUBSET}/w{{width}}/seed{{seed}}"  # model, samples, replicates, scores

MRGAN = f"{RESULTS}/mrgan/{{dataset}}"  # embedder/, features/, summary.parquet, figures/
MRGAN_JOB = f"{MRGAN}/tau{{tau}}/seed{{seed}}"  # generator, samples, scores, nn_distances

ATLAS = f"{RESULTS}/atlas/{{dataset}}"  # atlas.parquet, pairs.parquet, flagged.parquet, figures/

DATASET_FILES = ("images.npy", "index.parquet")


def tau_label(tau: float) -> str:
    """The {tau} of MR-GAN paths: 0.003, not 0.0030 or 3e-03."""
    return f"{float(tau):g}"
