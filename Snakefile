# Memorization pipeline: dataset preparation and subsetting -> per-subset / per-fold
# training -> samples -> nearest-neighbour tables -> scores -> figures.
# The science lives in the `pipeline` package; rules only call it.


configfile: "config.yaml"


include: "workflow/rules/common.smk"


rule all:
    input:
        all_targets,
    default_target: True


include: "workflow/rules/data.smk"
include: "workflow/rules/neighbors.smk"
