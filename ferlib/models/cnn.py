"""The report's CNN (section 3.1) and the readings of its text."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
from keras import layers

from ..fer2013 import IMAGE_SIZE, NUM_CLASSES
from .layers import FusedBatchNormalization
from .registry import ModelSpec, register_model

INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)


@dataclass(frozen=True)
class CNNConfig:
    """The choices of :func:`build_cnn`; the defaults are the report's network as first read."""

    filters: tuple[int, ...] = (64, 128, 256, 512)
    dense_units: tuple[int, ...] = (512, 256, 64)
    dropout: float = 0.3
    conv_dropout: bool = True
    dense_batchnorm: bool = False
    activation_before_batchnorm: bool = False
    padding: str = "same"
    kernel_initializer: str = "glorot_uniform"
    fused_batchnorm: bool = True


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
    `precision` is a Keras dtype policy; the softmax always computes in float32. With
    `fused_batchnorm` False, Keras's own, slower ``BatchNormalization`` (same arithmetic).
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


def _build(config: CNNConfig, *, precision: str = "float32", name: str = "cnn") -> keras.Model:
    return build_cnn(**asdict(config), precision=precision, name=name)


register_model(ModelSpec(
    name="cnn", display="CNN", build=_build, config=CNNConfig, family="cnn",
    readings=CNN_READINGS, reading_notes=CNN_READING_NOTES,
    bfloat16=True,  # measured faster at the same learning curve (benchmarks/bench_precision.py)
    feature_layers=("conv1", "conv4"),
    layer_groups=((r"^(conv|bn|relu|pool|drop)(\d+)$", "conv block {}"),
                  (r"^dense(?:_bn|_relu|_drop)?(\d+)$", "dense {}")),
    phase1_page="02_cnn",
))
