"""The report's augmentation (2.1) and the training batches (BatchSequence)."""

from __future__ import annotations

import itertools
import math

import keras
import numpy as np
import pytest

from ferlib.augment import BatchSequence, augment_batch, augment_examples, make_augmenter
from ferlib.data.synthetic import make_synthetic_faces


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """One synthetic face, float (48, 48) in [0, 1]: not left-right symmetric enough to survive a flip."""
    images, _ = make_synthetic_faces(n_per_class=1, seed=4)
    return (images[0] / 255.0).astype(np.float32)


def _batches(seq: BatchSequence):
    return [seq[i] for i in range(len(seq))]


# --------------------------------------------------------------------------- the augmenter


def test_augmenter_has_the_reports_settings():
    augmenter = make_augmenter()
    assert [type(layer).__name__ for layer in augmenter.layers] == ["RandomAffine"]
    affine = augmenter.layers[0]
    assert affine.rotation_degrees == 20
    assert affine.shift == pytest.approx(0.1)
    assert affine.zoom == pytest.approx(0.1)
    assert affine.horizontal_flip
    assert affine.fill_mode == "nearest"  # ImageDataGenerator's default fill for uncovered pixels


def test_augmenter_without_flip_never_mirrors():
    x = np.zeros((1, 48, 48, 1), np.float32)
    x[0, 16:32, 16:32, 0] = 1.0
    x[0, 16:20, 16:20, 0] = 0.5  # a marked corner: top left
    still = make_augmenter(rotation_degrees=0, shift=0, zoom=0, horizontal_flip=False, seed=0)
    for _ in range(6):
        np.testing.assert_array_equal(augment_batch(still, x), x)
    flips = make_augmenter(rotation_degrees=0, shift=0, zoom=0, seed=0)
    draws = [augment_batch(flips, x) for _ in range(12)]
    mirrored = [np.array_equal(d, x[:, :, ::-1]) for d in draws]
    assert all(m or np.array_equal(d, x) for m, d in zip(mirrored, draws))  # a flip is exact
    assert 0 < sum(mirrored) < len(draws)


def test_augmentation_draws_are_within_the_reports_ranges():
    """A centred square keeps its size within the zoom range and its centre within the shift."""
    x = np.zeros((1, 48, 48, 1), np.float32)
    x[0, 16:32, 16:32, 0] = 1.0
    for kwargs, check in [
        ({"rotation_degrees": 0, "zoom": 0, "horizontal_flip": False},
         lambda rows, cols: len(rows) == len(cols) == 16 and abs(rows.mean() - 23.5) <= 4.8 + 0.5),
        ({"rotation_degrees": 0, "shift": 0, "horizontal_flip": False},
         lambda rows, cols: 16 / 1.1 - 1 <= len(rows) <= 16 / 0.9 + 1 and abs(rows.mean() - 23.5) < 1),
    ]:
        augmenter = make_augmenter(seed=2, **kwargs)
        for _ in range(8):
            draw = augment_batch(augmenter, x)[0, :, :, 0]
            rows, cols = np.flatnonzero((draw > 0.5).any(axis=1)), np.flatnonzero((draw > 0.5).any(axis=0))
            assert check(rows, cols), (kwargs, rows, cols)


def test_one_resampling_keeps_more_detail_than_chained_keras_layers():
    """Why the package has its own layer: Keras' four layers resample three times."""
    images, _ = make_synthetic_faces(n_per_class=10, seed=4)
    x = (images / 255.0).astype(np.float32)[..., None]

    def detail(batch):  # mean absolute difference between neighbouring pixels, centre crop
        centre = batch[:, 8:40, 8:40, 0]
        return np.abs(np.diff(centre, axis=1)).mean() + np.abs(np.diff(centre, axis=2)).mean()

    chained = keras.Sequential([
        keras.layers.RandomRotation(20 / 360, fill_mode="nearest", seed=0),
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=1),
        keras.layers.RandomZoom(0.1, 0.1, fill_mode="nearest", seed=2),
        keras.layers.RandomFlip("horizontal", seed=3),
    ])
    assert detail(augment_batch(make_augmenter(seed=0), x)) > 1.15 * detail(augment_batch(chained, x))


def test_augmenter_is_identity_at_inference(face):
    x = face.reshape(1, 48, 48, 1)
    out = keras.ops.convert_to_numpy(make_augmenter(seed=0)(x, training=False))
    np.testing.assert_allclose(out, x, atol=1e-6)


def test_augment_examples_shape_range_and_variety(face):
    draws = augment_examples(face, n=6, seed=0)
    assert draws.shape == (6, 48, 48, 1)
    assert draws.dtype == np.float32
    assert draws.min() >= 0.0 and draws.max() <= 1.0
    original = face.reshape(48, 48, 1)
    for draw in draws:
        assert np.abs(draw - original).mean() > 1e-3, "a draw equals the original image"
    for a, b in itertools.combinations(range(len(draws)), 2):
        assert np.abs(draws[a] - draws[b]).mean() > 1e-3, f"draws {a} and {b} are identical"
    # still the same picture, roughly: augmentation moves a face, it does not replace it
    assert abs(float(draws.mean()) - float(face.mean())) < 0.1


