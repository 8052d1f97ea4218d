"""The report's CNN and Vision Transformer (section III), in backend-neutral Keras 3.

Both take ``(48, 48, 1)`` images scaled to [0, 1] and end in a 7-way softmax. Layers carry
stable names (``conv1`` .. ``conv4``, ``block1`` .. ``blockN``) so that
:mod:`ferlib.features` can read their outputs.
"""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from dataclasses import asdict, dataclass

import keras
from keras import layers, ops

from .data import IMAGE_SIZE, NUM_CLASSES

INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)


def build_cnn(
    filters: tuple[int, ...] = (64, 128, 256, 512),
    dense_units: tuple[int, ...] = (512, 256, 64),
    dropout: float = 0.3,
    num_classes: int = NUM_CLASSES,
    input_shape: tuple[int, int, int] = INPUT_SHAPE,
) -> keras.Model:
    """The report's CNN (3.1): four 3x3 conv blocks, then three dense layers.

    Each block is Conv2D -> BatchNorm -> ReLU -> MaxPool(2) -> Dropout(0.3); each dense
    layer (512, 256, 64 units, ReLU) is followed by dropout at the same rate.
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, n_filters in enumerate(filters, start=1):
        x = layers.Conv2D(n_filters, 3, padding="same", name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
        x = layers.Dropout(dropout, name=f"drop{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense_units, start=1):
        x = layers.Dense(units, activation="relu", name=f"dense{i}")(x)
        x = layers.Dropout(dropout, name=f"dense_drop{i}")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="softmax")(x)
    return keras.Model(inputs, outputs, name="cnn")


@dataclass(frozen=True)
class ViTConfig:
    """Sizes of the report's ViT; the defaults are its final choice (5.2)."""

    patch_size: int = 4
    projection_dim: int = 16
    num_heads: int = 4
    transformer_layers: int = 4
    mlp_ratio: int = 2  # the block MLP is [2 * d, d], as in the keras.io ViT example
    attention_dropout: float = 0.1
    head_dropout: float = 0.5

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
        self.projection = layers.Dense(projection_dim, name="projection")
        self.position_embedding = layers.Embedding(num_patches, projection_dim, name="position")

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


def build_vit(config: ViTConfig | None = None, num_classes: int = NUM_CLASSES, input_shape=INPUT_SHAPE, **sizes) -> keras.Model:
    """The report's ViT (3.2): 4x4 patches (144 of them), pre-norm transformer blocks,
    global average pooling over the patches, dropout and a 7-way softmax.

    Pass a :class:`ViTConfig` or its fields, e.g. ``build_vit(projection_dim=32)``.
    Block ``i`` is named ``block{i}``; its attention layer ``attention{i}``.
    """
    config = ViTConfig(**{**asdict(config or ViTConfig()), **sizes})
    d = config.projection_dim
    num_patches = (input_shape[0] // config.patch_size) * (input_shape[1] // config.patch_size)
    inputs = keras.Input(shape=input_shape, name="image")
    patches = Patches(config.patch_size, name="patches")(inputs)
    x = PatchEncoder(num_patches, d, name="patch_encoder")(patches)
    for i in range(1, config.transformer_layers + 1):
        h = layers.LayerNormalization(epsilon=1e-6, name=f"norm{i}a")(x)
        h = layers.MultiHeadAttention(
            num_heads=config.num_heads, key_dim=d, dropout=config.attention_dropout, name=f"attention{i}"
        )(h, h)
        x = layers.Add(name=f"residual{i}a")([h, x])
        h = layers.LayerNormalization(epsilon=1e-6, name=f"norm{i}b")(x)
        h = layers.Dense(config.mlp_ratio * d, activation="gelu", name=f"mlp{i}_1")(h)
        h = layers.Dropout(config.attention_dropout, name=f"mlp{i}_drop1")(h)
        h = layers.Dense(d, activation="gelu", name=f"mlp{i}_2")(h)
        h = layers.Dropout(config.attention_dropout, name=f"mlp{i}_drop2")(h)
        x = layers.Add(name=f"block{i}")([h, x])
    x = layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    x = layers.GlobalAveragePooling1D(name="gap")(x)
    x = layers.Dropout(config.head_dropout, name="head_drop")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="softmax")(x)
    return keras.Model(inputs, outputs, name="vit")


def build_model(kind: str, **kwargs) -> keras.Model:
    """``"cnn"`` or ``"vit"`` by name (for notebook parameters)."""
    builders = {"cnn": build_cnn, "vit": build_vit}
    if kind not in builders:
        raise ValueError(f"unknown model {kind!r}; use 'cnn' or 'vit'")
    return builders[kind](**kwargs)


def count_params(model: keras.Model) -> dict[str, int]:
    trainable = sum(int(ops.size(w)) for w in model.trainable_weights)
    total = sum(int(ops.size(w)) for w in model.weights)
    return {"trainable": trainable, "non_trainable": total - trainable, "total": total}


def model_summary(model: keras.Model) -> str:
    """Keras' layer-by-layer summary as text (for a notebook cell or a log)."""
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        model.summary(line_length=100)
    return buffer.getvalue()
