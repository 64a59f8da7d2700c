"""van den Burg & Williams (2021): the K-fold memorization score of VAEs.

Paper: G. J. J. van den Burg and C. K. I. Williams, "On Memorization in Probabilistic Deep
Generative Models", NeurIPS 2021.

Definition. For a density model trained by algorithm A on a training set D, the memorization score
of x_i compares its likelihood under models trained with and without it:
    M(i) = log p(x_i | A(D)) - log p(x_i | A(D minus x_i)).
M(i) >> 0: the model gives x_i far more density than it would without having seen it.

Estimator (K-fold, repeated). For each of R repeats the training split is cut into K folds by a
fresh seeded permutation (``pipeline.splits``); one VAE is trained per (repeat, held-out fold) on
the other K - 1 folds, K R models in all, each with the negative ELBO and Adam (``train``). Every
training example is then in the training set of (K - 1) R models and held out of R. At each
evaluation epoch every model scores every training example, and
    U_i = log mean_{models trained on x_i} p(x_i),   V_i = log mean_{models that held x_i out} p(x_i),
    M_i = U_i - V_i,
averaging in probability space (logmeanexp, ``score``). An example is highly memorized when M_i is at
or above the ``high_quantile`` quantile of M (0.95: the top 5 %).

log p(x) is estimated by importance sampling with the encoder as proposal (paper eq. 9,
``likelihood``): with z_k ~ q(z | x), k = 1..N,
    log p(x) ~= logsumexp_k [log p(x | z_k) + log N(z_k; 0, I) - log q(z_k | x)] - log N,
a stochastic lower bound that rises to log p(x) as N = ``n_importance`` grows. It is reported in
nats of the 8-bit image for the conv models (dequantized, logit-transformed; the change of variables
is added back) and of the binarized image for the Bernoulli MLP. The evaluation inputs are drawn
once from the split seed, so every model scores the very same x_i.

Nearest-neighbour ratio (paper eq. 6, ``rho``): with samples (decoder means of z ~ N(0, I)) of one
model trained on the whole training split,
    rho_i = d(x_i, nearest validation image) / d(x_i, nearest model sample),
d the pixel L2 distance after area-downsampling to ``rho_resize`` (0: native size). rho_i > 1: x_i
is closer to a sample than to any held-out image.

Models (paper Table 1, ``models``): ``bernoulli_mlp`` (MNIST; MLP encoder and decoder of the
``hidden`` widths, Bernoulli pixels), ``gaussian_conv`` (CIFAR-10; DCGAN-like, per-pixel mean and
variance) and ``constant_conv`` (CelebA; one learned variance), conv widths scaled by ``width``.
The latent size L defaults to the paper's value for the kind: 16, 64 and 32 (the schema sets it by
kind; latent_dim 0 means the same).

Defaults (the schema's, workflow/schemas/config.schema.yaml; tests/test_config_defaults.py checks
this table against it; a data set's entry under kfold_vae.models may override the training ones):
    splits.kfold.folds                         10          K
    splits.kfold.repeats                       10          R
    kfold_vae.epochs                           100
    kfold_vae.lr                               0.001       Adam
    kfold_vae.batch_size                       64
    kfold_vae.n_importance                     128         N, importance samples per log p(x)
    kfold_vae.n_samples                        1000        full-data model samples for rho
    kfold_vae.rho_resize                       16
    kfold_vae.validation_split                 test        rho's validation images
    kfold_vae.high_quantile                    0.95
    kfold_vae.models.*.hidden                  [512, 256]
    kfold_vae.models.*.width                   32

Modules: ``train`` (one model, its log p(x) table), ``score`` (U, V, M), ``sample``, ``rho``,
``figures``; ``models`` and ``likelihood``.
"""
