"""No config silently does the wrong thing: a config that would run nothing for a section it names, run
one job twice (or write one path twice), make a claim true by construction, leave an estimator
undefined, or ask a data set for more than it holds (as far as the config and the published sizes
tell, else its job says so) stops at start-up with one line naming the config key (pipeline/config.py,
called from workflow/rules/common.smk). Errors a job raises name the key too (the diffusion
experiment, the sample set), and an image folder holding links neither breaks planning nor leaves
stale results (pipeline/data/files.py).

Each case is a small config that validate_config must reject, next to a near miss it must accept.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import pytest
import yaml
from PIL import Image

from conftest import REPO, SNAKEMAKE, workflow_env
from pipeline.config import validate_config
from pipeline.data import files
from pipeline.data.dataset import Dataset
from pipeline.errors import PipelineError

MLP = {"kind": "mlp", "hidden": [16], "epochs": 1}


def base() -> dict:
    """Data sets of every shape the checks tell apart: with and without a test split, one class or more."""
    return {
        "datasets": {
            "digits": {"kind": "digits"},
            "planted": {"kind": "planted", "base": "digits", "flipped": 5, "outlier": 5, "duplicate": 1,
                        "copies": 3, "test_copy": 5},
            "mo": {"kind": "mondrian", "size": 8, "n_train": 64},  # no test split, one class
            "mo_test": {"kind": "mondrian", "size": 8, "n_train": 64, "n_test": 8},  # one class
            "gm": {"kind": "gaussian_mixture", "size": 8, "n_train": 64, "n_test": 8, "n_centers": 4},
            "mo_gm": {"kind": "mixture", "parts": [{"dataset": "mo", "n_train": 8, "label": 0},
                                                  {"dataset": "gm", "n_train": 32, "label": 1}]},
            "mo_mo": {"kind": "mixture", "parts": [{"dataset": "mo", "n_train": 8}]},  # one class, no test
        },
    }


def with_(changes: dict) -> dict:
    """The base config with ``changes`` merged in (section by section, one level deep)."""
    config = base()
    for key, value in copy.deepcopy(changes).items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return config


def error(config: dict) -> str:
    with pytest.raises(PipelineError) as caught:
        validate_config(config)
    message = str(caught.value)
    assert "\n" not in message and "*" not in message, message
    return message


FELDMAN = {"datasets": ["planted"], "architectures": {"mlp": MLP}}


def planted(base_name: str, **keys) -> dict:
    """Changes that add data set p, canaries planted on ``base_name``."""
    return {"datasets": {**base()["datasets"], "p": {"kind": "planted", "base": base_name, **keys}}}


def mixture(*parts: dict, **datasets) -> dict:
    """Changes that add data set x, a mixture of ``parts`` (and ``datasets`` beside it)."""
    return {"datasets": {**base()["datasets"], **datasets, "x": {"kind": "mixture", "parts": list(parts)}}}
SWEEP = {"dataset": "mo", "sizes": [4, 8], "widths": [8]}

# (case, config changes, the key the error must name, words it must say)
CASES = [
    # a section that names data sets but has nothing to run on them
    ("feldman without architectures", {"feldman": {"datasets": ["digits"]}},
     "feldman.architectures", "nothing would run"),
    # lists whose duplicates run one job twice (or write its rows twice into a summary)
    ("a splits seed twice", {"splits": {"datasets": ["digits"], "seeds": [0, 0]}}, "splits.seeds", "non-unique"),
    ("a splits data set twice", {"splits": {"datasets": ["digits", "digits"]}}, "splits.datasets", "non-unique"),
    ("a neighbour data set twice", {"neighbors": {"nn": {"datasets": ["digits", "digits"]}}},
     "neighbors.nn.datasets", "non-unique"),
    ("a feldman data set twice", {"feldman": {**FELDMAN, "datasets": ["planted", "planted"]}},
     "feldman.datasets", "non-unique"),
    ("a theta twice", {"feldman": {**FELDMAN, "thetas": [0.5, 0.5]}}, "feldman.thetas", "non-unique"),
    ("a diffusion size twice", {"diffusion": {"experiments": {"e": {**SWEEP, "sizes": [8, 8]}}}},
     "diffusion.experiments.e.sizes", "non-unique"),
    ("a diffusion width twice", {"diffusion": {"experiments": {"e": {**SWEEP, "widths": [8, 8]}}}},
     "diffusion.experiments.e.widths", "non-unique"),
    ("a diffusion seed twice", {"diffusion": {"experiments": {"e": {**SWEEP, "seeds": [1, 1]}}}},
     "diffusion.experiments.e.seeds", "non-unique"),
    ("an experiment run twice", {"diffusion": {"run": ["e", "e"], "experiments": {"e": SWEEP}}},
     "diffusion.run", "non-unique"),
    ("a tau twice, 0 and 0.0", {"mrgan": {"datasets": ["digits"], "taus": [0, 0.0]}}, "mrgan.taus", "non-unique"),
    ("an MR-GAN seed twice", {"mrgan": {"datasets": ["digits"], "seeds": [3, 3]}}, "mrgan.seeds", "non-unique"),
    ("an MR-GAN data set twice", {"mrgan": {"datasets": ["digits", "digits"]}}, "mrgan.datasets", "non-unique"),
    ("a K-fold data set twice", {"kfold_vae": {"datasets": ["digits", "digits"],
                                               "models": {"digits": {"kind": "bernoulli_mlp"}}}},
     "kfold_vae.datasets", "non-unique"),
    ("one neighbour search twice", {"neighbors": {"a": {"datasets": ["digits", "mo_test"]},
                                                  "b": {"datasets": ["mo_test"], "backend": "numpy"}}},
     "neighbors.b", "on 'mo_test' the same search as neighbors.a"),
    # two values, one path
    ("two taus, one folder", {"mrgan": {"datasets": ["digits"], "taus": [0, 0.1234561, 0.1234562]}},
     "mrgan.taus", "share the folder tau0.123456"),
    # a comparison made twice, or with itself (agreement 1 by construction)
    ("an architecture compared with itself",
     {"feldman": {**FELDMAN, "compare": [["mlp", "mlp"]]}}, "feldman.compare.0", "itself"),
    ("one pair compared twice", {"feldman": {**FELDMAN, "architectures": {"mlp": MLP, "cnn": {"kind": "cnn"}},
                                             "compare": [["mlp", "cnn"], ["cnn", "mlp"]]}},
     "feldman.compare.1", "compared already"),
    ("neighbours of a split in itself", {"neighbors": {"nn": {"datasets": ["digits"], "query_split": "train",
                                                              "ref_split": "train"}}},
     "neighbors.nn.ref_split", "itself at distance 0"),
    # a method on a data set without the split it reads
    ("feldman without a test split", {"feldman": {**FELDMAN, "datasets": ["mo_gm"]}},
     "feldman.datasets", "no test split"),
    ("feldman on one class", {"feldman": {**FELDMAN, "datasets": ["mo_test"]}}, "feldman.datasets", "one class"),
    ("MR-GAN without a test split", {"mrgan": {"datasets": ["mo"]}}, "mrgan.datasets", "no test split"),
    ("neighbours of a split that is not there", {"neighbors": {"nn": {"datasets": ["digits"], "query_split": "valid"}}},
     "neighbors.nn.query_split", "no valid split"),
    ("neighbours against a missing test split",
     {"neighbors": {"nn": {"datasets": ["mo"], "query_split": "train", "ref_split": "test"}}},
     "neighbors.nn.ref_split", "no test split"),
    ("K-fold rho without validation images",
     {"kfold_vae": {"datasets": ["mo_mo"], "models": {"mo_mo": {"kind": "bernoulli_mlp"}}}},
     "kfold_vae.validation_split", "no test split"),
    ("K-fold rho without validation images, per model",
     {"kfold_vae": {"datasets": ["digits"], "models": {"digits": {"kind": "bernoulli_mlp",
                                                                 "validation_split": "valid"}}}},
     "kfold_vae.models.digits.validation_split", "no valid split"),
    ("K-fold scores after the last epoch",
     {"kfold_vae": {"datasets": ["digits"], "epochs": 5, "eval_epochs": [3, 8],
                    "models": {"digits": {"kind": "bernoulli_mlp"}}}},
     "kfold_vae.eval_epochs", "epoch 8 is past the last of the 5"),
    ("K-fold scores after the last epoch, per model",
     {"kfold_vae": {"datasets": ["digits"], "models": {"digits": {"kind": "bernoulli_mlp", "epochs": 2,
                                                                 "eval_epochs": [4]}}}},
     "kfold_vae.models.digits.eval_epochs", "past the last of the 2"),
    # keys that would change nothing
    ("a K-fold model for a data set not declared", {"kfold_vae": {"datasets": ["digits"], "models": {
        "digits": {"kind": "bernoulli_mlp"}, "digit": {"kind": "bernoulli_mlp", "epochs": 5}}}},
     "kfold_vae.models.digit", "unknown dataset 'digit'"),
    ("a factory on an mlp", {"feldman": {**FELDMAN, "architectures": {"mine": {"kind": "mlp", "factory": "nets:resnet"}}}},
     "feldman.architectures.mine.factory", "kind mlp does not read it"),
    ("hidden widths on a cnn", {"feldman": {**FELDMAN, "architectures": {"c": {"kind": "cnn", "hidden": [64]}}}},
     "feldman.architectures.c.hidden", "kind cnn does not read it"),
    ("channels on a module", {"feldman": {**FELDMAN, "architectures": {"m": {"kind": "module", "factory": "a:b",
                                                                            "channels": [8]}}}},
     "feldman.architectures.m.channels", "kind module does not read it"),
    ("a conv width on an MLP VAE", {"kfold_vae": {"datasets": ["digits"],
                                                  "models": {"digits": {"kind": "bernoulli_mlp", "width": 64}}}},
     "kfold_vae.models.digits.width", "kind bernoulli_mlp does not read it"),
    ("MLP widths on a conv VAE", {"kfold_vae": {"datasets": ["digits"],
                                                "models": {"digits": {"kind": "gaussian_conv", "hidden": [64]}}}},
     "kfold_vae.models.digits.hidden", "kind gaussian_conv does not read it"),
    ("Inception weights for the classifier embedding",
     {"mrgan": {"datasets": ["digits"], "embedding": {"inception_weights": "inception.pt"}}},
     "mrgan.embedding.inception_weights", "kind classifier does not read it"),
    # a class the data set does not have
    ("keep_label of a class not there", {"diffusion": {"experiments": {"d": {"dataset": "mo_gm", "sizes": [8],
                                                                              "keep_label": 2}}}},
     "diffusion.experiments.d.keep_label", "no training image of 'mo_gm' has label 2"),
    # models that do not fit the images, where the config fixes their size
    ("a CNN pooling 8x8 digits to nothing", {"feldman": {**FELDMAN, "architectures": {"c": {"kind": "cnn",
                                                                                           "channels": [4] * 4}}}},
     "feldman.architectures.c.channels", "4 poolings shrink the 8x8 images of 'planted' to nothing"),
    ("a UNet halving 12x12 images three times",
     {"datasets": {**base()["datasets"], "mo12": {"kind": "mondrian", "size": 12, "n_train": 16}},
      "diffusion": {"experiments": {"e": {"dataset": "mo12", "sizes": [8], "channel_mult": [1, 2, 2, 2]}}}},
     "diffusion.experiments.e.channel_mult", "divisible by 8"),
    ("attention heads not dividing the channels",
     {"diffusion": {"experiments": {"e": {**SWEEP, "widths": [8, 12], "heads": 3}}}},
     "diffusion.experiments.e.heads", "at width 8"),
    ("a GAN on 64x64 images", {"datasets": {**base()["datasets"], "faces": {"kind": "celeba"}},
                               "mrgan": {"datasets": ["faces"]}}, "mrgan.datasets", "'faces' has 64x64"),
    ("FID on more test images than there are", {"mrgan": {"datasets": ["mo_test"], "fid_images": 9}},
     "mrgan.fid_images", "FID on 9 test images, but 'mo_test' has 8"),
    # claims that could not run after every model is trained
    ("MR-GAN claims without tau 0", {"mrgan": {"datasets": ["digits"], "taus": [0.003, 0.006]},
                                      "claims": {"mrgan": {"dataset": "digits"}}}, "mrgan.taus", "lacks 0"),
    ("no Feldman claim can run", {"feldman": {**FELDMAN, "datasets": ["digits"]},
                                  "claims": {"feldman": {"dataset": "digits", "arch": "mlp"}}},
     "claims.feldman.dataset", "no Feldman claim would run"),
    ("Y1 and Y2 with one size", {"diffusion": {"experiments": {"e": {**SWEEP, "sizes": [8]}}},
                                 "claims": {"diffusion": {"capacity": "e"}}}, "claims.diffusion.capacity", "one size"),
    ("Y3 without a run lacking dummies",
     {"diffusion": {"experiments": {"d": {"dataset": "mo_gm", "sizes": [8, 16], "keep_label": 0}}},
      "claims": {"diffusion": {"dummies": "d"}}}, "claims.diffusion.dummies", "size 0"),
    ("Y4 on one class", {"diffusion": {"experiments": {"m": {"dataset": "mo_mo", "sizes": [8]}}},
                         "claims": {"diffusion": {"minority": "m"}}}, "claims.diffusion.minority", "one class"),
    # claims true by construction, or measuring another thing than they say
    ("a replicate that is the same run",
     {"feldman": {**FELDMAN, "architectures": {"mlp": MLP, "again": MLP}},
      "claims": {"feldman": {"dataset": "planted", "arch": "mlp", "replicate": "again"}}},
     "claims.feldman.replicate", "agree by construction"),
    ("a replicate on its split seed, which is feldman.seed",
     {"feldman": {**FELDMAN, "seed": 2, "architectures": {"mlp": MLP, "again": {**MLP, "split_seed": 2}}},
      "claims": {"feldman": {"dataset": "planted", "arch": "mlp", "replicate": "again"}}},
     "claims.feldman.replicate", "agree by construction"),
    ("a replicate of another architecture",
     {"feldman": {**FELDMAN, "architectures": {"mlp": MLP, "wide": {**MLP, "hidden": [64], "init_seed": 1}}},
      "claims": {"feldman": {"dataset": "planted", "arch": "mlp", "replicate": "wide"}}},
     "claims.feldman.replicate", "same classifier, trained again"),
    ("another architecture that is the same",
     {"feldman": {**FELDMAN, "architectures": {"mlp": MLP, "same": {**MLP, "epochs": 3, "init_seed": 1}}},
      "claims": {"feldman": {"dataset": "planted", "arch": "mlp", "other_arch": "same"}}},
     "claims.feldman.other_arch", "same classifier"),
    # settings whose estimator would be undefined or cut nothing (all-NaN columns, no rows, every row)
    ("a single Feldman run", {"splits": {"feldman": {"runs": 1}}}, "splits.feldman.runs", "minimum of 2"),
    ("a ratio putting every example in every subset", {"splits": {"datasets": ["mo"], "feldman": {"ratio": 0.995}}},
     "splits.feldman.ratio", "0.995 of the 64 training examples of 'mo' rounds to 64, so every subset holds every"),
    ("a ratio putting no example in any subset", {"feldman": {**FELDMAN, "datasets": ["gm"]},
                                                 "splits": {"feldman": {"ratio": 0.005}}},
     "splits.feldman.ratio", "rounds to 0, so no subset holds any example"),
    ("a mem threshold above any mem", {"feldman": {**FELDMAN, "mem_threshold": 5}}, "feldman.mem_threshold",
     "greater than the maximum of 1"),
    ("an influence threshold every pair passes", {"feldman": {**FELDMAN, "infl_threshold": -1}},
     "feldman.infl_threshold", "less than or equal to the minimum of 0"),
    ("a consistency threshold of 0", {"feldman": {**FELDMAN, "thetas": [0, 0.5]}}, "feldman.thetas.0", "minimum of 0"),
    ("a momentum of 1", {"feldman": {**FELDMAN, "architectures": {"mlp": {**MLP, "momentum": 1}}}},
     "feldman.architectures.mlp.momentum", "maximum of 1"),
    ("a dropout of 1", {"diffusion": {"experiments": {"e": {**SWEEP, "dropout": 1}}}},
     "diffusion.experiments.e.dropout", "maximum of 1"),
    ("an Adam beta of 1", {"mrgan": {"datasets": ["digits"], "beta2": 1}}, "mrgan.beta2", "maximum of 1"),
    ("a tau rejecting every sample", {"mrgan": {"datasets": ["digits"], "taus": [0, 1]}}, "mrgan.taus.1",
     "maximum of 1"),
    ("MR-GAN samples too few for any C_T cell", {"mrgan": {"datasets": ["gm"], "n_samples": 20}},
     "mrgan.n_samples", "more than 20 of the generated points, so 20 leave none"),
    ("MR-GAN samples too few for a class's C_T", {"mrgan": {"datasets": ["digits"], "n_samples": 150}},
     "mrgan.n_samples", "give class 8 of 'digits' at most 15"),
    # counts above what a data set holds, known from the config and the published sizes
    ("K-fold folds above the training size", {"splits": {"datasets": ["digits"], "kfold": {"folds": 1439}}},
     "splits.kfold.folds", "1439 folds of the 1438 training examples of 'digits'"),
    ("K-fold folds above a K-fold data set's training size",
     {"splits": {"kfold": {"folds": 65}}, "kfold_vae": {"datasets": ["mo_test"],
                                                        "models": {"mo_test": {"kind": "bernoulli_mlp"}}}},
     "splits.kfold.folds", "65 folds of the 64 training examples of 'mo_test'"),
    ("neighbour k above the reference count",
     {"neighbors": {"nn": {"datasets": ["mo_test"], "query_split": "test", "ref_split": "train", "k": 65}}},
     "neighbors.nn.k", "65 nearest neighbours, but the train split of 'mo_test' holds 64"),
    ("neighbour k above MNIST's test split", {"datasets": {**base()["datasets"], "m": {"kind": "mnist"}},
                                              "neighbors": {"nn": {"datasets": ["m"], "query_split": "train",
                                                                   "ref_split": "test", "k": 10001}}},
     "neighbors.nn.k", "the test split of 'm' holds 10000"),
    ("neighbour k above CelebA's valid split", {"datasets": {**base()["datasets"], "c": {"kind": "celeba"}},
                                                "neighbors": {"nn": {"datasets": ["c"], "query_split": "test",
                                                                     "ref_split": "valid", "k": 19868}}},
     "neighbors.nn.k", "the valid split of 'c' holds 19867"),
    ("a diffusion subset above the training split", {"diffusion": {"experiments": {"e": {**SWEEP, "sizes": [8, 65]}}}},
     "diffusion.experiments.e.sizes", "subset size 65 exceeds the 64 training images of 'mo'"),
    ("a diffusion subset above the images besides keep_label",
     {"diffusion": {"experiments": {"d": {"dataset": "mo_gm", "sizes": [33], "keep_label": 0}}}},
     "diffusion.experiments.d.sizes", "exceeds the 32 training images of 'mo_gm' besides those of label 0"),
    ("a diffusion subset above CIFAR-10's training split",
     {"datasets": {**base()["datasets"], "c": {"kind": "cifar10"}},
      "diffusion": {"experiments": {"e": {"dataset": "c", "sizes": [50001]}}}},
     "diffusion.experiments.e.sizes", "exceeds the 50000 training images of 'c'"),
    ("planted canaries above the base's training split", planted("gm", flipped=40, outlier=30, test_copy=0),
     "datasets.p.outlier", "asks for 30 training examples, 24 of the 64 training examples of base 'gm' are left"),
    ("flipped labels on a base of one class", planted("mo", flipped=2, test_copy=0),
     "datasets.p.flipped", "has 1 class"),
    ("more test copies than flipped examples", planted("gm", flipped=2, test_copy=3),
     "datasets.p.test_copy", "3 test copies need as many flipped examples, flipped is 2"),
    ("a mixture part drawing what earlier parts took",
     mixture({"dataset": "gm", "n_train": 40}, {"dataset": "gm", "n_train": 30}),
     "datasets.x.parts.1.n_train", "asks for 30 examples, 'gm' has 24 left by earlier parts in split 'train'"),
    ("a mixture part drawing more of a class than there is",
     mixture({"dataset": "digits", "n_train": 147, "n_test": 1, "classes": [3]}),
     "datasets.x.parts.0.n_train", "'digits' has 146 of classes [3] in split 'train'"),
    ("a mixture part drawing test images of MNIST",
     mixture({"dataset": "m", "n_train": 8, "n_test": 1136, "classes": [1]}, m={"kind": "mnist"}),
     "datasets.x.parts.0.n_test", "'m' has 1135 of classes [1] in split 'test'"),
    ("a mixture of images of two shapes", mixture({"dataset": "digits", "n_train": 8}, {"dataset": "gm", "n_train": 8}),
     "datasets.x.parts", "image shapes differ across parts: 'digits' (8, 8, 1), 'gm' (8, 8, 3)"),
    ("a mixture of no training examples", mixture({"dataset": "gm", "n_train": 0, "n_test": 4}),
     "datasets.x.parts", "leaves no training examples"),
    ("digits all drawn as test", {"datasets": {**base()["datasets"], "d": {"kind": "digits", "test_fraction": 0.999}}},
     "datasets.d.test_fraction", "leaves no training examples"),
    ("a full data set enlarged", {"datasets": {**base()["datasets"], "f": {"kind": "fashion_mnist", "size": 30}}},
     "datasets.f.size", "30 is larger than the 28x28 images of fashion_mnist"),
    ("a shrunk data set's GAN images of a side the GAN cannot take",
     {"datasets": {**base()["datasets"], "f": {"kind": "fashion_mnist", "size": 10}}, "mrgan": {"datasets": ["f"]}},
     "mrgan.datasets", "the GAN takes images of side 8 to 32"),
    ("MR-GAN cells above the training points", {"mrgan": {"datasets": ["mo_test"], "kmeans_cells": 65}},
     "mrgan.kmeans_cells", "65 k-means cells, but 'mo_test' has 64 training points"),
    ("MR-GAN class-wise cells above a class's training points",
     {"mrgan": {"datasets": ["digits"], "classwise_cells": 140}},
     "mrgan.classwise_cells", "class 8 of 'digits' has 139 training points"),
    # errors a job would raise after queueing, known from the config alone
    ("a device in capitals", {"device": "CPU"}, "device", "'CPU' is not a device the jobs run on"),
    ("a device torch does not know", {"device": "gpu"}, "device", "use auto (CUDA when present), cpu, cuda"),
    ("a GPU index that is no number", {"device": "cuda:abc"}, "device", "'cuda:abc' is not a device"),
    ("a device this pipeline's jobs cannot use", {"device": "mps"}, "device", "'mps' is not a device"),
    ("a factory that cannot be imported",
     {"feldman": {**FELDMAN, "architectures": {"m": {"kind": "module", "factory": "no_such_package_xyz.nets:make"}}}},
     "feldman.architectures.m.factory", "cannot import 'no_such_package_xyz.nets' (no such module"),
    ("a factory its module lacks",
     {"feldman": {**FELDMAN, "architectures": {"m": {"kind": "module", "factory": "pipeline.feldman.zoo:resnet99"}}}},
     "feldman.architectures.m.factory", "'pipeline.feldman.zoo' has no callable 'resnet99'"),
]


@pytest.mark.parametrize("changes,key,words", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_config_that_would_do_the_wrong_thing_stops_naming_its_key(changes, key, words):
    message = error(with_(changes))
    assert message.startswith(f"config key '{key}'"), message
    assert words in message, message


def test_a_sample_set_on_a_data_set_without_a_test_split_names_its_dataset_key(tmp_path):
    np.save(tmp_path / "gan.npy", np.zeros((4, 8, 8), np.uint8))
    config = with_({"samples": {"gan": {"path": str(tmp_path / "gan.npy"), "dataset": "mo"}}})
    assert error(config).startswith("config key 'samples.gan.dataset': data set 'mo' has no test split")
    config["samples"]["gan"]["dataset"] = "mo_test"
    validate_config(copy.deepcopy(config))
    config["samples"]["gan"]["fid_images"] = 10
    assert error(config).startswith("config key 'samples.gan.fid_images': FID on 10 test images, but 'mo_test' has 8")


# Near misses: one change away from a case above, each valid.
ACCEPTED = [
    {"feldman": {**FELDMAN, "architectures": {"mlp": MLP, "cnn": {"kind": "cnn"}}, "compare": [["mlp", "cnn"]]}},
    {"feldman": {"architectures": {"mlp": MLP}}},  # architectures kept while the method is off
    {"feldman": {**FELDMAN, "datasets": ["gm", "planted"]}},  # a test split and several classes each
    {"mrgan": {"datasets": ["digits"], "taus": [0, 0.123456, 0.123457]}, "claims": {"mrgan": {"dataset": "digits"}}},
    {"feldman": {**FELDMAN, "architectures": {"mlp": MLP, "again": {**MLP, "init_seed": 1, "eval_batch_size": 7},
                                              "wide": {**MLP, "hidden": [64]}}},
     "claims": {"feldman": {"dataset": "planted", "arch": "mlp", "replicate": "again", "other_arch": "wide"}}},
    {"feldman": {**FELDMAN, "datasets": ["digits"], "architectures": {"mlp": MLP, "cnn": {"kind": "cnn"}}},
     "claims": {"feldman": {"dataset": "digits", "arch": "mlp", "other_arch": "cnn"}}},
    {"diffusion": {"experiments": {"d": {"dataset": "mo_gm", "sizes": [0, 16], "keep_label": 0},
                                   "m": {"dataset": "mo_gm", "sizes": [8]}, "e": SWEEP}},
     "claims": {"diffusion": {"dummies": "d", "minority": "m", "capacity": "e"}}},
    {"neighbors": {"nn": {"datasets": ["mo_test", "digits"], "query_split": "test", "ref_split": "train"},
                   "nn5": {"datasets": ["digits"], "k": 5}}},  # another k: another table
    {"feldman": {**FELDMAN, "architectures": {"c": {"kind": "cnn", "channels": [4] * 3}}}},  # 8 -> 4 -> 2 -> 1
    {"diffusion": {"experiments": {"e": {**SWEEP, "widths": [12, 24], "heads": 3, "channel_mult": [1, 2, 2, 2]}}}},
    {"datasets": {**base()["datasets"], "faces": {"kind": "celeba", "size": 32},
                  "own": {"kind": "image_folder", "path": ".", "resize": 300}},  # own: size unknown until read
     "mrgan": {"datasets": ["faces", "own"]}},
    {"mrgan": {"datasets": ["mo_test", "digits"], "fid_images": 8}},  # digits: its test size is the data's
    {"kfold_vae": {"datasets": ["planted"], "epochs": 5, "eval_epochs": [5],
                   "models": {"planted": {"kind": "bernoulli_mlp"}}}},
    # at the edges of what the data sets hold
    {"splits": {"datasets": ["mo", "digits"], "feldman": {"runs": 2, "ratio": 0.99}, "kfold": {"folds": 64}},
     "feldman": {**FELDMAN, "mem_threshold": 1, "infl_threshold": 1, "thetas": [1]}},
    {"neighbors": {"nn": {"datasets": ["mo_test"], "query_split": "test", "ref_split": "train", "k": 64}},
     "diffusion": {"experiments": {"e": {**SWEEP, "sizes": [64]},
                                   "d": {"dataset": "mo_gm", "sizes": [32], "keep_label": 0}}}},
    {"datasets": {**base()["datasets"],
                  "p": {"kind": "planted", "base": "gm", "flipped": 40, "outlier": 24, "duplicate": 0, "test_copy": 40},
                  "x": {"kind": "mixture", "parts": [{"dataset": "gm", "n_train": 40},
                                                     {"dataset": "gm", "n_train": 24}]},
                  "y": {"kind": "mixture", "parts": [{"dataset": "digits", "n_train": 146, "classes": [3]},
                                                     {"dataset": "digits", "n_train": 0, "n_test": 37,
                                                      "classes": [3]}]},
                  "m": {"kind": "mnist"}, "c": {"kind": "celeba"}, "own": {"kind": "arrays", "path": "x.npz"},
                  "own_planted": {"kind": "planted", "base": "own", "flipped": 10 ** 6, "test_copy": 0}},
     "neighbors": {"nn": {"datasets": ["m", "c"], "query_split": "train", "ref_split": "test", "k": 10000},
                   "big": {"datasets": ["own"], "k": 10 ** 6}}},  # own: its size is known to its jobs only
    {"mrgan": {"datasets": ["mo_test"], "kmeans_cells": 64, "classwise_cells": 64, "n_samples": 21}},
    {"mrgan": {"datasets": ["digits"], "classwise_cells": 139, "n_samples": 250}},
    {"datasets": {**base()["datasets"], "f": {"kind": "fashion_mnist", "size": 8},  # shrunk: the GAN's 8x8
                  "f100": {"kind": "mixture", "parts": [{"dataset": "f", "n_train": 100, "n_test": 2000}]}},
     "mrgan": {"datasets": ["f100"]}},
    {"device": "cuda:3"}, {"device": "cuda"}, {"device": "cpu"},  # how many GPUs there are: the job's machine says
    {"feldman": {**FELDMAN, "architectures": {  # math: built in, no source to read, so left to the job
        "m": {"kind": "module", "factory": "pipeline.feldman.zoo:resnet18_cifar"},
        "b": {"kind": "module", "factory": "math:floor"}}}},
]


@pytest.mark.parametrize("changes", ACCEPTED)
def test_near_misses_are_valid(changes):
    validate_config(with_(changes))


CONFIGS = sorted(str(path.relative_to(REPO)) for pattern in ("config.yaml", ".test/*.yaml", "workflow/configs/*.yaml")
                 for path in REPO.glob(pattern))


@pytest.mark.parametrize("name", CONFIGS)
def test_the_repositorys_configs_are_valid_and_validate_again_unchanged(name, monkeypatch):
    monkeypatch.chdir(REPO)  # their relative paths (an image folder, sample files) are the repository's
    config = validate_config(yaml.safe_load((REPO / name).read_text()) or {})
    assert validate_config(copy.deepcopy(config)) == config


def test_a_planted_data_set_has_the_test_copies_its_base_lacks():
    config = with_({"datasets": {**base()["datasets"], "mix": {"kind": "mixture", "parts": [
        {"dataset": "mo", "n_train": 30, "label": 0}, {"dataset": "gm", "n_train": 30, "label": 1}]},
        "mix_planted": {"kind": "planted", "base": "mix", "flipped": 5, "outlier": 0, "duplicate": 0,
                        "test_copy": 5}}, "feldman": {**FELDMAN, "datasets": ["mix_planted"]}})
    validate_config(copy.deepcopy(config))
    config["datasets"]["mix_planted"]["test_copy"] = 0
    assert error(config).startswith("config key 'feldman.datasets': data set 'mix_planted' has no test split")


# --- errors a job raises name the key, not a * ---


def test_a_diffusion_subset_error_names_the_experiment():
    from pipeline.diffusion.subset import build_subset

    data = Dataset.from_arrays(np.zeros((12, 8, 8, 1), np.uint8), np.arange(12) % 2, ["train"] * 10 + ["test"] * 2,
                               "mo")
    with pytest.raises(PipelineError, match=r"^config key 'diffusion\.experiments\.sweep\.sizes': subset size 11 "):
        build_subset(data, 11, seed=0, experiment="sweep")
    with pytest.raises(PipelineError, match=r"^config key 'diffusion\.experiments\.sweep\.keep_label': no training"):
        build_subset(data, 2, seed=0, keep_label=7, experiment="sweep")


def test_the_subset_rule_hands_its_experiment_to_the_job(tmp_path):
    config = with_({"diffusion": {"run": ["sweep"], "experiments": {"sweep": SWEEP}}})
    output = dry_run(tmp_path, config, "-p", "results/diffusion/sweep/n4/subset.parquet")
    assert output.returncode == 0, output.stdout + output.stderr
    assert "pipeline.diffusion.subset" in output.stdout and "--experiment sweep " in output.stdout


def test_a_sample_set_scored_without_test_images_names_its_dataset_key(tmp_path, monkeypatch):
    """For data sets whose split only the prepared files tell (an image folder, arrays)."""
    from pipeline.samples import score

    Dataset.from_arrays(np.zeros((6, 8, 8, 1), np.uint8), np.arange(6) % 2, ["train"] * 6, "own").save(tmp_path / "own")
    unused = str(tmp_path / "unused")  # the job stops before reading or writing these
    argv = ["--dataset-dir", str(tmp_path / "own"), "--dataset", "own", "--sample-set", "gan", "--spec", "{}",
            "--embedding-kind", "classifier"]
    for option in ("train-features", "test-features", "sample-features", "sample-images", "sample-table",
                   "out-neighbors", "out-replicates", "out-scores", "out-nn-counts"):
        argv += [f"--{option}", unused]
    monkeypatch.setattr(sys, "argv", ["score", *argv])
    with pytest.raises(PipelineError, match=r"^config key 'samples\.gan\.dataset': data set 'own' has no test split"):
        score.main()


# --- image folders holding links ---


def write_png(path: Path, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 4), value, np.uint8)).save(path)
    return path


@pytest.fixture
def two_classes(tmp_path) -> Path:
    for cls in ("a", "b"):
        for i in range(5):
            write_png(tmp_path / "own" / cls / f"{i}.png", 10 * i)
    return tmp_path / "own"


def test_an_editors_dangling_lock_file_neither_breaks_the_listing_nor_the_data_set(two_classes):
    before = files.folder_listing(two_classes)
    os.symlink("user@host.1234:1700000000", two_classes / "a" / ".#notes")  # what Emacs leaves while editing
    assert files.folder_listing(two_classes) == before  # not an image the data set reads
    images, labels, _ = files.image_folder("own", {"kind": "image_folder", "path": str(two_classes),
                                                   "test_fraction": 0.2, "seed": 0})
    assert len(images) == 10 and sorted(set(labels.tolist())) == [0, 1]


def test_a_dangling_link_named_like_an_image_is_a_one_line_error_naming_it(two_classes):
    os.symlink(two_classes / "gone.png", two_classes / "b" / "9.png")
    files.folder_listing(two_classes)  # planning goes on; the prepare job says what is wrong
    with pytest.raises(PipelineError, match=r"b/9\.png: a link to .*gone\.png, which does not exist$"):
        files.image_folder("own", {"kind": "image_folder", "path": str(two_classes), "test_fraction": 0.2, "seed": 0})


def test_a_class_folder_link_to_nothing_is_a_one_line_error_not_a_dropped_class(tmp_path, two_classes):
    """Skipping it would leave classes a and b, silently renumbering any class after it."""
    os.symlink(tmp_path / "moved" / "c", two_classes / "c")
    listing = files.folder_listing(two_classes)  # planning goes on; the prepare job says what is wrong
    assert listing != files.folder_listing(tmp_path / "absent")
    with pytest.raises(PipelineError, match=r"own/c: a link to .*moved/c, which does not exist \(a class folder "
                                            r"that moved\?\)$"):
        files.image_folder("own", {"kind": "image_folder", "path": str(two_classes), "test_fraction": 0.2, "seed": 0})
    # an editor's lock file beside the class folders is hidden, and a stray file is no class: both ignored
    os.remove(two_classes / "c")
    os.symlink("user@host.1234:1700000000", two_classes / ".#README")
    (two_classes / "README.txt").write_text("notes")
    assert files.class_names(two_classes) == ["a", "b"]


def test_an_image_added_to_a_linked_class_folder_changes_the_listing(tmp_path, two_classes):
    elsewhere = tmp_path / "elsewhere" / "c"
    write_png(elsewhere / "0.png")
    write_png(elsewhere / "1.png")
    os.symlink(elsewhere, two_classes / "c")
    assert files.class_names(two_classes) == ["a", "b", "c"]  # read as a class
    before = files.folder_listing(two_classes)
    write_png(elsewhere / "2.png", 99)
    assert files.folder_listing(two_classes) != before


def test_a_folder_the_prepare_job_rejects_still_plans(tmp_path):
    write_png(tmp_path / "own" / "train" / "a" / "0.png")  # train/ without test/: the job's one-line error
    assert files.folder_listing(tmp_path / "own") != files.folder_listing(tmp_path / "absent") == "missing"


# --- at start-up, through Snakemake ---


def dry_run(tmp_path: Path, config: dict, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    command = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--cores", "1", "-n",
               "--configfile", str(tmp_path / "config.yaml"), *args]
    return subprocess.run(command, capture_output=True, text=True, env=workflow_env(), cwd=tmp_path)


def test_the_workflow_stops_before_planning_with_the_line(tmp_path):
    result = dry_run(tmp_path, {"datasets": {"digits": {"kind": "digits"}}, "feldman": {"datasets": ["digits"]}})
    assert result.returncode != 0
    assert "error: config key 'feldman.architectures': none declared" in result.stderr
    assert "Traceback" not in result.stderr and "Building DAG" not in result.stdout + result.stderr


@pytest.mark.parametrize("changes,line", [
    ({"device": "CPU"}, "error: config key 'device': 'CPU' is not a device the jobs run on"),
    ({"feldman": {"datasets": ["digits"], "architectures": {"mlp": MLP}}, "splits": {"feldman": {"ratio": 0.0003}}},
     "error: config key 'splits.feldman.ratio': 0.0003 of the 1438 training examples of 'digits' rounds to 0"),
], ids=["device", "ratio"])
def test_a_dry_run_stops_at_start_up_with_one_line(tmp_path, changes, line):
    result = dry_run(tmp_path, {"datasets": {"digits": {"kind": "digits"}}, **changes})
    lines = [text for text in result.stderr.splitlines() if text.strip()]
    assert result.returncode != 0 and len(lines) == 1 and lines[0].startswith(line), result.stderr
    assert "Building DAG" not in result.stdout


@pytest.mark.skipif(torch.cuda.device_count() >= 8, reason="this machine has a GPU cuda:7")
def test_a_local_run_stops_before_its_first_job_on_a_gpu_this_machine_lacks(tmp_path):
    config = {"datasets": {"digits": {"kind": "digits"}}, "device": "cuda:7"}
    assert dry_run(tmp_path, config).returncode == 0  # the executor is not chosen yet: a cluster's nodes may have it
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run([*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--cores", "1",
                             "--configfile", str(tmp_path / "config.yaml")],
                            capture_output=True, text=True, env=workflow_env(), cwd=tmp_path)
    lines = [text for text in result.stderr.splitlines() if text.startswith("error:")]
    assert result.returncode != 0 and len(lines) == 1 and lines[0].startswith("error: config key 'device': 'cuda:7'")
    assert not (tmp_path / "results").exists()  # no job ran


def test_an_image_folder_with_a_dangling_lock_file_plans(tmp_path, two_classes):
    os.symlink("user@host.1234:1700000000", two_classes / "a" / ".#notes")
    result = dry_run(tmp_path, {"datasets": {"own": {"kind": "image_folder", "path": str(two_classes)}}})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "prepare_dataset" in result.stdout


# --- the start-up size checks say what the models say when built ---


@pytest.mark.parametrize("side", [8, 12])
def test_the_diffusion_size_check_agrees_with_the_unet(side):
    from pipeline.diffusion.train import build_model

    images, outcomes = np.zeros((2, side, side, 1), np.uint8), set()
    for mult in ([1, 2], [1, 2, 2, 2]):
        for width, heads, attention in ((8, 3, [4]), (12, 3, [4]), (12, 8, [side])):
            spec = {"width": width, "heads": heads, "channel_mult": mult, "attention_resolutions": attention}
            experiment = {k: v for k, v in spec.items() if k != "width"}
            config = with_({"datasets": {**base()["datasets"], "sq": {"kind": "mondrian", "size": side, "n_train": 8}},
                            "diffusion": {"experiments": {"e": {"dataset": "sq", "sizes": [4], "widths": [width],
                                                                **experiment}}}})
            try:
                build_model(spec, images, 0)
                built = None
            except PipelineError as err:
                built = str(err).split(":")[0].split(".")[-1]  # channel_mult or heads
            try:
                validate_config(config)
                checked = None
            except PipelineError as err:
                checked = str(err).split("'")[1].split(".")[-1]
            assert checked == built, (side, spec)
            outcomes.add(checked)
    assert outcomes == ({None, "heads"} if side == 8 else {None, "heads", "channel_mult"})


@pytest.mark.parametrize("side", [4, 9])
def test_the_cnn_size_check_agrees_with_the_cnn(side):
    from pipeline.feldman.models import StackedCNN

    for depth in range(1, 6):
        try:
            StackedCNN([0], 0, (side, side, 1), 2, [2] * depth, 0)
            built = True
        except PipelineError:
            built = False
        config = with_({"datasets": {**base()["datasets"],
                                     "sq": {"kind": "gaussian_mixture", "size": side, "n_train": 8, "n_test": 2}},
                        "feldman": {"datasets": ["sq"], "architectures": {"c": {"kind": "cnn", "channels": [2] * depth}}}})
        try:
            validate_config(config)
            checked = True
        except PipelineError:
            checked = False
        assert checked == built, (side, depth)


def test_a_cnn_too_deep_for_images_known_only_to_its_job_names_its_own_key():
    """Images a researcher brings (a folder, arrays) have a size only their job knows: the job's error
    names the architecture's key, not a pattern."""
    from pipeline.feldman import models

    with pytest.raises(PipelineError, match=r"^config key feldman\.architectures\.deep\.channels: 4 poolings "
                                            r"shrink a 8x8 image to nothing"):
        models.build({"kind": "cnn", "channels": [2] * 4}, [0], 0, (8, 8, 1), 2, "deep")


