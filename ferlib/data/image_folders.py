"""The image-folder release: ``train/<emotion>/*.jpg`` and ``test/<emotion>/*.jpg``.

Kaggle's ``msambare/fer2013`` holds FER2013 this way. Its images were histogram-equalized
one by one, so they are not the challenge CSV's pixels (see ``FER2013.pixel_summary``).
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..fer2013 import EMOTIONS, FER2013, IMAGE_SIZE, USAGES, FER2013Error, FER2013NotFound
from ..pixels import eight_bit
from .sources import how_to

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


_PARTS = ("train", "test")
_CLASSES = {name.lower(): code for code, name in enumerate(EMOTIONS)}  # folder name -> emotion code


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def _class_folders(root: Path) -> list[tuple[str, Path]]:
    """``(part, folder)`` for every sub-folder of ``root/train`` and ``root/test``, in order."""
    return [(part, folder) for part in _PARTS if (root / part).is_dir()
            for folder in sorted(p for p in (root / part).iterdir() if p.is_dir())]


def image_files(root: Path) -> list[Path]:
    """Every image file the release is read from: those directly in a sub-folder of
    ``root/train`` or ``root/test`` (``train/<emotion>/*.jpg``), exactly the files
    :func:`read_image_folder` reads, so the cache, keyed on them, is stale exactly when
    what would be read changed. Images deeper down or loose in ``train/`` are not read."""
    return [file for _, folder in _class_folders(root) for file in folder.iterdir() if _is_image(file)]


def _usage_of(file: Path, part: str) -> str:
    for usage in USAGES:
        if file.name.startswith(usage + "_"):
            return usage
    # No challenge prefix in the name: the folder decides.
    return "Training" if part == "train" else "PrivateTest"


def _read_image(file: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as img:
            img.load()
            array = np.asarray(eight_bit(img).convert("L"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise FER2013Error(f"{file}: cannot read this image ({err}); replace or delete the file.") from err
    if array.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise FER2013Error(
            f"{file}: image is {array.shape[1]}x{array.shape[0]} pixels, expected "
            f"{IMAGE_SIZE}x{IMAGE_SIZE}; resize it to {IMAGE_SIZE}x{IMAGE_SIZE} or delete it."
        )
    return array


def read_image_folder(root: str | os.PathLike) -> FER2013:
    """Read the image-folder release: ``train/<class>/*.jpg`` and ``test/<class>/*.jpg``.

    Class folders are the lower-case emotion names; PNG works as well as JPEG; colour
    images become grayscale. The usage comes from the file-name prefix (``Training_``,
    ``PublicTest_``, ``PrivateTest_``), else from the folder (train: Training, test:
    PrivateTest). Rows are ordered as in the challenge CSV: by usage, then file name.
    Only the images directly in a class folder are read (see :func:`image_files`).
    """
    root = Path(root)
    if not any((root / part).is_dir() for part in _PARTS):
        raise FER2013NotFound(how_to(f"{root}: no train/ or test/ folder, so this is not the image-folder release."))
    entries = _entries(root)
    files = [file for _, _, file, _ in entries]
    with ThreadPoolExecutor(4) as pool:  # PIL decodes with the GIL released
        images = np.stack(list(pool.map(_read_image, files)))
    return FER2013(
        images=images,
        labels=np.asarray([code for *_, code in entries], np.int64),
        usage=np.asarray([USAGES[usage] for usage, *_ in entries]),
        fingerprint=_fingerprint(root, files),
        source=str(root),
        format="folder",
    )


def _entries(root: Path) -> list[tuple[int, str, Path, int]]:
    """``(usage code, file name, file, emotion code)`` of every image, in the challenge
    CSV's order: by usage, then file name. Raises for a folder that is no emotion's and
    for a release without images."""
    entries = []
    for part, folder in _class_folders(root):
        if folder.name.lower() not in _CLASSES:
            raise FER2013Error(
                f"{folder}: unknown class folder {folder.name!r}; expected one of "
                f"{', '.join(sorted(_CLASSES))}. Rename or remove it."
            )
        for file in folder.iterdir():
            if _is_image(file):
                entries.append((USAGES.index(_usage_of(file, part)), file.name, file, _CLASSES[folder.name.lower()]))
    if not entries:
        raise _no_images(root)
    return sorted(entries, key=lambda e: (e[0], e[1]))


def _no_images(root: Path) -> FER2013Error:
    """Why a release holds no image to read: images lying loose in ``train/`` or ``test/``
    (a layout without class folders), or none at all."""
    loose = [p for part in _PARTS if (root / part).is_dir() for p in (root / part).iterdir() if _is_image(p)]
    if loose:
        return FER2013Error(
            f"{loose[0].parent}: {len(loose)} image(s) lie directly in this folder, but the image-folder "
            f"release keeps each emotion in its own sub-folder ({loose[0].parent}/happy/..., one of "
            f"{', '.join(sorted(_CLASSES))}). Move each image into its emotion's folder.")
    return FER2013Error(f"{root}: the train/ and test/ folders hold no .jpg or .png images.")


def _fingerprint(root: Path, files: list[Path]) -> str:
    """A hash of every file's path below `root` and content, independent of reading order."""
    digest = hashlib.sha256()
    for file in sorted(files, key=lambda f: str(f.relative_to(root))):
        digest.update(str(file.relative_to(root).as_posix()).encode() + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return "sha256:" + digest.hexdigest()
