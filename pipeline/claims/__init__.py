"""Do the papers' claims reproduce? Each claim checked from the workflow's own result tables.

Every claim has one statistic and a criterion fixed before any run (the constants of ``criteria``;
never tuned to make a run pass). A claim is ``true`` when its criterion holds, ``false`` when
it does not, and ``not run`` when a table it needs was not configured (config section
``claims``) or lacks what it needs; ``not run`` is never a pass.

Planted canaries (data sets of kind ``planted``; ``index.parquet`` columns ``planted`` and
``source_index``) are the ground truth of several claims: ``flipped`` (label changed to another
class), ``outlier`` (an atypical image, label kept), ``duplicate`` (one outlier image present
several times in the training split), ``test_copy`` (an exact copy, label included, of a flipped
training example, in the test split; its ``source_index`` is that of the flipped example).
Clean examples are the training examples with no canary (all training examples of a data set
that is not planted). AUROC(score; A vs B) is the probability that a random A example scores
above a random B example, ties counting 1/2 (the Mann-Whitney statistic, as sklearn's
roc_auc_score). Means over seeds are taken before a criterion is applied.

The claims, their statistics and criteria are ``evaluate.CLAIMS``; each criterion's numbers are the
named constants of ``criteria``, and its text is written from them. docs/claims.md lists them all
(generated: ``python -m pipeline.reference_docs``). claims.parquet's schema: ``evaluate``.

Modules: ``tables`` (the declared inputs and their reads), ``criteria`` (the thresholds), ``evaluate``
(one check per claim -> claims.parquet), ``figures`` (one figure per paper, a panel per claim, and the
table).
"""
