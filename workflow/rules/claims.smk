# Do the papers' claims reproduce? Each claim's statistic and fixed criterion, checked on the result
# tables of the experiments the config section `claims` names -> claims.parquet -> figures.
# Science lives in pipeline/claims/; nothing is recomputed from the models.


include: "claims_common.smk"


rule claims:
    input:
        unpack(claims_input_files),
    output:
        f"{paths.CLAIMS}/claims.parquet",
    log:
        f"{paths.LOGS}/claims/evaluate.log",
    benchmark:
        f"{paths.BENCHMARKS}/claims/evaluate.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.claims.evaluate"),
        args=claims_args,
    shell:
        "python -m pipeline.job pipeline.claims.evaluate {params.args} --out {output} 2> {log}"


rule claims_figures:
    input:
        unpack(claims_input_files),
        claims=f"{paths.CLAIMS}/claims.parquet",
    output:
        **{
            paper: report_figure(
                "claims", f"{paths.CLAIMS}/figures/{paper}.png", subcategory="figures"
            )
            for paper in targets.CLAIMS_PAPERS
        },
        table=report_figure(
            "claims", f"{paths.CLAIMS}/figures/table.png", subcategory="table"
        ),
    log:
        f"{paths.LOGS}/claims/figures.log",
    benchmark:
        f"{paths.BENCHMARKS}/claims/figures.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("pipeline.claims.figures"),
        args=claims_args,
    shell:
        "python -m pipeline.job pipeline.claims.figures {params.args} --claims {input.claims} "
        "--out-feldman {output.feldman} --out-kfold-vae {output.kfold_vae} "
        "--out-diffusion {output.diffusion} --out-mrgan {output.mrgan} "
        "--out-table {output.table} 2> {log}"
