"""Where the workflow writes its outputs: one template per folder, in Snakemake's wildcard syntax.

The rules use them as patterns (``f"{paths.FELDMAN_ARCH}/memorization.parquet"``); the atlas,
``pipeline.inspect`` and the tests fill them in (``paths.FELDMAN_ARCH.format(dataset="mnist5k",
arch="mlp")``) and read them back (``locate``). One home for paths, so a folder moves in one
place. Standard library only.
"""

import re

RESULTS = "results"
LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"

DATASET = f"{RESULTS}/data/{{dataset}}"  # images.npy, index.parquet
SPLITS = f"{RESULTS}/splits/{{dataset}}/seed{{seed}}"  # feldman_subsets.parquet, kfold.parquet
NEIGHBORS = f"{RESULTS}/neighbors/{{dataset}}/{{job}}.parquet"

FELDMAN = f"{RESULTS}/feldman/{{dataset}}"  # consistency/, figures/
FELDMAN_ARCH = f"{FELDMAN}/{{arch}}"  # shards/, memorization.parquet, influence_pairs.parquet
# Every (run, training example)'s membership statistics (pipeline.feldman.membership), which the export reuses.
FELDMAN_MEMBERSHIP_PAIRS = f"{FELDMAN_ARCH}/membership_pairs.parquet"

KFOLD_VAE = f"{RESULTS}/kfold_vae/{{dataset}}/seed{{seed}}"  # models/, full/, kfold_scores.parquet, rho.parquet

DIFFUSION = f"{RESULTS}/diffusion/{{experiment}}"  # summary.parquet, figures/
DIFFUSION_SUBSET = f"{DIFFUSION}/n{{size}}"  # subset.parquet
DIFFUSION_JOB = f"{DIFFUSION_SUBSET}/w{{width}}/seed{{seed}}"  # model, samples, replicates, scores

MRGAN = f"{RESULTS}/mrgan/{{dataset}}"  # embedder/, features/, summary.parquet, figures/
MRGAN_JOB = f"{MRGAN}/tau{{tau}}/seed{{seed}}"  # generator, samples, scores, nn_distances
# A data set's split in the MR-GAN embedding (rule mrgan_dataset_features), shared with the sample sets.
MRGAN_FEATURES = f"{MRGAN}/features/{{split}}.npy"

SAMPLES = f"{RESULTS}/samples/{{sample_set}}"  # images, features, neighbors, replicates, scores, nn_counts

# The FID network's pool features of n images of a data set's split (pipeline.fid), shared by every job
# that computes FID against that split.
FID_FEATURES = f"{RESULTS}/fid/{{dataset}}/{{split}}_n{{n}}.npy"

ATLAS = f"{RESULTS}/atlas/{{dataset}}"  # atlas.parquet, pairs.parquet, flagged.parquet, figures/

CLAIMS = f"{RESULTS}/claims"  # claims.parquet, figures/ (one per paper, table.png)

DATASET_FILES = ("images.npy", "index.parquet")


def tau_label(tau: float) -> str:
    """The {tau} of MR-GAN paths: 0.003, not 0.0030 or 3e-03."""
    return f"{float(tau):g}"


def locate(template: str, path: str) -> tuple[str, dict[str, str]] | None:
    """Find a filled-in ``template`` inside ``path``: (the part of ``path`` before it, the wildcard
    values), or None. The match is whole path components anywhere in the path, so it works under a
    module prefix or an absolute folder (``/x/memo/results/diffusion/sweep/n4/...`` gives
    ``("/x/memo/", {"experiment": "sweep", "size": "4"})`` for ``DIFFUSION_SUBSET``)."""
    pieces = re.split(r"\{(\w+)\}", template)
    regex = "".join(re.escape(piece) if i % 2 == 0 else f"(?P<{piece}>[^/]+)" for i, piece in enumerate(pieces))
    found = None
    for found in re.finditer(rf"(?:^|(?<=/)){regex}(?=/|$)", path):
        pass  # the last match: the innermost results folder
    return None if found is None else (path[:found.start()], found.groupdict())


def glob_pattern(template: str, **known: str) -> str:
    """``template`` with the ``known`` wildcards filled in and the others ``*`` (for ``Path.glob``)."""
    return re.sub(r"\{(\w+)\}", lambda m: str(known.get(m.group(1), "*")), template)
