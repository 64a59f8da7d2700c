"""Bai et al.: conditional GAN training with memorization rejection (MR), scored by the
C_T data-copying test (Meehan et al.) and FID. See methods.md section 4."""

# Here, not in embed.py, so that jobs which only name the embedding (guideline, score) do not import torch.
EMBEDDING_NAMES = {"classifier": "classifier_penultimate", "inception": "inception_v3_pool"}
