"""The report's augmentation (2.1) as one Keras layer (:class:`RandomAffine`), applied to
training batches only, in one of two places:

* on the host, in the input pipeline: :class:`BatchSequence` is a ``keras.utils.PyDataset``
  that shuffles, batches and (when given an augmenter) transforms each training batch. Each
  batch's draw depends only on (seed, epoch, batch), which the published CPU runs rely on
  to resume bit for bit. It costs a trip to the host and back per batch, under a lock.
* on the device, inside the compiled training step: :func:`augmenting_trainer` puts the
  augmenter in front of the model for ``fit``, so a GPU augments whole batches itself and
  never waits for the host. The draws then come from the layer's seed generator, whose
  state every checkpoint keeps.

:func:`augments_in_step` chooses between them. Validation and test data are never augmented.
"""

from __future__ import annotations

import math
import threading

import keras
import numpy as np

from .fer2013 import as_model_input
from .parameters import AUGMENT_ON


@keras.saving.register_keras_serializable(package="ferlib")
class RandomAffine(keras.layers.Layer):
    """A random rotation, shift, zoom and horizontal flip of each image, composed into one
    affine map and resampled once, as Keras' ``ImageDataGenerator`` did.

    Keras 3 offers each transform as its own layer; chained, each resamples (bilinear) the
    output of the one before, and three resamplings blur a 48x48 face visibly. Here the
    draws follow ``ImageDataGenerator``: an angle uniform in +-`rotation_degrees`, a shift
    uniform in +-`shift` of the image size along each axis, a zoom factor uniform in
    [1 - `zoom`, 1 + `zoom`] along each axis, a flip with probability one half; the pixels
    the map uncovers repeat the nearest edge pixel (``fill_mode``). Identity at inference.
    """

    def __init__(self, rotation_degrees: float = 20, shift: float = 0.1, zoom: float = 0.1,
                 horizontal_flip: bool = True, fill_mode: str = "nearest", seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rotation_degrees, self.shift, self.zoom = rotation_degrees, shift, zoom
        self.horizontal_flip, self.fill_mode, self.seed = horizontal_flip, fill_mode, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def transforms(self, batch: int, height: int, width: int):
        """One random ``(batch, 8)`` output-to-input map each, as ``ops.image.affine_transform`` takes it."""
        ops = keras.ops

        def uniform(low, high):
            return keras.random.uniform((batch,), low, high, seed=self.seed_generator)

        angle = uniform(-1.0, 1.0) * (self.rotation_degrees * math.pi / 180)
        shift_x, shift_y = uniform(-self.shift, self.shift) * width, uniform(-self.shift, self.shift) * height
        zoom_x, zoom_y = uniform(1 - self.zoom, 1 + self.zoom), uniform(1 - self.zoom, 1 + self.zoom)
        flip = ops.where(uniform(0.0, 1.0) < 0.5, -1.0, 1.0) if self.horizontal_flip else ops.ones((batch,))
        cos, sin = ops.cos(angle), ops.sin(angle)
        # input = centre + R(angle) Z (F output - centre) + shift, F mirroring x when flipped
        a0, a1 = cos * zoom_x * flip, -sin * zoom_y
        b0, b1 = sin * zoom_x * flip, cos * zoom_y
        cx, cy = (width - 1) / 2, (height - 1) / 2
        a2 = cx - a0 * cx - a1 * cy + shift_x
        b2 = cy - b0 * cx - b1 * cy + shift_y
        zeros = ops.zeros((batch,))
        return ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)

    def call(self, images, training=True):
        if not training:
            return images
        shape = keras.ops.shape(images)
        transforms = self.transforms(shape[0], images.shape[1], images.shape[2])
        images = keras.ops.cast(images, "float32")
        if self.fill_mode == "nearest":
            out = affine_bilinear(images, transforms)
        else:
            out = keras.ops.image.affine_transform(images, transforms, interpolation="bilinear", fill_mode=self.fill_mode)
        return keras.ops.cast(out, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rotation_degrees": self.rotation_degrees, "shift": self.shift,
                "zoom": self.zoom, "horizontal_flip": self.horizontal_flip, "fill_mode": self.fill_mode,
                "seed": self.seed}


