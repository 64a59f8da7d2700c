"""Do the papers' claims reproduce? Each claim checked from the workflow's own result tables.

Every claim has one statistic and a criterion fixed before any run (constants in ``evaluate``;
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

Feldman & Zhang (``claims.feldman``: dataset, arch, replicate, other_arch)
    FZ1  fitting a mislabelled example takes memorizing it: AUROC(mem; flipped vs clean) >= 0.95
         and median mem of flipped >= 0.5.
    FZ2  a memorized example lifts its copy in the test set: infl(i, j) of each flipped i and its
         test copy j (from the shard tables) has median >= 0.5, and >= 80 % of these pairs are in
         influence_pairs.parquet.
    FZ3  an atypical example is memorized alone but not with copies: median mem of single outliers
         minus median mem of the duplicate copies >= 0.3.
    FZ4  estimates agree between two independent runs of one architecture (``replicate``):
         Jaccard of {i : mem_i >= 0.25} >= 0.7.
    FZ5  estimates agree across architectures (``other_arch``): Spearman of mem >= 0.5.
van den Burg & Williams (``claims.kfold_vae``: dataset)
    KF1  atypical examples score high: AUROC(M; outlier vs clean) >= 0.9 and >= 50 % of outliers
         in the top 5 % of M (M >= its 0.95 quantile over the training split).
    KF2  copies in the training set lower the score: median M(duplicate) < median M(outlier), by
         at least half of median M(outlier) - median M(clean).
    KF3  high memorization is not just low likelihood: of the clean examples in the top 5 % of M,
         >= 25 % have log p(x) under the full-data model above its 0.1 quantile (training split).
    KF4  on MNIST-like data rho and M are unrelated: |Spearman(rho, M)| over clean examples <= 0.3.
    KF5  models fit their training folds better than held-out ones: median M over clean > 0.
Yoon et al. (``claims.diffusion``: capacity, dummies, minority experiments)
    Y1   memorization capacity exists: per width, replicate share (all classes) >= 0.9 at the
         smallest size, <= 0.1 at the largest, never rising by more than 0.05 from one size to the next.
    Y2   capacity grows with width: MC_0.5 (the size where the share falls through 0.5, linear in
         log size between the two sizes around the first crossing; +inf if it never falls below 0.5,
         0 if it starts below) strictly larger for each wider model, and at every size
         share(wider) >= share(narrower) - 0.05.
    Y3   dummy data induces generalization: for the fixed class (the experiment's keep_label), per
         width, replicate share >= 0.8 with no dummies (size 0), <= 0.1 with the most, and the count
         of its training images replicated at least once never rising as dummies grow.
    Y4   the dichotomy appears per class: at every (size, width), the minority class (fewest
         training images) has replicate share >= 0.5 and >= 50 % of its training images
         replicated; the majority class (most) has replicate share <= 0.1.
Bai et al. (``claims.mrgan``: dataset; needs tau = 0 among mrgan.taus)
    B1   without rejection the GAN copies: mean C_T at tau = 0 <= -3.
    B2   rejection reduces copying, more with larger tau: mean C_T never falls from one tau to the
         next by more than one standard error of the difference (sqrt(se_a^2 + se_b^2), se over
         seeds, 0 with one seed), and C_T(largest tau) - C_T(0) >= 3.
    B3   moderate rejection costs little quality: Frechet distance to the test split at the
         non-zero tau closest to the threshold guideline over that at tau = 0 <= 1.5; FID proper
         (``fid_test``, with mrgan.fid_images > 0) when the summary has it, else the Frechet distance
         in the embedding (``fd_<kind>_test``); the claim's detail names the column it used.
    B4   the reduction is not an artifact of the rejection embedding: C_T in a second space
         (column ``ct_pixels``) at the largest tau > at tau = 0.
    B5   rejection acts on the memorized classes: mean class-wise C_T gain (largest tau minus 0)
         of the classes below the median C_T at tau = 0 > that of the classes above it.
    B6   rejection does what it says: kept fraction 1.0 at tau = 0 (every seed) and non-increasing in tau
         (needs a second tau).

claims.parquet (``evaluate``; one row per claim, in the order above):
    paper      string   feldman / kfold_vae / diffusion / mrgan
    id         string   FZ1 ... B6
    claim      string   the claim in a sentence
    statistic  string   what is measured
    value      float64  the headline number of the statistic (NaN if not run), the one the
                        criterion reads first; ``detail`` shows it among the others
    detail     string   every number the criterion uses, or why the claim was not run
    criterion  string   the criterion, fixed in advance
    passed     string   "true" / "false" / "not run"
    tables     string   the files the claim read, ';'-joined ("" if not run for lack of a table)

Figures (``figures``): one per paper, a panel per claim headed by its outcome, and the table.
"""
