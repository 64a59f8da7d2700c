"""Data sets researchers bring as files: a folder of images in class subfolders (``image_folder``)
or arrays in ``.npz`` / ``.npy`` files (``arrays``).

Paths in the config are relative to the working directory (where snakemake runs, its
``--directory``), or absolute. A path that does not exist stops the prepare job with one line
naming the config key and the path; a bad file with one line naming the file. User files are only
ever read: nothing here moves a bad one aside, as the workflow does with its own corrupt outputs.

``image_folder`` (``path``: the folder)::

    PATH/CLASS/**/*.png|jpg|jpeg                        split: seeded stratified ``test_fraction``
    PATH/train/CLASS/**/*, PATH/test/CLASS/**/*        split: these subfolders (both; one alone is an error)

Labels: the class folder names, sorted (over train and test together), are labels 0..C-1;
``class_names`` returns them and the prepare job's log (results/logs/data/{dataset}.log) lists
them. Image files are those ending in .png, .jpg or .jpeg (any case), searched recursively in each
class folder; hidden files and folders, other files and files beside the class folders are skipped. Colour:
grey images (Pillow modes 1, L, LA, I, I;16) are read as one channel, every other mode as RGB
(alpha dropped, palettes expanded). Depth: a pixel's range is the one its file's bit depth says.
16-bit grey PNGs (Pillow modes I;16 and, in older Pillow, I) are scaled to 8 bits, v x 255 / 65535
rounded (0 -> 0, 32768 -> 128, 65535 -> 255), never clipped; 16-bit RGB and grey-with-alpha PNGs
Pillow itself reads as 8 bits. An integer image beyond 0..65535 or a floating-point one (mode F,
whose range no file format fixes) is an error naming the file. When all images are grey the data set has one channel,
otherwise three, grey images repeated into R, G and B. Size: ``resize`` scales the shorter side to
that many pixels (bilinear, the size rule of torchvision's ``Resize(int)``), then ``center_crop``
takes the centred square of that side (as torchvision's ``CenterCrop``); every image must end up
one size, else the error names two files and their sizes. Order: train before test, then class,
then path.

``arrays``: ``path`` an ``.npz`` file with arrays ``images`` (n, H, W[, C] uint8, C 1 or 3) and
``labels`` (n class numbers 0..C-1, C at most n), optionally ``split`` (n strings, each 'train' or 'test'); or
``path`` a folder holding ``images.npy``, ``labels.npy`` and optionally ``split.npy``; or ``path`` a
list of two ``.npy`` files, [images, labels]. Without a split, a seeded stratified ``test_fraction``
(``pipeline.data.embedded.stratified_test_mask``) makes one, as for image folders.

Symbolic links: a class folder (or train/, test/) that is a link is read like a folder; an image
file that is a link is read through it; a link to a missing file named like an image is an error
naming it (a hidden one, such as an editor's lock file ``.#notes``, is skipped like every hidden
file); folders that are links inside a class folder are not entered.

Rerunning on edits: the prepare rule declares an ``arrays`` data set's files as inputs, so a newer
file reruns it; for an image folder it takes ``folder_listing`` (a digest of the path, size and
modification time of every image the data set reads, through links) as a param, so adding,
removing or rewriting an image reruns it without declaring thousands of images as inputs.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np

from pipeline.data.embedded import stratified_test_mask
from pipeline.errors import PipelineError
from pipeline.progress import get_logger

log = get_logger("data.files")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GREY_MODES = ("1", "L", "LA", "I", "I;16")
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # how Pillow opens 16-bit grey PNGs
SPLITS = ("train", "test")
ARRAY_NAMES = ("images", "labels", "split")  # keys of the .npz, stems of the .npy files

Built = tuple[np.ndarray, np.ndarray, np.ndarray]


def existing_path(name: str, path: str | Path) -> Path:
    """``path``, the value of config key ``datasets.<name>.path`` (or one of its entries), which must exist."""
    path = Path(path)
    if not path.exists():
        raise PipelineError(f"config key 'datasets.{name}.path': {path} not found "
                            f"(relative paths are taken from the working directory {Path.cwd()})")
    return path


def _seeded_split(labels: np.ndarray, spec: dict) -> np.ndarray:
    return np.where(stratified_test_mask(labels, spec["test_fraction"], spec["seed"]), "test", "train")


# --- image folders ---


def _is_image(path: Path, class_folder: Path) -> bool:
    """An image file the data set reads: a visible .png/.jpg/.jpeg that is a file, or a link to one
    or to nothing (a dangling link, which ``_image_files`` then names in an error)."""
    hidden = any(part.startswith(".") for part in path.relative_to(class_folder).parts)
    dangling = path.is_symlink() and not path.exists()
    return path.suffix.lower() in IMAGE_SUFFIXES and not hidden and (path.is_file() or dangling)


def _class_folders(folder: Path) -> list[Path]:
    """The visible folders (or links to folders) under ``folder``. A link there to nothing is taken for
    a class folder that moved, and stops with its name: skipping it would drop a class and renumber
    the labels of the others."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    gone = next((p for p in entries if p.is_symlink() and not p.exists() and p.suffix.lower() not in IMAGE_SUFFIXES),
                None)
    if gone is not None:
        raise PipelineError(f"{gone}: a link to {os.readlink(gone)}, which does not exist (a class folder that "
                            f"moved?)")
    return sorted(p for p in entries if p.is_dir())


