"""Yoon et al.: memorization capacity of diffusion models (methods.md section 3).

unet.py (IDDPM-style UNet), schedule.py (cosine schedule, loss, samplers), subset.py (nested
training subsets), train.py, sample.py, replicates.py (ratio criterion, summary), figures.py.
"""
