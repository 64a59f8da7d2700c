# van den Burg & Williams: K-fold memorization score of VAEs (see pipeline.kfold_vae).
# Per (dataset, seed, repeat, held-out fold): train + log p(x) tables; per dataset: scores,
# a full-data model, its samples, the nearest-neighbour ratio and figures.
# Science lives in pipeline/kfold_vae/.


include: "kfold_vae_common.smk"


rule kfold_vae_train:
    input:
        data=dataset_input,
        kfold=kfold_vae_table,
    output:
        model=f"{paths.KFOLD_VAE}/models/r{{repeat}}_f{{fold}}/model.pt",
        logpx=f"{paths.KFOLD_VAE}/models/r{{repeat}}_f{{fold}}/logpx.parquet",
    log:
        f"{paths.LOGS}/kfold_vae/{{dataset}}/seed{{seed}}/train_r{{repeat}}_f{{fold}}.log",
    benchmark:
        f"{paths.BENCHMARKS}/kfold_vae/{{dataset}}/seed{{seed}}/train_r{{repeat}}_f{{fold}}.tsv"
    wildcard_constraints:
        repeat=r"\d+",
        fold=r"\d+",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=GPU_JOB,
    params:
        code=code_version("pipeline.kfold_vae.train"),
        device=TRAIN_DEVICE_ARGS,
        dataset_dir=input_folder("data"),
        spec=kfold_vae_spec,
    shell:
        "python -m pipeline.job pipeline.kfold_vae.train --dataset-dir {params.dataset_dir} --kfold {input.kfold} "
        "--repeat {wildcards.repeat} --fold {wildcards.fold} --spec {params.spec:q} --seed {wildcards.seed} "
        "{params.device} --threads {threads} --out-model {output.model} --out-logpx {output.logpx} 2> {log}"


rule kfold_vae_full_model:
    input:
        data=dataset_input,
        kfold=kfold_vae_table,
    output:
        model=f"{paths.KFOLD_VAE}/full/model.pt",
        logpx=f"{paths.KFOLD_VAE}/full/logpx.parquet",
    log:
        f"{paths.LOGS}/kfold_vae/{{dataset}}/seed{{seed}}/train_full.log",
    benchmark:
        f"{paths.BENCHMARKS}/kfold_vae/{{dataset}}/seed{{seed}}/train_full.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=GPU_JOB,
    params:
        code=code_version("pipeline.kfold_vae.train"),
        device=TRAIN_DEVICE_ARGS,
        dataset_dir=input_folder("data"),
        spec=kfold_vae_full_spec,
    shell:
        "python -m pipeline.job pipeline.kfold_vae.train --dataset-dir {params.dataset_dir} --kfold {input.kfold} "
        "--repeat 0 --fold all --spec {params.spec:q} --seed {wildcards.seed} {params.device} "
        "--threads {threads} --out-model {output.model} --out-logpx {output.logpx} 2> {log}"


rule kfold_vae_samples:
    input:
        f"{paths.KFOLD_VAE}/full/model.pt",
    output:
        f"{paths.KFOLD_VAE}/full/samples.npy",
    log:
        f"{paths.LOGS}/kfold_vae/{{dataset}}/seed{{seed}}/samples.log",
    benchmark:
        f"{paths.BENCHMARKS}/kfold_vae/{{dataset}}/seed{{seed}}/samples.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=GPU_JOB,
    params:
        code=code_version("pipeline.kfold_vae.sample"),
        device=DEVICE_ARGS,
        n=config["kfold_vae"]["n_samples"],
    shell:
        "python -m pipeline.job pipeline.kfold_vae.sample --model {input} --n {params.n} --seed {wildcards.seed} "
        "{params.device} --out {output} 2> {log}"


rule kfold_vae_rho:
    input:
        data=dataset_input,
        samples=f"{paths.KFOLD_VAE}/full/samples.npy",
    output:
        f"{paths.KFOLD_VAE}/rho.parquet",
    log:
        f"{paths.LOGS}/kfold_vae/{{dataset}}/seed{{seed}}/rho.log",
    benchmark:
        f"{paths.BENCHMARKS}/kfold_vae/{{dataset}}/seed{{seed}}/rho.tsv"
    conda:
        "../../envs/torch.yaml"
    params:
        code=code_version("pipeline.kfold_vae.rho"),
        dataset_dir=input_folder("data"),
        split=kfold_vae_validation_split,
        resize=config["kfold_vae"]["rho_resize"],
    shell:
        "python -m pipeline.job pipeline.kfold_vae.rho --dataset-dir {params.dataset_dir} --samples {input.samples} "
        "--validation-split {params.split} --resize {params.resize} --out {output} 2> {log}"


rule kfold_vae_score:
    input:
        data=dataset_input,
        logpx=kfold_vae_logpx_files,
    output:
        scores=f"{paths.KFOLD_VAE}/kfold_scores.parquet",
        by_epoch=f"{paths.KFOLD_VAE}/kfold_scores_by_epoch.parquet",
    log:
        f"{paths.LOGS}/kfold_vae/{{dataset}}/seed{{seed}}/score.log",
    benchmark:
        f"{paths.BENCHMARKS}/kfold_vae/{{dataset}}/seed{{seed}}/score.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.kfold_vae.score"),
        dataset_dir=input_folder("data"),
        high=config["kfold_vae"]["high_quantile"],
    shell:
        "python -m pipeline.job pipeline.kfold_vae.score --logpx {input.logpx} --dataset-dir {params.dataset_dir} "
        "--high-quantile {params.high} --out {output.scores} --out-by-epoch {output.by_epoch} 2> {log}"


rule kfold_vae_figures:
    input:
        data=dataset_input,
        scores=f"{paths.KFOLD_VAE}/kfold_scores.parquet",
        by_epoch=f"{paths.KFOLD_VAE}/kfold_scores_by_epoch.parquet",
        rho=f"{paths.KFOLD_VAE}/rho.parquet",
    output:
        examples=report_figure("kfold_vae", f"{paths.KFOLD_VAE}/figures/examples.png"),
        histogram=report_figure(
            "kfold_vae", f"{paths.KFOLD_VAE}/figures/logpx_histogram.png"
        ),
        rho=report_figure("kfold_vae", f"{paths.KFOLD_VAE}/figures/rho.png"),
        quantiles=report_figure(
            "kfold_vae", f"{paths.KFOLD_VAE}/figures/m_quantiles.png"
        ),
    log:
        f"{paths.LOGS}/kfold_vae/{{dataset}}/seed{{seed}}/figures.log",
    benchmark:
        f"{paths.BENCHMARKS}/kfold_vae/{{dataset}}/seed{{seed}}/figures.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.kfold_vae.figures"),
        dataset_dir=input_folder("data"),
        bins=config["kfold_vae"]["histogram_bins"],
    shell:
        "python -m pipeline.job pipeline.kfold_vae.figures --scores {input.scores} --scores-by-epoch {input.by_epoch} "
        "--rho {input.rho} --dataset-dir {params.dataset_dir} --bins {params.bins} "
        "--out-examples {output.examples} --out-histogram {output.histogram} --out-rho {output.rho} "
        "--out-quantiles {output.quantiles} 2> {log}"
