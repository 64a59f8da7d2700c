# Data preparation and the split tables every later stage reads.


def dataset_spec(wildcards):
    return as_json(config["datasets"][wildcards.dataset])


def mixture_part_files(wildcards):
    parts = config["datasets"][wildcards.dataset].get("parts", [])
    return [path for part in parts for path in dataset_files(part["dataset"])]


def mixture_part_args(wildcards):
    parts = config["datasets"][wildcards.dataset].get("parts", [])
    names = sorted({part["dataset"] for part in parts})
    return " ".join(f"--part {name}={dataset_dir(name)}" for name in names)


rule prepare_dataset:
    input:
        mixture_part_files,
    output:
        images=f"{RESULTS}/data/{{dataset}}/images.npy",
        index=f"{RESULTS}/data/{{dataset}}/index.parquet",
    params:
        spec=dataset_spec,
        parts=mixture_part_args,
        data_root=config["data_root"],
        out_dir=subpath(output.index, parent=True),
    log:
        f"{RESULTS}/logs/data/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/data/{{dataset}}.tsv"
    conda:
        "../../envs/data.yaml"
    shell:
        "python -m pipeline.data.prepare --name {wildcards.dataset} --spec {params.spec:q} "
        "--data-root {params.data_root:q} --out {params.out_dir} {params.parts} 2> {log}"


rule feldman_subsets:
    input:
        rules.prepare_dataset.output,
    output:
        f"{RESULTS}/splits/{{dataset}}/seed{{seed}}/feldman_subsets.parquet",
    params:
        runs=config["splits"]["feldman"]["runs"],
        ratio=config["splits"]["feldman"]["ratio"],
        dataset_dir=subpath(input[0], parent=True),
    log:
        f"{RESULTS}/logs/splits/{{dataset}}/seed{{seed}}_feldman_subsets.log",
    benchmark:
        f"{RESULTS}/benchmarks/splits/{{dataset}}/seed{{seed}}_feldman_subsets.tsv"
    conda:
        "../../envs/data.yaml"
    shell:
        "python -m pipeline.splits subsets --dataset-dir {params.dataset_dir} --runs {params.runs} "
        "--ratio {params.ratio} --seed {wildcards.seed} --out {output} 2> {log}"


rule kfold_assignment:
    input:
        rules.prepare_dataset.output,
    output:
        f"{RESULTS}/splits/{{dataset}}/seed{{seed}}/kfold.parquet",
    params:
        folds=config["splits"]["kfold"]["folds"],
        repeats=config["splits"]["kfold"]["repeats"],
        dataset_dir=subpath(input[0], parent=True),
    log:
        f"{RESULTS}/logs/splits/{{dataset}}/seed{{seed}}_kfold.log",
    benchmark:
        f"{RESULTS}/benchmarks/splits/{{dataset}}/seed{{seed}}_kfold.tsv"
    conda:
        "../../envs/data.yaml"
    shell:
        "python -m pipeline.splits kfold --dataset-dir {params.dataset_dir} --folds {params.folds} "
        "--repeats {params.repeats} --seed {wildcards.seed} --out {output} 2> {log}"


def data_targets():
    targets = [path for name in config["datasets"] for path in dataset_files(name)]
    for name in config["splits"]["datasets"]:
        for seed in config["splits"]["seeds"]:
            targets.append(f"{RESULTS}/splits/{name}/seed{seed}/feldman_subsets.parquet")
            targets.append(f"{RESULTS}/splits/{name}/seed{seed}/kfold.parquet")
    return targets


TARGET_FUNCTIONS.append(data_targets)
