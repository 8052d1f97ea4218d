"""Layers the package's networks share, registered with Keras so saved models load."""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="ferlib")
class FusedBatchNormalization(layers.BatchNormalization):
    """Keras's ``BatchNormalization``, computed by TensorFlow's fused kernel on that backend.

    Keras 3 normalises with a chain of separate ops (a cast to float32, the batch moments,
    the normalisation, a cast back; keras-team/keras-core#225), where tf.keras 2 called one
    fused kernel. On a CPU that chain takes about half of the report's CNN's training step
    in ``mixed_bfloat16`` and eats most of that policy's gain (``benchmarks/bench_precision.py``
    measures it). This layer has the same weights, the same arithmetic (float32 statistics,
    output in the layer's compute dtype) and the same moving-average update; it falls back
    to Keras's code on other backends, with a mask, renorm, or an axis other than the last.
    """

    def call(self, inputs, training=None, mask=None):
        rank = len(inputs.shape)
        # Keras 3.15 has renorm; Colab's 3.13 has no such attribute
        renorm, synchronized = getattr(self, "renorm", False), getattr(self, "synchronized", False)
        if (keras.backend.backend() != "tensorflow" or mask is not None or renorm or synchronized
                or not (self.scale and self.center) or rank not in (2, 4) or self.axis not in (-1, rank - 1)):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        # The kernel takes NHWC; a dense layer's (batch, units) is (batch, 1, 1, units).
        x = inputs if rank == 4 else tf.reshape(inputs, [-1, 1, 1, inputs.shape[-1]])
        gamma, beta = ops.cast(self.gamma, "float32"), ops.cast(self.beta, "float32")
        if training and self.trainable:
            y, mean, variance = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, epsilon=self.epsilon,
                                                                 is_training=True)
            # The kernel returns the unbiased (n - 1) variance for the moving average, where
            # Keras averages the biased one it normalised with.
            n = ops.cast(ops.size(x) // ops.shape(x)[-1], "float32")
            variance = variance * (n - 1.0) / ops.maximum(n, 1.0)
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x, gamma, beta, mean=ops.cast(self.moving_mean, "float32"),
                variance=ops.cast(self.moving_variance, "float32"), epsilon=self.epsilon, is_training=False)
        if rank == 2:
            y = tf.reshape(y, tf.shape(inputs))
        return ops.cast(y, self.compute_dtype)


@keras.saving.register_keras_serializable(package="ferlib")
class Patches(layers.Layer):
    """Cut images into non-overlapping ``patch_size`` squares, one flat vector per patch."""

    def __init__(self, patch_size: int, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = patch_size

    def call(self, images):
        patches = ops.image.extract_patches(images, size=self.patch_size)
        batch, rows, cols, depth = ops.shape(patches)
        return ops.reshape(patches, (batch, rows * cols, depth))

    def compute_output_shape(self, input_shape):
        n = (input_shape[1] // self.patch_size) * (input_shape[2] // self.patch_size)
        return (input_shape[0], n, self.patch_size * self.patch_size * input_shape[3])

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size}


@keras.saving.register_keras_serializable(package="ferlib")
class PatchEncoder(layers.Layer):
    """Project each patch to ``projection_dim`` and add a learned position embedding."""

    def __init__(self, num_patches: int, projection_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.num_patches = num_patches
        self.projection_dim = projection_dim
        self.projection = layers.Dense(projection_dim, name="projection", dtype=self.dtype_policy)
        self.position_embedding = layers.Embedding(num_patches, projection_dim, name="position", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.projection.build(input_shape)
        self.position_embedding.build((self.num_patches,))
        self.built = True

    def call(self, patches):
        positions = ops.expand_dims(ops.arange(self.num_patches), 0)
        return self.projection(patches) + self.position_embedding(positions)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_patches, self.projection_dim)

    def get_config(self):
        return {**super().get_config(), "num_patches": self.num_patches, "projection_dim": self.projection_dim}


@keras.saving.register_keras_serializable(package="ferlib")
class AddPositions(layers.Layer):
    """Add a learned position embedding to a sequence of tokens ``(batch, tokens, dim)``.

    :class:`PatchEncoder` projects and adds in one layer; the later chapters' transformers
    project with a plain ``Dense`` (which :func:`~ferlib.models.measure.count_multiply_adds`
    counts like any other) and add the positions with this layer."""

    def build(self, input_shape):
        self.positions = self.add_weight(name="positions", shape=tuple(input_shape[1:]),
                                         initializer=keras.initializers.RandomNormal(stddev=0.02))

    def call(self, tokens):
        return tokens + ops.cast(self.positions, tokens.dtype)


@keras.saving.register_keras_serializable(package="ferlib")
class ShiftedImages(layers.Layer):
    """Shifted Patch Tokenization's input (Lee, Lee and Song 2021): the image and four copies
    moved diagonally by `shift` pixels (zeros where they uncover), stacked as channels, so
    that each patch cut from the result also sees its neighbours' edges."""

    def __init__(self, shift: int, **kwargs):
        super().__init__(**kwargs)
        self.shift = shift

    def call(self, images):
        s = self.shift
        padded = ops.pad(images, ((0, 0), (s, s), (s, s), (0, 0)))
        height, width = images.shape[1], images.shape[2]
        # The copy moved by (dy, dx) reads the padded image from (s - dy, s - dx).
        copies = [padded[:, s - dy:s - dy + height, s - dx:s - dx + width, :]
                  for dy, dx in ((-s, -s), (-s, s), (s, -s), (s, s))]
        return ops.concatenate([images, *copies], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 5 * input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "shift": self.shift}


@keras.saving.register_keras_serializable(package="ferlib")
class LocalitySelfAttention(layers.MultiHeadAttention):
    """Locality Self-Attention (Lee, Lee and Song 2021): Keras's multi-head attention with a
    learned softmax temperature (starting at the usual sqrt(key_dim)) and no token attending
    to itself, which sharpens the attention of a transformer trained on little data.

    Call it as self-attention, ``layer(x, x)``."""

    def build(self, query_shape, value_shape, key_shape=None):
        super().build(query_shape, value_shape, key_shape)
        self.temperature = self.add_weight(name="temperature", shape=(),
                                           initializer=keras.initializers.Constant(float(self._key_dim) ** 0.5))

    def call(self, query, value, key=None, attention_mask=None, **kwargs):
        tokens = query.shape[1]
        others = ops.logical_not(ops.eye(tokens, dtype="bool"))[None]  # (1, tokens, tokens)
        others = ops.broadcast_to(others, (ops.shape(query)[0], tokens, tokens))
        if attention_mask is not None:
            others = ops.logical_and(others, ops.cast(attention_mask, "bool"))
        return super().call(query, value, key, attention_mask=others, **kwargs)

    def _compute_attention(self, query, key, value, *args, **kwargs):
        # Keras divides the query by sqrt(key_dim); rescale so that it is divided by the temperature.
        factor = (float(self._key_dim) ** 0.5) / ops.cast(self.temperature, query.dtype)
        return super()._compute_attention(query * factor, key, value, *args, **kwargs)
