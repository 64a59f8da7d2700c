"""No config silently does the wrong thing: a config that would run nothing for a section it names, run
one job twice (or write one path twice), or make a claim true by construction stops at start-up with
one line naming the config key (pipeline/config.py, called from workflow/rules/common.smk). Errors a
job raises name the key too (the diffusion experiment, the sample set), and an image folder holding
links neither breaks planning nor leaves stale results (pipeline/data/files.py).

Each case is a small config that validate_config must reject, next to a near miss it must accept.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
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
