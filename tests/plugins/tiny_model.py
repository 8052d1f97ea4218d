"""A third network, registered in this one file: what adding a model to the package takes.

``FERLIB_MODELS=tests/plugins/tiny_model.py`` makes every ferlib process (a notebook kernel
too) import it with the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from ferlib.models import ModelSpec, register_model


@dataclass(frozen=True)
class TinyConfig:
    filters: int = 4
    units: int = 16


def build_tiny(config: TinyConfig, *, precision: str = "float32", name: str = "tiny") -> keras.Model:
    kw = {"dtype": precision}
    inputs = keras.Input((48, 48, 1), name="image")
    x = layers.Conv2D(config.filters, 3, padding="same", name="conv1", **kw)(inputs)
    x = layers.Activation("relu", name="relu1", **kw)(x)
    x = layers.MaxPooling2D(4, name="pool1", **kw)(x)
    x = layers.Conv2D(2 * config.filters, 3, padding="same", name="conv2", **kw)(x)
    x = layers.Activation("relu", name="relu2", **kw)(x)
    x = layers.GlobalAveragePooling2D(name="gap", **kw)(x)
    x = layers.Dense(config.units, activation="relu", name="dense1", **kw)(x)
    outputs = layers.Dense(7, activation="softmax", name="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


register_model(ModelSpec(
    name="tiny", display="Tiny", build=build_tiny, config=TinyConfig, family="cnn",
    readings={"as-built": {}, "wider": {"filters": 8}},
    reading_notes={"as-built": "two small convolutions", "wider": "twice the filters"},
    feature_layers=("conv1", "conv2"),
    layer_groups=((r"^(gap)$", "tiny pooling"),),  # its conv layers draw as the CNN's conv blocks
))
