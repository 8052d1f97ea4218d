"""Finding faces in photos, with whichever OpenCV the user has (4.x or 5.x).

ferlib does not install OpenCV over the user's own (Colab preinstalls ``opencv-python``; a
second OpenCV package would write into the same ``cv2`` folder). It uses what is there:

* **Haar cascade** (OpenCV 4): the frontal-face cascade that ships inside every OpenCV 4 wheel
  (``cv2.data.haarcascades``). No download.
* **YuNet** (OpenCV 5, which dropped the cascades; also OpenCV 4.8+ on request): a small
  convolutional detector, ``cv2.FaceDetectorYN``, whose 232 KB ONNX file comes from OpenCV's
  model zoo. It is downloaded once into the cache folder and checked against the SHA-256 that
  the zoo publishes; ``FERLIB_FACE_DETECTOR=/path/to/yunet.onnx`` uses a copy of your own (an
  offline machine), and ``FERLIB_FACE_DETECTOR=yunet`` or ``haar`` chooses the method.

The weights are fetched rather than shipped: the project keeps one trained-weights file in the
repository, its own model.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from .files import atomic_write, sha256_of

ENV_DETECTOR = "FERLIB_FACE_DETECTOR"
YUNET_FILE = "face_detection_yunet_2023mar.onnx"
YUNET_URL = f"https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/{YUNET_FILE}"
#: From the zoo's Git LFS pointer for that file (opencv/opencv_zoo, models/face_detection_yunet).
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
YUNET_BYTES = 232_589
#: YuNet's confidence below which a box is dropped, and the overlap at which two boxes are one face.
YUNET_SCORE = 0.8
YUNET_NMS = 0.3
HAAR_FILE = "haarcascade_frontalface_default.xml"
INSTALL_OPENCV = ('ferlib finds faces with OpenCV, which is not installed: pip install "ferlib[opencv]" '
                  "(or pip install opencv-python-headless)")


class DetectorUnavailable(RuntimeError):
    """No face detector can run here; the message says what to install or download."""


def detect_faces(photo: np.ndarray, min_size: int = 30) -> list[tuple[int, int, int, int]]:
    """Boxes ``(x, y, w, h)`` of the frontal faces in an RGB photo, largest first."""
    method, detector = face_detector()
    if method == "haar":
        import cv2

        grey = cv2.equalizeHist(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY))  # detection only; crops keep the pixels
        boxes = detector.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(min_size, min_size))
    else:
        boxes = _yunet_boxes(detector, photo, min_size)
    return sorted((tuple(int(v) for v in box) for box in boxes), key=lambda b: -b[2] * b[3])


def detector_name() -> str:
    """Which detector :func:`detect_faces` uses here, in words (for run cards and messages)."""
    import cv2

    method, _ = face_detector()
    what = "Haar cascade for frontal faces" if method == "haar" else "YuNet (cv2.FaceDetectorYN)"
    return f"OpenCV {cv2.__version__} {what}"


def opencv():
    """The ``cv2`` module, or a one-line :class:`DetectorUnavailable` saying how to install it."""
    try:
        import cv2
    except ImportError as err:
        raise DetectorUnavailable(INSTALL_OPENCV) from err
    return cv2


@lru_cache(maxsize=1)
def face_detector():
    """``(method, detector)`` for this OpenCV: ``"haar"`` where the cascade ships, else ``"yunet"``.

    Chosen once per process; ``face_detector.cache_clear()`` chooses again."""
    cv2 = opencv()
    choice = os.environ.get(ENV_DETECTOR, "").strip()
    haar = _haar(cv2) if choice in ("", "haar") else None
    if choice == "haar" and haar is None:
        raise DetectorUnavailable(f"{ENV_DETECTOR}=haar, but OpenCV {cv2.__version__} has no Haar cascade "
                                  f"(OpenCV 5 dropped them); unset {ENV_DETECTOR} to use YuNet")
    if haar is not None:
        return "haar", haar
    if not hasattr(cv2, "FaceDetectorYN"):
        raise DetectorUnavailable(f"OpenCV {cv2.__version__} has neither the Haar cascades nor FaceDetectorYN; "
                                  "pip install --upgrade opencv-python-headless")
    model = Path(choice).expanduser() if choice not in ("", "yunet") else yunet_model()
    if not model.is_file():
        raise DetectorUnavailable(f"{ENV_DETECTOR}={choice}: no such file; give the path to a YuNet ONNX file "
                                  f"({YUNET_URL})")
    try:
        return "yunet", cv2.FaceDetectorYN.create(str(model), "", (320, 320), YUNET_SCORE, YUNET_NMS, 5000)
    except cv2.error as err:
        if _is_web_page(model):
            raise DetectorUnavailable(f"{model}: a web page, not an ONNX network (a download that saved the page "
                                      f"around the file?); download the file itself: {YUNET_URL}") from err
        raise DetectorUnavailable(f"{model}: OpenCV cannot read it as a YuNet face detector "
                                  f"({str(err).strip().splitlines()[-1]}); download {YUNET_URL}") from err


def _is_web_page(path: Path) -> bool:
    with open(path, "rb") as file:
        start = file.read(512).lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html"))


def _haar(cv2):
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not hasattr(cv2, "CascadeClassifier") or not folder or not os.path.isfile(os.path.join(folder, HAAR_FILE)):
        return None
    cascade = cv2.CascadeClassifier(os.path.join(folder, HAAR_FILE))
    return None if cascade.empty() else cascade


def yunet_model() -> Path:
    """The cached YuNet file, downloaded and checked on first use."""
    from .data.sources import ENV_NO_DOWNLOAD, cache_dir

    target = cache_dir() / "detectors" / YUNET_FILE
    if target.is_file() and sha256_of(target) == "sha256:" + YUNET_SHA256:
        return target
    if os.environ.get(ENV_NO_DOWNLOAD):
        raise DetectorUnavailable(f"the YuNet face detector is not in {target.parent}, and {ENV_NO_DOWNLOAD} forbids downloading it: "
                                  f"download {YUNET_URL} and set {ENV_DETECTOR} to the file")
    import urllib.request

    try:
        with urllib.request.urlopen(YUNET_URL, timeout=60) as response:
            raw = response.read(YUNET_BYTES + 1)
    except OSError as err:
        raise DetectorUnavailable(f"Downloading the YuNet face detector from {YUNET_URL} failed ({err}); download "
                                  f"it yourself and set {ENV_DETECTOR} to the file") from err
    if sha256_of(raw) != "sha256:" + YUNET_SHA256:
        raise DetectorUnavailable(f"{YUNET_URL}: the download ({len(raw):,} bytes) does not match the zoo's SHA-256 "
                                  f"{YUNET_SHA256[:12]}…; try again, or set {ENV_DETECTOR} to a copy you trust")
    return atomic_write(target, lambda f: f.write(raw))


def _yunet_boxes(detector, photo: np.ndarray, min_size: int) -> list:
    import cv2

    height, width = photo.shape[:2]
    detector.setInputSize((width, height))
    _, found = detector.detect(np.ascontiguousarray(cv2.cvtColor(photo, cv2.COLOR_RGB2BGR)))
    if found is None:
        return []
    boxes = []
    for x, y, w, h in found[:, :4]:
        # YuNet's boxes may start outside the photo; clip them to it.
        left, top = max(int(round(x)), 0), max(int(round(y)), 0)
        right, bottom = min(int(round(x + w)), width), min(int(round(y + h)), height)
        if min(right - left, bottom - top) >= min_size:
            boxes.append((left, top, right - left, bottom - top))
    return boxes
