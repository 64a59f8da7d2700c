"""Score generated images from any model: a researcher trains a GAN or diffusion model elsewhere and
brings its samples, named in the config section ``samples`` with the data set the model was trained
on (its training split is the reference, its test split the held-out set).

Why these scores: a model that memorizes puts samples (near) on its training images. The ratio
criterion (Yoon et al.) flags a sample whose nearest training image is much closer than the second
nearest; C_T (Meehan et al.) asks whether samples sit closer to the training set than held-out
data does, in the embedding and in pixels; the Frechet distance in the embedding tells how far the
samples' distribution is from the held-out one (a copying model can score well here, which is why
it is read beside the other two; FID proper, in the reference FID network's pool features, only
when ``samples.<name>.fid_images`` > 0, see pipeline/fid.py); and counting, per training example,
the samples that land nearest to it shows which examples a model reproduces, next to the other
methods in the atlas.

The embedding is the MR-GAN one (``mrgan.embedding``; pipeline/mrgan/embed.py): its classifier and
the data set's train and test features are the files the MR-GAN rules build for that data set,
shared, never trained twice. Modules: ``load`` (files -> the data set's uint8 images, labels),
``score`` (neighbours, replicates, C_T, Frechet distance, FID, per-example counts).

Defaults (the schema's, workflow/schemas/config.schema.yaml):
    samples.*.resize        false       a shape other than the data set's is an error
    samples.*.threshold     1/3         ratio criterion d1 / d2 < threshold
    samples.*.k             2           nearest training images listed per sample and space
    samples.*.kmeans_cells  10          C_T cells
    samples.*.pca_dims      0           no PCA before the C_T cells
    samples.*.fid_images    0           n samples against n test images for FID proper (0: off)
"""
