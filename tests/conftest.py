"""Shared fixtures: an isolated ferlib environment for every test, and the real FER2013.

Real-data tests find FER2013 through the environment variable ``FER2013_PATH`` (CI sets it
to the folder that holds ``fer2013.csv.gz`` and ``fer2013-folder-sample/``). Its value is
read once, here, before any test runs; every test then runs with ``FER2013_PATH`` cleared,
so that nothing but the ``fer2013_*`` fixtures can reach the real data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
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


#: A finished smoke run of every page for the slow tests to start from, instead of making one
#: (CI names the run it has just made on FER2013, so that the pages are not executed twice).
PAGES_RUN_VARIABLE = "FERLIB_PAGES_RUN"


@dataclass(frozen=True)
class PagesRun:
    """Every page executed once, in order, at the smoke profile: the run folder a student has
    after running the pages. Tests work on copies, never on this folder."""

    folder: Path
    fer2013: str | None  # the FER2013_PATH its kernels read; None: the synthetic faces

    def copy(self, destination: Path) -> Path:
        """A private copy (the executed notebooks and the run's book left out)."""
        import shutil

        shutil.copytree(self.folder, destination, ignore=shutil.ignore_patterns("notebooks", "book"))
        return destination

    def parameters(self, monkeypatch) -> dict:
        """The papermill parameters of a page that continues this run; on FER2013 its kernel
        is given the data through FER2013_PATH, as the pipeline gave it."""
        if self.fer2013 is None:
            return {"data": "synthetic", "profile": "smoke", "run_dir": "."}
        monkeypatch.setenv("FER2013_PATH", self.fer2013)
        return {"data": "auto", "profile": "smoke", "run_dir": "."}


@pytest.fixture(scope="session")
def pages_run(tmp_path_factory) -> PagesRun:
    """The run named by FERLIB_PAGES_RUN, else one made here on the synthetic faces. Made once
    per session: the slow tests that start from it (an exercise, a third model) would otherwise
    each train the CNN and the ViT again."""
    import json

    from ferlib.notebooks import NOTEBOOKS
    from ferlib.tooling.pipeline import run_notebooks

    named = os.environ.get(PAGES_RUN_VARIABLE)
    if named:
        folder = Path(named).expanduser().resolve()
        card = json.loads((folder / "run.json").read_text()) if (folder / "run.json").is_file() else {}
        missing = [n for n in NOTEBOOKS if not (folder / "notebooks" / f"{n}.ipynb").is_file()]
        if card.get("profile") != "smoke" or missing:
            raise RuntimeError(f"{PAGES_RUN_VARIABLE}={folder} is not a finished smoke run (profile "
                               f"{card.get('profile')!r}, missing {missing}): run `ferlib run --profile smoke "
                               f"--run-dir {folder}` first, or unset {PAGES_RUN_VARIABLE}")
        if card.get("synthetic"):
            return PagesRun(folder, None)
        if not _FER2013_PATH:
            raise RuntimeError(f"{PAGES_RUN_VARIABLE}={folder} ran on FER2013: set FER2013_PATH to the same data")
        return PagesRun(folder, str(Path(_FER2013_PATH).expanduser().resolve()))
    root = tmp_path_factory.mktemp("pages-run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FERLIB_CACHE", str(root / "cache"))
        mp.setenv("FERLIB_NO_DOWNLOAD", "1")
        mp.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
        mp.delenv("FER2013_PATH", raising=False)
        run_notebooks(root / "run", data="synthetic", profile="smoke")
    return PagesRun(root / "run", None)
