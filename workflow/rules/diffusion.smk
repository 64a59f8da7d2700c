# Yoon et al.: memorization capacity of diffusion models. Per experiment: nested training
# subsets -> per (size, width, seed) DDPM training -> samples -> 2-NN against the exact training
# subset (shared neighbours stage) -> ratio-criterion replicates -> summary and figures.
# Science lives in pipeline/diffusion/.


include: "diffusion_common.smk"


rule diffusion_subset:
    input:
        data=diffusion_dataset_files,
    output:
        table=f"{paths.DIFFUSION_SUBSET}/subset.parquet",
        images=f"{paths.DIFFUSION_SUBSET}/train_images.npy",
    log:
        f"{paths.LOGS}/diffusion/{{experiment}}/n{{size}}_subset.log",
    benchmark:
        f"{paths.BENCHMARKS}/diffusion/{{experiment}}/n{{size}}_subset.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.diffusion.subset"),
        dataset_dir=input_folder("data"),
        seed=diffusion_param("subset_seed"),
        keep=diffusion_keep_label_arg,
    shell:
        "python -m pipeline.job pipeline.diffusion.subset --dataset-dir {params.dataset_dir} --n {wildcards.size} "
        "--seed {params.seed} {params.keep} --experiment {wildcards.experiment} --out-table {output.table} --out-images {output.images} 2> {log}"


rule diffusion_train:
    input:
        table=f"{paths.DIFFUSION_SUBSET}/subset.parquet",
        images=f"{paths.DIFFUSION_SUBSET}/train_images.npy",
    output:
        model=f"{paths.DIFFUSION_JOB}/model.pt",
        log_table=f"{paths.DIFFUSION_JOB}/train_log.parquet",
    log:
        f"{paths.LOGS}/diffusion/{{experiment}}/n{{size}}_w{{width}}_seed{{seed}}_train.log",
    benchmark:
        f"{paths.BENCHMARKS}/diffusion/{{experiment}}/n{{size}}_w{{width}}_seed{{seed}}_train.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=GPU_JOB,
    params:
        code=code_version("pipeline.diffusion.train"),
        device=TRAIN_DEVICE_ARGS,
        spec=diffusion_train_spec,
    shell:
        "python -m pipeline.job pipeline.diffusion.train --subset {input.table} --images {input.images} "
        "--spec {params.spec:q} --seed {wildcards.seed} {params.device} --out-model {output.model} "
        "--out-log {output.log_table} 2> {log}"


rule diffusion_sample:
    input:
        f"{paths.DIFFUSION_JOB}/model.pt",
    output:
        images=f"{paths.DIFFUSION_JOB}/samples.npy",
        table=f"{paths.DIFFUSION_JOB}/samples.parquet",
    log:
        f"{paths.LOGS}/diffusion/{{experiment}}/n{{size}}_w{{width}}_seed{{seed}}_sample.log",
    benchmark:
        f"{paths.BENCHMARKS}/diffusion/{{experiment}}/n{{size}}_w{{width}}_seed{{seed}}_sample.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=GPU_JOB,
    params:
        code=code_version("pipeline.diffusion.sample"),
        device=DEVICE_ARGS,
        n=diffusion_param("n_samples"),
        sampler=diffusion_param("sampler"),
        steps=diffusion_param("sample_steps"),
    shell:
        "python -m pipeline.job pipeline.diffusion.sample --model {input} --n {params.n} --sampler {params.sampler} "
        "--steps {params.steps} --seed {wildcards.seed} {params.device} --out-images {output.images} "
        "--out-table {output.table} 2> {log}"


rule diffusion_neighbors:
    input:
        samples=f"{paths.DIFFUSION_JOB}/samples.npy",
        train=f"{paths.DIFFUSION_SUBSET}/train_images.npy",
    output:
        f"{paths.DIFFUSION_JOB}/neighbors.parquet",
    log:
        f"{paths.LOGS}/diffusion/{{experiment}}/n{{size}}_w{{width}}_seed{{seed}}_neighbors.log",
    benchmark:
        f"{paths.BENCHMARKS}/diffusion/{{experiment}}/n{{size}}_w{{width}}_seed{{seed}}_neighbors.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.neighbors"),
    shell:
        "python -m pipeline.job pipeline.neighbors --query {input.samples} --ref {input.train} --k 2 --metric l2 "
        "--out {output} 2> {log}"


rule diffusion_score:
    input:
        neighbors=f"{paths.DIFFUSION_JOB}/neighbors.parquet",
        subset=f"{paths.DIFFUSION_SUBSET}/subset.parquet",
        samples=f"{paths.DIFFUSION_JOB}/samples.parquet",
    output:
        replicates=f"{paths.DIFFUSION_JOB}/replicates.parquet",
        scores=f"{paths.DIFFUSION_JOB}/scores.parquet",
    log:
        f"{paths.LOGS}/diffusion/{{experiment}}/n{{size}}_w{{width}}_seed{{seed}}_score.log",
    benchmark:
        f"{paths.BENCHMARKS}/diffusion/{{experiment}}/n{{size}}_w{{width}}_seed{{seed}}_score.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.diffusion.replicates"),
        threshold=config["diffusion"]["threshold"],
        dataset=diffusion_dataset,
    shell:
        "python -m pipeline.job pipeline.diffusion.replicates score --neighbors {input.neighbors} --subset {input.subset} "
        "--samples {input.samples} --threshold {params.threshold} --experiment {wildcards.experiment} "
        "--dataset {params.dataset} --size {wildcards.size} --width {wildcards.width} --seed {wildcards.seed} "
        "--out-replicates {output.replicates} --out-scores {output.scores} 2> {log}"


rule diffusion_summary:
    input:
        diffusion_scores,
    output:
        f"{paths.DIFFUSION}/summary.parquet",
    log:
        f"{paths.LOGS}/diffusion/{{experiment}}/summary.log",
    benchmark:
        f"{paths.BENCHMARKS}/diffusion/{{experiment}}/summary.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.diffusion.replicates"),
    shell:
        "python -m pipeline.job pipeline.diffusion.replicates summary --scores {input} --out {output} 2> {log}"


rule diffusion_figures:
    input:
        summary=f"{paths.DIFFUSION}/summary.parquet",
        data=diffusion_dataset_files,
        grid=diffusion_grid_files,
    output:
        share=report_figure(
            "diffusion",
            f"{paths.DIFFUSION}/figures/share_vs_size.png",
            subcategory=diffusion_dataset,
        ),
        per_class=report_figure(
            "diffusion",
            f"{paths.DIFFUSION}/figures/per_class.png",
            subcategory=diffusion_dataset,
        ),
        grid=report_figure(
            "diffusion",
            f"{paths.DIFFUSION}/figures/grid.png",
            subcategory=diffusion_dataset,
        ),
    log:
        f"{paths.LOGS}/diffusion/{{experiment}}/figures.log",
    benchmark:
        f"{paths.BENCHMARKS}/diffusion/{{experiment}}/figures.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.diffusion.figures"),
        dataset_dir=input_folder("data"),
        grid_dirs=diffusion_grid_dirs,
        keep=diffusion_keep_label_arg,
        x_label=diffusion_param("x_label"),
    shell:
        "python -m pipeline.job pipeline.diffusion.figures --summary {input.summary} --dataset-dir {params.dataset_dir} "
        "--grid-jobs {params.grid_dirs} --x-label {params.x_label:q} {params.keep} --out-share {output.share} "
        "--out-per-class {output.per_class} --out-grid {output.grid} 2> {log}"
