# Helpers of the atlas rules (atlas.smk): which method tables of a data set feed its atlas
# (pipeline.targets).


def atlas_input_files(wildcards):
    return targets.atlas_input_files(config, wildcards.dataset)


def atlas_join_args(wildcards, input):
    """The join's options, each path taken from the job's inputs (so a module prefix carries over)."""
    actual = dict(zip(atlas_input_files(wildcards), input.tables))
    return " ".join(
        " ".join([option, *([label] if label else []), *(actual[p] for p in files)])
        for option, label, files in targets.atlas_sources(config, wildcards.dataset)
    )
