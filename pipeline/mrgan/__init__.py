"""Bai et al. (2022): GAN training with memorization rejection (MR), scored by the C_T data-copying
test, Frechet distances in the embedding and, when asked, FID.

Papers: A. Bai, C.-J. Hsieh, W. Kan and H.-T. Lin, "Reducing Training Sample Memorization in GANs by
Training with Memorization Rejection", arXiv:2210.12231, 2022 (memorization rejection, and the
threshold guideline of its Sec. 5.7; code: github.com/jybai/MRGAN); C_T from C. Meehan, K. Chaudhuri
and S. Dasgupta, "A Non-Parametric Test to Detect Data-Copying in Generative Models", AISTATS 2020.

Embedding and distance (``embed``). Every score works on features f(x), L2-normalised: the pool
features of Inception-v3 (as in the paper; local weights, never downloaded) or, offline, the
penultimate layer of a small CNN classifier the workflow trains on the training split. The
distance of a generated image x to the training set T is
    d(x) = min_{x' in T} (1 - |cos(f(x), f(x'))|),
found by exact search over all training features (1 - |cos| lies in [0, 1]).

Memorization rejection (``rejection``, ``train``). A class-conditional GAN (``gan``: DCGAN-like G,
spectrally normalised D with a projection head; hinge or non-saturating loss; Adam) does
``d_steps`` discriminator updates per generator step, on real batches and on all fakes. In the
generator step, fakes with d(x) <= tau are dropped from the generator's loss, so G is never pushed
towards the samples that sit (near) on a training image; if a whole batch is rejected a fresh one
is drawn, at most ``max_resample`` times. tau = 0 is the no-MR baseline up to exact copies. Fake
labels are drawn from the training labels' frequencies. The threshold guideline (``guideline``):
    tau_guideline = mean_{x in T} min_{x' in T, x' != x} (1 - |cos(f(x), f(x'))|),
the typical distance of a training image to its nearest other one.

C_T (``ct_test``), Meehan et al.'s data-copying statistic. k-means cells (``kmeans_cells``; after
a PCA to ``pca_dims`` dimensions if > 0), fitted on the training features T. Of m generated points
Q and n test points P, a cell pi is kept when it holds more than 20 of the m generated points
(m_pi / m > 20 / m). In a kept cell, L(q) and L(p) are the Euclidean 1-NN distances of the cell's
generated and test points to the cell's training points, and
    U_pi   = #{(q, p) : L(q) > L(p)} + 1/2 #{ties}              (Mann-Whitney U)
    Z_U_pi = (U_pi - (m_pi n_pi / 2 - 1/2)) / sqrt(m_pi n_pi (m_pi + n_pi + 1) / 12)
    C_T    = sum_{kept pi} (n_pi / n) Z_U_pi / sum_{kept pi} (n_pi / n).
C_T << 0: generated points lie closer to the training set than held-out data do (data copying);
C_T >> 0: farther (underfitting). Class-wise C_T repeats this within each class with
``classwise_cells`` cells fitted on that class's training points. ``score`` computes C_T (overall
and per class) twice: in the embedding, and in pixel space (images flattened to [0, 1], the same
cells count and PCA), which rejection never sees, so a fall in copying there is not an artefact of
rejecting in the very features C_T is measured in.

Frechet distance (``pipeline.frechet.frechet_distance``) between Gaussians fitted to two feature sets,
    d = |mu_1 - mu_2|^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)),
of samples against training features, against test features, and of test against training (the
floor for this data size), in the chosen embedding: columns ``fd_<kind>_train``, ``fd_<kind>_test``,
``fd_<kind>_test_train`` (``fd_classifier_test``). These are not FID, which is that distance in the
pool features of one fixed network (Inception-v3 with the 2015 TensorFlow weights, ``pipeline.fid``),
not in L2-normalised features of the embedding. FID proper, ``fid_test``, is computed when
``mrgan.fid_images`` = n > 0: n samples of each job against n test images, drawn once
(``pipeline.fid.subset``); it is slow on a CPU (about 0.3 s per image), so the default is off.
``score`` also records every sample's and test point's d(x) and nearest training image.

Defaults (the schema's, workflow/schemas/config.schema.yaml; tests/test_config_defaults.py checks
this table against it):
    mrgan.taus                                 [0]         rejection thresholds tau
    mrgan.steps                                1000        generator steps
    mrgan.batch_size                           64
    mrgan.lr                                   0.0002      Adam, the paper's settings
    mrgan.beta1                                0.5
    mrgan.beta2                                0.999
    mrgan.loss                                 hinge
    mrgan.d_steps                              5           discriminator steps per generator step
    mrgan.z_dim                                64
    mrgan.width                                32
    mrgan.max_resample                         10
    mrgan.n_samples                            2000        m, samples scored per model
    mrgan.kmeans_cells                         10
    mrgan.classwise_cells                      2
    mrgan.pca_dims                             0           no PCA (the paper: 64)
    mrgan.embedding.kind                       classifier
    mrgan.embedding.classifier_epochs          20
    mrgan.fid_images                           0           n per side of FID proper (0: off)

Modules: ``embed``, ``guideline``, ``gan``, ``rejection``, ``train``, ``sample``, ``ct_test``,
``score``, ``summary``, ``figures``; the Frechet distance is ``pipeline.frechet``, FID's network ``pipeline.fid``.
"""

# Here, not in embed.py, so that jobs which only name the embedding (guideline, score) do not import torch.
EMBEDDING_NAMES = {"classifier": "classifier_penultimate", "inception": "inception_v3_pool"}