@keras.saving.register_keras_serializable(package="ferlib")
class TrainingCrop(keras.layers.Layer):
    """The centre `size` x `size` of each image in training, the whole image at inference.

    Behind a random shift of up to half the margin, it trains a network on random crops
    drawn for each face (Khaireddin and Chen train on 40 x 40 crops of the 48 x 48 faces),
    which costs (size / 48)^2 of the whole face's arithmetic. An all-convolutional network
    with global pooling then scores the whole face. Keras's ``RandomCrop`` would draw one
    crop for a whole batch (keras-team/keras#16399)."""

    def __init__(self, size: int, **kwargs):
        super().__init__(**kwargs)
        self.size = size

    def call(self, images, training=True):
        if not training:
            return images
        top = (images.shape[1] - self.size) // 2
        left = (images.shape[2] - self.size) // 2
        return images[:, top:top + self.size, left:left + self.size]

    def compute_output_shape(self, input_shape):
        # Two sizes, one in training and one at inference: the layers after it must not fix one.
        return (input_shape[0], None, None, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def affine_bilinear(images, transforms):
    """``ops.image.affine_transform(images, transforms, interpolation="bilinear",
    fill_mode="nearest")`` in plain gathers and arithmetic, for ``(N, H, W, C)`` float images
    and ``(N, 8)`` output-to-input maps.

    The same numbers as TensorFlow's kernel (a test checks it), but where that kernel has no
    XLA version on a CPU, this compiles anywhere (XLA, JAX), so the augmentation can run inside
    a compiled training step (``benchmarks/bench_vit.py``).
    """
    ops = keras.ops
    height, width, channels = images.shape[1], images.shape[2], images.shape[3]
    ys, xs = ops.meshgrid(ops.arange(height, dtype="float32"), ops.arange(width, dtype="float32"), indexing="ij")
    xs, ys = ops.reshape(xs, (1, -1)), ops.reshape(ys, (1, -1))
    a0, a1, a2, b0, b1, b2 = (transforms[:, i:i + 1] for i in range(6))
    # "nearest" fill: a point outside the image reads the nearest edge pixel
    x_in = ops.clip(a0 * xs + a1 * ys + a2, 0.0, width - 1.0)
    y_in = ops.clip(b0 * xs + b1 * ys + b2, 0.0, height - 1.0)
    x0, y0 = ops.floor(x_in), ops.floor(y_in)
    fx, fy = ops.expand_dims(x_in - x0, -1), ops.expand_dims(y_in - y0, -1)
    x0, y0 = ops.cast(x0, "int32"), ops.cast(y0, "int32")
    x1, y1 = ops.minimum(x0 + 1, width - 1), ops.minimum(y0 + 1, height - 1)
    flat = ops.reshape(images, (-1, height * width, channels))

    def pixels(y, x):
        return ops.take_along_axis(flat, ops.expand_dims(y * width + x, -1), axis=1)

    top = pixels(y0, x0) * (1 - fx) + pixels(y0, x1) * fx
    bottom = pixels(y1, x0) * (1 - fx) + pixels(y1, x1) * fx
    return ops.reshape(top * (1 - fy) + bottom * fy, (-1, height, width, channels))


def make_augmenter(
    rotation_degrees: float = 20,
    shift: float = 0.1,
    zoom: float = 0.1,
    horizontal_flip: bool = True,
    seed: int | None = None,
) -> keras.Sequential:
    """Rotation up to 20 degrees, width/height shift 0.1, zoom 0.1, horizontal flip: the
    report's ImageDataGenerator settings, drawn and applied as that generator did (one
    :class:`RandomAffine`); ``fill_mode="nearest"`` is its default for uncovered pixels."""
    return keras.Sequential([RandomAffine(rotation_degrees, shift, zoom, horizontal_flip, seed=seed,
                                          name="random_affine")], name="augmentation")


#: The settings that decide what an augmentation layer draws (its seed and name do not).
_AUGMENT_SETTINGS = ("rotation_degrees", "shift", "zoom", "horizontal_flip", "fill_mode")


def check_same_augmenter(augmenter: keras.Sequential) -> None:
    """Raise AssertionError unless `augmenter` (a page's Keras code) draws what
    :func:`make_augmenter`, the augmenter phase 2 trains with, draws: the same layers with the
    same settings."""
    shown, used = list(augmenter.layers), list(make_augmenter().layers)
    differences = []
    if [type(layer).__name__ for layer in shown] != [type(layer).__name__ for layer in used]:
        differences.append(f"layers {[type(x).__name__ for x in shown]}, expected {[type(x).__name__ for x in used]}")
    else:
        for mine, theirs in zip(shown, used):
            mine_config, their_config = mine.get_config(), theirs.get_config()
            differences += [f"{type(mine).__name__}.{key} = {mine_config.get(key)!r}, expected {their_config.get(key)!r}"
                            for key in _AUGMENT_SETTINGS if mine_config.get(key) != their_config.get(key)]
    assert not differences, "the page's augmenter is not the one phase 2 trains with:\n" + "\n".join(differences)


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


def augments_in_step(augment_on: str = "auto") -> bool:
    """Whether training augments inside the compiled step (``"device"``) rather than in the
    input pipeline (``"host"``); ``"auto"`` chooses the step where a GPU trains, and the
    pipeline on a CPU. On a 2-core CPU the step is the faster of the two as well (an epoch of
    the report's CNN 0.92 times the pipeline's, ``benchmarks/results/bench_augment_2026-12-05.txt``),
    but the published runs augmented in the pipeline, and another place draws other
    augmentations: a training signed one way is not reused for the other, so ``"auto"`` keeps
    the CPU's published trainings reusable."""
    if augment_on not in AUGMENT_ON:
        raise ValueError(f"augment_on = {augment_on!r}; use one of {', '.join(map(repr, AUGMENT_ON))}")
    if augment_on == "auto":
        from .provenance import gpu_compute_capability

        return gpu_compute_capability() is not None
    return augment_on == "device"


def augmenting_trainer(model: keras.Model, augmenter: keras.Sequential) -> keras.Model:
    """`model` behind `augmenter`, for ``fit``: the augmentation runs inside the compiled
    training step, on the device, and not at all in ``evaluate`` or ``predict`` (its layers
    act only when training). The two share their weights, so training this trains `model`;
    save `model`, not this."""
    return keras.Sequential([keras.Input(model.input_shape[1:]), augmenter, model], name=f"{model.name}_augmented")


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
