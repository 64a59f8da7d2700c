# Nearest-neighbour tables between splits of a prepared data set (the shared NN stage).


rule dataset_neighbors:
    input:
        data=dataset_input,
    output:
        paths.NEIGHBORS,
    log:
        f"{paths.LOGS}/neighbors/{{dataset}}/{{job}}.log",
    benchmark:
        f"{paths.BENCHMARKS}/neighbors/{{dataset}}/{{job}}.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.neighbors"),
        spec=neighbors_spec,
        dataset_dir=input_folder("data"),
    shell:
        "python -m pipeline.job pipeline.neighbors --query {params.dataset_dir} --query-split {params.spec[query_split]} "
        "--ref {params.dataset_dir} --ref-split {params.spec[ref_split]} --k {params.spec[k]} "
        "--metric {params.spec[metric]} --backend {params.spec[backend]} --resize {params.spec[resize]} "
        "--job {wildcards.job} --out {output} 2> {log}"
