"""Tests for ferlib.synthetic: the SYNTHETIC FER2013-like data set."""

import hashlib

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits  # installed with scikit-learn

from ferlib.data.synthetic import make_synthetic_faces

N_CLASSES = 7


@pytest.fixture(scope="module")
def small():
    return make_synthetic_faces(n_per_class=30, seed=0)


@pytest.fixture(scope="module")
def medium():
    return make_synthetic_faces(n_per_class=150, seed=0)


def _split(labels):
    idx = np.arange(labels.size)
    return train_test_split(idx, train_size=0.7, stratify=labels, random_state=0)


def test_shapes_dtypes_and_class_counts(small):
    images, labels = small
    assert images.shape == (7 * 30, 48, 48)
    assert images.dtype == np.uint8
    assert labels.shape == (7 * 30,)
    assert labels.dtype == np.int64
    assert set(np.unique(labels)) == set(range(N_CLASSES))
    assert np.bincount(labels, minlength=N_CLASSES).tolist() == [30] * N_CLASSES


def test_default_arguments_give_100_per_class():
    images, labels = make_synthetic_faces()
    assert images.shape == (700, 48, 48)
    assert np.bincount(labels).tolist() == [100] * N_CLASSES


def test_n_per_class_one_works():
    images, labels = make_synthetic_faces(n_per_class=1, seed=5)
    assert images.shape == (7, 48, 48)
    assert sorted(labels.tolist()) == list(range(N_CLASSES))


def test_value_range_is_used(small):
    images, _ = small
    flat = images.reshape(len(images), -1).astype(np.float64)
    # The whole set spans most of 0..255 ...
    assert flat.min() <= 30 and flat.max() >= 225
    # ... and every single image has real contrast (a face, not a flat patch).
    assert (flat.max(axis=1) - flat.min(axis=1)).min() >= 50
    assert flat.std(axis=1).min() >= 5


def test_rows_are_shuffled(small):
    _, labels = small
    assert np.any(np.diff(labels) < 0), "labels come out sorted, rows were not shuffled"
    # Neither class-blocked nor a plain round-robin of classes.
    assert not np.array_equal(labels[:N_CLASSES], np.arange(N_CLASSES))


def test_same_seed_is_byte_identical():
    a_img, a_lab = make_synthetic_faces(n_per_class=10, seed=123)
    b_img, b_lab = make_synthetic_faces(n_per_class=10, seed=123)
    assert a_img.tobytes() == b_img.tobytes()
    assert a_lab.tobytes() == b_lab.tobytes()


def test_different_seed_gives_different_images():
    a_img, a_lab = make_synthetic_faces(n_per_class=10, seed=1)
    b_img, b_lab = make_synthetic_faces(n_per_class=10, seed=2)
    assert a_img.tobytes() != b_img.tobytes()
    assert not np.array_equal(a_lab, b_lab)
    # Not just a reshuffle: the sorted-by-class images differ too.
    a_sorted = a_img[np.argsort(a_lab, kind="stable")].astype(np.int16)
    b_sorted = b_img[np.argsort(b_lab, kind="stable")].astype(np.int16)
    assert np.abs(a_sorted - b_sorted).mean() > 10


def test_no_two_images_identical(medium):
    images, _ = medium
    digests = {hashlib.sha1(img.tobytes()).hexdigest() for img in images}
    assert len(digests) == len(images)


def test_images_within_a_class_vary(small):
    images, labels = small
    iu = np.triu_indices(20, k=1)
    for c in range(N_CLASSES):
        imgs = images[labels == c][:20].reshape(20, -1).astype(np.float64)
        # Raw pixels: brightness, pose, noise all vary.
        diff = np.abs(imgs[:, None, :] - imgs[None, :, :]).mean(axis=-1)[iu]
        assert diff.mean() > 20, f"class {c}: images too alike"
        assert diff.min() > 3, f"class {c}: near-duplicate images"
        # After removing per-image brightness/contrast, shape and pose still vary.
        z = (imgs - imgs.mean(1, keepdims=True)) / imgs.std(1, keepdims=True)
        zdiff = np.abs(z[:, None, :] - z[None, :, :]).mean(axis=-1)[iu]
        assert zdiff.mean() > 0.3, f"class {c}: only brightness varies"


def test_open_mouth_of_surprise_is_darker_than_neutral(medium):
    """The labels follow the drawn geometry: Surprise has a dark, open mouth."""
    images, labels = medium
    imgs = images.astype(np.float64)
    mouth = imgs[:, 33:40, 20:28].mean(axis=(1, 2))
    mid_face = imgs[:, 16:32, 14:34].mean(axis=(1, 2))
    rel = mouth / mid_face
    surprise, neutral = rel[labels == 5].mean(), rel[labels == 6].mean()
    assert surprise < neutral - 0.15


def test_learnable_from_pixels_but_not_from_brightness(medium):
    images, labels = medium
    x = images.reshape(len(images), -1).astype(np.float32) / 255.0
    train, test = _split(labels)

    pixels = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=300))
    # One BLAS thread: ~1 s; multi-threaded BLAS on a busy 2-core box can take 10x longer.
    with threadpool_limits(limits=1):
        pixels.fit(x[train], labels[train])
    acc_pixels = pixels.score(x[test], labels[test])
    # Learnable: well above chance (1/7 = 0.14) ...
    assert acc_pixels > 0.45, f"raw-pixel accuracy {acc_pixels:.3f}"
    # ... but not trivial: expressions overlap (weak ones look neutral).
    assert acc_pixels < 0.9, f"raw-pixel accuracy {acc_pixels:.3f}: too easy"

    brightness = x.mean(axis=1, keepdims=True)
    bright = make_pipeline(StandardScaler(), LogisticRegression())
    bright.fit(brightness[train], labels[train])
    acc_bright = bright.score(brightness[test], labels[test])
    assert acc_bright < 0.35, f"mean brightness alone gives {acc_bright:.3f}"


@pytest.mark.parametrize("bad", [0, -1, -100, 1.5, 2.0, "10", None, True, False])
def test_bad_n_per_class_raises(bad):
    with pytest.raises(ValueError, match="n_per_class"):
        make_synthetic_faces(n_per_class=bad)


@pytest.mark.parametrize("bad", [-1, 1.5, "0", None])
def test_bad_seed_raises(bad):
    with pytest.raises(ValueError, match="seed"):
        make_synthetic_faces(n_per_class=2, seed=bad)


def test_numpy_integer_arguments_are_accepted():
    a_img, a_lab = make_synthetic_faces(n_per_class=np.int64(3), seed=np.int32(7))
    b_img, b_lab = make_synthetic_faces(n_per_class=3, seed=7)
    assert a_img.tobytes() == b_img.tobytes()
    assert np.array_equal(a_lab, b_lab)
