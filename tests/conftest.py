"""Shared fixtures: an isolated ferlib environment for every test, and the real FER2013.

Real-data tests find FER2013 through the environment variable ``FER2013_PATH`` (CI sets it
to the folder that holds ``fer2013.csv.gz`` and ``fer2013-folder-sample/``). Its value is
read once, here, before any test runs; every test then runs with ``FER2013_PATH`` cleared,
so that nothing but the ``fer2013_*`` fixtures can reach the real data.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Captured at import time, before the autouse fixture clears it for each test.
_FER2013_PATH = os.environ.get("FER2013_PATH")


@pytest.fixture(autouse=True)
def ferlib_cache(tmp_path, monkeypatch) -> Path:
    """Every test: its own empty ferlib cache, no downloads, no FER2013_PATH, no kagglehub cache."""
    cache = tmp_path / "ferlib-cache"
    cache.mkdir()
    monkeypatch.setenv("FERLIB_CACHE", str(cache))
    monkeypatch.setenv("FERLIB_NO_DOWNLOAD", "1")
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub-cache"))
    monkeypatch.delenv("FER2013_PATH", raising=False)
    return cache


@pytest.fixture(scope="session")
def fer2013_dir() -> Path:
    """The folder named by FER2013_PATH (skips when it is unset or absent)."""
    if not _FER2013_PATH:
        pytest.skip("FER2013_PATH is not set: no real FER2013 for this test")
    path = Path(_FER2013_PATH).expanduser()
    if not path.exists():
        pytest.skip(f"FER2013_PATH={path} does not exist")
    return path


@pytest.fixture(scope="session")
def fer2013_csv(fer2013_dir) -> Path:
    """The real challenge CSV (fer2013.csv.gz or fer2013.csv) under FER2013_PATH."""
    if fer2013_dir.is_file():
        return fer2013_dir
    for name in ("fer2013.csv.gz", "fer2013.csv"):
        if (fer2013_dir / name).is_file():
            return fer2013_dir / name
    pytest.skip(f"no fer2013.csv.gz or fer2013.csv in FER2013_PATH={fer2013_dir}")


@pytest.fixture(scope="session")
def ferplus_csv(fer2013_dir) -> Path:
    """The real FER+ relabelling (fer2013new.csv) in FER2013_PATH, or beside the CSV it names."""
    from ferlib.data.ferplus import FILE_NAME

    path = (fer2013_dir.parent if fer2013_dir.is_file() else fer2013_dir) / FILE_NAME
    if not path.is_file():
        pytest.skip(f"no {FILE_NAME} in or beside FER2013_PATH={fer2013_dir}")
    return path


@pytest.fixture(scope="session")
def fer2013(fer2013_csv, tmp_path_factory):
    """The real FER2013, parsed once per session (with a session-level cache folder)."""
    from ferlib.data import load_fer2013

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FERLIB_CACHE", str(tmp_path_factory.mktemp("ferlib-session-cache")))
        mp.setenv("FERLIB_NO_DOWNLOAD", "1")
        mp.delenv("FER2013_PATH", raising=False)
        return load_fer2013(fer2013_csv, download=False)


@pytest.fixture(scope="session")
def toc_files() -> list[str]:
    """The book's pages in _toc.yml order (root first), as paths relative to book/."""
    import yaml

    toc = yaml.safe_load((Path(__file__).resolve().parent.parent / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


@pytest.fixture(scope="session")
def cnn():
    """The report's CNN, untrained (built once: tests only inspect it)."""
    from ferlib.models import build_cnn

    return build_cnn()


@pytest.fixture(scope="session")
def vit():
    """The report's ViT, untrained (built once: tests only inspect it)."""
    from ferlib.models import build_vit

    return build_vit()
