"""Loading FER2013, organised by source: the challenge CSV, the image-folder release, a
Kaggle download and the local cache, the synthetic stand-in, and FER+'s relabelling.

Every loader returns a :class:`~ferlib.fer2013.FER2013`: uint8 images ``(N, 48, 48)``,
integer labels in the order of ``EMOTIONS``, the ``Usage`` of each row and a fingerprint of
the source files (for provenance). Parsed arrays are cached on disk (written atomically),
so a second load of the same file is a plain array read.

Where the data comes from, in order:

1. the ``source`` argument (a CSV, a ``.csv.gz``, an image-folder root, or a directory that
   holds ``fer2013.csv[.gz]``);
2. the environment variable ``FER2013_PATH`` (same forms);
3. the local cache: ``$FERLIB_CACHE/fer2013.csv[.gz]`` or ``$FERLIB_CACHE/fer2013/`` and a
   copy that ``kagglehub`` downloaded earlier;
4. a Kaggle download through ``kagglehub`` (``source="kaggle"``, ``download=True``, or when
   nothing local was found).
"""

from __future__ import annotations

import os

from ..fer2013 import (
    EMOTIONS,
    FER2013,
    IMAGE_SIZE,
    N_PIXELS,
    NUM_CLASSES,
    USAGES,
    FER2013Error,
    FER2013NotFound,
    as_model_input,
    equalize_histogram,
)
from .cache import cached_read
from .challenge_csv import read_challenge_csv
from .image_folders import read_image_folder
from .sources import (
    ENV_CACHE,
    ENV_NO_DOWNLOAD,
    ENV_PATH,
    HOW_TO_GET_DATA,
    KAGGLE_DATASET,
    cache_dir,
    download_fer2013,
    find_fer2013,
    how_to,
)
from .synthetic import load_synthetic, make_synthetic_faces

__all__ = [
    "EMOTIONS", "FER2013", "IMAGE_SIZE", "N_PIXELS", "NUM_CLASSES", "USAGES", "FER2013Error", "FER2013NotFound",
    "as_model_input", "equalize_histogram", "cached_read", "read_challenge_csv", "read_image_folder",
    "ENV_CACHE", "ENV_NO_DOWNLOAD", "ENV_PATH", "HOW_TO_GET_DATA", "KAGGLE_DATASET", "cache_dir",
    "download_fer2013", "find_fer2013", "how_to", "load_synthetic", "make_synthetic_faces",
    "load_fer2013", "load_data",
]


def load_fer2013(
    source: str | os.PathLike | None = None,
    *,
    download: bool | None = None,
    use_cache: bool = True,
) -> FER2013:
    """Load FER2013 from a path, FER2013_PATH, the local cache or Kaggle (see the package doc).

    ``source="kaggle"`` or ``download=True`` downloads; ``download=None`` downloads only when
    nothing local is found (unless FERLIB_NO_DOWNLOAD is set); ``download=False`` never does.
    """
    if source is not None and str(source) == "kaggle":
        path = download_fer2013()
    else:
        path = None if download else find_fer2013(source)
        if path is None:
            no_download = download is False or (download is None and os.environ.get(ENV_NO_DOWNLOAD))
            if no_download:
                raise FER2013NotFound(how_to("No local FER2013 was found and downloading is off."))
            path = download_fer2013()
    reader = read_image_folder if path.is_dir() else read_challenge_csv
    return cached_read(path, reader) if use_cache else reader(path)


def load_data(source: str | os.PathLike | None = "auto", *, synthetic_per_class: int = 300, seed: int = 0) -> FER2013:
    """The notebooks' entry point: ``"synthetic"``, ``"kaggle"``, a path, or ``"auto"``.

    ``"auto"`` (or None) is FER2013 from FER2013_PATH or the cache, else a Kaggle download;
    it never falls back to synthetic data by itself: ask for ``"synthetic"`` explicitly.
    """
    if source is not None and str(source) == "synthetic":
        return load_synthetic(synthetic_per_class, seed)
    return load_fer2013(None if source in (None, "auto") else source)
