# Helpers of the atlas rules (atlas.smk): which method tables of a data set feed its atlas and its gallery
# (pipeline.targets), and the config files and overrides the gallery names.


def atlas_input_files(wildcards):
    return targets.atlas_input_files(config, wildcards.dataset)


def atlas_join_args(wildcards, input):
    """The join's table options, each path taken from the job's inputs."""
    return targets.source_options(
        targets.atlas_sources(config, wildcards.dataset),
        atlas_input_files(wildcards),
        input.tables,
    )


def atlas_influence_fdr(wildcards):
    return targets.influence_fdr_option(config, wildcards.dataset)


def gallery_input_files(wildcards):
    return targets.gallery_input_files(config, wildcards.dataset)


def gallery_args(wildcards, input):
    """The gallery's table options, each path taken from the job's inputs."""
    return targets.source_options(
        targets.gallery_sources(config, wildcards.dataset),
        gallery_input_files(wildcards),
        input.tables,
    )


def gallery_config_files():
    """The run's config files (--configfile, else config.yaml) as the gallery names them: relative to the
    working directory when inside it."""
    names = [
        (
            os.path.relpath(f)
            if os.path.abspath(f).startswith(os.getcwd() + os.sep)
            else str(f)
        )
        for f in workflow.configfiles
    ]
    return " ".join(shlex.quote(name) for name in names)


def gallery_config_overrides():
    """The run's --config overrides (JSON), which the gallery names beside its config files."""
    return json.dumps(
        dict(workflow.config_settings.config), sort_keys=True, default=str
    )