def test_augment_examples_deterministic_for_a_seed(face):
    a = augment_examples(face, n=4, seed=3)
    b = augment_examples(face, n=4, seed=3)
    np.testing.assert_array_equal(a, b)
    c = augment_examples(face, n=4, seed=4)
    assert not np.allclose(a, c)


def test_augment_examples_accepts_uint8(face):
    as_uint8 = np.rint(face * 255).astype(np.uint8)
    a = augment_examples(as_uint8, n=2, seed=1)
    b = augment_examples(as_uint8.astype(np.float32) / 255.0, n=2, seed=1)
    assert a.max() <= 1.0
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_augment_batch_clips_to_unit_range():
    x = np.random.default_rng(0).random((8, 48, 48, 1), dtype=np.float32)
    out = augment_batch(make_augmenter(seed=1), x)
    assert out.shape == x.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not np.allclose(out, x)


# --------------------------------------------------------------------------- BatchSequence


def _indexed_data(n: int):
    """Images whose every pixel is the row number / n, and labels = row number."""
    ids = np.arange(n)
    x = np.broadcast_to((ids / n).astype(np.float32)[:, None, None, None], (n, 48, 48, 1)).copy()
    return x, ids


def test_batch_sequence_every_row_once_per_epoch():
    x, y = _indexed_data(50)
    seq = BatchSequence(x, y, batch_size=16, seed=0)
    assert len(seq) == math.ceil(50 / 16) == 4
    for _ in range(3):
        batches = _batches(seq)
        assert [len(b[1]) for b in batches] == [16, 16, 16, 2]
        rows = np.concatenate([b[1] for b in batches])
        assert sorted(rows.tolist()) == list(range(50))  # every row exactly once
        assert not np.array_equal(rows, np.arange(50))  # shuffled
        seq.on_epoch_end()


def test_batch_sequence_without_augmenter_returns_the_source_rows():
    x, y = _indexed_data(40)
    seq = BatchSequence(x, y, batch_size=16, seed=1)
    for xb, yb in _batches(seq):
        np.testing.assert_array_equal(xb, x[yb])  # x and y stay aligned, x untouched


def test_batch_sequence_order_changes_between_epochs():
    x, y = _indexed_data(64)
    seq = BatchSequence(x, y, batch_size=64, seed=0)
    first = seq[0][1].copy()
    seq.on_epoch_end()
    second = seq[0][1].copy()
    assert sorted(first) == sorted(second)
    assert not np.array_equal(first, second)


def test_batch_sequence_same_seed_same_order_other_seed_other_order():
    x, y = _indexed_data(64)

    def orders(seed, epochs=3):
        seq = BatchSequence(x, y, batch_size=20, seed=seed)
        out = []
        for _ in range(epochs):
            out.append(np.concatenate([b[1] for b in _batches(seq)]))
            seq.on_epoch_end()
        return out

    a, b, c = orders(5), orders(5), orders(6)
    for ea, eb in zip(a, b):
        np.testing.assert_array_equal(ea, eb)
    assert not np.array_equal(a[0], c[0])


def test_batch_sequence_no_shuffle_keeps_order():
    x, y = _indexed_data(10)
    seq = BatchSequence(x, y, batch_size=4, shuffle=False)
    rows = np.concatenate([b[1] for b in _batches(seq)])
    np.testing.assert_array_equal(rows, np.arange(10))


def test_batch_sequence_applies_the_augmenter():
    images, labels = make_synthetic_faces(n_per_class=3, seed=0)
    x = (images[..., None] / 255.0).astype(np.float32)
    ids = np.arange(len(x))
    seq = BatchSequence(x, ids, batch_size=7, augmenter=make_augmenter(seed=0), seed=0)
    for xb, yb in _batches(seq):
        assert xb.shape == (len(yb), 48, 48, 1)
        assert xb.min() >= 0.0 and xb.max() <= 1.0
        # labels still name the source rows; the images are transformed versions of them
        assert not np.allclose(xb, x[yb])
        per_row = np.abs(xb - x[yb]).reshape(len(yb), -1).mean(axis=1)
        assert np.all(per_row > 1e-4)


def test_batch_sequence_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="rows"):
        BatchSequence(np.zeros((5, 48, 48, 1), np.float32), np.zeros(4, int))


def test_the_compilable_affine_sampler_gives_tensorflows_numbers():
    """RandomAffine samples with plain gathers (so that XLA and JAX compile it); the result
    must be the one ops.image.affine_transform gives, for the report's random maps."""
    import keras

    from ferlib.augment import RandomAffine, affine_bilinear

    x = np.random.default_rng(0).random((16, 48, 48, 1), dtype=np.float32)
    transforms = RandomAffine(seed=3).transforms(16, 48, 48)
    expected = keras.ops.image.affine_transform(x, transforms, interpolation="bilinear", fill_mode="nearest")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(affine_bilinear(x, transforms)),
                               keras.ops.convert_to_numpy(expected), atol=1e-5)
