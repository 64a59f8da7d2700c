"""The estimators on one's own arrays, without Snakemake: one import for researchers.

The names are imported from the modules the workflow runs and compute with the same code
(no logic here), so a score computed from the same inputs equals the one in the workflow's
tables. Arguments left out take their defaults from workflow/schemas/config.schema.yaml.
docs/python-api.md has a runnable example of each; tests/test_api.py runs them.

memorization_and_influence(member, train_correct, test_correct)
    Feldman & Zhang. 0/1 matrices (runs, n_train), (runs, n_train), (runs, n_test) ->
    (table of mem, se, p_in, p_out, n_in, n_out per training example; dense (n_train, n_test)
    influence; its standard error). NaN where an example was never (or always) trained on.
FeldmanRuns(member, correct, test_correct=None, margin=None, lira_statistic=None, epoch_correct=None,
            epochs=None, cum_loss=None)
    The runs every Feldman estimator reads (``pipeline.feldman.runs.Runs``): (runs, n) arrays, the
    float records optional (NaN where not given; the shard tables' columns, docs/outputs.md).
feldman_estimators(runs)
    The estimators beside mem from one ``FeldmanRuns`` -> table of mem_margin, lira, lira_fixed,
    learning_speed, cum_loss, mem_margin_eb and their standard errors per training example (the
    columns of memorization.parquet after mem's; docs/feldman-estimators.md).
feldman_convergence(runs, estimators, n_splits, seed)
    Split-half agreement of each named estimator as the runs grow, on the tail and over all
    examples (convergence.parquet), and ``recommendation(table)`` says which to use at how many.
kfold_scores(index, in_training, logpx)
    van den Burg & Williams. One entry per (example, model): example id, whether the model
    trained on it, log p(x) -> table of index, U, V, M = U - V, n_in, n_out.
ratio_flags(d1, d2, threshold)
    Yoon et al.'s ratio criterion from distances to the nearest and second-nearest training
    image -> (ratio d1 / d2, replicate flag ratio < threshold).
replicates(samples, train, threshold)
    The same from images: finds the two nearest training images (pixel L2) first -> table of
    nearest, second, d1, d2, ratio, replicate per sample.
ct_statistic(train, test, generated, n_cells, pca_dims, seed)
    Meehan et al.'s three-sample data-copying test used by Bai et al. -> result with ``.ct``
    (C_T; strongly negative: the generated points copy the training points) and ``.cells``.
frechet_distance(features_a, features_b)
    Frechet distance between Gaussians fitted to two feature sets (rows = points), in whatever
    feature space is given. It is FID only for the pool features of the reference FID network,
    ``pipeline.fid.pool_features(images)`` (kept out of this module: it loads torch).
nearest_neighbors(query, ref, k, metric)
    Exact k nearest rows of ``ref`` for each row of ``query`` (metrics l2, cosine, abscosine)
    -> (positions (nq, k), distances (nq, k)); ``pipeline.neighbors.knn``.
"""

from pipeline.diffusion.replicates import ratio_flags, replicates
from pipeline.feldman.convergence import convergence_table as feldman_convergence
from pipeline.feldman.estimate import memorization_and_influence
from pipeline.feldman.estimators import estimator_columns as feldman_estimators
from pipeline.feldman.runs import Runs as FeldmanRuns
from pipeline.frechet import frechet_distance
from pipeline.kfold_vae.score import kfold_scores
from pipeline.mrgan.ct_test import ct_statistic
from pipeline.neighbors import knn as nearest_neighbors

__all__ = ["memorization_and_influence", "FeldmanRuns", "feldman_estimators", "feldman_convergence", "kfold_scores", "ratio_flags", "replicates", "ct_statistic",
           "frechet_distance", "nearest_neighbors"]
