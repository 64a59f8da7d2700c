# Sample sets from models trained elsewhere (config section samples): read into the data set's form
# -> embedded with the MR-GAN embedding of that data set (its classifier and split features are the
# MR-GAN rules' outputs, shared) -> neighbours, replicates, C_T, Frechet distance, FID (with
# samples.<name>.fid_images > 0), per-example counts. Science lives in pipeline/samples/.


include: "samples_common.smk"


rule samples_import:
    input:
        samples=samples_source,
        data=samples_dataset_input,
        labels=samples_labels,
    output:
        images=f"{paths.SAMPLES}/images.npy",
        table=f"{paths.SAMPLES}/samples.parquet",
    log:
        f"{paths.LOGS}/samples/{{sample_set}}/import.log",
    benchmark:
        f"{paths.BENCHMARKS}/samples/{{sample_set}}/import.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.samples.load"),
        dataset_dir=input_folder("data"),
        labels=samples_labels_arg,
        resize=samples_resize_arg,
        pixel_range=samples_pixel_range_arg,
    shell:
        "python -m pipeline.job pipeline.samples.load --samples {input.samples:q} --dataset-dir {params.dataset_dir} "
        "{params.labels} --resize {params.resize} --sample-set {wildcards.sample_set} {params.pixel_range} "
        "--out-images {output.images} "
        "--out-table {output.table} 2> {log}"


use rule mrgan_sample_features as samples_features with:
    input:
        images=f"{paths.SAMPLES}/images.npy",
        embedder=samples_embedder_file,
    output:
        f"{paths.SAMPLES}/features.npy",
    log:
        f"{paths.LOGS}/samples/{{sample_set}}/features.log",
    benchmark:
        f"{paths.BENCHMARKS}/samples/{{sample_set}}/features.tsv"


use rule mrgan_sample_fid_features as samples_fid_features with:
    input:
        f"{paths.SAMPLES}/images.npy",
    output:
        f"{paths.SAMPLES}/fid_features.npy",
    log:
        f"{paths.LOGS}/samples/{{sample_set}}/fid_features.log",
    benchmark:
        f"{paths.BENCHMARKS}/samples/{{sample_set}}/fid_features.tsv"
    params:
        n=samples_fid_images,


rule samples_score:
    input:
        unpack(samples_fid_inputs),
        data=samples_dataset_input,
        train=samples_dataset_features("train"),
        test=samples_dataset_features("test"),
        features=f"{paths.SAMPLES}/features.npy",
        images=f"{paths.SAMPLES}/images.npy",
        table=f"{paths.SAMPLES}/samples.parquet",
    output:
        neighbors=f"{paths.SAMPLES}/neighbors.parquet",
        replicates=f"{paths.SAMPLES}/replicates.parquet",
        scores=f"{paths.SAMPLES}/scores.parquet",
        nn_counts=f"{paths.SAMPLES}/nn_counts.parquet",
    log:
        f"{paths.LOGS}/samples/{{sample_set}}/score.log",
    benchmark:
        f"{paths.BENCHMARKS}/samples/{{sample_set}}/score.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.samples.score"),
        dataset_dir=input_folder("data"),
        dataset=samples_dataset,
        kind=mrgan_embedding_kind,
        spec=samples_score_spec,
        fid=fid_args,
    shell:
        "python -m pipeline.job pipeline.samples.score --dataset-dir {params.dataset_dir} --dataset {params.dataset} "
        "--sample-set {wildcards.sample_set} --train-features {input.train} --test-features {input.test} "
        "--sample-features {input.features} --sample-images {input.images} --sample-table {input.table} "
        "--embedding-kind {params.kind} --spec {params.spec:q} {params.fid} --out-neighbors {output.neighbors} "
        "--out-replicates {output.replicates} --out-scores {output.scores} "
        "--out-nn-counts {output.nn_counts} 2> {log}"