def split_folders(folder: Path) -> dict[str, Path]:
    """Split name -> folder of class folders: train/ and test/ when both exist, else the folder as train.

    One of the two alone is an error: taken as the folder's only class, it would merge its classes.
    """
    present = [split for split in SPLITS if (folder / split).is_dir()]
    if len(present) == len(SPLITS):
        return {split: folder / split for split in SPLITS}
    if present:
        missing = next(split for split in SPLITS if split not in present)
        raise PipelineError(f"{folder}: has {present[0]}/ but no {missing}/; give both, or the class folders "
                            f"directly under {folder} for a seeded test split")
    return {"train": folder}


def class_names(folder: str | Path) -> list[str]:
    """The class folder names of an image folder, sorted: label c is ``class_names(folder)[c]``."""
    return sorted({p.name for root in split_folders(Path(folder)).values() for p in _class_folders(root)})


def _class_images(class_folder: Path) -> list[Path]:
    """The image files under a class folder (itself possibly a link), recursively, in path order;
    folders that are links inside it are not entered (nor loops followed)."""
    found = []
    for root, dirs, names in os.walk(class_folder):  # followlinks=False: the top folder alone may be a link
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        found += [path for name in names if _is_image(path := Path(root, name), class_folder)]
    return sorted(found)


def _image_files(folder: Path) -> list[tuple[str, str, Path]]:
    """(split, class name, file) of every image, in data set order."""
    found = []
    for split, root in split_folders(folder).items():
        for class_folder in _class_folders(root):
            files = _class_images(class_folder)
            dangling = next((file for file in files if not file.exists()), None)
            if dangling is not None:
                raise PipelineError(f"{dangling}: a link to {os.readlink(dangling)}, which does not exist")
            if not files:
                raise PipelineError(f"{class_folder}: class folder without .png/.jpg/.jpeg images")
            found += [(split, class_folder.name, file) for file in files]
    if not found:
        raise PipelineError(f"{folder}: no class subfolders of images (expected {folder}/CLASS/*.png, "
                            f"or {folder}/train/CLASS/*.png and {folder}/test/CLASS/*.png)")
    return found


def resized_size(width: int, height: int, shorter: int) -> tuple[int, int]:
    """(width, height) with the shorter side ``shorter`` and the aspect kept (torchvision's rule)."""
    if width <= height:
        return shorter, int(shorter * height / width)
    return int(shorter * width / height), shorter


