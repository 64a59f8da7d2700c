# Helpers of FID proper (fid.smk), shared by the MR-GAN and sample-set scoring rules.


def fid_args(wildcards, input):
    """The scoring options naming the job's two FID features files (inputs fid_samples and fid_test),
    or nothing when the job computes no FID."""
    if "fid_samples" not in input.keys():
        return ""
    return f"--fid-sample-features {input.fid_samples} --fid-test-features {input.fid_test}"


def fid_test_features(dataset, n):
    """The FID features of n test images of ``dataset`` (rule fid_split_features)."""
    return paths.FID_FEATURES.format(dataset=dataset, split="test", n=n)


def fid_inputs(n, folder, dataset):
    """With n > 0 FID images: the FID features of n generated images (``folder``/fid_features.npy) and
    of n test images of ``dataset``; nothing when n = 0 (no FID)."""
    if n == 0:
        return {}
    return {
        "fid_samples": f"{folder}/fid_features.npy",
        "fid_test": fid_test_features(dataset, n),
    }
