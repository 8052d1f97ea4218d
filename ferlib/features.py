"""What the models compute inside (report 6.3, plus the ViT's attention).

* :func:`cnn_feature_maps`: the maps of an early and a late conv layer of the CNN (Fig. 9).
* :func:`vit_block_activations`: the mean activation per projection dimension after the
  first and the last transformer block of the ViT (Fig. 10).
* :func:`vit_attention_map`: beyond the report, where the last block attends on the
  12x12 patch grid.

Everything is backend-neutral Keras 3 and returns numpy arrays; the plots are in
:mod:`ferlib.plots`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import keras
import numpy as np

from .fer2013 import as_model_input

_BLOCK = re.compile(r"^block(\d+)$")


def _submodel(model: keras.Model, outputs) -> keras.Model:
    """A model from `model`'s input to some of its inner tensors (no weights are copied)."""
    # A single input is passed as a tensor, not a one-element list, so that calling the
    # sub-model with an array matches its input structure (Keras warns otherwise).
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, outputs)


def _run(model: keras.Model, x: np.ndarray, batch_size: int = 256) -> list[np.ndarray]:
    """Outputs of a (multi-output) model in inference mode, as numpy, batch by batch."""
    chunks = []
    for start in range(0, len(x), batch_size):
        # A direct call (not predict) prints nothing and works the same on every backend.
        out = model(x[start : start + batch_size], training=False)
        out = out if isinstance(out, (list, tuple)) else [out]
        chunks.append([keras.ops.convert_to_numpy(o).astype(np.float32) for o in out])  # bfloat16 models give bfloat16
    return [np.concatenate(parts) for parts in zip(*chunks)]


def cnn_feature_maps(
    model: keras.Model, image, layers: Sequence[str] = ("conv1", "conv4"), after_relu: bool = True
) -> dict[str, np.ndarray]:
    """Feature maps ``(H, W, C)`` of the named layers for one image, keyed by those names.

    With ``after_relu`` (the default), ``conv{i}`` is read after its batch norm and ReLU
    (layer ``relu{i}``, same shape): that is what the next block sees, and raw conv
    outputs are dominated by the offsets that batch norm removes. Other names, and models
    without a ``relu{i}`` layer, are read as they are. For the default CNN, conv1 gives
    48x48x64 and conv4 6x6x512.
    """
    names = {}
    for name in layers:
        relu = re.sub(r"^conv(\d+)$", r"relu\1", name)
        use_relu = after_relu and relu != name and any(layer.name == relu for layer in model.layers)
        names[name] = relu if use_relu else name
    sub = _submodel(model, [model.get_layer(n).output for n in names.values()])
    x = as_model_input(image)
    if len(x) != 1:
        raise ValueError(f"cnn_feature_maps takes one image, got a batch of {len(x)}")
    outputs = _run(sub, x)
    return {name: out[0] for name, out in zip(names, outputs)}


def vit_blocks(model: keras.Model) -> list[str]:
    """Names of the transformer blocks (``block1`` ..) of a ViT, in order."""
    found = [(int(m.group(1)), layer.name) for layer in model.layers if (m := _BLOCK.match(layer.name))]
    if not found:
        raise ValueError(f"model {model.name!r} has no transformer blocks named block1, block2, ...")
    return [name for _, name in sorted(found)]


def _block_name(model: keras.Model, block: int | str | None) -> str:
    """``None`` -> the last block; an int ``i`` -> ``block{i}``; a name stays a name."""
    if block is None:
        return vit_blocks(model)[-1]
    return f"block{block}" if isinstance(block, (int, np.integer)) else str(block)


def vit_block_activations(
    model: keras.Model, images, blocks: Sequence[int | str] | None = None, batch_size: int = 256
) -> dict[str, np.ndarray]:
    """Mean activation per projection dimension after each given block, shape ``(d,)``.

    Each block's output ``(N, patches, d)`` is averaged over the patches and the images.
    ``blocks`` are numbers or names; by default the first and the last block (report
    Fig. 10 compares those two).
    """
    if blocks is None:
        present = vit_blocks(model)
        blocks = list(dict.fromkeys([present[0], present[-1]]))  # one entry if a single block
    names = [_block_name(model, b) for b in blocks]
    sub = _submodel(model, [model.get_layer(n).output for n in names])
    outputs = _run(sub, as_model_input(images), batch_size)
    return {name: out.mean(axis=(0, 1)) for name, out in zip(names, outputs)}


