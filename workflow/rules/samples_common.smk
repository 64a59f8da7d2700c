# Helpers of the sample-set rules (samples.smk): which data set, files and settings a set uses.
SAMPLES = paths.SAMPLES


def samples_spec(wildcards):
    return config["samples"][wildcards.sample_set]


def samples_source(wildcards):
    """The set's samples file or folder, as the config names it."""
    return samples_spec(wildcards)["path"]


def samples_labels(wildcards):
    """The set's labels file, or nothing for an unconditional model."""
    return samples_spec(wildcards).get("labels", [])


def samples_labels_arg(wildcards, input):
    return f"--labels {input.labels}" if input.labels else ""


def samples_resize_arg(wildcards):
    return "on" if samples_spec(wildcards)["resize"] else "off"


def samples_dataset_input(wildcards):
    """The prepared files of the data set the set's model was trained on."""
    return dataset_files(samples_spec(wildcards)["dataset"])


def samples_embedder_file(wildcards):
    return mrgan_embedder_path(samples_spec(wildcards)["dataset"])


def samples_dataset_features(split):
    """The data set's features of ``split`` in the MR-GAN embedding (rule mrgan_dataset_features)."""

    def features(wildcards):
        return paths.MRGAN_FEATURES.format(
            dataset=samples_spec(wildcards)["dataset"], split=split
        )

    return features


def samples_fid_images(wildcards):
    return samples_spec(wildcards)["fid_images"]


def samples_fid_inputs(wildcards):
    """With fid_images = n > 0: the FID features of n of the set's samples and of n test images."""
    folder = paths.SAMPLES.format(sample_set=wildcards.sample_set)
    return fid_inputs(
        samples_fid_images(wildcards), folder, samples_spec(wildcards)["dataset"]
    )


def samples_score_spec(wildcards):
    keys = ["threshold", "k", "kmeans_cells", "pca_dims"]
    return as_json({key: samples_spec(wildcards)[key] for key in keys})


SAMPLES_TABLES = [
    "neighbors.parquet",
    "replicates.parquet",
    "scores.parquet",
    "nn_counts.parquet",
]


def samples_targets():
    return [
        f"{paths.SAMPLES.format(sample_set=name)}/{table}"
        for name in config["samples"]
        for table in SAMPLES_TABLES
    ]


def samples_dataset_name(wildcards):
    return samples_spec(wildcards)["dataset"]
