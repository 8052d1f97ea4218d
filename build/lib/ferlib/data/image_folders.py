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
from .sources import how_to

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def image_files(root: Path) -> list[Path]:
    """Every image file under ``root/train`` and ``root/test``."""
    return [
        p
        for part in ("train", "test")
        if (root / part).is_dir()
        for p in (root / part).rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    ]


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
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                # 16-bit grey levels: scale 0..65535 to 0..255 (converting to "L" would clip them)
                wide = np.asarray(img, dtype=np.float64)
                top = 65535.0 if wide.max() > 255 else 255.0
                array = np.round(wide / top * 255).clip(0, 255).astype(np.uint8)
            else:
                gray = img.convert("L") if img.mode != "L" else img
                array = np.asarray(gray, dtype=np.uint8)
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
    """
    root = Path(root)
    if not ((root / "train").is_dir() or (root / "test").is_dir()):
        raise FER2013NotFound(how_to(f"{root}: no train/ or test/ folder, so this is not the image-folder release."))
    classes = {name.lower(): code for code, name in enumerate(EMOTIONS)}
    entries = []
    for part in ("train", "test"):
        folder = root / part
        if not folder.is_dir():
            continue
        for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            if class_dir.name.lower() not in classes:
                raise FER2013Error(
                    f"{class_dir}: unknown class folder {class_dir.name!r}; expected one of "
                    f"{', '.join(sorted(classes))}. Rename or remove it."
                )
            for file in class_dir.iterdir():
                if file.suffix.lower() in IMAGE_SUFFIXES:
                    usage = _usage_of(file, part)
                    entries.append((USAGES.index(usage), file.name, file, classes[class_dir.name.lower()]))
    if not entries:
        loose = [p for part in ("train", "test") if (root / part).is_dir() for p in (root / part).iterdir()
                 if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if loose:
            raise FER2013Error(
                f"{loose[0].parent}: {len(loose)} image(s) lie directly in this folder, but the image-folder "
                f"release keeps each emotion in its own sub-folder ({loose[0].parent}/happy/..., one of "
                f"{', '.join(sorted(classes))}). Move each image into its emotion's folder.")
        raise FER2013Error(f"{root}: the train/ and test/ folders hold no .jpg or .png images.")
    entries.sort(key=lambda e: (e[0], e[1]))
    files = [e[2] for e in entries]
    with ThreadPoolExecutor(4) as pool:  # PIL decodes with the GIL released
        images = np.stack(list(pool.map(_read_image, files)))
    digest = hashlib.sha256()
    for file in sorted(files, key=lambda f: str(f.relative_to(root))):
        digest.update(str(file.relative_to(root).as_posix()).encode() + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return FER2013(
        images=images,
        labels=np.asarray([e[3] for e in entries], np.int64),
        usage=np.asarray([USAGES[e[0]] for e in entries]),
        fingerprint="sha256:" + digest.hexdigest(),
        source=str(root),
        format="folder",
    )