def vit_attention_map(model: keras.Model, image, block: int | str | None = None, average_heads: bool = True) -> np.ndarray:
    """Attention of one block over the patch grid: ``(g, g)`` (12x12 for 4x4 patches).

    The attention probabilities ``(heads, queries, keys)`` are averaged over the queries
    (and the heads, unless ``average_heads=False``, which gives ``(heads, g, g)``): how
    much attention each patch receives on average. Every map sums to 1. A batch of images
    gives the mean over the images. Default: the last block.
    """
    name = _block_name(model, block)
    index = _BLOCK.match(name)
    if index is None:
        raise ValueError(f"block must be a number or a name like 'block4', got {block!r}")
    attention = model.get_layer(f"attention{index.group(1)}")
    # Recompute the block's attention from its input: the functional graph does not keep
    # the scores, and calling the same layer again gives them on every backend.
    sub = _submodel(model, model.get_layer(f"norm{index.group(1)}a").output)
    (h,) = _run(sub, as_model_input(image))
    _, scores = attention(h, h, return_attention_scores=True, training=False)
    scores = keras.ops.convert_to_numpy(scores).astype(np.float64)  # (N, heads, queries, keys)
    per_key = scores.mean(axis=(0, 2))  # (heads, keys)
    grid = math.isqrt(per_key.shape[-1])
    if grid * grid != per_key.shape[-1]:
        raise ValueError(f"{per_key.shape[-1]} patches do not form a square grid")
    maps = per_key.reshape(-1, grid, grid)
    return maps.mean(axis=0) if average_heads else maps


def penultimate_features(model: keras.Model, images, batch_size: int = 256) -> np.ndarray:
    """What the softmax layer sees: the input of the model's last layer, one row per image
    (the CNN's 64 dense units, the ViT's pooled embedding)."""
    sub = _submodel(model, model.layers[-1].input)
    (features,) = _run(sub, as_model_input(images), batch_size)
    return features.reshape(len(features), -1)


def _attention_layers(model: keras.Model) -> list:
    """The model's self-attention layers, in the order the graph runs them."""
    found = [layer for layer in model.layers if isinstance(layer, keras.layers.MultiHeadAttention)]
    if not found:
        raise ValueError(f"model {model.name!r} has no attention layers; attention rollout needs a transformer")
    return found


def attention_rollout(model: keras.Model, images, batch_size: int = 64, residual: float = 0.5) -> np.ndarray:
    """Attention rollout (Abnar and Zuidema 2020): how much each token of the input grid
    contributes to the pooled representation, through all the blocks, per image:
    ``(N, g, g)`` for a ``g x g`` token grid, each map summing to 1.

    Each block's attention (averaged over its heads) is mixed with the identity for the
    residual path, ``residual * I + (1 - residual) * A``, rows renormalised, and the blocks
    multiplied from the first to the last. The networks here pool by averaging the tokens
    (or by a learned weighting, for sequence pooling), so a token's share is its column's
    mean over the rows, weighted by the pooling where the model has one.
    """
    x = as_model_input(images)
    attention = _attention_layers(model)
    # Each attention layer's query is its input in the graph; recompute the scores from it,
    # since the functional graph does not keep them.
    queries = [layer._inbound_nodes[0].input_tensors[0] for layer in attention]
    pool = [layer.output for layer in model.layers if layer.name == "pool_weights"]
    sub = _submodel(model, queries + pool)
    maps = []
    for start in range(0, len(x), batch_size):
        outputs = _run(sub, x[start:start + batch_size], batch_size)
        rollout = None
        for layer, h in zip(attention, outputs):
            _, scores = layer(h, h, return_attention_scores=True, training=False)
            a = keras.ops.convert_to_numpy(scores).astype(np.float64).mean(axis=1)  # (n, tokens, tokens)
            a = residual * np.eye(a.shape[-1]) + (1 - residual) * a
            a /= a.sum(axis=-1, keepdims=True)
            rollout = a if rollout is None else a @ rollout
        if pool:
            weights = outputs[-1][..., 0].astype(np.float64)  # (n, tokens)
            share = np.einsum("nq,nqk->nk", weights / weights.sum(axis=1, keepdims=True), rollout)
        else:
            share = rollout.mean(axis=1)
        maps.append(share)
    share = np.concatenate(maps)
    grid = math.isqrt(share.shape[-1])
    if grid * grid != share.shape[-1]:
        raise ValueError(f"{share.shape[-1]} tokens do not form a square grid")
    return (share / share.sum(axis=1, keepdims=True)).reshape(-1, grid, grid)


