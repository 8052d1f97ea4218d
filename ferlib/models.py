"""The report's CNN and Vision Transformer (section III), in backend-neutral Keras 3.

Both take ``(48, 48, 1)`` images scaled to [0, 1] and end in a 7-way softmax. Layers carry
stable names (``conv1`` .. ``conv4``, ``block1`` .. ``blockN``) so that
:mod:`ferlib.features` can read their outputs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import keras
from keras import layers, ops

from .fer2013 import IMAGE_SIZE, NUM_CLASSES

INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)


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
        if (keras.backend.backend() != "tensorflow" or mask is not None or self.renorm or self.synchronized
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


def build_cnn(
    filters: tuple[int, ...] = (64, 128, 256, 512),
    dense_units: tuple[int, ...] = (512, 256, 64),
    dropout: float = 0.3,
    num_classes: int = NUM_CLASSES,
    input_shape: tuple[int, int, int] = INPUT_SHAPE,
    *,
    conv_dropout: bool = True,
    dense_batchnorm: bool = False,
    activation_before_batchnorm: bool = False,
    padding: str = "same",
    kernel_initializer: str = "glorot_uniform",
    precision: str = "float32",
    fused_batchnorm: bool = True,
    name: str = "cnn",
) -> keras.Model:
    """The report's CNN (3.1): four 3x3 conv blocks, then three dense layers.

    Each block is Conv2D -> BatchNorm -> ReLU -> MaxPool(2) -> Dropout(0.3); each dense
    layer (512, 256, 64 units, ReLU) is followed by dropout at the same rate. The keyword
    arguments are the choices the report's text leaves open (see :data:`CNN_READINGS`).
    `precision` is a Keras dtype policy (``"float32"``, ``"mixed_bfloat16"``); the softmax
    always computes in float32, so predictions and losses come out as float32.
    `fused_batchnorm` False builds Keras's own, slower ``BatchNormalization`` (same arithmetic).
    """
    init = {"kernel_initializer": kernel_initializer, "dtype": precision}
    batchnorm = FusedBatchNormalization if fused_batchnorm else layers.BatchNormalization
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, n_filters in enumerate(filters, start=1):
        x = layers.Conv2D(n_filters, 3, padding=padding, name=f"conv{i}", **init)(x)
        if activation_before_batchnorm:
            x = layers.Activation("relu", name=f"relu{i}", dtype=precision)(x)
            x = batchnorm(name=f"bn{i}", dtype=precision)(x)
        else:
            x = batchnorm(name=f"bn{i}", dtype=precision)(x)
            x = layers.Activation("relu", name=f"relu{i}", dtype=precision)(x)
        x = layers.MaxPooling2D(2, name=f"pool{i}", dtype=precision)(x)
        if conv_dropout:
            x = layers.Dropout(dropout, name=f"drop{i}", dtype=precision)(x)
    x = layers.Flatten(name="flatten", dtype=precision)(x)
    for i, units in enumerate(dense_units, start=1):
        if dense_batchnorm:
            x = layers.Dense(units, name=f"dense{i}", **init)(x)
            x = batchnorm(name=f"dense_bn{i}", dtype=precision)(x)
            x = layers.Activation("relu", name=f"dense_relu{i}", dtype=precision)(x)
        else:
            x = layers.Dense(units, activation="relu", name=f"dense{i}", **init)(x)
        x = layers.Dropout(dropout, name=f"dense_drop{i}", dtype=precision)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


#: Readings of the report's CNN text (3.1) that it does not rule out, each a set of
#: :func:`build_cnn` arguments. "as-built" is how the project first read it.
CNN_READINGS: dict[str, dict] = {
    "as-built": {},
    "dense-batchnorm": {"dense_batchnorm": True},
    "dense-dropout-only": {"conv_dropout": False},
    "relu-then-bn-valid": {"activation_before_batchnorm": True, "padding": "valid"},
    "he-init": {"kernel_initializer": "he_normal"},
}
CNN_READING_NOTES: dict[str, str] = {
    "as-built": "dropout after every conv block and dense layer; batch norm before ReLU, in the conv blocks only; "
                "'same' padding; Glorot initialisation",
    "dense-batchnorm": "as-built, plus batch norm in each dense layer",
    "dense-dropout-only": "as-built, but dropout only after the dense layers",
    "relu-then-bn-valid": "ReLU before batch norm, and 'valid' padding",
    "he-init": "as-built, but He initialisation",
}


@dataclass(frozen=True)
class ViTConfig:
    """Sizes of the report's ViT; the defaults are its final choice (5.2)."""

    patch_size: int = 4
    projection_dim: int = 16
    num_heads: int = 4
    transformer_layers: int = 4
    mlp_ratio: int = 2  # the block MLP is [2 * d, d], as in the keras.io ViT example
    attention_dropout: float = 0.1  # inside the blocks: attention weights and MLP
    head_dropout: float = 0.5
    split_heads: bool = False  # True: each head attends in projection_dim / num_heads dimensions
    post_norm: bool = False  # True: layer norm after each residual sum, as in the original transformer

    @property
    def label(self) -> str:
        return f"{self.transformer_layers} layers / {self.num_heads} heads / dim {self.projection_dim}"


