"""The report's augmentation (2.1) as Keras preprocessing layers, applied in the input
pipeline during training only.

:class:`BatchSequence` is a ``keras.utils.PyDataset``: it shuffles, batches and (when
given an augmenter) transforms each training batch on the fly. It runs on every Keras
backend, so the same code trains on TensorFlow in Colab and on JAX on a GPU machine.
Validation and test data never pass through it, so they are never augmented.
"""

from __future__ import annotations

import math
import threading

import keras
import numpy as np

from .fer2013 import as_model_input


def make_augmenter(
    rotation_degrees: float = 20,
    shift: float = 0.1,
    zoom: float = 0.1,
    horizontal_flip: bool = True,
    seed: int | None = None,
) -> keras.Sequential:
    """Rotation up to 20 degrees, width/height shift 0.1, zoom 0.1, horizontal flip.

    These are the report's ImageDataGenerator settings; ``fill_mode="nearest"`` matches
    that generator's default for the pixels a transform uncovers.
    """
    steps = [
        keras.layers.RandomRotation(rotation_degrees / 360, fill_mode="nearest", seed=seed),
        keras.layers.RandomTranslation(shift, shift, fill_mode="nearest", seed=None if seed is None else seed + 1),
        keras.layers.RandomZoom(zoom, zoom, fill_mode="nearest", seed=None if seed is None else seed + 2),
    ]
    if horizontal_flip:
        steps.append(keras.layers.RandomFlip("horizontal", seed=None if seed is None else seed + 3))
    return keras.Sequential(steps, name="augmentation")


def augment_batch(augmenter: keras.Sequential, images: np.ndarray) -> np.ndarray:
    """One random draw of the augmenter on a float batch ``(N, 48, 48, 1)``, as numpy."""
    out = augmenter(keras.ops.convert_to_tensor(images), training=True)
    return np.clip(keras.ops.convert_to_numpy(out), 0.0, 1.0).astype(np.float32)


def augment_examples(image: np.ndarray, n: int = 8, seed: int = 0) -> np.ndarray:
    """`n` independent draws of the augmentation on one image (for the augmentation grid)."""
    image = as_model_input(np.asarray(image).reshape(np.shape(image)[0], np.shape(image)[1]))
    augmenter = make_augmenter(seed=seed)
    return np.concatenate([augment_batch(augmenter, image) for _ in range(n)])


class BatchSequence(keras.utils.PyDataset):
    """Shuffled mini-batches of ``(x, y)``, augmented on the fly when `augmenter` is set.

    The shuffle order depends only on (seed, epoch) and each batch's augmentation only on
    (seed, epoch, batch), so a run that resumes after an interruption draws exactly the
    batches an uninterrupted run would have drawn, however the batches are scheduled.

    Two worker threads prepare batches by default. Besides overlapping the augmentation
    with training, this matters on the TensorFlow backend: without workers Keras feeds the
    sequence through an autotuned tf.data prefetch, which stalls some epochs for seconds
    on a 2-core CPU.
    """

    def __init__(self, x, y, batch_size: int = 64, augmenter=None, shuffle: bool = True, seed: int = 0, **kwargs):
        kwargs.setdefault("workers", 2)
        super().__init__(**kwargs)
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} rows but y has {len(y)}")
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.augmenter = augmenter
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self._order = self._make_order()
        self._augment_lock = threading.Lock()  # the augmenter's random state is shared

    def _make_order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.x))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.x))

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index: int):
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        x = self.x[rows]
        if self.augmenter is not None:
            with self._augment_lock:
                reseed(self.augmenter, (self.seed * 1_000_003 + self.epoch) * 100_003 + index)
                x = augment_batch(self.augmenter, x)
        return x, self.y[rows]

    def on_epoch_end(self) -> None:
        self.set_epoch(self.epoch + 1)

    def set_epoch(self, epoch: int) -> None:
        """Shuffle for `epoch`, whatever ran before (see :class:`SyncEpoch`)."""
        self.epoch = epoch
        self._order = self._make_order()


def reseed(augmenter: keras.Sequential, seed: int) -> None:
    """Reset the random state of every random layer in `augmenter` from one integer."""
    for i, layer in enumerate(augmenter.layers):
        generator = getattr(layer, "generator", None) or getattr(layer, "seed_generator", None)
        if generator is not None:
            generator.state.assign(np.asarray([(seed + 7919 * i) % 2**32, 0], dtype="uint32"))


class SyncEpoch(keras.callbacks.Callback):
    """Tell a :class:`BatchSequence` which epoch Keras is starting (resumed runs included)."""

    def __init__(self, batches: BatchSequence):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)
