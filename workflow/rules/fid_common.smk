# Helpers of FID proper (fid.smk), shared by the MR-GAN and sample-set scoring rules.


def fid_args(wildcards, input):
    """The scoring options naming the job's two FID features files (inputs fid_samples and fid_test),
    or nothing when the job computes no FID."""
    if "fid_samples" not in input.keys():
        return ""
    return f"--fid-sample-features {input.fid_samples} --fid-test-features {input.fid_test}"
