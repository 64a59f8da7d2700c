# Feldman & Zhang: t subset classifiers per architecture, trained S at a time in shards ->
# 0/1 correctness tables -> memorization and high-influence pairs -> consistency between
# architectures -> figures. Science lives in pipeline/feldman/.


include: "feldman_common.smk"


rule feldman_train_shard:
    input:
        data=dataset_input,
        subsets=feldman_subsets_file,
    output:
        **FELDMAN_SHARD_OUTPUTS,
    log:
        f"{paths.LOGS}/feldman/{{dataset}}/{{arch}}/shard{{shard}}.log",
    benchmark:
        f"{paths.BENCHMARKS}/feldman/{{dataset}}/{{arch}}/shard{{shard}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=GPU_JOB,
    params:
        code=feldman_code("pipeline.feldman.train_shard"),
        dataset_dir=input_folder("data"),
        spec=feldman_arch_spec,
        shard_size=config["feldman"]["shard_size"],
        seed=feldman_split_seed,
        device=TRAIN_DEVICE_ARGS,
        models=feldman_models_arg,
    shell:
        "python -m pipeline.job pipeline.feldman.train_shard --dataset-dir {params.dataset_dir} --subsets {input.subsets} "
        "--shard {wildcards.shard} --shard-size {params.shard_size} --arch {wildcards.arch} "
        "--spec {params.spec:q} --seed {params.seed} {params.device} --threads {threads} "
        "{params.models} --out {output.table} 2> {log}"


# kind runs: the researcher's .npz of runs trained elsewhere, as one shard table
rule feldman_runs_shard:
    input:
        data=dataset_input,
        runs=feldman_runs_file,
    output:
        f"{paths.FELDMAN_ARCH}/shards/runs.parquet",
    log:
        f"{paths.LOGS}/feldman/{{dataset}}/{{arch}}/runs.log",
    benchmark:
        f"{paths.BENCHMARKS}/feldman/{{dataset}}/{{arch}}/runs.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.feldman.runs_file"),
        dataset_dir=input_folder("data"),
    shell:
        "python -m pipeline.job pipeline.feldman.runs_file --runs {input.runs:q} --dataset-dir {params.dataset_dir} "
        "--arch {wildcards.arch} --out {output} 2> {log}"


rule feldman_estimate:
    input:
        data=dataset_input,
        shards=feldman_shard_files("arch"),
    output:
        mem=f"{paths.FELDMAN_ARCH}/memorization.parquet",
        pairs=f"{paths.FELDMAN_ARCH}/influence_pairs.parquet",
        chance=f"{paths.FELDMAN_ARCH}/influence_chance.parquet",
    log:
        f"{paths.LOGS}/feldman/{{dataset}}/{{arch}}/estimate.log",
    benchmark:
        f"{paths.BENCHMARKS}/feldman/{{dataset}}/{{arch}}/estimate.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.feldman.estimate"),
        dataset_dir=input_folder("data"),
        mem_threshold=config["feldman"]["mem_threshold"],
        infl_threshold=config["feldman"]["infl_threshold"],
        influence_max_p=config["feldman"]["influence_max_p"],
    shell:
        "python -m pipeline.job pipeline.feldman.estimate --shards {input.shards} --dataset-dir {params.dataset_dir} "
        "--mem-threshold {params.mem_threshold} --infl-threshold {params.infl_threshold} "
        "--influence-max-p {params.influence_max_p} --out-mem {output.mem} --out-pairs {output.pairs} "
        "--out-chance {output.chance} 2> {log}"