def eight_bit(image, path: Path):
    """``image`` with 16-bit grey pixels scaled to 8 bits (v x 255 / 65535, rounded: Pillow's own
    conversion clips them at 255), other 8-bit modes as they are; one line naming ``path`` for pixels
    whose range the format does not fix."""
    from PIL import Image

    if image.mode == "F":
        raise PipelineError(f"{path}: floating-point pixels (Pillow mode F), whose range the file does not say; "
                            f"save the images as 8- or 16-bit PNG")
    if image.mode not in SIXTEEN_BIT_MODES:
        return image
    pixels = np.asarray(image).astype(np.int64)
    low, high = int(pixels.min()), int(pixels.max())
    if low < 0 or high > 65535:
        raise PipelineError(f"{path}: integer pixels in [{low}, {high}]; expected 16-bit 0..65535 or 8-bit images")
    return Image.fromarray(((pixels + 128) // 257).astype(np.uint8))  # mode L; 65535 / 255 = 257, odd: no ties


def read_image(path: Path, resize: int | None, center_crop: int | None, mode: str | None = None) -> np.ndarray:
    """One image as uint8 (H, W) when grey, (H, W, 3) otherwise, resized and cropped as asked;
    ``mode`` ('L' or 'RGB') converts every image to it instead."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = eight_bit(image, path)
            image = image.convert(mode or ("L" if image.mode in GREY_MODES else "RGB"))
            if resize is not None and resized_size(*image.size, resize) != image.size:
                image = image.resize(resized_size(*image.size, resize), Image.Resampling.BILINEAR)
            if center_crop is not None:
                width, height = image.size
                if center_crop > min(width, height):
                    raise PipelineError(f"{path}: {width}x{height} (after resize) is smaller than "
                                        f"center_crop {center_crop}")
                top, left = int(round((height - center_crop) / 2)), int(round((width - center_crop) / 2))
                image = image.crop((left, top, left + center_crop, top + center_crop))
            return np.asarray(image, dtype=np.uint8)
    except PipelineError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PipelineError(f"{path}: not a readable image ({reason[:300]})") from err


def _size(image: np.ndarray) -> str:
    return f"{image.shape[1]}x{image.shape[0]}"


def image_folder(name: str, spec: dict) -> Built:
    """Images, labels and split of an ``image_folder`` data set (see the module docstring)."""
    folder = existing_path(name, spec["path"])
    if not folder.is_dir():
        raise PipelineError(f"config key 'datasets.{name}.path': {folder} is not a folder")
    files = _image_files(folder)
    classes = class_names(folder)
    log.info("%s: %d images; labels 0..%d are the classes %s", name, len(files), len(classes) - 1,
             ", ".join(f"{c}={n}" for c, n in enumerate(classes)))
    resize, crop = spec.get("resize"), spec.get("center_crop")
    images = []
    for _, _, file in files:
        image = read_image(file, resize, crop)
        if images and image.shape[:2] != images[0].shape[:2]:
            transformed = " after resize/center_crop" if resize or crop else ""
            raise PipelineError(f"images differ in size{transformed}: {files[0][2]} is {_size(images[0])}, "
                                f"{file} is {_size(image)}; set resize and center_crop of "
                                f"datasets.{name} to make them one size")
        images.append(image)
    if all(image.ndim == 2 for image in images):
        stacked = np.stack(images)[..., None]
    else:
        stacked = np.stack([np.repeat(i[..., None], 3, axis=2) if i.ndim == 2 else i for i in images])
    log.info("%s: %d channel(s), %dx%d pixels", name, stacked.shape[3], stacked.shape[2], stacked.shape[1])
    labels = np.array([classes.index(class_name) for _, class_name, _ in files], dtype=np.int64)
    split = np.array([split for split, _, _ in files])
    if len(split_folders(folder)) == 1:
        split = _seeded_split(labels, spec)
    return stacked, labels, split


def folder_listing(path: str | Path) -> str:
    """A digest of every image the data set at ``path`` reads (relative path, size and modification
    time, through links): a param of the prepare rule that changes when an image is added, removed
    or rewritten, also in a class folder that is a link. 'missing' when absent; for a folder the
    prepare job will reject (train/ without test/, an unreadable folder) a digest of that error, so
    the job runs and says so in one line instead of the workflow failing while it plans."""
    folder = Path(path)
    if not folder.is_dir():
        return "missing"
    digest = hashlib.blake2b(digest_size=16)
    try:
        for _, _, file in _image_files(folder):
            stat = file.stat()
            relative = os.path.relpath(file, folder)
            digest.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    except (OSError, PipelineError) as err:
        digest.update(f"error\0{err}".encode())
    return digest.hexdigest()


# --- arrays ---


def array_files(spec: dict) -> dict[str, Path]:
    """Which file holds each array of an ``arrays`` data set (an .npz holds them all); only
    ``split`` may be absent. The paths need not exist (``arrays`` checks)."""
    if isinstance(spec["path"], list):
        return {"images": Path(spec["path"][0]), "labels": Path(spec["path"][1])}
    path = Path(spec["path"])
    if path.suffix == ".npy":
        raise PipelineError(f"{path}: one .npy holds one array; give path as [images.npy, labels.npy], a folder "
                            f"of images.npy and labels.npy, or an .npz with arrays images and labels")
    if path.is_dir():
        files = {key: path / f"{key}.npy" for key in ARRAY_NAMES}
        return {key: file for key, file in files.items() if key != "split" or file.exists()}
    return {key: path for key in ARRAY_NAMES}


def not_an_archive(path: Path) -> str | None:
    """Why the file ``path``, named .npz, is no .npz archive (numpy would say "pickled data", or hand
    back an .npy's array); None when it is one or does not exist."""
    if not path.is_file() or zipfile.is_zipfile(path):
        return None
    with open(path, "rb") as file:
        if file.read(6) == b"\x93NUMPY":
            return "a single array (np.save), not an archive of named arrays; np.savez writes one"
    return "not a zip archive; np.savez writes one"


def load_array(path: Path, key: str):
    """Array ``key`` of an .npz (None when absent), or the array of an .npy file; a researcher's file,
    so an unreadable one raises a plain PipelineError (never moved aside)."""
    if path.suffix == ".npz" and (reason := not_an_archive(path)):
        raise PipelineError(f"{path}: not a readable .npz file ({reason})")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                return archive[key] if key in archive.files else None
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PipelineError(f"{path}: not a readable {path.suffix or 'numpy'} file ({reason[:300]})") from err


def arrays(name: str, spec: dict) -> Built:
    """Images, labels and split of an ``arrays`` data set (see the module docstring)."""
    for path in spec["path"] if isinstance(spec["path"], list) else [spec["path"]]:
        existing_path(name, path)
    files = array_files(spec)
    loaded = {key: load_array(file, key) for key, file in files.items()}
    for key in ("images", "labels"):
        if loaded[key] is None:
            raise PipelineError(f"{files[key]}: no array '{key}' (an .npz needs arrays images and labels)")
    images, labels, split = loaded["images"], loaded["labels"], loaded.get("split")

    def where(key: str) -> str:
        return f"{files[key]}" + (f" ('{key}')" if files[key].suffix == ".npz" else "")

    if images.dtype != np.uint8 or images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] not in (1, 3)):
        raise PipelineError(f"{where('images')}: images must be uint8 (n, H, W) or (n, H, W, 1|3), "
                            f"got {images.dtype} {images.shape}")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise PipelineError(f"{where('labels')}: labels must be one integer per image, got {labels.dtype} {labels.shape}")
    if len(labels) and labels.min() < 0:
        raise PipelineError(f"{where('labels')}: labels must be 0 or more, found {labels.min()}")
    if len(labels) and labels.max() >= len(labels):  # classifiers get labels.max() + 1 outputs
        raise PipelineError(f"{where('labels')}: labels must be class numbers 0..C-1, found {labels.max()} "
                            f"among {len(labels)} images")
    if len(labels) != len(images):
        raise PipelineError(f"{where('labels')}: {len(labels)} labels for {len(images)} images in {where('images')}")
    if split is None:
        split = _seeded_split(labels, spec)
    else:
        if split.shape != labels.shape or split.dtype.kind != "U" or not np.isin(split, SPLITS).all():
            raise PipelineError(f"{where('split')}: split must be one of 'train'/'test' per image "
                                f"({len(images)} images), got {split.dtype} {split.shape}")
    if images.ndim == 3:
        images = images[..., None]
    return images, labels.astype(np.int64), split.astype(str)
