# Helpers of the sample-set rules (samples.smk): which data set, files and settings a set uses.
import pipeline.samples.spec


def samples_entry(wildcards):
    return config["samples"][wildcards.sample_set]


def samples_source(wildcards):
    """The set's samples file or folder, as the config names it."""
    return samples_entry(wildcards)["path"]


def samples_labels(wildcards):
    """The set's labels file, or nothing for an unconditional model."""
    return samples_entry(wildcards).get("labels", [])


def samples_labels_arg(wildcards, input):
    return f"--labels {input.labels}" if input.labels else ""


def samples_resize_arg(wildcards):
    return "on" if samples_entry(wildcards)["resize"] else "off"


def samples_pixel_range_arg(wildcards):
    """--pixel-range=LOW,HIGH when the entry declares its float pixels' range, else nothing."""
    declared = samples_entry(wildcards).get("pixel_range")
    return f"--pixel-range={declared[0]},{declared[1]}" if declared else ""


def samples_dataset(wildcards):
    """The data set the set's model was trained on."""
    return samples_entry(wildcards)["dataset"]


def samples_dataset_input(wildcards):
    """The prepared files of that data set."""
    return targets.dataset_files(samples_dataset(wildcards))


def samples_embedder_file(wildcards):
    return targets.mrgan_embedder_path(config, samples_dataset(wildcards))


def samples_dataset_features(split):
    """The data set's features of ``split`` in the MR-GAN embedding (rule mrgan_dataset_features)."""

    def features(wildcards):
        return paths.MRGAN_FEATURES.format(
            dataset=samples_dataset(wildcards), split=split
        )

    return features


def samples_fid_images(wildcards):
    return samples_entry(wildcards)["fid_images"]


def samples_fid_inputs(wildcards):
    return targets.samples_fid_inputs(config, wildcards.sample_set)


def samples_score_spec(wildcards):
    return as_json(pipeline.samples.spec.score_job_spec(samples_entry(wildcards)))