def test_a_replicate_of_runs_brought_from_a_file_is_another_file(tmp_path):
    """Runs trained elsewhere are told apart by their files only: two files replicate, one file twice
    agrees with itself."""
    for name in ("runs.npz", "again.npz"):
        (tmp_path / name).write_bytes(b"")
    archs = {"mine": {"kind": "runs", "file": str(tmp_path / "runs.npz")},
             "again": {"kind": "runs", "file": str(tmp_path / "again.npz")}}
    claims = {"feldman": {"dataset": "planted", "arch": "mine", "replicate": "again"}}
    validate_config(with_({"feldman": {"datasets": ["planted"], "architectures": archs}, "claims": claims}))
    archs["again"]["file"] = archs["mine"]["file"]
    message = error(with_({"feldman": {"datasets": ["planted"], "architectures": archs}, "claims": claims}))
    assert "'claims.feldman.replicate': 'again' reads the same file as 'mine'" in message


def test_runs_brought_from_a_file_belong_to_one_data_set(tmp_path):
    """A runs file fits any data set of its split sizes, so with two data sets it would be read as the
    runs of both: the start-up check stops that, naming the architecture."""
    (tmp_path / "runs.npz").write_bytes(b"")
    archs = {"theirs": {"kind": "runs", "file": str(tmp_path / "runs.npz")}}
    validate_config(with_({"feldman": {"datasets": ["planted"], "architectures": archs}}))
    message = error(with_({"feldman": {"datasets": ["planted", "digits"], "architectures": archs}}))
    assert message.startswith("config key 'feldman.architectures.theirs': kind runs holds the runs of one data "
                              "set, but feldman.datasets lists 2 (planted, digits)")


