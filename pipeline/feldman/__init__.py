"""Feldman & Zhang (2020): memorization and influence estimated from models trained on random subsets.

Paper: V. Feldman and C. Zhang, "What Neural Networks Memorize and Why: Discovering the Long Tail
via Influence Estimation", NeurIPS 2020.

Definitions. For a training algorithm A, a training set S of n labelled examples (x_i, y_i) and a
test example (x'_j, y'_j), with h ~ A(S) a model trained on S and S minus i the set without i:
    mem(A, S, i)     = P_{h ~ A(S)}[h(x_i) = y_i]   - P_{h ~ A(S minus i)}[h(x_i) = y_i]
    infl(A, S, i, j) = P_{h ~ A(S)}[h(x'_j) = y'_j] - P_{h ~ A(S minus i)}[h(x'_j) = y'_j]
mem is high for examples a model only gets right when it has seen them (atypical, mislabelled,
long-tail ones); infl(i, j) is high when training on i is what makes the model right on test j.

Estimator (the paper's subsampling estimator). t random subsets J_1..J_t of the training split, each
of round(ratio * n) examples drawn without replacement from ``numpy.random.default_rng([seed, r])``
(``pipeline.splits``), and one classifier h_r trained on each J_r. With member[r, i] = [i in J_r],
C[r, i] = [h_r(x_i) = y_i] on training examples and C'[r, j] = [h_r(x'_j) = y'_j] on test examples:
    mem_i      = mean_{r: i in J_r} C[r, i]  - mean_{r: i not in J_r} C[r, i]  = p_in - p_out
    infl(i, j) = mean_{r: i in J_r} C'[r, j] - mean_{r: i not in J_r} C'[r, j]
    se         = sqrt(p_in (1 - p_in) / n_in + p_out (1 - p_out) / n_out)
where n_in (about ratio * t) and n_out (about (1 - ratio) * t) count the models that did and did
not see i. A mean over no models is NaN, never 0. So mem and infl are those of A trained on random
sets of ratio * n examples, the quantity the paper estimates. High-influence pairs are the (i, j)
with mem_i >= mem_threshold and infl(i, j) >= infl_threshold. Influence is formed in blocks of
training examples, so the dense n x n_test matrix is never held (``estimate``).

Noise in the pairs (``estimate``). At small t few models miss i (about 19 of 64), so among the
~10^5 candidate pairs some reach infl >= infl_threshold with no influence at all. Under zero
influence, correctness on j is independent of membership of i; given that K_j runs are right on j,
the count h of runs trained on i that are right on j is hypergeometric (t, K_j, n_in). Each pair gets
the one-sided exact p-value P(H >= h), the z statistic infl / sqrt(pbar (1 - pbar) (1/n_in + 1/n_out))
(pbar = K_j / t), and, optionally, must reach p <= influence_max_p. The number of pairs expected over
the thresholds if no candidate pair had any influence is the sum of P(H >= h_thr) over candidate
pairs, exact under this null; it is written beside the number selected.

Consistency across architectures (``consistency``, the paper's supplement): two architectures A, A'
are trained on the same subsets; or, as a check of the estimates under resampling, two entries of one
architecture with other ``split_seed`` (the splits seed of their subsets, default ``feldman.seed``)
and ``init_seed`` are independent replicate runs. For each threshold theta in ``feldman.thetas`` (0.05 to 0.95 in
steps of 0.05), I(theta) = {i : mem_i >= theta}; for influence, the pairs with infl >= theta among
examples with mem >= mem_threshold. Then the Jaccard index |I n I'| / |I u I'| and the mean of
|estimate - estimate'| over I u I'.

Training (``train_shard``): cross-entropy, SGD with momentum, minibatches of J_r in an order drawn
from (seed, r, epoch), learning rate constant or ``warmup_decay`` (linear up over the first 15 % of
steps, then linearly down to 0). Architectures: ``mlp`` (ReLU layers of the ``hidden`` widths) and
``cnn`` (conv3x3, ReLU and 2x2 max-pool per entry of ``channels``, then a linear layer), held as
hand-stacked networks, and ``module``: any classifier, built by ``factory: "package.module:callable"``
as ``callable(in_shape=(C, H, W), n_classes=K)``, an ``nn.Module`` from (B, C, H, W) images to (B, K)
logits (``zoo.resnet18_cifar``: torchvision's ResNet-18 for 32x32 images). A job trains S models at
once as one stacked model; initial weights and batch order come from (split seed, r, init_seed), so a
model does not depend on which job trains it (kind module: copy r is built under
``torch.manual_seed`` of that stream). Kind module stacks the S copies' parameters and buffers
(``torch.func.stack_module_state``) and runs them with ``torch.vmap`` over ``functional_call``,
autograd through it, with the same SGD, schedule, batches and evaluation as mlp and cnn.
BatchNorm: the running statistics are stacked buffers, each copy's slice updated in place from its own
batches in training, and evaluation uses them, exactly as one copy trained alone would (not
``replace_all_batch_norm_modules_``, which would make evaluation use each evaluation batch's
statistics, so a prediction would depend on its batch). A module vmap cannot run (data-dependent
Python control flow, ``.item()``, dropout or other random operations) is found by a probe before
training; its S copies then train one after another at each step with ordinary autograd, to the same
models, and the job logs one WARNING naming the architecture and the reason. Kind ``runs`` trains
nothing: its ``file``, a .npz of runs trained elsewhere, becomes the shard table (``runs_file``;
docs/bring-your-own-runs.md).

Defaults (the schema's, workflow/schemas/config.schema.yaml; tests/test_config_defaults.py checks
this table against it):
    splits.feldman.runs                        100         t, models per architecture
    splits.feldman.ratio                       0.7         |J_r| / n
    feldman.mem_threshold                      0.25        pairs need mem_i >= this
    feldman.infl_threshold                     0.15        pairs need infl(i, j) >= this
    feldman.influence_max_p                    1           pairs need p-value <= this (1: all)
    feldman.rmia.targets                       64          LiRA's and RMIA's target models against k
    feldman.rmia.offline_a                     0.3         offline Pr(x) = ((1 + a) / 2) mean_OUT + (1 - a) / 2
    feldman.rmia.gamma                         1           RMIA's threshold on LR(x) / LR(z)
    feldman.rmia.bootstrap                     200         resamples of the attacks' intervals
    feldman.architectures.*.epochs             10
    feldman.architectures.*.batch_size         128
    feldman.architectures.*.lr                 0.1
    feldman.architectures.*.momentum           0.9
    feldman.architectures.*.schedule           constant
    feldman.architectures.*.hidden             [512, 256]  mlp
    feldman.architectures.*.channels           [16, 32]    cnn
    feldman.architectures.*.init_seed          0           0: init and order from (seed, r) alone

Modules: ``train_shard`` (shard tables: 0/1 correctness, margins, per-epoch training correctness),
``estimate`` (mem and high-influence pairs; memorization.parquet also holds the estimators of
``estimators`` and ``lira``: mem_margin, LiRA's per-example AUC, learning_speed, see
docs/feldman-estimators.md), ``membership`` (membership.parquet: LiRA of ``lira`` and RMIA of ``rmia``,
against the number of reference models, ``ladder``), ``convergence`` (split-half agreement
against the number of runs), ``consistency`` (agreement of two architectures), ``figures``;
``models`` and ``stacking`` (stacked models, how many fit on a device); ``module_stack`` (kind module
with torch.func) and ``zoo`` (ready-made factories); ``runs_file`` (kind runs: a .npz of runs
trained elsewhere as a shard table) and ``export`` (the runs and estimates in other tools' formats, docs/export.md).
"""
