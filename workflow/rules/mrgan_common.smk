# Helpers of the MR-GAN rules (mrgan.smk), kept apart so rules and functions do not mix.
MRGAN = paths.MRGAN
MRGAN_JOB = f"{MRGAN}/tau{{tau}}/seed{{seed}}"


def mrgan_embedding_kind(wildcards):
    return config["mrgan"]["embedding"]["kind"]


def mrgan_embedder_path(name):
    """The embedding file of data set ``name``: the classifier rule mrgan_embedder trains, or Inception's weights."""
    embedding = config["mrgan"]["embedding"]
    if embedding["kind"] == "inception":
        return embedding["inception_weights"]
    return f"{paths.MRGAN.format(dataset=name)}/embedder/classifier.pt"


def mrgan_embedder_file(wildcards):
    return mrgan_embedder_path(wildcards.dataset)


def mrgan_train_spec(wildcards):
    keys = [
        "steps",
        "batch_size",
        "lr",
        "beta1",
        "beta2",
        "loss",
        "d_steps",
        "z_dim",
        "width",
    ]
    keys += ["max_resample", "checkpoint_every"]
    return as_json({key: config["mrgan"][key] for key in keys})


def mrgan_score_spec(wildcards):
    keys = ["kmeans_cells", "classwise_cells", "pca_dims"]
    return as_json({key: config["mrgan"][key] for key in keys})


def mrgan_fid_inputs(wildcards):
    """With mrgan.fid_images = n > 0: the FID features of n of the job's samples and of n test images."""
    job = paths.MRGAN_JOB.format(
        dataset=wildcards.dataset, tau=wildcards.tau, seed=wildcards.seed
    )
    return fid_inputs(config["mrgan"]["fid_images"], job, wildcards.dataset)


def mrgan_job_files(name):
    def files(wildcards):
        return [
            f"{paths.MRGAN_JOB.format(dataset=wildcards.dataset, tau=paths.tau_label(tau), seed=seed)}/{name}"
            for tau in config["mrgan"]["taus"]
            for seed in config["mrgan"]["seeds"]
        ]

    return files


def mrgan_targets():
    return [
        f"{paths.MRGAN.format(dataset=name)}/{path}"
        for name in config["mrgan"]["datasets"]
        for path in [
            "summary.parquet",
            "figures/fd_vs_ct.png",
            "figures/classwise_ct.png",
            "figures/nn_distances.png",
        ]
    ]