#: The tuning story of report 5.2, in the order it was tried; the last one is the final model.
VIT_TUNING_STORY: tuple[ViTConfig, ...] = (
    ViTConfig(transformer_layers=6, num_heads=6, projection_dim=128),
    ViTConfig(transformer_layers=6, num_heads=6, projection_dim=64),
    ViTConfig(transformer_layers=4, num_heads=4, projection_dim=64),
    ViTConfig(transformer_layers=4, num_heads=4, projection_dim=32),
    ViTConfig(transformer_layers=4, num_heads=4, projection_dim=16),
)


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


def build_vit(config: ViTConfig | None = None, num_classes: int = NUM_CLASSES, input_shape=INPUT_SHAPE, *,
              precision: str = "float32", name: str = "vit", **sizes) -> keras.Model:
    """The report's ViT (3.2): 4x4 patches (144 of them), transformer blocks, global
    average pooling over the patches, dropout and a 7-way softmax.

    Pass a :class:`ViTConfig` or its fields, e.g. ``build_vit(projection_dim=32)``.
    Block ``i`` is named ``block{i}``; its attention layer ``attention{i}``. `precision` is
    a Keras dtype policy; the softmax always computes in float32.
    """
    config = ViTConfig(**{**asdict(config or ViTConfig()), **sizes})
    d = config.projection_dim
    key_dim = d // config.num_heads if config.split_heads else d
    num_patches = (input_shape[0] // config.patch_size) * (input_shape[1] // config.patch_size)
    kw = {"dtype": precision}
    inputs = keras.Input(shape=input_shape, name="image")
    patches = Patches(config.patch_size, name="patches", **kw)(inputs)
    x = PatchEncoder(num_patches, d, name="patch_encoder", **kw)(patches)

    def norm(name, x):
        return layers.LayerNormalization(epsilon=1e-6, name=name, **kw)(x)

    for i in range(1, config.transformer_layers + 1):
        h = x if config.post_norm else norm(f"norm{i}a", x)
        h = layers.MultiHeadAttention(
            num_heads=config.num_heads, key_dim=key_dim, dropout=config.attention_dropout, name=f"attention{i}", **kw
        )(h, h)
        x = layers.Add(name=f"residual{i}a", **kw)([h, x])
        if config.post_norm:
            x = norm(f"norm{i}a", x)
        h = x if config.post_norm else norm(f"norm{i}b", x)
        h = layers.Dense(config.mlp_ratio * d, activation="gelu", name=f"mlp{i}_1", **kw)(h)
        h = layers.Dropout(config.attention_dropout, name=f"mlp{i}_drop1", **kw)(h)
        h = layers.Dense(d, activation="gelu", name=f"mlp{i}_2", **kw)(h)
        h = layers.Dropout(config.attention_dropout, name=f"mlp{i}_drop2", **kw)(h)
        x = layers.Add(name=f"residual{i}b" if config.post_norm else f"block{i}", **kw)([h, x])
        if config.post_norm:
            x = norm(f"block{i}", x)
    if not config.post_norm:
        x = norm("final_norm", x)
    x = layers.GlobalAveragePooling1D(name="gap", **kw)(x)
    x = layers.Dropout(config.head_dropout, name="head_drop", **kw)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


#: Readings of the report's ViT text (3.2) that it does not rule out, as :class:`ViTConfig`
#: changes. "as-built" follows the keras.io ViT example the project started from.
VIT_READINGS: dict[str, dict] = {
    "as-built": {},
    "split-heads": {"split_heads": True},
    "post-norm": {"post_norm": True},
    "head-dropout-only": {"attention_dropout": 0.0},
    "mlp-4x": {"mlp_ratio": 4},
}
VIT_READING_NOTES: dict[str, str] = {
    "as-built": "pre-norm blocks; every head attends in the full projection dimension; MLP 2x; dropout 0.1 "
                "in the blocks and 0.5 before the softmax",
    "split-heads": "as-built, but the heads split the projection dimension between them",
    "post-norm": "layer norm after each residual sum, as in the original transformer",
    "head-dropout-only": "as-built, but no dropout inside the blocks",
    "mlp-4x": "as-built, but an MLP 4x as wide as the projection",
}


MODELS = ("cnn", "vit")
READINGS = {"cnn": CNN_READINGS, "vit": VIT_READINGS}
READING_NOTES = {"cnn": CNN_READING_NOTES, "vit": VIT_READING_NOTES}


def build_model(model: str, reading: str = "as-built", *, vit_config: ViTConfig | None = None,
                precision: str = "float32", name: str | None = None, seed: int | None = None) -> keras.Model:
    """``"cnn"`` or ``"vit"`` by name, in one of its readings (see :data:`READINGS`).

    With `seed`, the random state is seeded first, so one seed gives one set of initial weights.
    """
    if model not in READINGS:
        raise ValueError(f"unknown model {model!r}; use one of {', '.join(MODELS)}")
    if reading not in READINGS[model]:
        raise ValueError(f"unknown {model} reading {reading!r}; use one of {', '.join(READINGS[model])}")
    changes = READINGS[model][reading]
    if seed is not None:
        keras.utils.set_random_seed(seed)
    if model == "cnn":
        return build_cnn(**changes, precision=precision, name=name or "cnn")
    return build_vit(vit_config, precision=precision, name=name or "vit", **changes)


def load_model(path) -> keras.Model:
    """A model this package saved (``.keras``). Loading through this module registers its
    own layers (:class:`FusedBatchNormalization`) first, which ``keras.saving`` needs."""
    return keras.saving.load_model(path)


def count_params(model: keras.Model) -> dict[str, int]:
    trainable = sum(int(ops.size(w)) for w in model.trainable_weights)
    total = sum(int(ops.size(w)) for w in model.weights)
    return {"trainable": trainable, "non_trainable": total - trainable, "total": total}


def count_multiply_adds(model: keras.Model) -> int:
    """Multiply-adds of one image through `model`'s convolutions, dense layers, patch
    projection and attention (projections, scores, weighted sum, output); the cheap layers
    (normalisation, pooling, activations) are left out."""
    total, tokens, d = 0, None, None
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            _, h, w, filters = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * filters * kh * kw * layer.input.shape[-1]
        elif kind == "Dense":
            rows = int(math.prod(layer.output.shape[1:-1])) if len(layer.output.shape) > 2 else 1
            total += rows * layer.input.shape[-1] * layer.units
        elif kind == "PatchEncoder":  # every attention layer after it sees these tokens
            tokens, d = layer.num_patches, layer.projection_dim
            total += tokens * layer.input.shape[-1] * d
        elif kind == "MultiHeadAttention":
            config = layer.get_config()
            heads, key = config["num_heads"], config["key_dim"]
            total += 3 * tokens * d * heads * key + 2 * heads * tokens * tokens * key + tokens * heads * key * d
    return int(total)


def describe_params(model: keras.Model) -> str:
    """The parameter count in a sentence, saying which parameters training does not touch."""
    counts = count_params(model)
    if counts["non_trainable"]:
        return (f"**{counts['total']:,} parameters**, {counts['non_trainable']:,} of them statistics that batch "
                "normalisation keeps and gradient descent does not train.")
    return f"**{counts['total']:,} parameters**, all trained by gradient descent."


def model_table(model: keras.Model) -> "pd.DataFrame":
    """One row per layer: name, type, output shape and parameters; narrow enough for a
    book page (Keras' own summary is 100 characters wide and loses columns there)."""
    import pandas as pd

    rows = []
    for layer in model.layers:
        shape = getattr(layer, "output", None)
        shape = tuple(shape.shape[1:]) if shape is not None and hasattr(shape, "shape") else ()
        rows.append({"layer": layer.name, "type": type(layer).__name__,
                     "output shape": " x ".join(str(d) for d in shape),
                     "parameters": int(sum(int(ops.size(w)) for w in layer.weights))})
    return pd.DataFrame(rows)


def model_summary(model: keras.Model) -> str:
    """:func:`model_table` as text, with the totals (for a log or a terminal)."""
    table = model_table(model)
    counts = count_params(model)
    text = table.to_string(index=False, formatters={"parameters": "{:,}".format})
    return (f"{text}\nTotal parameters: {counts['total']:,} (trainable {counts['trainable']:,}, "
            f"non-trainable {counts['non_trainable']:,})")
