# Nearest-neighbour tables between splits of a prepared data set (the shared NN stage).


def neighbors_spec(wildcards):
    return config["neighbors"][wildcards.job]


def neighbors_dataset_files(wildcards):
    return dataset_files(wildcards.dataset)


def neighbors_dataset_dir(wildcards):
    return dataset_dir(wildcards.dataset)


rule dataset_neighbors:
    input:
        neighbors_dataset_files,
    output:
        f"{RESULTS}/neighbors/{{dataset}}/{{job}}.parquet",
    params:
        spec=neighbors_spec,
        dataset_dir=neighbors_dataset_dir,
    log:
        f"{RESULTS}/logs/neighbors/{{dataset}}/{{job}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/neighbors/{{dataset}}/{{job}}.tsv"
    conda:
        "../../envs/data.yaml"
    shell:
        "python -m pipeline.neighbors --query {params.dataset_dir} --query-split {params.spec[query_split]} "
        "--ref {params.dataset_dir} --ref-split {params.spec[ref_split]} --k {params.spec[k]} "
        "--metric {params.spec[metric]} --backend {params.spec[backend]} --resize {params.spec[resize]} "
        "--out {output} 2> {log}"


def neighbors_targets():
    return [
        f"{RESULTS}/neighbors/{name}/{job}.parquet"
        for job, spec in config["neighbors"].items()
        for name in spec["datasets"]
    ]


TARGET_FUNCTIONS.append(neighbors_targets)
