# The memorization atlas: per data set, every method's per-training-example results joined
# into one table -> rank correlations, top-set overlap and flagged examples -> figures and a gallery page; on data
# sets with planted canaries, how well each score detects them.
# Science lives in pipeline/atlas/; nothing is recomputed from the models.


include: "atlas_common.smk"


rule atlas_join:
    input:
        data=dataset_input,
        tables=atlas_input_files,
    output:
        f"{paths.ATLAS}/atlas.parquet",
    log:
        f"{paths.LOGS}/atlas/{{dataset}}/join.log",
    benchmark:
        f"{paths.BENCHMARKS}/atlas/{{dataset}}/join.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.atlas.join"),
        dataset_dir=input_folder("data"),
        sources=atlas_join_args,
        fdr=atlas_influence_fdr,
    shell:
        "python -m pipeline.job pipeline.atlas.join --dataset-dir {params.dataset_dir} {params.sources} "
        "{params.fdr} --out {output} 2> {log}"


rule atlas_analysis:
    input:
        f"{paths.ATLAS}/atlas.parquet",
    output:
        pairs=f"{paths.ATLAS}/pairs.parquet",
        flagged=f"{paths.ATLAS}/flagged.parquet",
    log:
        f"{paths.LOGS}/atlas/{{dataset}}/analysis.log",
    benchmark:
        f"{paths.BENCHMARKS}/atlas/{{dataset}}/analysis.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.atlas.analysis"),
        top=config["atlas"]["top_fraction"],
        n_boot=config["atlas"]["bootstrap"],
        confidence=config["atlas"]["confidence"],
        seed=config["atlas"]["seed"],
    shell:
        "python -m pipeline.job pipeline.atlas.analysis --atlas {input} --top-fraction {params.top} "
        "--n-boot {params.n_boot} --confidence {params.confidence} --seed {params.seed} "
        "--out-pairs {output.pairs} --out-flagged {output.flagged} 2> {log}"


rule atlas_figures:
    input:
        data=dataset_input,
        atlas=f"{paths.ATLAS}/atlas.parquet",
        pairs=f"{paths.ATLAS}/pairs.parquet",
        flagged=f"{paths.ATLAS}/flagged.parquet",
    output:
        correlations=report_figure("atlas", f"{paths.ATLAS}/figures/correlations.png"),
        scatter=report_figure("atlas", f"{paths.ATLAS}/figures/scatter.png"),
        flagged=report_figure("atlas", f"{paths.ATLAS}/figures/flagged.png"),
    log:
        f"{paths.LOGS}/atlas/{{dataset}}/figures.log",
    benchmark:
        f"{paths.BENCHMARKS}/atlas/{{dataset}}/figures.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.atlas.figures"),
        dataset_dir=input_folder("data"),
        top=config["atlas"]["top_fraction"],
        per_row=config["atlas"]["grid_examples"],
    shell:
        "python -m pipeline.job pipeline.atlas.figures --atlas {input.atlas} --pairs {input.pairs} "
        "--flagged {input.flagged} --dataset-dir {params.dataset_dir} --title {wildcards.dataset} "
        "--top-fraction {params.top} --per-row {params.per_row} "
        "--out-correlations {output.correlations} --out-scatter {output.scatter} "
        "--out-flagged {output.flagged} 2> {log}"


rule atlas_gallery:
    input:
        data=dataset_input,
        atlas=f"{paths.ATLAS}/atlas.parquet",
        tables=gallery_input_files,
    output:
        report_figure("atlas", f"{paths.ATLAS}/gallery.html"),
    log:
        f"{paths.LOGS}/atlas/{{dataset}}/gallery.log",
    benchmark:
        f"{paths.BENCHMARKS}/atlas/{{dataset}}/gallery.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.atlas.gallery"),
        dataset_dir=input_folder("data"),
        top=config["atlas"]["gallery_examples"],
        sources=gallery_args,
        fdr=atlas_influence_fdr,
        config_files=gallery_config_files(),
        overrides=gallery_config_overrides(),
    shell:
        "python -m pipeline.job pipeline.atlas.gallery --atlas {input.atlas} --dataset-dir {params.dataset_dir} "
        "--dataset {wildcards.dataset} --top {params.top} {params.sources} {params.fdr} "
        "--config-files {params.config_files} --config-overrides {params.overrides:q} --out {output} 2> {log}"


rule atlas_planted:
    input:
        atlas=f"{paths.ATLAS}/atlas.parquet",
        index=f"{paths.DATASET}/index.parquet",
    output:
        f"{paths.ATLAS}/planted.parquet",
    log:
        f"{paths.LOGS}/atlas/{{dataset}}/planted.log",
    benchmark:
        f"{paths.BENCHMARKS}/atlas/{{dataset}}/planted.tsv"
    wildcard_constraints:
        dataset=one_of(targets.atlas_planted_datasets(config)),
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.atlas.planted"),
        top=config["atlas"]["top_fraction"],
        n_boot=config["atlas"]["bootstrap"],
        confidence=config["atlas"]["confidence"],
        seed=config["atlas"]["seed"],
    shell:
        "python -m pipeline.job pipeline.atlas.planted --atlas {input.atlas} --index {input.index} "
        "--dataset {wildcards.dataset} --top-fraction {params.top} --n-boot {params.n_boot} "
        "--confidence {params.confidence} --seed {params.seed} --out {output} 2> {log}"


rule atlas_planted_figure:
    input:
        f"{paths.ATLAS}/planted.parquet",
    output:
        report_figure("atlas", f"{paths.ATLAS}/figures/planted.png"),
    log:
        f"{paths.LOGS}/atlas/{{dataset}}/planted_figure.log",
    benchmark:
        f"{paths.BENCHMARKS}/atlas/{{dataset}}/planted_figure.tsv"
    wildcard_constraints:
        dataset=one_of(targets.atlas_planted_datasets(config)),
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.atlas.planted_figure"),
    shell:
        "python -m pipeline.job pipeline.atlas.planted_figure --planted {input} --title {wildcards.dataset} "
        "--out {output} 2> {log}"