rule feldman_consistency:
    input:
        shards_a=feldman_shard_files("arch"),
        mem_a=f"{paths.FELDMAN_ARCH}/memorization.parquet",
        shards_b=feldman_shard_files("arch_b"),
        mem_b=f"{paths.FELDMAN}/{{arch_b}}/memorization.parquet",
    output:
        f"{paths.FELDMAN}/consistency/{{arch}}_vs_{{arch_b}}.parquet",
    log:
        f"{paths.LOGS}/feldman/{{dataset}}/consistency_{{arch}}_vs_{{arch_b}}.log",
    benchmark:
        f"{paths.BENCHMARKS}/feldman/{{dataset}}/consistency_{{arch}}_vs_{{arch_b}}.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.feldman.consistency"),
        thetas=feldman_thetas,
        mem_threshold=config["feldman"]["mem_threshold"],
    shell:
        "python -m pipeline.job pipeline.feldman.consistency --shards-a {input.shards_a} --mem-a {input.mem_a} "
        "--shards-b {input.shards_b} --mem-b {input.mem_b} --arch-a {wildcards.arch} "
        "--arch-b {wildcards.arch_b} --thetas {params.thetas} --mem-threshold {params.mem_threshold} "
        "--out {output} 2> {log}"


rule feldman_figures:
    input:
        data=dataset_input,
        mem=f"{paths.FELDMAN_ARCH}/memorization.parquet",
        pairs=f"{paths.FELDMAN_ARCH}/influence_pairs.parquet",
        chance=f"{paths.FELDMAN_ARCH}/influence_chance.parquet",
        shards=feldman_shard_files("arch"),
    output:
        histogram=report_figure(
            "feldman",
            f"{paths.FELDMAN_ARCH}/figures/mem_histogram.png",
            labels={"architecture": "{arch}", "figure": "mem histogram"},
        ),
        extremes=report_figure(
            "feldman",
            f"{paths.FELDMAN_ARCH}/figures/extremes.png",
            labels={"architecture": "{arch}", "figure": "most and least memorized"},
        ),
        influence=report_figure(
            "feldman",
            f"{paths.FELDMAN_ARCH}/figures/influence_pairs.png",
            labels={"architecture": "{arch}", "figure": "high-influence pairs"},
        ),
    log:
        f"{paths.LOGS}/feldman/{{dataset}}/{{arch}}/figures.log",
    benchmark:
        f"{paths.BENCHMARKS}/feldman/{{dataset}}/{{arch}}/figures.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.feldman.figures"),
        dataset_dir=input_folder("data"),
        mem_threshold=config["feldman"]["mem_threshold"],
        fdr=config["feldman"]["influence_fdr"],
    shell:
        "python -m pipeline.job pipeline.feldman.figures estimates --memorization {input.mem} --pairs {input.pairs} "
        "--chance {input.chance} --shards {input.shards} --dataset-dir {params.dataset_dir} "
        "--influence-fdr {params.fdr} --mem-threshold {params.mem_threshold} --title {wildcards.dataset}/{wildcards.arch} "
        "--out-histogram {output.histogram} --out-extremes {output.extremes} --out-influence {output.influence} "
        "2> {log}"


rule feldman_consistency_figure:
    input:
        feldman_pair_tables,
    output:
        report_figure("feldman", f"{paths.FELDMAN}/figures/consistency.png"),
    log:
        f"{paths.LOGS}/feldman/{{dataset}}/consistency_figure.log",
    benchmark:
        f"{paths.BENCHMARKS}/feldman/{{dataset}}/consistency_figure.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.feldman.figures"),
    shell:
        "python -m pipeline.job pipeline.feldman.figures consistency --tables {input} --out {output} 2> {log}"


# LiRA and RMIA (pipeline.feldman.membership): every model a target with all the others its shadows,
# and sampled targets against the number of reference models; the per-pair statistics beside them
rule feldman_membership:
    input:
        data=dataset_input,
        shards=feldman_shard_files("arch"),
    output:
        table=f"{paths.FELDMAN_ARCH}/membership.parquet",
        pairs=paths.FELDMAN_MEMBERSHIP_PAIRS,
    log:
        f"{paths.LOGS}/feldman/{{dataset}}/{{arch}}/membership.log",
    benchmark:
        f"{paths.BENCHMARKS}/feldman/{{dataset}}/{{arch}}/membership.tsv"
    conda:
        "../../envs/data.yaml"
    threads: ANALYSIS_THREADS  # pipeline/parallel.py
    params:
        code=code_version("pipeline.feldman.membership"),
        dataset_dir=input_folder("data"),
        references=" ".join(str(k) for k in config["feldman"]["rmia"]["references"]),
        targets=config["feldman"]["rmia"]["targets"],
        offline_a=config["feldman"]["rmia"]["offline_a"],
        gamma=config["feldman"]["rmia"]["gamma"],
        bootstrap=config["feldman"]["rmia"]["bootstrap"],
        examples=config["feldman"]["rmia"]["examples"],
        seed=feldman_split_seed,
    shell:
        "python -m pipeline.job pipeline.feldman.membership --shards {input.shards} "
        "--dataset-dir {params.dataset_dir} --references {params.references} --targets {params.targets} "
        "--offline-a {params.offline_a} --gamma {params.gamma} --bootstrap {params.bootstrap} "
        "--examples {params.examples} --seed {params.seed} --out {output.table} --out-pairs {output.pairs} "
        "2> {log}"


