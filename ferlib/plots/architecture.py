"""A Keras model drawn from its layers: one box per block, in a snake of rows."""

from __future__ import annotations

import math
import re
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure

from ._common import _subplots

_BOX_COLORS = {"conv": "#dbe9f6", "dense": "#fde2c8", "transformer": "#e3f1dc"}
_SHORT_LAYER_NAMES = {
    "BatchNormalization": "batch norm", "FusedBatchNormalization": "batch norm", "LayerNormalization": "layer norm",
    "GlobalAveragePooling1D": "average over patches", "Flatten": "flatten", "InputLayer": "input",
    "Add": "+ residual", "PatchEncoder": "projection + position",
}


class _Block(NamedTuple):
    """One drawn box: the block's name, its layers as short descriptions, its output shape
    and its parameter count."""

    name: str
    layers: list[str]
    shape: str
    params: int


def _layer_group(name: str) -> str:
    """Which drawn box a layer belongs to, from its stable name: the patterns every
    registered model declares (:attr:`ferlib.models.ModelSpec.layer_groups`)."""
    from ..models import model_names, model_spec

    groups = [group for model in model_names() for group in model_spec(model).layer_groups]
    for pattern, label in groups:
        match = re.match(pattern, name)
        if match:
            return label.format(match.groups()[-1])
    return name


def _describe_layer(layer) -> str:
    kind = type(layer).__name__
    config = layer.get_config()
    if kind == "Conv2D":
        return f"conv {config['kernel_size'][0]}x{config['kernel_size'][1]}, {config['filters']}"
    if kind == "Dense":
        return f"dense {config['units']}" + (f", {config['activation']}" if config.get("activation") not in (None, "linear") else "")
    if kind == "Dropout":
        return f"dropout {config['rate']:g}"
    if kind == "MultiHeadAttention":
        return f"attention, {config['num_heads']} heads"
    if kind == "Activation":
        return str(config["activation"])
    if kind == "MaxPooling2D":
        return f"max pool {config['pool_size'][0]}x{config['pool_size'][1]}"
    if kind == "Patches":
        return f"{config['patch_size']}x{config['patch_size']} patches"
    return _SHORT_LAYER_NAMES.get(kind, kind)


def _blocks(model) -> list[_Block]:
    """The model's consecutive layers of one group, each group one block."""
    groups: list[tuple[str, list]] = []
    for layer in model.layers:
        key = _layer_group(layer.name)
        if groups and groups[-1][0] == key:
            groups[-1][1].append(layer)
        else:
            groups.append((key, [layer]))
    blocks = []
    for key, layers in groups:
        # a transformer block repeats "layer norm" and "+ residual": list each once, in order
        names = list(dict.fromkeys(_describe_layer(layer) for layer in layers))
        shape = " x ".join(str(d) for d in layers[-1].output.shape[1:])
        params = sum(int(np.prod(w.shape)) for layer in layers for w in layer.weights)
        blocks.append(_Block(key, names, shape, params))
    return blocks


def _snake_cell(i: int, per_row: int) -> tuple[int, int]:
    """Row and column of box `i`: every other row runs right to left, so each step is a short arrow."""
    row, col = divmod(i, per_row)
    return row, (per_row - 1 - col) if row % 2 else col


def _draw_block(ax, block: _Block, x: float, y: float) -> None:
    from matplotlib.patches import FancyBboxPatch

    color = next((c for prefix, c in _BOX_COLORS.items() if block.name.startswith(prefix)), "#eeeeee")
    ax.add_patch(FancyBboxPatch((x, y), 0.84, 0.72, boxstyle="round,pad=0.02", facecolor=color, edgecolor="#555555"))
    ax.text(x + 0.42, y + 0.07, block.name, ha="center", va="top", fontsize=10.5, weight="bold")
    ax.text(x + 0.42, y + 0.2, "\n".join(n for n in block.layers[:6] if n != block.name), ha="center", va="top",
            fontsize=9, linespacing=1.25)
    ax.text(x + 0.42, y + 0.69, block.shape + (f" · {block.params:,} p." if block.params else ""), ha="center",
            va="bottom", fontsize=8.5, color="#333333")


def _draw_arrow(ax, cell: tuple[int, int], to: tuple[int, int]) -> None:
    """An arrow from the box in `cell` to the next box: sideways within a row, down between rows."""
    from matplotlib.patches import FancyArrowPatch

    (row, col), (next_row, next_col) = cell, to
    x, y = col + 0.06, row + 0.1
    if next_row == row:
        right = next_col > col
        start = (x + 0.86, y + 0.36) if right else (x - 0.02, y + 0.36)
        end = (next_col + 0.04, y + 0.36) if right else (next_col + 0.92, y + 0.36)
    else:
        start, end = (x + 0.42, y + 0.76), (x + 0.42, next_row + 0.08)
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, color="#555555"))


def plot_architecture(model, title: str | None = None, per_row: int = 4) -> Figure:
    """A diagram of a Keras model drawn from its layers: one box per block (the CNN's conv
    blocks, its dense layers, the ViT's transformer blocks), listing the block's layers,
    its output shape and its parameters, in rows of `per_row` boxes."""
    blocks = _blocks(model)
    rows, cols = math.ceil(len(blocks) / per_row), min(per_row, len(blocks))
    fig, ax = _subplots(1, 1, figsize=(2.15 * cols, 2.3 * rows + 0.4), layout="constrained")
    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    ax.axis("off")
    cells = [_snake_cell(i, per_row) for i in range(len(blocks))]
    for i, (block, (row, col)) in enumerate(zip(blocks, cells)):
        _draw_block(ax, block, col + 0.06, row + 0.1)
        if i + 1 < len(blocks):
            _draw_arrow(ax, (row, col), cells[i + 1])
    total = sum(block.params for block in blocks)
    fig.suptitle(title or f"{model.name}: {total:,} parameters", fontsize=11)
    return fig
