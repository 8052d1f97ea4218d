"""Diagrams for the teaching chapters: a face cut into patches, the transformer block, the
two-phase pipeline and the learning rate under ReduceLROnPlateau. Drawn with matplotlib
from the models' own settings, so a changed setting changes the picture."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from ._common import _gray, _no_ticks, _subplots

_COLORS = {"data": "#eeeeee", "conv": "#dbe9f6", "dense": "#fde2c8", "transformer": "#e3f1dc", "step": "#f3e3f6"}


def _box(ax, x, y, w, h, text, color, fontsize=9):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.05",
                                facecolor=color, edgecolor="#555555", linewidth=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start, end, color: str = "#444444"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color=color, linewidth=1.1))


def plot_patch_grid(image, patch_size: int = 4, shown: int = 6) -> Figure:
    """A face cut into `patch_size` x `patch_size` patches (the grid drawn over it), and the
    first `shown` patches of its middle row flattened into the vectors the ViT's encoder takes."""
    img = _gray(image)
    side = img.shape[0] // patch_size
    fig, axes = _subplots(1, 2, figsize=(10, 4.2), layout="constrained", gridspec_kw={"width_ratios": [1, 1.4]})
    axes[0].imshow(img, cmap="gray", vmin=0, vmax=1 if img.max() <= 1 else 255)
    for k in range(1, side):
        axes[0].axhline(k * patch_size - 0.5, color="#ffcc00", linewidth=0.5)
        axes[0].axvline(k * patch_size - 0.5, color="#ffcc00", linewidth=0.5)
    row = side // 2
    axes[0].add_patch(Rectangle((-0.5, row * patch_size - 0.5), shown * patch_size, patch_size, fill=False,
                                edgecolor="#d62728", linewidth=1.6))
    axes[0].set_title(f"{img.shape[0]} × {img.shape[1]} face: {side} × {side} = {side * side} patches of "
                      f"{patch_size} × {patch_size}", fontsize=10)
    _no_ticks(axes[0])
    strips = [img[row * patch_size:(row + 1) * patch_size, c * patch_size:(c + 1) * patch_size].reshape(1, -1)
              for c in range(shown)]
    stacked = np.concatenate([np.concatenate([s, np.full((1, s.shape[1]), np.nan)]) for s in strips])
    axes[1].imshow(stacked, cmap="gray", aspect="auto", interpolation="nearest")
    axes[1].set_yticks(np.arange(0, 2 * shown, 2), [f"patch {row * side + c + 1}" for c in range(shown)], fontsize=8)
    axes[1].set_xticks([0, patch_size * patch_size - 1], ["1", str(patch_size * patch_size)], fontsize=8)
    axes[1].set_xlabel(f"its {patch_size * patch_size} pixels, one row each: the tokens' raw vectors")
    axes[1].set_title("the outlined patches, flattened", fontsize=10)
    return fig


def plot_transformer_block(projection_dim: int = 16, num_heads: int = 4, mlp_ratio: int = 2,
                           num_patches: int = 144) -> Figure:
    """One pre-norm transformer block as the report's ViT builds it: layer norm, multi-head
    self-attention and a residual sum, then layer norm, a two-layer MLP and a residual sum."""
    fig, ax = _subplots(1, 1, figsize=(5.2, 6.4))
    ax.set_xlim(0, 4)
    ax.set_ylim(0, 10.4)
    ax.axis("off")
    x = 1.6
    tokens = f"{num_patches} tokens × {projection_dim}"
    steps = [(9.6, f"input: {tokens}", _COLORS["data"]),
             (8.3, "layer normalisation", _COLORS["transformer"]),
             (7.0, f"multi-head self-attention\n{num_heads} heads: every token attends to all", _COLORS["transformer"]),
             (5.7, "+ (residual sum)", "white"),
             (4.4, "layer normalisation", _COLORS["transformer"]),
             (3.1, f"MLP: Dense {mlp_ratio * projection_dim}, GELU → Dense {projection_dim}, GELU",
              _COLORS["transformer"]),
             (1.8, "+ (residual sum)", "white"),
             (0.6, f"output: {tokens}", _COLORS["data"])]
    for (y, text, color), (y_next, _, _) in zip(steps, steps[1:] + [(None, "", "")]):
        _box(ax, x, y, 2.9, 0.8, text, color, fontsize=8.5)
        if y_next is not None:
            _arrow(ax, (x, y - 0.42), (x, y_next + 0.42))
    right, lane = x + 1.45, x + 1.95
    # Each half's skip path leaves the main line just before its layer norm (the block's input,
    # then the first sum's output) and re-enters at its sum; the two never touch, so the second
    # cannot be read as starting from the block's input.
    for branch, into in ((8.95, 5.7), (5.05, 1.8)):
        ax.plot([x, lane, lane], [branch, branch, into], color="#2ca02c", linewidth=1.1)
        ax.plot([x], [branch], marker="o", markersize=4, color="#2ca02c")
        _arrow(ax, (lane, into), (right, into), color="#2ca02c")
        ax.text(lane + 0.08, (branch + into) / 2, "skip", color="#2ca02c", fontsize=8, rotation=90, va="center")
    ax.set_title("One transformer block (pre-norm, dropout omitted)", fontsize=10)
    return fig