rule feldman_membership_figure:
    input:
        f"{paths.FELDMAN_ARCH}/membership.parquet",
    output:
        report_figure(
            "feldman",
            f"{paths.FELDMAN_ARCH}/figures/membership_roc.png",
            labels={"architecture": "{arch}", "figure": "membership ROC"},
        ),
    log:
        f"{paths.LOGS}/feldman/{{dataset}}/{{arch}}/membership_figure.log",
    benchmark:
        f"{paths.BENCHMARKS}/feldman/{{dataset}}/{{arch}}/membership_figure.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.feldman.figures"),
    shell:
        "python -m pipeline.job pipeline.feldman.figures membership --membership {input} "
        "--title {wildcards.dataset}/{wildcards.arch} --out {output} 2> {log}"


# The runs and estimates in other tools' formats (pipeline.feldman.export; docs/export.md); not in the
# default target: snakemake ... results/feldman/{dataset}/{arch}/export/infl_mem.npz
rule feldman_export:
    input:
        data=dataset_input,
        shards=feldman_shard_files("arch"),
        pairs=paths.FELDMAN_MEMBERSHIP_PAIRS,
    output:
        runs=f"{paths.FELDMAN_ARCH}/export/runs.npz",
        infl_mem=f"{paths.FELDMAN_ARCH}/export/infl_mem.npz",
        masks=f"{paths.FELDMAN_ARCH}/export/datamodels/masks.npy",
        margins=f"{paths.FELDMAN_ARCH}/export/datamodels/margins.npy",
        completed=f"{paths.FELDMAN_ARCH}/export/datamodels/_completed.npy",
        scores=f"{paths.FELDMAN_ARCH}/export/membership_scores.parquet",
    log:
        f"{paths.LOGS}/feldman/{{dataset}}/{{arch}}/export.log",
    benchmark:
        f"{paths.BENCHMARKS}/feldman/{{dataset}}/{{arch}}/export.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.feldman.export"),
        dataset_dir=input_folder("data"),
        out_dir=subpath(output.runs, parent=True),
    shell:
        "python -m pipeline.job pipeline.feldman.export --shards {input.shards} --dataset-dir {params.dataset_dir} "
        "--membership-pairs {input.pairs} --out-dir {params.out_dir} 2> {log}"


rule feldman_convergence:
    input:
        shards=feldman_shard_files("arch"),
    output:
        table=f"{paths.FELDMAN_ARCH}/convergence.parquet",
        figure=report_figure(
            "feldman",
            f"{paths.FELDMAN_ARCH}/figures/convergence.png",
            labels={"architecture": "{arch}", "figure": "convergence"},
        ),
    log:
        f"{paths.LOGS}/feldman/{{dataset}}/{{arch}}/convergence.log",
    benchmark:
        f"{paths.BENCHMARKS}/feldman/{{dataset}}/{{arch}}/convergence.tsv"
    conda:
        "../../envs/data.yaml"
    threads: ANALYSIS_THREADS  # pipeline/parallel.py
    params:
        code=code_version("pipeline.feldman.convergence"),
        mem_threshold=config["feldman"]["mem_threshold"],
    shell:
        "python -m pipeline.job pipeline.feldman.convergence --shards {input.shards} "
        "--mem-threshold {params.mem_threshold} --title {wildcards.dataset}/{wildcards.arch} "
        "--out {output.table} --out-figure {output.figure} 2> {log}"
