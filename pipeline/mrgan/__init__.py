"""Bai et al.: conditional GAN training with memorization rejection (MR), scored by the
C_T data-copying test (Meehan et al.) and FID. See methods.md section 4."""
