"""Transformers built for small images (chapter "Why the ViT loses, tested").

The report blames its ViT's loss on what a transformer lacks: locality, translation
equivariance and efficiency with little data, and on patches too coarse for 48 x 48 faces.
Each network here gives a transformer back one of those, so that the chapter can measure
which of them close the gap:

* ``vit-spt`` (Lee, Lee and Song 2021, "Vision Transformer for Small-Size Datasets"): Shifted
  Patch Tokenization, each patch also seeing its neighbours' edges, and Locality Self-Attention
  (a learned softmax temperature, no token attending to itself);
* ``cct`` (Hassani et al. 2021, the Compact Convolutional Transformer): a small convolutional
  tokenizer in place of the patches, and sequence pooling (a learned weighting of the tokens)
  in place of the average;
* ``hybrid``: the report's CNN's first two conv blocks as the stem, their 12 x 12 map as the
  tokens.

All share one builder, :func:`build_transformer`, and one dataclass, :class:`TransformerConfig`;
the registered names differ only in its fields. Their blocks are pre-norm and named as the
report's ViT's (``norm{i}a``, ``attention{i}``, ``block{i}``), so that :mod:`ferlib.features`
reads their attention the same way. With ``attention_dropout`` 0 (the default) Keras computes
the attention with its fused ``ops.dot_product_attention``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import keras
from keras import layers

from ..fer2013 import IMAGE_SIZE, NUM_CLASSES
from .layers import AddPositions, LocalitySelfAttention, Patches, ShiftedImages
from .registry import ModelSpec, register_model

INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)
TOKENIZERS = ("patches", "shifted-patches", "conv", "cnn-stem")
POOLINGS = ("average", "sequence")


@dataclass(frozen=True)
class TransformerConfig:
    """How :func:`build_transformer` cuts a face into tokens and what it does with them."""

    tokenizer: str = "patches"  # one of TOKENIZERS
    patch_size: int = 4  # "patches" and "shifted-patches": the side of a square patch
    # "conv": 3x3 convolutions with ReLU, each followed by a 3x3 max-pool of stride 2 (CCT's);
    # "cnn-stem": the report's CNN's conv blocks (conv, batch norm, ReLU, 2x2 max-pool).
    stem_widths: tuple[int, ...] = (32, 64)
    projection_dim: int = 64
    num_heads: int = 4  # the heads split the projection dimension between them
    transformer_layers: int = 4
    mlp_ratio: int = 2
    attention_dropout: float = 0.0  # 0: Keras's fused attention kernel
    block_dropout: float = 0.1  # after each MLP layer
    drop_path: float = 0.1  # stochastic depth, growing linearly from 0 to this at the last block
    locality_attention: bool = False  # Locality Self-Attention instead of plain multi-head attention
    pooling: str = "average"  # one of POOLINGS
    head_dropout: float = 0.1

    def __post_init__(self):
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {TOKENIZERS}, got {self.tokenizer!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.tokenizer in ("patches", "shifted-patches") and IMAGE_SIZE % self.patch_size:
            raise ValueError(f"patch_size {self.patch_size} does not divide the {IMAGE_SIZE}-pixel image")
        if self.projection_dim % self.num_heads:
            raise ValueError(f"{self.num_heads} heads do not split projection_dim {self.projection_dim}")


def tokens(images, config: TransformerConfig, precision: str):
    """The sequence ``(batch, tokens, projection_dim)`` that `config`'s tokenizer makes of `images`."""
    kw = {"dtype": precision}
    x = images
    if config.tokenizer in ("patches", "shifted-patches"):
        if config.tokenizer == "shifted-patches":
            x = ShiftedImages(config.patch_size // 2 or 1, name="shifted", **kw)(x)
        x = Patches(config.patch_size, name="patches", **kw)(x)
        if config.tokenizer == "shifted-patches":
            x = layers.LayerNormalization(epsilon=1e-6, name="patch_norm", **kw)(x)
    else:
        for i, width in enumerate(config.stem_widths, start=1):
            if config.tokenizer == "conv":
                x = layers.Conv2D(width, 3, padding="same", use_bias=False, activation="relu",
                                  kernel_initializer="he_normal", name=f"stem_conv{i}", **kw)(x)
                x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"stem_pool{i}", **kw)(x)
            else:
                x = layers.Conv2D(width, 3, padding="same", name=f"stem_conv{i}", **kw)(x)
                x = layers.BatchNormalization(name=f"stem_bn{i}", **kw)(x)
                x = layers.Activation("relu", name=f"stem_relu{i}", **kw)(x)
                x = layers.MaxPooling2D(2, name=f"stem_pool{i}", **kw)(x)
        x = layers.Reshape((x.shape[1] * x.shape[2], x.shape[3]), name="grid_to_tokens", **kw)(x)
    if x.shape[-1] != config.projection_dim or config.tokenizer != "conv":
        x = layers.Dense(config.projection_dim, name="projection", **kw)(x)
    return AddPositions(name="positions", **kw)(x)