# --- what the start-up checks know without running anything ---


@pytest.mark.parametrize("kind", ["digits", "mnist5k"])
def test_the_published_sizes_are_those_the_builders_give(kind):
    from pipeline.config import class_sizes
    from pipeline.data import embedded

    labels = getattr(embedded, kind)()[1]
    for fraction in (0.2, 0.37):
        is_test = embedded.stratified_test_mask(labels, fraction, seed=0)  # the split registry.build draws
        sizes = class_sizes({"datasets": {"x": {"kind": kind, "test_fraction": fraction}}}, "x")
        for split, rows in (("train", ~is_test), ("test", is_test)):
            assert sizes[split] == dict(enumerate(np.bincount(labels[rows]).tolist())), (split, fraction)


@pytest.mark.parametrize("kind,variable,folder", [("mnist", "PIPELINE_MNIST_RAW", ".devdata/MNIST/raw"),
                                                  ("fashion_mnist", "PIPELINE_FASHION_MNIST_RAW",
                                                   "/usr/share/datasets/fashion-mnist")])
def test_the_published_sizes_are_those_of_the_real_files(kind, variable, folder):
    """Where the IDX files are on this machine (see tests/test_byo_data.py)."""
    from pipeline.config import SPLIT_CLASS_SIZES
    from pipeline.data.full import IDX_FILES, _idx_file, read_idx

    raw = Path(os.environ.get(variable) or REPO / folder)
    if not raw.is_dir():
        pytest.skip(f"no {kind} IDX files here (set {variable})")
    for split, (_, labels) in IDX_FILES.items():
        counts = np.bincount(read_idx(_idx_file(raw, labels)))
        assert tuple(counts.tolist()) == SPLIT_CLASS_SIZES[kind][split]


