"""The report's Vision Transformer (section 3.2), its tuning story and the readings of its text."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
from keras import layers

from ..fer2013 import NUM_CLASSES
from .cnn import INPUT_SHAPE
from .layers import PatchEncoder, Patches
from .registry import ModelSpec, register_model


@dataclass(frozen=True)
class ViTConfig:
    """Sizes of the report's ViT; the defaults are its final choice (5.2)."""

    patch_size: int = 4
    projection_dim: int = 16
    num_heads: int = 4
    transformer_layers: int = 4
    mlp_ratio: int = 2  # the block MLP is [2 * d, d], as in the keras.io ViT example
    block_dropout: float = 0.1  # inside each block: on the attention weights and after both MLP layers
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
            num_heads=config.num_heads, key_dim=key_dim, dropout=config.block_dropout, name=f"attention{i}", **kw
        )(h, h)
        x = layers.Add(name=f"residual{i}a", **kw)([h, x])
        if config.post_norm:
            x = norm(f"norm{i}a", x)
        h = x if config.post_norm else norm(f"norm{i}b", x)
        h = layers.Dense(config.mlp_ratio * d, activation="gelu", name=f"mlp{i}_1", **kw)(h)
        h = layers.Dropout(config.block_dropout, name=f"mlp{i}_drop1", **kw)(h)
        h = layers.Dense(d, activation="gelu", name=f"mlp{i}_2", **kw)(h)
        h = layers.Dropout(config.block_dropout, name=f"mlp{i}_drop2", **kw)(h)
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
    "head-dropout-only": {"block_dropout": 0.0},
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


def _build(config: ViTConfig, *, precision: str = "float32", name: str = "vit") -> keras.Model:
    return build_vit(config, precision=precision, name=name)


register_model(ModelSpec(
    name="vit", display="ViT", build=_build, config=ViTConfig, family="transformer",
    readings=VIT_READINGS, reading_notes=VIT_READING_NOTES,
    bfloat16=False,  # the small ViT measured slower in bfloat16
    layer_groups=((r"^(?:norm|attention|residual|mlp)(\d+)", "transformer block {}"),
                  (r"^block(\d+)$", "transformer block {}")),
    phase1_page="03_vit_tuning",
))