def grad_cam(model: keras.Model, images, layer: str, classes=None) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017) of `layer` (a conv layer's output, ``(h, w, c)``):
    per image, the ReLU of the feature maps weighted by the mean gradient of the class's
    probability over each map, upsampled to the image and scaled to a maximum of 1:
    ``(N, 48, 48)``. `classes` (one per image) default to the predicted ones.

    Works on the TensorFlow and JAX backends.
    """
    x = as_model_input(images)
    cut = model.get_layer(layer).output
    both = _submodel(model, [cut, model.output])
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        # One pass of the whole model, the gradient taken at the inner tensor: this also
        # holds where a layer's declared shape is not what it computes at inference.
        with tf.GradientTape() as tape:
            features, probabilities = both(x, training=False)
            classes = np.argmax(probabilities.numpy(), axis=1) if classes is None else np.asarray(classes)
            score = tf.reduce_sum(probabilities * np.eye(probabilities.shape[-1], dtype=np.float32)[classes])
        gradients = tape.gradient(score, features).numpy()
    elif backend == "jax":
        import jax

        features, probabilities = (keras.ops.convert_to_numpy(t) for t in both(x, training=False))
        classes = np.argmax(probabilities, axis=1) if classes is None else np.asarray(classes)
        chosen = np.eye(probabilities.shape[-1], dtype=np.float32)[classes]
        head = keras.Model(cut, model.output)  # Keras 3 builds a model from an inner tensor on

        def score(f):
            return (head(f, training=False) * chosen).sum()

        gradients = np.asarray(jax.grad(score)(features))
    else:
        raise NotImplementedError(f"grad_cam runs on the TensorFlow and JAX backends, not {backend}")
    maps = keras.ops.convert_to_numpy(features).astype(np.float64)
    weights = gradients.astype(np.float64).mean(axis=(1, 2))  # (N, channels)
    cam = np.maximum(np.einsum("nhwc,nc->nhw", maps, weights), 0.0)
    # Each map cell covers `stride` pixels, as the graph declares. A network that pads the face
    # at inference (the fast CNN's zero-pad crop) computes a larger map than it declares: the
    # map then covers the padded image, whose centre is the face.
    stride = x.shape[1] / cut.shape[1], x.shape[2] / cut.shape[2]
    covered = int(round(cam.shape[1] * stride[0])), int(round(cam.shape[2] * stride[1]))
    cam = keras.ops.convert_to_numpy(keras.ops.image.resize(cam[..., None].astype(np.float32), covered))[..., 0]
    top, left = (covered[0] - x.shape[1]) // 2, (covered[1] - x.shape[2]) // 2
    cam = cam[:, top:top + x.shape[1], left:left + x.shape[2]]
    peak = cam.max(axis=(1, 2), keepdims=True)
    return np.where(peak > 0, cam / np.where(peak > 0, peak, 1.0), 0.0)


def border_shares(maps, ring: float = 1 / 6) -> tuple[np.ndarray, float]:
    """How much of each map's weight lies on the image's outer ring, one share per map of
    ``(N, h, w)`` (a Grad-CAM's pixels or a rollout's token grid; maps with no weight are left
    out), and how much an even map would put there: the ring is `ring` of the side wide (8
    pixels of 48, 2 of 12 patches), at least one cell. The border of a FER2013 face is mostly
    hair, background and black padding, so a map that weighs it far above the even share draws
    on little of the face."""
    maps = np.asarray(maps, dtype=float)
    h, w = maps.shape[1:]
    width = max(1, round(ring * h))
    inner = np.zeros((h, w), bool)
    inner[width:h - width, width:w - width] = True
    totals = maps.sum(axis=(1, 2))
    return maps[:, ~inner].sum(axis=1)[totals > 0] / totals[totals > 0], float((~inner).mean())


def border_share(maps, ring: float = 1 / 6) -> tuple[float, float]:
    """The mean of :func:`border_shares` over the maps, and the even map's share."""
    shares, even = border_shares(maps, ring)
    return float(shares.mean()) if len(shares) else float("nan"), even