def test_the_c_t_count_is_the_one_c_t_keeps_cells_by():
    from pipeline.config import CT_MIN_GENERATED
    from pipeline.mrgan.ct_test import MIN_KEPT

    assert CT_MIN_GENERATED == MIN_KEPT + 1


def test_a_sample_set_asks_no_more_cells_or_neighbours_than_training_points(tmp_path):
    np.save(tmp_path / "gan.npy", np.zeros((4, 8, 8, 3), np.uint8))
    config = with_({"samples": {"gan": {"path": str(tmp_path / "gan.npy"), "dataset": "mo_test", "kmeans_cells": 64,
                                        "k": 64}}})
    validate_config(copy.deepcopy(config))
    config["samples"]["gan"]["kmeans_cells"] = 65
    assert error(copy.deepcopy(config)).startswith("config key 'samples.gan.kmeans_cells': 65 k-means cells, but "
                                                   "'mo_test' has 64 training points")
    config["samples"]["gan"].update(kmeans_cells=10, k=65)
    assert error(config).startswith("config key 'samples.gan.k': 65 nearest training images per sample, but "
                                    "'mo_test' has 64")


def test_a_factory_is_looked_up_in_its_source_without_running_it(tmp_path, monkeypatch):
    """Where the jobs import it from (the working directory first); a module whose names are made at
    run time is left to the job."""
    import importlib

    monkeypatch.chdir(tmp_path)
    modules = {"nets": "raise SystemExit('run at start-up')\n\n\ndef make(in_shape, n_classes):\n    pass\n",
               "guarded": ("try:\n    from torch import nn\nexcept ImportError:\n    nn = None\n"
                           "if nn:\n    make = nn.Linear\n"),
               "lazy": "def __getattr__(name):\n    pass\n", "star": "from os.path import *\n",
               "broken": "def make(:\n"}
    for name, source in modules.items():
        (tmp_path / f"{name}.py").write_text(source)
    importlib.invalidate_caches()

    def config(factory: str) -> dict:
        return with_({"feldman": {**FELDMAN, "architectures": {"m": {"kind": "module", "factory": factory}}}})

    for factory in ("nets:make", "guarded:make", "lazy:anything", "star:join"):
        validate_config(config(factory))
    assert error(config("nets:build")) == "config key 'feldman.architectures.m.factory': 'nets' has no callable 'build'"
    assert "cannot import 'broken' (SyntaxError: " in error(config("broken:make"))
    assert "cannot import 'netz' (no such module in the working directory" in error(config("netz:make"))
