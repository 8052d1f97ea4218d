"""The FER2013 facts: its seven emotions, its 48x48 grey images, its three usages, the
:class:`FER2013` arrays every loader returns, and how an image becomes model input.

FER2013 (Goodfellow et al. 2013, the ICML 2013 representation-learning challenge) holds
35,887 faces: grey, 48x48 pixels, each labelled with one of seven emotions and marked for
``Training``, ``PublicTest`` or ``PrivateTest``. Every module takes these facts from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: FER2013's emotion codes 0..6, in the order the challenge CSV uses.
EMOTIONS: tuple[str, ...] = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
NUM_CLASSES = len(EMOTIONS)
IMAGE_SIZE = 48
N_PIXELS = IMAGE_SIZE * IMAGE_SIZE
#: The challenge's ``Usage`` values, in file order.
USAGES: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
class FER2013Error(ValueError):
    """The data exist but are malformed; the message names the file and the row or image."""


class FER2013NotFound(FileNotFoundError):
    """No FER2013 could be found or downloaded; the message says how to get it."""


@dataclass(frozen=True, eq=False)
class FER2013:
    """FER2013 (or the synthetic stand-in) as arrays, with where it came from."""

    images: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # (N,) int64, codes into EMOTIONS
    usage: np.ndarray  # (N,) str, one of USAGES
    fingerprint: str  # "sha256:<hex>" of the source files
    source: str  # where it was read from
    format: str  # how it was stored: "csv", "folder" or "synthetic"

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def is_synthetic(self) -> bool:
        return self.format == "synthetic"

    @property
    def name(self) -> str:
        """A short label for tables and page banners."""
        return "synthetic FER-like faces (not FER2013)" if self.is_synthetic else "FER2013"

    def class_counts(self, usage: str | None = None) -> dict[str, int]:
        labels = self.labels if usage is None else self.labels[self.usage == usage]
        counts = np.bincount(labels, minlength=NUM_CLASSES)
        return dict(zip(EMOTIONS, counts.tolist()))

    def usage_counts(self) -> dict[str, int]:
        return {u: int(np.count_nonzero(self.usage == u)) for u in USAGES}

    def pixel_summary(self) -> dict[str, float]:
        """Grey-level statistics that tell the two releases apart.

        The challenge CSV keeps each photo's own contrast; the image-folder release has
        every image histogram-equalized, so nearly all of its images span 0..255 and their
        per-image spread is larger (standard deviation about 74).
        """
        lo, hi = self.images.min(axis=(1, 2)), self.images.max(axis=(1, 2))
        per_image_std = self.images.reshape(len(self.images), -1).std(axis=1)
        full_range = float(np.mean((lo == 0) & (hi == 255)))
        return {"mean": float(self.images.mean()), "std": float(self.images.std()),
                "per_image_std": float(per_image_std.mean()), "full_range_share": full_range,
                "looks_equalized": full_range > 0.95}


def as_model_input(images) -> np.ndarray:
    """One image or a batch, uint8 or float, as the models take it: float32 ``(N, H, W, 1)``.

    uint8 pixels are divided by 255, the report's only preprocessing step (section 2.1);
    float images are taken as already scaled to [0, 1]. The one place that rule lives.
    """
    x = np.asarray(images)
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    x = x.astype(np.float32) / scale
    if x.ndim == 2:  # (H, W): one grey image
        x = x[None, ..., None]
    elif x.ndim == 3:
        # (H, W, 1) is one image with a channel axis; anything else is a batch (N, H, W).
        x = x[None] if x.shape[-1] == 1 else x[..., None]
    if x.ndim != 4:
        raise ValueError(f"expected images of shape (H, W), (H, W, 1), (N, H, W) or (N, H, W, 1), got {np.shape(images)}")
    return x


def equalize_histogram(image: np.ndarray) -> np.ndarray:
    """Per-image histogram equalization of a uint8 image: what the image-folder release
    did to every FER2013 face (its grey levels then spread over the whole 0..255 range)."""
    image = np.asarray(image, np.uint8)
    counts = np.bincount(image.ravel(), minlength=256)
    cdf = np.cumsum(counts)
    lowest = cdf[counts > 0][0]
    scale = max(cdf[-1] - lowest, 1)
    lookup = np.clip(np.round((cdf - lowest) / scale * 255), 0, 255).astype(np.uint8)
    return lookup[image]
