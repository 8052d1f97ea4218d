"""ferlib as a user gets it from `pip install`: a wheel in a fresh virtual environment.

The wheel is built from this checkout and installed, without its dependencies, into a new
virtual environment whose other packages come from the test's own environment (a ``.pth``
file: no download, and the checkout's editable install stays invisible). Then the commands a
new user types: the version, a prediction with the shipped model, ``run`` without the
repository's notebooks and ``publish`` outside a clone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(REPO)], check=True, cwd=out)
    (found,) = out.glob("ferlib-*.whl")
    return found


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, wheel) -> Path:
    """A new virtual environment holding the wheel; its bin folder."""
    home = tmp_path_factory.mktemp("fresh") / "venv"
    venv.EnvBuilder(with_pip=True).create(home)
    python = home / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # The dependencies, read from this environment (only its site-packages folder, so the
    # checkout's editable ferlib, which a .pth hook there installs, is not picked up).
    Path(site, "ferlib-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    return home / "bin"


def _ferlib(bin_dir: Path, *args, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FERLIB_RUNS")}
    env["FERLIB_CACHE"] = str(cwd / "cache")
    return subprocess.run([str(bin_dir / "ferlib"), *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=600)


def test_the_wheel_holds_the_shipped_model_and_no_tests_or_notebooks(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {"ferlib/shipped/fastcnn.weights.h5", "ferlib/shipped/card.json", "ferlib/shipped/MODEL_CARD.md"} <= set(names)
    assert not [n for n in names if n.startswith(("tests/", "notebooks/", "book/", "benchmarks/"))]


def test_the_installed_package_is_the_wheel_not_the_checkout(fresh, tmp_path):
    where = subprocess.run([str(fresh / "python"), "-c", "import ferlib; print(ferlib.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout.strip()
    assert str(fresh.parent) in where and str(REPO) not in where
    version = _ferlib(fresh, "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("ferlib ")


def test_predict_answers_at_once_with_the_shipped_model(fresh, tmp_path):
    skimage_data = pytest.importorskip("skimage.data")
    pytest.importorskip("cv2")
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(skimage_data.astronaut()).save(photo, quality=95)
    done = _ferlib(fresh, "predict", str(photo), "--out", str(tmp_path / "out"), "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    (faces,) = json.loads((tmp_path / "out" / "faces.json").read_text()).values()
    assert len(faces) == 1 and abs(sum(faces[0]["probabilities"].values()) - 1) < 1e-3
    assert "astronaut.jpg: face 1" in done.stdout
    assert list((tmp_path / "out").glob("astronaut*.faces.png"))


def test_run_without_the_repository_says_where_the_notebooks_are(fresh, tmp_path):
    done = _ferlib(fresh, "run", "--profile", "smoke", "--data", "synthetic", "--run-dir", str(tmp_path / "run"),
                   cwd=tmp_path)
    assert done.returncode != 0
    message = done.stderr.strip().splitlines()
    assert len(message) == 1 and "git clone" in message[0] and "--notebooks" in message[0]


def test_publish_outside_a_clone_refuses_in_one_line(fresh, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}")
    done = _ferlib(fresh, "publish", str(run), cwd=tmp_path)
    assert done.returncode != 0
    message = done.stderr.strip().splitlines()
    assert len(message) == 1 and "installed package, not a clone" in message[0]
