"""Tests of ferlib.splits: the report's stratified split, the official split, and the checks.

Most tests use small generated label/usage arrays; the ``realdata`` tests use the session's
FER2013 (the ``fer2013`` fixture in conftest.py) and check the published numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ferlib.data import EMOTIONS, NUM_CLASSES
from ferlib.splits import (
    Split,
    check_disjoint,
    class_distribution,
    duplicate_report,
    image_hashes,
    make_split,
    official_split,
    report_split,
    split_arrays,
    subsample,
)

DUPLICATE_ROWS = [
    "within train",
    "within val",
    "within test",
    "val images also in train",
    "test images also in train",
    "test images also in val",
]


# --------------------------------------------------------------------------- helpers


def make_labels_usage(n: int = 1400, seed: int = 0):
    """Unbalanced labels (like FER2013: one rare class) and usages mixed through the rows."""
    rng = np.random.default_rng(seed)
    weights = np.array([10, 2, 10, 18, 12, 8, 12], float)
    labels = rng.choice(NUM_CLASSES, size=n, p=weights / weights.sum())
    usage = rng.choice(np.array(["Training", "PublicTest", "PrivateTest"]), size=n, p=[0.8, 0.1, 0.1])
    return labels.astype(np.int64), usage


def proportions(labels: np.ndarray) -> np.ndarray:
    return np.bincount(labels, minlength=NUM_CLASSES) / len(labels)


def distinct_images(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 48, 48), dtype=np.uint8)
    images[:, 0, 0] = np.arange(n) % 256  # pixel (0,0)..(0,1) make every image different
    images[:, 0, 1] = np.arange(n) // 256
    return images


# --------------------------------------------------------------------------- report split


def test_report_split_uses_only_training_rows():
    labels, usage = make_labels_usage()
    split = report_split(labels, usage, seed=42)
    training = np.flatnonzero(usage == "Training")
    every = np.concatenate([split.train, split.val, split.test])
    assert (usage[every] == "Training").all()
    np.testing.assert_array_equal(np.sort(every), training)  # every Training row, once
    check_disjoint(split)


def test_report_split_sizes_are_20_percent_then_20_percent():
    labels, usage = make_labels_usage()
    n = int(np.count_nonzero(usage == "Training"))
    split = report_split(labels, usage, seed=0)
    n_test = math.ceil(0.2 * n)
    n_val = math.ceil(0.2 * (n - n_test))
    assert split.sizes() == {"train": n - n_test - n_val, "val": n_val, "test": n_test}
    assert split.name == "report" and split.seed == 0
    assert "seed 0" in split.describe()


def test_report_split_is_stratified():
    labels, usage = make_labels_usage(n=3000, seed=1)
    split = report_split(labels, usage, seed=7)
    training = labels[usage == "Training"]
    expected = np.bincount(training, minlength=NUM_CLASSES)
    for part, fraction in (("test", 0.2), ("val", 0.8 * 0.2), ("train", 0.8 * 0.8)):
        counts = np.bincount(labels[split.parts()[part]], minlength=NUM_CLASSES)
        # stratified: each class within 1.5 images of its exact share (random would be off by ~10)
        assert np.all(np.abs(counts - fraction * expected) <= 1.5), (part, counts, fraction * expected)


def test_report_split_deterministic_for_a_seed():
    labels, usage = make_labels_usage()
    a, b = report_split(labels, usage, seed=3), report_split(labels, usage, seed=3)
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(a.parts()[part], b.parts()[part])
    c = report_split(labels, usage, seed=4)
    assert not np.array_equal(a.test, c.test)
    assert not np.array_equal(a.val, c.val)
    assert a.sizes() == c.sizes()


def test_report_split_indices_sorted_and_unique():
    labels, usage = make_labels_usage()
    for idx in report_split(labels, usage, seed=1).parts().values():
        assert np.all(np.diff(idx) > 0)


# --------------------------------------------------------------------------- official split


def test_official_split_follows_usage():
    usage = np.array(["Training", "PublicTest", "Training", "PrivateTest", "PublicTest", "Training"])
    split = official_split(usage)
    np.testing.assert_array_equal(split.train, [0, 2, 5])
    np.testing.assert_array_equal(split.val, [1, 4])
    np.testing.assert_array_equal(split.test, [3])
    assert split.name == "official" and split.seed is None
    check_disjoint(split)


def test_make_split_by_name():
    labels, usage = make_labels_usage(n=300)
    assert make_split("official", labels, usage).sizes() == official_split(usage).sizes()
    r = make_split("report", labels, usage, seed=5)
    np.testing.assert_array_equal(r.test, report_split(labels, usage, seed=5).test)
    with pytest.raises(ValueError, match="nonsense"):
        make_split("nonsense", labels, usage)


# --------------------------------------------------------------------------- check_disjoint


def test_check_disjoint_rejects_overlap():
    split = Split(np.array([0, 1, 2, 3]), np.array([4, 5]), np.array([6, 2]), name="hand-made")
    with pytest.raises(ValueError, match="train and test"):
        check_disjoint(split)
    with pytest.raises(ValueError, match="train and val"):
        check_disjoint(Split(np.array([0, 1]), np.array([1]), np.array([2]), name="x"))
    with pytest.raises(ValueError, match="val and test"):
        check_disjoint(Split(np.array([0]), np.array([1, 3]), np.array([2, 3]), name="x"))


def test_check_disjoint_rejects_a_repeated_row():
    with pytest.raises(ValueError, match="twice"):
        check_disjoint(Split(np.array([0, 1, 1]), np.array([2]), np.array([3]), name="x"))


def test_check_disjoint_accepts_disjoint():
    check_disjoint(Split(np.array([0, 5]), np.array([1, 4]), np.array([2, 3]), name="ok"))
    check_disjoint(Split(np.array([0]), np.array([], int), np.array([1]), name="empty val"))


# --------------------------------------------------------------------------- duplicates


def test_duplicate_report_counts_planted_duplicates():
    images = distinct_images(12)
    labels = np.array([0, 0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3])
    images[1] = images[0]  # within train, same label
    images[3] = images[2]  # within train, labels 1 vs 2
    images[4] = images[2]  # ...a third copy (label 3): still one conflicting group
    images[8] = images[6]  # val copied from train...
    labels[8] = labels[6]  # ...with the same label: no conflict
    images[10] = images[5]  # test copied from train with a different label (4 vs 2)
    images[11] = images[9]  # test copied from val, different label (1 vs 3)
    split = Split(np.arange(0, 8), np.array([8, 9]), np.array([10, 11]), name="planted")
    before = {k: v.copy() for k, v in split.parts().items()}
    report = duplicate_report(images, labels, split)
    assert list(report.index) == DUPLICATE_ROWS
    assert report.loc["within train", "duplicates"] == 3
    assert report.loc["within train", "groups with conflicting labels"] == 1
    assert report.loc["within val", "duplicates"] == 0
    assert report.loc["within test", "duplicates"] == 0
    assert report.loc["val images also in train", "duplicates"] == 1
    assert report.loc["val images also in train", "groups with conflicting labels"] == 0
    assert report.loc["test images also in train", "duplicates"] == 1
    assert report.loc["test images also in train", "groups with conflicting labels"] == 1
    assert report.loc["test images also in val", "duplicates"] == 1
    assert report.loc["test images also in val", "groups with conflicting labels"] == 1
    assert report["images"].tolist() == [8, 2, 2, 2, 2, 2]
    for part, idx in split.parts().items():  # counted, not removed
        np.testing.assert_array_equal(idx, before[part])


def test_duplicate_report_no_duplicates():
    images = distinct_images(9)
    labels = np.arange(9) % 7
    split = Split(np.arange(5), np.array([5, 6]), np.array([7, 8]), name="clean")
    report = duplicate_report(images, labels, split)
    assert report["duplicates"].sum() == 0
    assert report["groups with conflicting labels"].sum() == 0


def test_image_hashes_equal_only_for_equal_images():
    images = distinct_images(4)
    images[3] = images[1]
    h = image_hashes(images)
    assert h[1] == h[3]
    assert len(set(h.tolist())) == 3


# --------------------------------------------------------------------------- subsample


def test_subsample_keeps_fraction_of_each_part_stratified():
    labels, usage = make_labels_usage(n=4000, seed=2)
    split = report_split(labels, usage, seed=0)
    small = subsample(split, labels, 0.25, seed=0)
    for part, idx in small.parts().items():
        full = split.parts()[part]
        assert len(idx) == round(len(full) * 0.25)
        assert np.isin(idx, full).all()
        assert len(np.unique(idx)) == len(idx)
        # stratified: each class count within 1.5 of its share
        expected = 0.25 * np.bincount(labels[full], minlength=NUM_CLASSES)
        assert np.all(np.abs(np.bincount(labels[idx], minlength=NUM_CLASSES) - expected) <= 1.5)
    check_disjoint(small)
    assert "25%" in small.name


def test_subsample_deterministic():
    labels, usage = make_labels_usage(n=2000, seed=3)
    split = report_split(labels, usage, seed=0)
    a, b = subsample(split, labels, 0.1, seed=1), subsample(split, labels, 0.1, seed=1)
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(a.parts()[part], b.parts()[part])
    c = subsample(split, labels, 0.1, seed=2)
    assert not np.array_equal(a.train, c.train)


def test_subsample_edge_cases():
    labels, usage = make_labels_usage(n=500, seed=4)
    split = official_split(usage)
    assert subsample(split, labels, 1.0) is split
    for bad in (0, -0.1, 1.5):
        with pytest.raises(ValueError, match="fraction"):
            subsample(split, labels, bad)
    # tiny parts (too small to stratify) still give a valid subset of at least one row
    tiny = Split(np.array([0, 1, 2]), np.array([3]), np.array([4, 5]), name="tiny")
    small = subsample(tiny, np.array([0, 1, 2, 3, 4, 5]), 0.5, seed=0)
    assert small.sizes() == {"train": 2, "val": 1, "test": 1}
    for part, idx in small.parts().items():
        assert np.isin(idx, tiny.parts()[part]).all()


# --------------------------------------------------------------------------- arrays


def test_split_arrays():
    images = distinct_images(10)
    images[0] = 0
    images[1] = 255
    labels = np.arange(10) % 7
    split = Split(np.array([0, 1, 2, 3, 4, 5]), np.array([6, 7]), np.array([8, 9]), name="arrays")
    arrays = split_arrays(images, labels, split)
    assert set(arrays) == {"train", "val", "test"}
    for part, (x, y) in arrays.items():
        idx = split.parts()[part]
        assert x.dtype == np.float32
        assert x.shape == (len(idx), 48, 48, 1)
        assert x.min() >= 0.0 and x.max() <= 1.0
        np.testing.assert_allclose(x[..., 0], images[idx] / 255.0, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(y, labels[idx])
    x, _ = arrays["train"]
    assert x[0].max() == 0.0 and x[1].min() == 1.0
    assert images.dtype == np.uint8  # the source is not changed


def test_class_distribution():
    labels, usage = make_labels_usage(n=700)
    split = report_split(labels, usage, seed=0)
    frame = class_distribution(labels, split)
    assert list(frame.index) == list(EMOTIONS)
    for part, idx in split.parts().items():
        assert frame[part].sum() == len(idx)
        assert frame[f"{part} %"].sum() == pytest.approx(100)


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real_report(fer2013):
    return report_split(fer2013.labels, fer2013.usage, seed=42)


@pytest.mark.realdata
def test_real_report_split_sizes(real_report):
    assert real_report.sizes() == {"train": 18373, "val": 4594, "test": 5742}
    assert "18,373 / 4,594 / 5,742" in real_report.describe()


@pytest.mark.realdata
def test_real_report_split_deterministic(fer2013, real_report):
    again = report_split(fer2013.labels, fer2013.usage, seed=42)
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(again.parts()[part], real_report.parts()[part])
    other = report_split(fer2013.labels, fer2013.usage, seed=7)
    assert other.sizes() == real_report.sizes()
    for part in ("train", "val", "test"):
        assert not np.array_equal(other.parts()[part], real_report.parts()[part])


@pytest.mark.realdata
def test_real_report_split_stratified_and_disjoint(fer2013, real_report):
    check_disjoint(real_report)
    training = fer2013.usage == "Training"
    reference = proportions(fer2013.labels[training])
    for part, idx in real_report.parts().items():
        assert (fer2013.usage[idx] == "Training").all()
        diff = np.abs(proportions(fer2013.labels[idx]) - reference) * 100
        assert diff.max() <= 0.5, (part, diff)


@pytest.mark.realdata
def test_real_official_split(fer2013):
    split = official_split(fer2013.usage)
    assert split.sizes() == {"train": 28709, "val": 3589, "test": 3589}
    check_disjoint(split)


@pytest.mark.realdata
def test_real_duplicate_report_counts_not_removes(fer2013, real_report):
    sizes = real_report.sizes()
    report = duplicate_report(fer2013.images, fer2013.labels, real_report)
    assert len(report) == 6
    assert list(report.index) == DUPLICATE_ROWS
    assert report.loc["within train", "images"] == 18373
    assert report.loc["test images also in train", "images"] == 5742
    # FER2013 is known to hold exact duplicates, also across train and test
    assert report.loc["within train", "duplicates"] > 0
    assert report.loc["test images also in train", "duplicates"] > 0
    assert real_report.sizes() == sizes == {"train": 18373, "val": 4594, "test": 5742}


@pytest.mark.realdata
def test_real_subsample(fer2013, real_report):
    small = subsample(real_report, fer2013.labels, 0.1, seed=0)
    assert small.sizes() == {"train": 1837, "val": 459, "test": 574}
    check_disjoint(small)
    for part, idx in small.parts().items():
        full = real_report.parts()[part]
        assert np.isin(idx, full).all()
        diff = np.abs(proportions(fer2013.labels[idx]) - proportions(fer2013.labels[full])) * 100
        assert diff.max() <= 0.5, (part, diff)
    again = subsample(real_report, fer2013.labels, 0.1, seed=0)
    np.testing.assert_array_equal(again.train, small.train)


@pytest.mark.realdata
def test_real_split_arrays(fer2013, real_report):
    small = subsample(real_report, fer2013.labels, 0.02, seed=0)
    arrays = split_arrays(fer2013.images, fer2013.labels, small)
    for part, (x, y) in arrays.items():
        assert x.dtype == np.float32 and x.shape == (len(small.parts()[part]), 48, 48, 1)
        assert 0.0 <= x.min() and x.max() <= 1.0
        assert len(y) == len(x)
