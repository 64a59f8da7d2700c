# Helpers of the MR-GAN rules (mrgan.smk): the job's config lookups and input paths (pipeline.targets).
import pipeline.mrgan.spec


def mrgan_embedding_kind(wildcards):
    return config["mrgan"]["embedding"]["kind"]


def mrgan_embedder_file(wildcards):
    return targets.mrgan_embedder_path(config, wildcards.dataset)


def mrgan_train_spec(wildcards):
    return as_json(pipeline.mrgan.spec.train_job_spec(config["mrgan"]))


def mrgan_score_spec(wildcards):
    return as_json(pipeline.mrgan.spec.score_job_spec(config["mrgan"]))


def mrgan_fid_inputs(wildcards):
    return targets.mrgan_fid_inputs(
        config, wildcards.dataset, wildcards.tau, wildcards.seed
    )


def mrgan_job_files(name):
    def files(wildcards):
        return targets.mrgan_job_files(config, wildcards.dataset, name)

    return files
