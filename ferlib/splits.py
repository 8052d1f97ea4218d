"""The report's stratified split, the official challenge split, and checks on both.

A :class:`Split` holds row indices into a :class:`~ferlib.data.FER2013`; nothing is copied
until :func:`split_arrays` gathers the images.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from .fer2013 import EMOTIONS, NUM_CLASSES, as_model_input

PARTS = ("train", "val", "test")


@dataclass(frozen=True, eq=False)
class Split:
    """Row indices of the train, validation and test parts."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    name: str
    seed: int | None = None

    def parts(self) -> dict[str, np.ndarray]:
        return {"train": self.train, "val": self.val, "test": self.test}

    def sizes(self) -> dict[str, int]:
        return {part: len(idx) for part, idx in self.parts().items()}

    def describe(self) -> str:
        sizes = " / ".join(f"{n:,}" for n in self.sizes().values())
        seed = f", seed {self.seed}" if self.seed is not None else ""
        return f"{self.name} split (train / val / test = {sizes}{seed})"


def report_split(labels: np.ndarray, usage: np.ndarray, seed: int = 42, test_size: float = 0.2, val_size: float = 0.2) -> Split:
    """The report's split: only the ``Training`` rows, stratified by class.

    20% of them go to test, then 20% of the rest to validation; on FER2013 that is
    18,373 / 4,594 / 5,742 images. The same seed always gives the same split.
    """
    rows = np.flatnonzero(np.asarray(usage) == "Training")
    rest, test = train_test_split(rows, test_size=test_size, stratify=labels[rows], random_state=seed)
    train, val = train_test_split(rest, test_size=val_size, stratify=labels[rest], random_state=seed)
    return Split(np.sort(train), np.sort(val), np.sort(test), name="report", seed=seed)


def official_split(usage: np.ndarray) -> Split:
    """The challenge's own split: Training / PublicTest (validation) / PrivateTest (test)."""
    usage = np.asarray(usage)
    return Split(
        np.flatnonzero(usage == "Training"),
        np.flatnonzero(usage == "PublicTest"),
        np.flatnonzero(usage == "PrivateTest"),
        name="official",
    )


def make_split(name: str, labels: np.ndarray, usage: np.ndarray, seed: int = 42) -> Split:
    """``"report"`` or ``"official"``, by name (for notebook parameters)."""
    if name == "report":
        return report_split(labels, usage, seed=seed)
    if name == "official":
        return official_split(usage)
    raise ValueError(f"unknown split {name!r}; use 'report' or 'official'")


def subsample(split: Split, labels: np.ndarray, fraction: float, seed: int = 0) -> Split:
    """A stratified fraction of every part (the smoke profile's small real subset)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return split
    parts = {}
    for part, idx in split.parts().items():
        n_keep = max(int(round(len(idx) * fraction)), 1)
        if n_keep >= len(idx):
            parts[part] = idx
            continue
        counts = np.bincount(labels[idx], minlength=NUM_CLASSES)
        n_classes = np.count_nonzero(counts)
        # scikit-learn can stratify only when every class has two members and both sides
        # have room for one of each; tiny parts fall back to plain random sampling.
        can_stratify = counts[counts > 0].min() >= 2 and min(n_keep, len(idx) - n_keep) >= n_classes
        keep, _ = train_test_split(
            idx, train_size=n_keep, stratify=labels[idx] if can_stratify else None, random_state=seed
        )
        parts[part] = np.sort(keep)
    return Split(parts["train"], parts["val"], parts["test"], name=f"{split.name} ({fraction:.0%} subset)", seed=split.seed)


def check_disjoint(split: Split) -> None:
    """Raise ValueError if two parts share a row (a leak between train and test)."""
    parts = split.parts()
    for i, a in enumerate(PARTS):
        for b in PARTS[i + 1 :]:
            shared = np.intersect1d(parts[a], parts[b])
            if shared.size:
                raise ValueError(f"{split.name} split: {a} and {b} share {shared.size} rows, e.g. row {shared[0]}")
        if len(np.unique(parts[a])) != len(parts[a]):
            raise ValueError(f"{split.name} split: {a} lists a row twice")


def class_distribution(labels: np.ndarray, split: Split) -> pd.DataFrame:
    """Images per class in each part, with each part's class proportions."""
    counts = {part: np.bincount(labels[idx], minlength=NUM_CLASSES) for part, idx in split.parts().items()}
    frame = pd.DataFrame(counts, index=list(EMOTIONS))
    for part in PARTS:
        frame[f"{part} %"] = 100 * frame[part] / max(frame[part].sum(), 1)
    frame.index.name = "emotion"
    return frame


def image_hashes(images: np.ndarray) -> np.ndarray:
    """A content hash per image; equal hashes mean byte-identical images."""
    flat = np.ascontiguousarray(images).reshape(len(images), -1)
    return np.asarray([hashlib.blake2b(row.tobytes(), digest_size=16).hexdigest() for row in flat])


def duplicate_report(images: np.ndarray, labels: np.ndarray, split: Split) -> pd.DataFrame:
    """Exact-duplicate images within each part and across parts: counts, nothing removed.

    ``within`` rows: images that repeat an earlier image of the same part, and how many of
    those repeats carry a different label. ``across`` rows: images of the second part whose
    exact copy is in the first part (a leak that flatters test scores).
    """
    hashes = image_hashes(images)
    rows = []
    parts = split.parts()
    for part, idx in parts.items():
        frame = pd.DataFrame({"hash": hashes[idx], "label": labels[idx]})
        repeats = frame.duplicated("hash")
        conflicting = frame.groupby("hash")["label"].nunique()
        rows.append(
            {
                "comparison": f"within {part}",
                "images": len(idx),
                "duplicates": int(repeats.sum()),
                "groups with conflicting labels": int((conflicting > 1).sum()),
            }
        )
    for i, a in enumerate(PARTS):
        for b in PARTS[i + 1 :]:
            seen: dict[str, set[int]] = {}
            for h, lab in zip(hashes[parts[a]], labels[parts[a]]):
                seen.setdefault(h, set()).add(int(lab))
            in_a = np.asarray([h in seen for h in hashes[parts[b]]], bool)
            # A copy conflicts when its label differs from that of any of its twins in `a`.
            conflict = sum(seen[h] != {int(lab)} for h, lab in zip(hashes[parts[b]][in_a], labels[parts[b]][in_a]))
            rows.append(
                {
                    "comparison": f"{b} images also in {a}",
                    "images": len(parts[b]),
                    "duplicates": int(in_a.sum()),
                    "groups with conflicting labels": int(conflict),
                }
            )
    return pd.DataFrame(rows).set_index("comparison")


def split_arrays(images: np.ndarray, labels: np.ndarray, split: Split) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (x, y), ...}`` with x as float32 in [0, 1], shape (N, 48, 48, 1).

    Dividing by 255 is the report's only preprocessing step (section 2.1).
    """
    return {
        part: (as_model_input(images[idx]), labels[idx].astype(np.int64))
        for part, idx in split.parts().items()
    }


def standard_protocol_arrays(dataset) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A loaded data set's arrays on the standard protocol (the challenge's own split, whole):
    ``train`` = Training, ``val`` = PublicTest, ``test`` = PrivateTest."""
    return split_arrays(dataset.images, dataset.labels, official_split(dataset.usage))
