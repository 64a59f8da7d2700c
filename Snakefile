# Memorization pipeline: dataset preparation and subsetting -> per-subset / per-fold
# training -> samples -> nearest-neighbour tables -> scores -> figures.
# The science lives in the `pipeline` package; rules only call it.
from snakemake.utils import min_version

min_version("9.0")


# config.yaml is the default experiment; a --configfile replaces it rather than adding to it, so an
# experiment file defines exactly what runs (--config overrides apply on top of either).
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


rule all:
    default_target: True
    input:
        targets.default_target(config),


include: "workflow/rules/data.smk"
include: "workflow/rules/neighbors.smk"
include: "workflow/rules/fid.smk"
include: "workflow/rules/mrgan.smk"
include: "workflow/rules/kfold_vae.smk"
include: "workflow/rules/diffusion.smk"
include: "workflow/rules/feldman.smk"
include: "workflow/rules/samples.smk"
include: "workflow/rules/atlas.smk"
include: "workflow/rules/claims.smk"
