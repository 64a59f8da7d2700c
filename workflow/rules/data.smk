# Data preparation and the split tables every later stage reads.


rule prepare_dataset:
    input:
        unpack(source_dataset_files),
        user_files=user_data_files,
    output:
        images=f"{paths.DATASET}/images.npy",
        index=f"{paths.DATASET}/index.parquet",
    log:
        f"{paths.LOGS}/data/{{dataset}}.log",
    benchmark:
        f"{paths.BENCHMARKS}/data/{{dataset}}.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.data.prepare"),
        spec=dataset_spec,
        sources=source_dataset_args,
        folder_listing=user_folder_listing,
        data_root=config["data_root"],
        out_dir=subpath(output.index, parent=True),
    shell:
        "python -m pipeline.job pipeline.data.prepare --name {wildcards.dataset} --spec {params.spec:q} "
        "--data-root {params.data_root:q} --out {params.out_dir} {params.sources} 2> {log}"


rule feldman_subsets:
    input:
        rules.prepare_dataset.output,
    output:
        f"{paths.SPLITS}/feldman_subsets.parquet",
    log:
        f"{paths.LOGS}/splits/{{dataset}}/seed{{seed}}_feldman_subsets.log",
    benchmark:
        f"{paths.BENCHMARKS}/splits/{{dataset}}/seed{{seed}}_feldman_subsets.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.splits"),
        runs=config["splits"]["feldman"]["runs"],
        ratio=config["splits"]["feldman"]["ratio"],
        dataset_dir=subpath(input[0], parent=True),
    shell:
        "python -m pipeline.job pipeline.splits subsets --dataset-dir {params.dataset_dir} --runs {params.runs} "
        "--ratio {params.ratio} --seed {wildcards.seed} --out {output} 2> {log}"


rule kfold_assignment:
    input:
        rules.prepare_dataset.output,
    output:
        f"{paths.SPLITS}/kfold.parquet",
    log:
        f"{paths.LOGS}/splits/{{dataset}}/seed{{seed}}_kfold.log",
    benchmark:
        f"{paths.BENCHMARKS}/splits/{{dataset}}/seed{{seed}}_kfold.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.splits"),
        folds=config["splits"]["kfold"]["folds"],
        repeats=config["splits"]["kfold"]["repeats"],
        dataset_dir=subpath(input[0], parent=True),
    shell:
        "python -m pipeline.job pipeline.splits kfold --dataset-dir {params.dataset_dir} --folds {params.folds} "
        "--repeats {params.repeats} --seed {wildcards.seed} --out {output} 2> {log}"
