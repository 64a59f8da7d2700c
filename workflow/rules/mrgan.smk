# Bai et al.: conditional GAN training with memorization rejection, scored by C_T, Frechet distances
# in the embedding and, with mrgan.fid_images > 0, FID (rule fid_split_features gives the test side).
# Per (dataset, tau, seed): train -> sample -> embed (and FID features) -> score; per dataset: embedder, features,
# threshold guideline, summary and figures. Science lives in pipeline/mrgan/.


include: "mrgan_common.smk"


rule mrgan_embedder:
    input:
        data=dataset_input,
    output:
        f"{paths.MRGAN}/embedder/classifier.pt",
    log:
        f"{paths.LOGS}/mrgan/{{dataset}}/embedder.log",
    benchmark:
        f"{paths.BENCHMARKS}/mrgan/{{dataset}}/embedder.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=GPU_JOB,
    params:
        code=code_version("pipeline.mrgan.embed"),
        device=DEVICE_ARGS,
        dataset_dir=input_folder("data"),
        epochs=config["mrgan"]["embedding"]["classifier_epochs"],
        seed=config["mrgan"]["embedding"]["seed"],
    shell:
        "python -m pipeline.job pipeline.mrgan.embed train-classifier --dataset-dir {params.dataset_dir} "
        "--epochs {params.epochs} --seed {params.seed} {params.device} --out {output} 2> {log}"


rule mrgan_dataset_features:
    input:
        data=dataset_input,
        embedder=mrgan_embedder_file,
    output:
        paths.MRGAN_FEATURES,
    log:
        f"{paths.LOGS}/mrgan/{{dataset}}/features_{{split}}.log",
    benchmark:
        f"{paths.BENCHMARKS}/mrgan/{{dataset}}/features_{{split}}.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=GPU_JOB,
    params:
        code=code_version("pipeline.mrgan.embed"),
        device=DEVICE_ARGS,
        dataset_dir=input_folder("data"),
        kind=mrgan_embedding_kind,
    shell:
        "python -m pipeline.job pipeline.mrgan.embed features --images {params.dataset_dir} --split {wildcards.split} "
        "--kind {params.kind} --file {input.embedder} {params.device} --out {output} 2> {log}"


rule mrgan_guideline:
    input:
        paths.MRGAN_FEATURES.format(dataset="{dataset}", split="train"),
    output:
        f"{paths.MRGAN}/guideline.parquet",
    log:
        f"{paths.LOGS}/mrgan/{{dataset}}/guideline.log",
    benchmark:
        f"{paths.BENCHMARKS}/mrgan/{{dataset}}/guideline.tsv"
    conda:
        "../../envs/torch.yaml"
    params:
        code=code_version("pipeline.mrgan.guideline"),
        kind=mrgan_embedding_kind,
    shell:
        "python -m pipeline.job pipeline.mrgan.guideline --train-features {input} --dataset {wildcards.dataset} "
        "--embedding-kind {params.kind} --out {output} 2> {log}"


rule mrgan_train:
    input:
        data=dataset_input,
        embedder=mrgan_embedder_file,
    output:
        generator=f"{paths.MRGAN_JOB}/generator.pt",
        log_table=f"{paths.MRGAN_JOB}/train_log.parquet",
    log:
        f"{paths.LOGS}/mrgan/{{dataset}}/tau{{tau}}_seed{{seed}}_train.log",
    benchmark:
        f"{paths.BENCHMARKS}/mrgan/{{dataset}}/tau{{tau}}_seed{{seed}}_train.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=GPU_JOB,
    params:
        code=code_version("pipeline.mrgan.train"),
        device=TRAIN_DEVICE_ARGS,
        dataset_dir=input_folder("data"),
        kind=mrgan_embedding_kind,
        spec=mrgan_train_spec,
    shell:
        "python -m pipeline.job pipeline.mrgan.train --dataset-dir {params.dataset_dir} --embedding-kind {params.kind} "
        "--embedding-file {input.embedder} --tau {wildcards.tau} --seed {wildcards.seed} "
        "--spec {params.spec:q} {params.device} --out-generator {output.generator} "
        "--out-log {output.log_table} 2> {log}"


rule mrgan_sample:
    input:
        f"{paths.MRGAN_JOB}/generator.pt",
    output:
        images=f"{paths.MRGAN_JOB}/samples.npy",
        table=f"{paths.MRGAN_JOB}/samples.parquet",
    log:
        f"{paths.LOGS}/mrgan/{{dataset}}/tau{{tau}}_seed{{seed}}_sample.log",
    benchmark:
        f"{paths.BENCHMARKS}/mrgan/{{dataset}}/tau{{tau}}_seed{{seed}}_sample.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=GPU_JOB,
    params:
        code=code_version("pipeline.mrgan.sample"),
        device=DEVICE_ARGS,
        n=config["mrgan"]["n_samples"],
    shell:
        "python -m pipeline.job pipeline.mrgan.sample --generator {input} --n {params.n} --seed {wildcards.seed} "
        "{params.device} --out-images {output.images} --out-table {output.table} 2> {log}"


