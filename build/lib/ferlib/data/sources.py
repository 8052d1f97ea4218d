"""Where FER2013 comes from: the ``source`` argument, ``FER2013_PATH``, the cache folder,
a copy that kagglehub downloaded earlier, or a Kaggle download (see :mod:`ferlib.data`).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..fer2013 import FER2013NotFound

#: The Kaggle data set of the image-folder release.
KAGGLE_DATASET = "msambare/fer2013"
ENV_PATH = "FER2013_PATH"
ENV_CACHE = "FERLIB_CACHE"
ENV_NO_DOWNLOAD = "FERLIB_NO_DOWNLOAD"
HOW_TO_GET_DATA = f"""\
How to get FER2013:
  * Kaggle: pip install kagglehub, put your Kaggle API token in ~/.kaggle/kaggle.json
    (or set KAGGLE_USERNAME and KAGGLE_KEY), then call
    ferlib.load_fer2013("kaggle") or run with --data kaggle; the download ({KAGGLE_DATASET})
    is cached for later runs.
  * A file you already have: point {ENV_PATH} (or the `source` argument / --data) at the
    challenge CSV fer2013.csv or fer2013.csv.gz (columns emotion,pixels,Usage), or at the
    image-folder release (a folder holding train/<class>/*.jpg and test/<class>/*.jpg).
  * Or copy it into the cache folder {{cache}} as fer2013.csv.gz or fer2013/.
  * No data and no network? ferlib.load_synthetic() gives a labelled synthetic stand-in."""


def cache_dir() -> Path:
    """Where ferlib keeps parsed arrays and where it looks for a cached copy of the data."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ferlib"


def how_to(extra: str = "") -> str:
    return (extra + "\n" if extra else "") + HOW_TO_GET_DATA.format(cache=cache_dir())


def resolve(path: Path) -> Path | None:
    """The CSV or image-folder root that `path` stands for, or None."""
    if path.is_file():
        return path
    if path.is_dir():
        if (path / "train").is_dir() or (path / "test").is_dir():
            return path
        for name in ("fer2013.csv.gz", "fer2013.csv"):
            if (path / name).is_file():
                return path / name
        # A Kaggle download unpacks one level down on some versions.
        for sub in sorted(p for p in path.iterdir() if p.is_dir()):
            if (sub / "train").is_dir() and (sub / "test").is_dir():
                return sub
    return None


def _kagglehub_cached() -> Path | None:
    root = Path(os.environ.get("KAGGLEHUB_CACHE", Path.home() / ".cache" / "kagglehub"))
    versions = root / "datasets" / KAGGLE_DATASET / "versions"
    if versions.is_dir():
        numbered = [p for p in versions.iterdir() if p.name.isdigit()]
        for version in sorted(numbered, key=lambda p: int(p.name), reverse=True):  # newest first
            found = resolve(version)
            if found is not None:
                return found
    return None


def find_fer2013(source: str | os.PathLike | None = None) -> Path | None:
    """The local FER2013 that `load_fer2013` would use, or None when only a download is left.

    Raises FER2013NotFound when an explicit source or FER2013_PATH names something that does
    not hold FER2013 (a typo should not quietly fall through to another copy).
    """
    for origin, value in (("argument", source), (ENV_PATH, os.environ.get(ENV_PATH))):
        if value is None or str(value) in ("", "auto"):
            continue
        path = Path(value).expanduser()
        found = resolve(path)
        if found is None:
            what = "does not exist" if not path.exists() else "holds no FER2013 CSV or image folder"
            raise FER2013NotFound(how_to(f"FER2013 path from the {origin}: {path} {what}."))
        return found
    for candidate in (cache_dir() / "fer2013.csv.gz", cache_dir() / "fer2013.csv", cache_dir() / "fer2013"):
        found = resolve(candidate) if candidate.exists() else None
        if found is not None:
            return found
    return _kagglehub_cached()


def download_fer2013() -> Path:
    """Download the image-folder release from Kaggle with kagglehub (cached by kagglehub)."""
    try:
        import kagglehub
    except ImportError as err:  # pragma: no cover - kagglehub is a dependency
        raise FER2013NotFound(how_to("kagglehub is not installed (pip install kagglehub).")) from err
    try:
        path = Path(kagglehub.dataset_download(KAGGLE_DATASET))
    except Exception as err:  # network errors, missing credentials, HTTP errors
        raise FER2013NotFound(
            how_to(
                f"Downloading {KAGGLE_DATASET} from Kaggle failed: {type(err).__name__}: {err}\n"
                "Check the network connection and your Kaggle credentials."
            )
        ) from err
    found = resolve(path)
    if found is None:
        raise FER2013NotFound(how_to(f"The Kaggle download at {path} holds no train/ and test/ folders."))
    return found
