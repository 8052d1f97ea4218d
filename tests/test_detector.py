"""Face detection with whichever OpenCV is installed: Haar on 4.x, YuNet on 5.x, clear errors."""

from __future__ import annotations

import hashlib
import io
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ferlib.detector as detector
from ferlib.detector import DetectorUnavailable, detect_faces, face_detector

cv2 = pytest.importorskip("cv2")
skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(autouse=True)
def fresh_choice(monkeypatch, tmp_path):
    """Each test chooses the detector anew, with an empty cache folder and no override."""
    monkeypatch.setenv("FERLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(detector.ENV_DETECTOR, raising=False)
    face_detector.cache_clear()
    yield
    face_detector.cache_clear()


@pytest.fixture
def without_cascades(monkeypatch, tmp_path):
    """OpenCV as version 5 ships it: no Haar cascade files."""
    empty = tmp_path / "no-cascades"
    empty.mkdir()
    monkeypatch.setattr(cv2.data, "haarcascades", str(empty) + os.sep)


@pytest.mark.skipif(int(cv2.__version__.split(".")[0]) >= 5, reason="OpenCV 5 has no Haar cascades")
def test_opencv_4_uses_the_cascade_in_its_wheel():
    method, _ = face_detector()
    assert method == "haar"
    assert "Haar" in detector.detector_name()


def test_without_cascades_yunet_is_chosen_and_a_missing_file_is_one_line(without_cascades, monkeypatch):
    monkeypatch.setenv("FERLIB_NO_DOWNLOAD", "1")
    with pytest.raises(DetectorUnavailable) as err:
        face_detector()
    message = str(err.value)
    assert "\n" not in message and detector.YUNET_URL in message and detector.ENV_DETECTOR in message


def test_haar_asked_for_where_there_is_none(without_cascades, monkeypatch):
    monkeypatch.setenv(detector.ENV_DETECTOR, "haar")
    with pytest.raises(DetectorUnavailable, match="no Haar cascade"):
        face_detector()


def test_a_detector_file_that_is_not_yunet_is_named(without_cascades, monkeypatch, tmp_path):
    bogus = tmp_path / "detector.onnx"
    bogus.write_bytes(b"not a network")
    monkeypatch.setenv(detector.ENV_DETECTOR, str(bogus))
    with pytest.raises(DetectorUnavailable, match="detector.onnx: OpenCV cannot read it"):
        face_detector()
    # A download that saved the web page around the file (found in a public repository's copy)
    page = tmp_path / "face_detection_yunet_2023mar.onnx"
    page.write_bytes(b"\n\n\n<!DOCTYPE html>\n<html lang=\"en\">")
    monkeypatch.setenv(detector.ENV_DETECTOR, str(page))
    face_detector.cache_clear()
    with pytest.raises(DetectorUnavailable, match="2023mar.onnx: a web page, not an ONNX network"):
        face_detector()
    monkeypatch.setenv(detector.ENV_DETECTOR, str(tmp_path / "missing.onnx"))
    face_detector.cache_clear()
    with pytest.raises(DetectorUnavailable, match="missing.onnx: no such file"):
        face_detector()


class _Response(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_the_download_is_checked_then_written_whole(monkeypatch, tmp_path):
    payload = b"yunet weights" * 100
    monkeypatch.delenv("FERLIB_NO_DOWNLOAD", raising=False)
    monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout: _Response(payload))
    cached = tmp_path / "cache" / "detectors" / detector.YUNET_FILE
    # A download that does not match the zoo's checksum is refused and leaves nothing behind.
    with pytest.raises(DetectorUnavailable, match="does not match"):
        detector.yunet_model()
    assert not cached.parent.exists() or not any(cached.parent.iterdir())
    # One that matches is kept, and the next call reads the cache (no second download).
    monkeypatch.setattr(detector, "YUNET_SHA256", hashlib.sha256(payload).hexdigest())
    assert detector.yunet_model() == cached and cached.read_bytes() == payload
    monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout: pytest.fail("downloaded twice"))
    assert detector.yunet_model() == cached


def test_a_cached_file_with_the_wrong_checksum_is_not_trusted(monkeypatch, tmp_path):
    cached = tmp_path / "cache" / "detectors" / detector.YUNET_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"half a file")
    monkeypatch.setenv("FERLIB_NO_DOWNLOAD", "1")
    with pytest.raises(DetectorUnavailable, match="forbids downloading"):
        detector.yunet_model()


def test_yunet_boxes_are_clipped_to_the_photo_and_small_ones_dropped():
    class Fake:
        def setInputSize(self, size):
            self.size = size

        def detect(self, image):
            assert image.shape == (100, 200, 3)
            rows = np.zeros((3, 15), np.float32)
            rows[0, :4] = (-5.4, 10, 60, 50)  # starts left of the photo
            rows[1, :4] = (180, 80, 40, 40)  # runs past the right and bottom edges
            rows[2, :4] = (50, 50, 10, 10)  # too small
            return 1, rows

    fake = Fake()
    boxes = detector._yunet_boxes(fake, np.zeros((100, 200, 3), np.uint8), min_size=15)
    assert fake.size == (200, 100)
    assert boxes == [(0, 10, 55, 50), (180, 80, 20, 20)]


def test_no_opencv_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    with pytest.raises(DetectorUnavailable, match=r'pip install "ferlib\[opencv\]"'):
        detect_faces(np.zeros((64, 64, 3), np.uint8))


def _yunet_file() -> Path | None:
    """A YuNet file on this machine: FERLIB_TEST_YUNET, or the one ferlib downloaded earlier."""
    given = os.environ.get("FERLIB_TEST_YUNET")
    if given and Path(given).is_file():
        return Path(given)
    home = Path(os.path.expanduser("~/.cache/ferlib/detectors")) / detector.YUNET_FILE
    return home if home.is_file() else None


@pytest.mark.skipif(_yunet_file() is None, reason="no YuNet file here (set FERLIB_TEST_YUNET; CI has no internet)")
def test_yunet_finds_the_astronaut(monkeypatch, tmp_path):
    monkeypatch.setenv(detector.ENV_DETECTOR, str(_yunet_file()))
    photo = np.asarray(Image.fromarray(skimage_data.astronaut()))
    boxes = detect_faces(photo)
    assert face_detector()[0] == "yunet" and "YuNet" in detector.detector_name()
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    assert 160 < x + w / 2 < 290 and 50 < y + h / 2 < 180 and 60 < w < 160


def test_predict_says_in_one_line_that_the_detector_file_is_unusable(monkeypatch, tmp_path, capsys):
    from ferlib.tooling.cli import main

    bogus = tmp_path / "detector.onnx"
    bogus.write_bytes(b"not a network")
    monkeypatch.setenv(detector.ENV_DETECTOR, str(bogus))
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(skimage_data.astronaut()).save(photo)
    assert main(["predict", str(photo), "--out", str(tmp_path / "out")]) != 0
    err = capsys.readouterr().err.strip()
    assert "detector.onnx: OpenCV cannot read it" in err and "Traceback" not in err and len(err.splitlines()) == 1