def plot_two_phases(hard_epochs: int = 20, max_epochs: int = 100) -> Figure:
    """The report's training pipeline: phase 1 under its callbacks, then phase 2's two steps."""
    fig, ax = _subplots(1, 1, figsize=(11, 2.9))
    ax.set_xlim(0, 11)
    ax.set_ylim(0, 3)
    ax.axis("off")
    boxes = [(1.0, "random weights", _COLORS["data"]),
             (3.1, f"phase 1\nfit ≤ {max_epochs} epochs\nEarlyStopping,\nReduceLROnPlateau", _COLORS["conv"]),
             (5.3, "predict the\ntraining faces:\nthe wrong ones are\nthe hard samples", _COLORS["step"]),
             (7.5, f"fine-tune on the\nhard samples,\n{hard_epochs} epochs\n(last weights kept)", _COLORS["dense"]),
             (9.8, "fit on augmented\ntraining faces,\nthe callbacks again\n(best weights kept)", _COLORS["dense"])]
    for (x, text, color), (x_next, _, _) in zip(boxes, boxes[1:] + [(None, "", "")]):
        _box(ax, x, 1.5, 1.85, 1.9, text, color, fontsize=8.5)
        if x_next is not None:
            _arrow(ax, (x + 0.95, 1.5), (x_next - 0.95, 1.5))
    ax.text(3.1, 2.75, "phase 1", ha="center", fontsize=10, weight="bold")
    ax.text(7.5, 2.75, "phase 2", ha="center", fontsize=10, weight="bold")
    ax.add_patch(Rectangle((4.3, 0.35), 6.55, 2.25, fill=False, edgecolor="#999999", linestyle="--"))
    return fig


def plateau_rates(val_loss, factor: float = 0.9, patience: int = 5, learning_rate: float = 1e-3) -> np.ndarray:
    """The learning rate of each epoch that Keras's ReduceLROnPlateau gives a run whose
    validation loss is `val_loss` (one value per epoch): the callback itself, fed those losses."""
    import keras

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    callback = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=factor, patience=patience)
    callback.set_model(model)
    callback.on_train_begin()
    rates = []
    for epoch, loss in enumerate(np.asarray(val_loss, dtype=float)):
        rates.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
        callback.on_epoch_end(epoch, {"val_loss": loss})
    return np.asarray(rates)


def plot_plateau_schedule(val_loss, factor: float = 0.9, patience: int = 5, learning_rate: float = 1e-3,
                          title: str | None = None) -> Figure:
    """ReduceLROnPlateau at work: a validation-loss curve (one value per epoch) above the
    learning rate the callback gives it (:func:`plateau_rates`)."""
    losses = np.asarray(val_loss, dtype=float)
    rates = plateau_rates(losses, factor, patience, learning_rate)
    epochs = np.arange(1, len(losses) + 1)
    fig, (top, bottom) = _subplots(2, 1, figsize=(7.5, 4.2), sharex=True, layout="constrained")
    top.plot(epochs, losses, color="#1f77b4")
    top.set_ylabel("validation loss")
    bottom.step(epochs, rates, where="post", color="#d62728")
    bottom.set_ylabel("learning rate")
    bottom.set_xlabel("epoch")
    top.set_title(title or f"ReduceLROnPlateau: × {factor} after {patience} epochs without a new best", fontsize=10)
    return fig
