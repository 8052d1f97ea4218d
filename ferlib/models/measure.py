"""Sizes of a built network: parameters, multiply-adds, and a layer table."""

from __future__ import annotations

import math

import keras
from keras import ops


def count_params(model: keras.Model) -> dict[str, int]:
    trainable = sum(int(ops.size(w)) for w in model.trainable_weights)
    total = sum(int(ops.size(w)) for w in model.weights)
    return {"trainable": trainable, "non_trainable": total - trainable, "total": total}


def count_multiply_adds(model: keras.Model) -> int:
    """Multiply-adds of one image through `model`'s convolutions, dense layers, patch
    projection and attention (projections, scores, weighted sum, output); the cheap layers
    (normalisation, pooling, activations) are left out."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            _, h, w, filters = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * filters * kh * kw * layer.input.shape[-1]
        elif kind == "Dense":
            rows = int(math.prod(layer.output.shape[1:-1])) if len(layer.output.shape) > 2 else 1
            total += rows * layer.input.shape[-1] * layer.units
        elif kind == "PatchEncoder":
            total += layer.num_patches * layer.input.shape[-1] * layer.projection_dim
        elif isinstance(layer, keras.layers.MultiHeadAttention):  # self-attention over (tokens, d)
            _, tokens, d = layer.output.shape
            config = layer.get_config()
            heads, key = config["num_heads"], config["key_dim"]
            total += 3 * tokens * d * heads * key + 2 * heads * tokens * tokens * key + tokens * heads * key * d
    return int(total)



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



def layer_facts(model: keras.Model) -> list[tuple]:
    """What two copies of a network share, per layer (inputs left out): its kind, output shape,
    weight count, dtype policy and configuration, without the names Keras gives layers."""
    from .layers import FusedBatchNormalization

    drop = {"name", "trainable", "dtype", "seed"}
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        config = {k: v for k, v in layer.get_config().items() if k not in drop}
        # ferlib's fused batch norm is Keras's layer computed by one TensorFlow kernel: the same layer
        kind = "BatchNormalization" if isinstance(layer, FusedBatchNormalization) else type(layer).__name__
        rows.append((kind, tuple(layer.output.shape[1:]), layer.count_params(), layer.dtype_policy.name,
                     repr(sorted(config.items()))))
    return rows


def network_differences(shown: keras.Model, built: keras.Model) -> list[str]:
    """How `shown` (a network written out on a book page) differs from `built` (ferlib's), layer
    by layer: kind, output shape, weights, dtype policy, configuration. Empty when the same."""
    ours, theirs = layer_facts(shown), layer_facts(built)
    differences = [] if len(ours) == len(theirs) else [f"{len(ours)} layers, ferlib's has {len(theirs)}"]
    for i, (a, b) in enumerate(zip(ours, theirs), start=1):
        for what, mine, reference in zip(("kind", "output shape", "weights", "dtype policy", "configuration"), a, b):
            if mine != reference:
                differences.append(f"layer {i} ({a[0]}): {what} {mine}, ferlib's {reference}")
    return differences
