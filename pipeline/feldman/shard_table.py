"""The shard table: what each Feldman run recorded about every training and test example, one row
per run. ``train_shard`` writes it for the runs it trains, ``runs_file`` for runs brought from a .npz,
and every estimator reads it; kept free of torch so the readers and ``runs_file`` start fast.

shard{k}.parquet / runs.parquet (one row per run; shard k of the architecture's shards/ folder, written by
``train_shard``; kind runs: shards/runs.parquet, written by ``runs_file``):
    run                  int32          run index r (row r of feldman_subsets.parquet)
    seed                 int64          split seed (also seeds init and batch order with r and init_seed)
    init_seed            int64          the spec's init_seed
    arch                 string         architecture name (key of feldman.architectures)
    member               list<bool>     length n_train: is the p-th training example in J_r
    train_correct        list<bool>     length n_train: argmax of model r == label on the p-th training example
    test_correct         list<bool>     length n_test: the same on the p-th test example
    train_accuracy       float64        mean of train_correct over members (fit of J_r)
    test_accuracy        float64        mean of test_correct
    train_margin         list<float32>  length n_train: logit of the label minus the largest other logit of
                                        model r on the p-th training example (the pass giving train_correct)
    test_margin          list<float32>  length n_test: the same on the p-th test example
    train_logit_conf     list<float32>  length n_train: logit-scaled true-class confidence log(p / (1 - p)),
                                        p the softmax probability of the label (= the label's logit minus
                                        the logsumexp of the others; LiRA's statistic), same pass; none for
                                        test examples, which are never members
    train_epoch_correct  list<uint8>    length n_train: for a member of J_r, the number of epochs whose
                                        training forward pass classified it correctly; 0 for non-members
    train_cum_loss       list<float32>  length n_train: for a member of J_r, its cross-entropy loss summed
                                        over the training steps whose batch held it (each step's forward
                                        pass, before its update: one per epoch); 0 for non-members
    epochs               int32          epochs model r trained (train_epoch_correct's denominator)
Position p is the p-th entry of ``Dataset.indices("train")`` (or "test"), as in the split tables.
``np.stack(table["train_correct"])`` gives the (runs, n_train) matrix. Size per model and training
example: 13.25 bytes (member and train_correct 1 bit each, train_margin 4, train_logit_conf 4,
train_epoch_correct 1, train_cum_loss 4); per model and test example: 4.125 bytes (test_correct 1 bit,
test_margin 4); the 0/1 columns alone, 0.25 and 0.125. Parquet barely compresses the floats, so the
files are about that size. At paper scale, 4,000 models x (60,000 training + 10,000 test) examples
(MNIST): 4,000 x (60,000 x 13.25 + 10,000 x 4.125) bytes = 3.3 GB over all shards, 65 MB of it the
0/1 columns.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

MAX_EPOCHS = int(np.iinfo(np.uint8).max)  # train_epoch_correct counts correct epochs in a uint8


def shard_table(runs, seed, init_seed, arch, members, records: dict, epochs) -> pa.Table:
    """The shard table of ``runs`` (module docstring); ``records``: (runs, n) arrays of train_correct,
    test_correct, train_margin, test_margin, train_logit_conf, train_epoch_correct and train_cum_loss; ``epochs``: one for all runs, or
    one per run."""
    train_ok, test_ok = records["train_correct"], records["test_correct"]
    member_acc = (train_ok & members).sum(1) / members.sum(1)
    return pa.table({
        "run": pa.array(np.asarray(runs, dtype=np.int32)),
        "seed": pa.array(np.full(len(runs), seed, dtype=np.int64)),
        "init_seed": pa.array(np.full(len(runs), init_seed, dtype=np.int64)),
        "arch": pa.array([arch] * len(runs), type=pa.string()),
        "member": pa.array(list(members), type=pa.list_(pa.bool_())),
        "train_correct": pa.array(list(train_ok), type=pa.list_(pa.bool_())),
        "test_correct": pa.array(list(test_ok), type=pa.list_(pa.bool_())),
        "train_accuracy": pa.array(member_acc.astype(np.float64)),
        "test_accuracy": pa.array(test_ok.mean(1).astype(np.float64)),
        "train_margin": pa.array(list(records["train_margin"].astype(np.float32)), type=pa.list_(pa.float32())),
        "test_margin": pa.array(list(records["test_margin"].astype(np.float32)), type=pa.list_(pa.float32())),
        "train_logit_conf": pa.array(list(records["train_logit_conf"].astype(np.float32)),
                                     type=pa.list_(pa.float32())),
        "train_epoch_correct": pa.array(list(records["train_epoch_correct"].astype(np.uint8)),
                                        type=pa.list_(pa.uint8())),
        "train_cum_loss": pa.array(list(records["train_cum_loss"].astype(np.float32)), type=pa.list_(pa.float32())),
        "epochs": pa.array(np.broadcast_to(np.asarray(epochs, dtype=np.int32), (len(runs),)).copy()),
    })
