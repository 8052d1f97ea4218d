"""Figures of the data: examples per emotion, face grids, class balance, augmentation and
the two releases' grey levels."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ..fer2013 import EMOTIONS
from ._common import _no_ticks, _show_image, _subplots


def plot_class_samples(images, labels, per_class: int = 5, seed: int = 0, title: str = "Random examples per emotion") -> Figure:
    """A grid of random examples, one row per emotion (fewer where a class has fewer)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    fig, axes = _subplots(len(EMOTIONS), per_class, figsize=(1.3 * per_class + 1, 1.35 * len(EMOTIONS)), squeeze=False, layout="constrained")
    for code, (name, row) in enumerate(zip(EMOTIONS, axes)):
        idx = np.flatnonzero(labels == code)
        chosen = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        for j, ax in enumerate(row):
            if j < len(chosen):
                _show_image(ax, images[chosen[j]])
            else:
                _no_ticks(ax)
                for spine in ax.spines.values():
                    spine.set_visible(False)
        # ylabel (not axis("off")) so the row keeps its class name.
        row[0].set_ylabel(f"{name}\n(n={len(idx):,})", rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(title)
    return fig


def _image_grid(images: list, titles: Sequence[str], cols: int, panel_size: tuple[float, float],
                fontsize: float) -> Figure:
    """`images` in rows of `cols`, each titled; the grid's unused panels are removed."""
    rows = max(1, math.ceil(len(images) / cols))
    fig, axes = _subplots(rows, cols, figsize=(panel_size[0] * cols, panel_size[1] * rows), squeeze=False,
                          layout="constrained")
    for i, ax in enumerate(axes.flat):
        if i < len(images):
            _show_image(ax, images[i])
            ax.set_title(titles[i], fontsize=fontsize)
        else:
            ax.remove()
    return fig


def plot_face_grid(images, titles: Sequence[str], cols: int = 6, title: str | None = None) -> Figure:
    """Faces in rows of `cols`, each with its own caption (e.g. two disagreeing labels)."""
    fig = _image_grid(list(images), titles, cols, (1.75, 2.0), fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_class_balance(counts, title: str = "Images per emotion") -> Figure:
    """Grouped bars of images per emotion and part, with the counts written on the bars.

    ``counts``: a DataFrame indexed by emotion with one column per part (columns whose
    name contains ``%`` are ignored, as are non-numeric ones), a Series, or a dict
    ``{emotion: count}``.
    """
    if isinstance(counts, Mapping):
        counts = pd.Series(counts, name="count")
    if isinstance(counts, pd.Series):
        counts = counts.to_frame(counts.name or "count")
    frame = counts.loc[:, [c for c in counts.columns if "%" not in str(c) and pd.api.types.is_numeric_dtype(counts[c])]]
    long = frame.rename_axis("emotion").reset_index().melt(id_vars="emotion", var_name="part", value_name="images")
    bars = frame.size
    fig, ax = _subplots(figsize=(max(7.0, min(11.0, 0.45 * bars + 2)), 4.5), layout="constrained")
    several = frame.shape[1] > 1
    sns.barplot(data=long, x="emotion", y="images", hue="part" if several else None, errorbar=None, ax=ax)
    for container in ax.containers:
        ax.bar_label(container, fmt="{:,.0f}", fontsize=8.5, padding=1, rotation=90 if several else 0)
    ax.margins(y=0.15)  # room for the labels above the tallest bar
    ax.set_xlabel("")
    ax.set_ylabel("images")
    ax.set_title(title)
    if several:
        sns.move_legend(ax, "upper right", title="part", frameon=False)
    sns.despine(ax=ax)
    return fig


def plot_augmentation_grid(original, augmented, max_cols: int = 5,
                           title: str = "Augmentation: rotation, shift, zoom, horizontal flip") -> Figure:
    """The original image, then each augmented draw (``(n, 48, 48, 1)``), in rows of `max_cols`."""
    panels = [original, *list(augmented)]
    titles = ["original"] + [f"draw {i}" for i in range(1, len(panels))]
    fig = _image_grid(panels, titles, min(max_cols, len(panels)), (1.7, 1.9), fontsize=9)
    fig.suptitle(title)
    return fig


def plot_equalization(images, n: int = 6) -> Figure:
    """Faces as the challenge CSV stores them (top) and histogram-equalized, as the
    image-folder release has them (bottom), each with its grey-level range."""
    from ..fer2013 import equalize_histogram

    images = [np.asarray(image, np.uint8).reshape(48, 48) for image in list(images)[:n]]
    fig, axes = _subplots(2, len(images), figsize=(1.7 * len(images), 4.0), squeeze=False, layout="constrained")
    for col, image in enumerate(images):
        for row, shown in enumerate((image, equalize_histogram(image))):
            axes[row, col].imshow(shown, cmap="gray", vmin=0, vmax=255)
            axes[row, col].set_title(f"{shown.min()}..{shown.max()}", fontsize=9)
            axes[row, col].axis("off")
    for row, name in enumerate(("challenge CSV", "equalized")):
        axes[row, 0].text(-0.15, 0.5, name, transform=axes[row, 0].transAxes, rotation=90, va="center", ha="right")
    fig.suptitle("The same faces in the two releases (grey-level range above each)")
    return fig