def build_transformer(config: TransformerConfig | None = None, num_classes: int = NUM_CLASSES,
                      input_shape=INPUT_SHAPE, *, precision: str = "float32", name: str = "transformer") -> keras.Model:
    """A pre-norm transformer over `config`'s tokens, pooled and classified by a 7-way softmax
    that computes in float32."""
    config = config or TransformerConfig()
    kw = {"dtype": precision}
    inputs = keras.Input(shape=input_shape, name="image")
    x = tokens(inputs, config, precision)
    d = config.projection_dim
    attention = LocalitySelfAttention if config.locality_attention else layers.MultiHeadAttention
    n = config.transformer_layers
    for i in range(1, n + 1):
        drop_path = config.drop_path * (i - 1) / max(n - 1, 1)

        def residual(branch, x, label):
            if drop_path:  # one draw per image: the whole branch is kept or dropped
                branch = layers.Dropout(drop_path, noise_shape=(None, 1, 1), name=f"drop_path{i}{label}", **kw)(branch)
            return branch, x

        h = layers.LayerNormalization(epsilon=1e-6, name=f"norm{i}a", **kw)(x)
        h = attention(num_heads=config.num_heads, key_dim=d // config.num_heads, dropout=config.attention_dropout,
                      name=f"attention{i}", **kw)(h, h)
        x = layers.Add(name=f"residual{i}a", **kw)(list(residual(h, x, "a")))
        h = layers.LayerNormalization(epsilon=1e-6, name=f"norm{i}b", **kw)(x)
        h = layers.Dense(config.mlp_ratio * d, activation="gelu", name=f"mlp{i}_1", **kw)(h)
        h = layers.Dropout(config.block_dropout, name=f"mlp{i}_drop1", **kw)(h)
        h = layers.Dense(d, name=f"mlp{i}_2", **kw)(h)
        h = layers.Dropout(config.block_dropout, name=f"mlp{i}_drop2", **kw)(h)
        x = layers.Add(name=f"block{i}", **kw)(list(residual(h, x, "b")))
    x = layers.LayerNormalization(epsilon=1e-6, name="final_norm", **kw)(x)
    if config.pooling == "sequence":  # CCT's sequence pooling: a learned softmax weighting of the tokens
        weights = layers.Dense(1, name="pool_scores", **kw)(x)
        weights = layers.Softmax(axis=1, name="pool_weights", dtype="float32")(weights)
        x = layers.Dot(axes=1, name="pooled", **kw)([weights, x])
        x = layers.Flatten(name="gap", **kw)(x)
    else:
        x = layers.GlobalAveragePooling1D(name="gap", **kw)(x)
    if config.head_dropout:
        x = layers.Dropout(config.head_dropout, name="head_drop", **kw)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


#: The registered transformers: name -> (how the book writes it, its default sizes).
TRANSFORMERS: dict[str, tuple[str, TransformerConfig]] = {
    "vit-spt": ("ViT + SPT/LSA", TransformerConfig(tokenizer="shifted-patches", locality_attention=True)),
    "cct": ("CCT", TransformerConfig(tokenizer="conv", stem_widths=(32, 64), transformer_layers=2, num_heads=2,
                                     pooling="sequence")),
    "hybrid": ("CNN-stem hybrid", TransformerConfig(tokenizer="cnn-stem", stem_widths=(64, 128), transformer_layers=2)),
}


def _register(name: str, display: str, default: TransformerConfig) -> None:
    # Each name gets its own config class, so that build_model(name) starts from its own defaults.
    annotations = {f.name: f.type for f in fields(TransformerConfig)}
    class_name = "".join(part.title() for part in name.split("-")) + "Config"
    config = dataclass(frozen=True)(type(class_name, (TransformerConfig,), {
        "__annotations__": annotations, "__module__": __name__,
        "__doc__": f"The sizes of {display}; the defaults are the registered network.",
        **{field: getattr(default, field) for field in annotations}}))
    globals()[class_name] = config

    def build(sizes, *, precision: str = "float32", name: str = name) -> keras.Model:
        return build_transformer(sizes, precision=precision, name=name)

    register_model(ModelSpec(
        name=name, display=display, build=build, config=config, family="transformer",
        layer_groups=((r"^(?:norm|attention|residual|mlp|drop_path)(\d+)", "transformer block {}"),
                      (r"^block(\d+)$", "transformer block {}")),
        in_report=False,
    ))


for _name, (_display, _default) in TRANSFORMERS.items():
    _register(_name, _display, _default)
