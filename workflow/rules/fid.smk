# FID proper (pipeline/fid.py): the reference FID network's pool features of n images of a data set's
# split, computed once per (dataset, split, n) and shared by every MR-GAN and sample-set job that asks
# for FID (mrgan.fid_images, samples.<name>.fid_images > 0). Science lives in pipeline/fid.py.


include: "fid_common.smk"


rule fid_split_features:
    input:
        data=dataset_input,
    output:
        paths.FID_FEATURES,
    log:
        f"{paths.LOGS}/fid/{{dataset}}/{{split}}_n{{n}}.log",
    benchmark:
        f"{paths.BENCHMARKS}/fid/{{dataset}}/{{split}}_n{{n}}.tsv"
    wildcard_constraints:
        n=r"[1-9]\d*",
    conda:
        "../../envs/torch.yaml"
    resources:
        gpu=GPU_JOB,
    params:
        code=code_version("pipeline.fid"),
        device=DEVICE_ARGS,
        dataset_dir=input_folder("data"),
    shell:
        "python -m pipeline.job pipeline.fid --images {params.dataset_dir} --split {wildcards.split} --n {wildcards.n} "
        "{params.device} --out {output} 2> {log}"