rule mrgan_sample_features:
    input:
        images=f"{paths.MRGAN_JOB}/samples.npy",
        embedder=mrgan_embedder_file,
    output:
        f"{paths.MRGAN_JOB}/sample_features.npy",
    log:
        f"{paths.LOGS}/mrgan/{{dataset}}/tau{{tau}}_seed{{seed}}_features.log",
    benchmark:
        f"{paths.BENCHMARKS}/mrgan/{{dataset}}/tau{{tau}}_seed{{seed}}_features.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=GPU_JOB,
    params:
        code=code_version("pipeline.mrgan.embed"),
        device=DEVICE_ARGS,
        kind=mrgan_embedding_kind,
    shell:
        "python -m pipeline.job pipeline.mrgan.embed features --images {input.images} --kind {params.kind} "
        "--file {input.embedder} {params.device} --out {output} 2> {log}"


rule mrgan_sample_fid_features:
    input:
        f"{paths.MRGAN_JOB}/samples.npy",
    output:
        f"{paths.MRGAN_JOB}/fid_features.npy",
    log:
        f"{paths.LOGS}/mrgan/{{dataset}}/tau{{tau}}_seed{{seed}}_fid_features.log",
    benchmark:
        f"{paths.BENCHMARKS}/mrgan/{{dataset}}/tau{{tau}}_seed{{seed}}_fid_features.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=GPU_JOB,
    params:
        code=code_version("pipeline.fid"),
        device=DEVICE_ARGS,
        n=config["mrgan"]["fid_images"],
    shell:
        "python -m pipeline.job pipeline.fid --images {input} --n {params.n} {params.device} --out {output} 2> {log}"


rule mrgan_score:
    input:
        unpack(mrgan_fid_inputs),
        data=dataset_input,
        train=paths.MRGAN_FEATURES.format(dataset="{dataset}", split="train"),
        test=paths.MRGAN_FEATURES.format(dataset="{dataset}", split="test"),
        samples=f"{paths.MRGAN_JOB}/sample_features.npy",
        sample_images=f"{paths.MRGAN_JOB}/samples.npy",
        sample_table=f"{paths.MRGAN_JOB}/samples.parquet",
        train_log=f"{paths.MRGAN_JOB}/train_log.parquet",
    output:
        scores=f"{paths.MRGAN_JOB}/scores.parquet",
        classwise=f"{paths.MRGAN_JOB}/classwise.parquet",
        cells=f"{paths.MRGAN_JOB}/ct_cells.parquet",
        nn=f"{paths.MRGAN_JOB}/nn_distances.parquet",
    log:
        f"{paths.LOGS}/mrgan/{{dataset}}/tau{{tau}}_seed{{seed}}_score.log",
    benchmark:
        f"{paths.BENCHMARKS}/mrgan/{{dataset}}/tau{{tau}}_seed{{seed}}_score.tsv"
    conda:
        "../../envs/torch.yaml"
    params:
        code=code_version("pipeline.mrgan.score"),
        dataset_dir=input_folder("data"),
        kind=mrgan_embedding_kind,
        spec=mrgan_score_spec,
        fid=fid_args,
    shell:
        "python -m pipeline.job pipeline.mrgan.score --dataset-dir {params.dataset_dir} --dataset {wildcards.dataset} "
        "--train-features {input.train} --test-features {input.test} --sample-features {input.samples} "
        "--sample-images {input.sample_images} --sample-table {input.sample_table} "
        "--train-log {input.train_log} --tau {wildcards.tau} --seed {wildcards.seed} --embedding-kind {params.kind} --spec {params.spec:q} {params.fid} "
        "--out-scores {output.scores} --out-classwise {output.classwise} --out-ct-cells {output.cells} "
        "--out-nn-distances {output.nn} 2> {log}"


rule mrgan_summary:
    input:
        scores=mrgan_job_files("scores.parquet"),
        classwise=mrgan_job_files("classwise.parquet"),
        guideline=f"{paths.MRGAN}/guideline.parquet",
    output:
        summary=f"{paths.MRGAN}/summary.parquet",
        classwise=f"{paths.MRGAN}/classwise_summary.parquet",
    log:
        f"{paths.LOGS}/mrgan/{{dataset}}/summary.log",
    benchmark:
        f"{paths.BENCHMARKS}/mrgan/{{dataset}}/summary.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.mrgan.summary"),
    shell:
        "python -m pipeline.job pipeline.mrgan.summary --scores {input.scores} --classwise {input.classwise} "
        "--guideline {input.guideline} --out {output.summary} --out-classwise {output.classwise} 2> {log}"


rule mrgan_figures:
    input:
        summary=f"{paths.MRGAN}/summary.parquet",
        classwise=f"{paths.MRGAN}/classwise_summary.parquet",
        nn=mrgan_job_files("nn_distances.parquet"),
    output:
        fd_ct=report_figure("mrgan", f"{paths.MRGAN}/figures/fd_vs_ct.png"),
        classwise=report_figure("mrgan", f"{paths.MRGAN}/figures/classwise_ct.png"),
        nn=report_figure("mrgan", f"{paths.MRGAN}/figures/nn_distances.png"),
    log:
        f"{paths.LOGS}/mrgan/{{dataset}}/figures.log",
    benchmark:
        f"{paths.BENCHMARKS}/mrgan/{{dataset}}/figures.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.mrgan.figures"),
    shell:
        "python -m pipeline.job pipeline.mrgan.figures --summary {input.summary} --classwise {input.classwise} "
        "--nn-distances {input.nn} --out-fd-ct {output.fd_ct} --out-classwise {output.classwise} "
        "--out-nn {output.nn} 2> {log}"
