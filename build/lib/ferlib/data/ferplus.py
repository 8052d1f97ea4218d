"""FER+: ten annotators' votes for every FER2013 image (Barsoum et al. 2016).

``fer2013new.csv`` has one row per FER2013 row, in the same order: ``Usage``, ``Image name``
and the votes for ``neutral, happiness, surprise, sadness, anger, disgust, fear, contempt,
unknown, NF`` (NF: not a face). Rows whose image name is empty are images the annotators
judged unusable.

Where the file comes from, in order: the ``source`` argument; ``FERPLUS_PATH``; the file
next to the FER2013 data that ``FER2013_PATH`` names; the cache folder
(``$FERLIB_CACHE/fer2013new.csv``); a download from the FER+ repository on GitHub (cached;
``FERLIB_NO_DOWNLOAD=1`` forbids it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..fer2013 import EMOTIONS, FER2013, FER2013Error, FER2013NotFound
from .sources import ENV_NO_DOWNLOAD, ENV_PATH, cache_dir
from ..files import atomic_write

FILE_NAME = "fer2013new.csv"
ENV_FERPLUS = "FERPLUS_PATH"
URL = "https://raw.githubusercontent.com/microsoft/FERPlus/master/fer2013new.csv"
#: The vote columns, in the file's order.
COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
#: FER+ emotion -> FER2013 emotion code; contempt, unknown and NF have none.
TO_FER2013 = {"anger": 0, "disgust": 1, "fear": 2, "happiness": 3, "sadness": 4, "surprise": 5, "neutral": 6}


@dataclass(frozen=True, eq=False)
class FERPlus:
    votes: np.ndarray  # (N, 10) int, columns as COLUMNS
    usage: np.ndarray  # (N,) str
    usable: np.ndarray  # (N,) bool: the row has an image name
    source: str

    def majority(self) -> np.ndarray:
        """Each image's FER+ label as a FER2013 code, or -1 where there is none: an unusable
        image, a tie for the most votes, or most votes for contempt, unknown or not-a-face."""
        top = self.votes.max(axis=1)
        winner = self.votes.argmax(axis=1)
        unique = (self.votes == top[:, None]).sum(axis=1) == 1
        codes = np.array([TO_FER2013.get(name, -1) for name in COLUMNS])
        return np.where(self.usable & unique & (top > 0), codes[winner], -1)


def find_ferplus(source=None) -> Path | None:
    """The local ``fer2013new.csv`` that :func:`load_ferplus` would read, or None."""
    for origin, value in (("argument", source), (ENV_FERPLUS, os.environ.get(ENV_FERPLUS))):
        if value:
            path = Path(value).expanduser()
            path = path / FILE_NAME if path.is_dir() else path
            if not path.is_file():
                raise FER2013NotFound(f"FER+ file from the {origin}: {path} does not exist. "
                                      f"Point {ENV_FERPLUS} at fer2013new.csv (from {URL}).")
            return path
    fer2013 = os.environ.get(ENV_PATH)
    candidates = []
    if fer2013:
        base = Path(fer2013).expanduser()
        candidates.append((base if base.is_dir() else base.parent) / FILE_NAME)
    candidates.append(cache_dir() / FILE_NAME)
    return next((p for p in candidates if p.is_file()), None)


def load_ferplus(source=None, download: bool | None = None) -> FERPlus:
    """Read FER+ (see the module docstring for where it is found)."""
    path = find_ferplus(source)
    if path is None:
        allowed = download if download is not None else not os.environ.get(ENV_NO_DOWNLOAD)
        if not allowed:
            raise FER2013NotFound(f"No {FILE_NAME} found: set {ENV_FERPLUS}, or put it in {cache_dir()}, "
                                  f"or allow the download from {URL}.")
        path = _download()
    return read_ferplus(path)


def _download() -> Path:
    import urllib.request

    target = cache_dir() / FILE_NAME
    try:
        with urllib.request.urlopen(URL, timeout=60) as response:
            raw = response.read()
    except OSError as err:
        raise FER2013NotFound(f"Downloading FER+ from {URL} failed ({err}); download {FILE_NAME} yourself and set "
                              f"{ENV_FERPLUS} to it.") from err
    return atomic_write(target, lambda f: f.write(raw))


def read_ferplus(path) -> FERPlus:
    """Parse ``fer2013new.csv``; a malformed file raises FER2013Error naming the row."""
    import pandas as pd

    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype={"Image name": str}, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise FER2013Error(f"{path}: not a readable FER+ CSV ({err})") from err
    expected = ["Usage", "Image name", *COLUMNS]
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        raise FER2013Error(f"{path}: missing column(s) {missing}; a FER+ file has the header {','.join(expected)}")
    votes = frame[list(COLUMNS)].apply(pd.to_numeric, errors="coerce")
    bad = votes.isna().any(axis=1) | (votes < 0).any(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise FER2013Error(f"{path}, row {row + 2}: votes must be whole numbers of 0 or more; fix or delete the row")
    return FERPlus(votes.to_numpy(np.int64), frame["Usage"].to_numpy(str), (frame["Image name"] != "").to_numpy(),
                   str(path))


def check_aligned(ferplus: FERPlus, data: FER2013) -> None:
    """FER+ must describe the same rows as `data`: same count, same Usage in every row."""
    if len(ferplus.usage) != len(data) or (ferplus.usage != data.usage).any():
        raise FER2013Error(f"{ferplus.source} does not line up with {data.source} (rows or Usage differ); "
                           "FER+ labels only the original FER2013 CSV, row by row")


def agreement(fer2013_labels: np.ndarray, ferplus_labels: np.ndarray):
    """Per FER2013 emotion: images with a FER+ label, and how often the two labels agree."""
    import pandas as pd

    valid = ferplus_labels >= 0
    rows = []
    for code, emotion in enumerate(EMOTIONS):
        mine = valid & (fer2013_labels == code)
        rows.append({"emotion": emotion, "images": int(mine.sum()),
                     "agree": float((ferplus_labels[mine] == code).mean()) if mine.any() else np.nan})
    rows.append({"emotion": "all", "images": int(valid.sum()),
                 "agree": float((ferplus_labels[valid] == fer2013_labels[valid]).mean())})
    return pd.DataFrame(rows).set_index("emotion")
