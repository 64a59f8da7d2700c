"""Yoon et al. (2023): memorization capacity of diffusion models, by the ratio criterion.

Paper: T. Yoon, J. Y. Choi, S. Kwon and E. K. Ryu, "Diffusion Probabilistic Models Generalize when
They Fail to Memorize", ICML 2023 Workshop on Structured Probabilistic Inference & Generative Modeling.

The finding reproduced: a DDPM either memorizes its training set (its samples are copies of
training images) or generalizes, and it generalizes once the training set is larger than it can
memorize. So the share of replicates among samples falls with the training-set size and rises
with the model's capacity (UNet base width); the size where it falls is the memorization capacity.

Model and training (``unet``, ``schedule``, ``train``): an IDDPM-style UNet predicting the noise,
trained with the simple loss
    E_{x0, t, eps} || eps - eps_theta(sqrt(ab_t) x0 + sqrt(1 - ab_t) eps, t) ||^2,
t uniform in 0..T-1, eps ~ N(0, I), images scaled to [-1, 1], and the cosine schedule
ab_t = cos^2(((t/T + s) / (1 + s)) pi/2), s = 0.008, betas clipped at 0.999. Adam, minibatches
drawn with replacement from the subset (so a handful of images fills a batch); class-conditional
models add a label embedding. Sampling (``sample``) uses ``sample_steps`` evenly strided steps of
the T, ancestral (``ddpm``) or deterministic (``ddim``, eta = 0).

Training sets (``subset``): nested subsets, the first n images of one seeded permutation of the
training split, so every smaller subset lies inside every larger one; with ``keep_label``, every
image of that label is always kept and n counts the others (the dummy-data experiment). One model
per (size, width, seed).

Replicates (``replicates``): for a sample W with nearest and second-nearest training images X1, X2
in the model's own training subset (pixel L2, pixels in [0, 1]),
    W is a replicate  iff  ||W - X1|| / ||W - X2|| < threshold     (1/3),
the ratio taken as 0 when ||W - X2|| = 0. Per job and class: the replicate share (replicates /
samples) and the distinct training images replicated at least once. A sample's class is the class
it was conditioned on, or for an unconditional model the label of X1.

Synthetic data (``pipeline.data.synthetic``): Mondrian (a cross splitting the image into four flat
colours), Gaussian mixture (a uniformly chosen centre plus N(0, sd^2) pixel noise) and Random Ink
(iid Bernoulli(1/2) values), the paper's data with no outside download.

Defaults (the schema's, workflow/schemas/config.schema.yaml; tests/test_config_defaults.py checks
this table against it):
    diffusion.threshold                        0.3333333333333333   the ratio criterion's 1/3
    diffusion.experiments.*.widths             [16]        UNet base channels
    diffusion.experiments.*.channel_mult       [1, 2]
    diffusion.experiments.*.num_res_blocks     1
    diffusion.experiments.*.attention_resolutions  [4]
    diffusion.experiments.*.timesteps          1000        T
    diffusion.experiments.*.steps              400         optimiser steps
    diffusion.experiments.*.batch_size         32
    diffusion.experiments.*.lr                 0.002       Adam
    diffusion.experiments.*.n_samples          200         samples per model
    diffusion.experiments.*.sampler            ddpm
    diffusion.experiments.*.sample_steps       25
    diffusion.experiments.*.seeds              [0]

Modules: ``unet``, ``schedule``, ``subset``, ``train``, ``sample``, ``replicates`` (ratio criterion,
summary), ``figures``.
"""
