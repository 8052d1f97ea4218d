"""Figures of what the models learned: the feature clusters, the CNN's feature maps, the
ViT's block activations and its attention."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import seaborn as sns
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from ..fer2013 import EMOTIONS, NUM_CLASSES
from ._common import _gray, _no_ticks, _show_image, _subplots


def plot_cluster_map(points: np.ndarray, labels: np.ndarray, clusters: np.ndarray, title: str = "k-means") -> Figure:
    """The 2-D map of the features twice: coloured by emotion, and by cluster."""
    fig, axes = _subplots(1, 2, figsize=(11, 4.8), layout="constrained")
    # Two visual languages: the emotions in tab10's hues as dots, the clusters in viridis's
    # dark-to-light ramp, each with its own marker, so no colour on the right suggests an emotion
    # on the left (Dark2's orange read as tab10's Disgust).
    n_clusters = int(clusters.max()) + 1
    for ax, values, names, heading, palette, markers in (
            (axes[0], labels, list(EMOTIONS), "coloured by emotion (the labels)", sns.color_palette("tab10", NUM_CLASSES),
             "o"),
            (axes[1], clusters, [f"cluster {c + 1}" for c in range(n_clusters)],
             f"coloured by {title} cluster (no labels used)", sns.color_palette("viridis", n_clusters), "osD^vP*X")):
        for code, name in enumerate(names):
            mine = values == code
            ax.scatter(points[mine, 0], points[mine, 1], s=5, alpha=0.6, color=palette[code % len(palette)],
                       marker=markers[code % len(markers)], label=name)
        ax.set_title(heading, fontsize=10)
        _no_ticks(ax)
        ax.legend(markerscale=3, fontsize=9, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    return fig


def plot_feature_maps(maps: Mapping[str, np.ndarray], image=None, n_filters: int = 5, select: str = "active",
                      title: str = "CNN feature maps") -> Figure:
    """One row per layer of :func:`~ferlib.features.cnn_feature_maps` output, `n_filters` channels each.

    ``select="active"`` (default) shows the channels with the largest mean activation, since
    after a ReLU many channels can be all zero; ``select="first"`` shows channels 0, 1, ...
    Each panel has its own colour scale. The input `image`, if given, comes first.
    """
    if select not in ("active", "first"):
        raise ValueError(f"select must be 'active' or 'first', got {select!r}")
    extra = 1 if image is not None else 0
    rows = len(maps)
    fig = Figure(figsize=(1.7 * (n_filters + extra) + 0.8, 1.9 * rows + 0.6), layout="constrained")
    grid = fig.add_gridspec(rows, n_filters + extra)
    if image is not None:
        # The input spans all rows, like the report's Fig. 9.
        _show_image(fig.add_subplot(grid[:, 0]), image, "input image")
    for r, (name, fmap) in enumerate(maps.items()):
        fmap = np.asarray(fmap)
        if select == "active":
            channels = np.argsort(fmap.mean(axis=(0, 1)))[::-1][:n_filters]
        else:
            channels = np.arange(min(n_filters, fmap.shape[-1]))
        for j, ch in enumerate(channels):
            ax = fig.add_subplot(grid[r, j + extra])
            ax.imshow(fmap[..., ch], cmap="viridis")
            _no_ticks(ax)
            ax.set_title(f"channel {ch}", fontsize=8)
            if j == 0:
                h, w, c = fmap.shape
                ax.set_ylabel(f"{name}\n{h}x{w}x{c}", fontsize=9)
    fig.suptitle(title + " (" + ("most active channels" if select == "active" else "first channels") + ")")
    return fig


def plot_activation_bars(activations: Mapping[str, np.ndarray]) -> Figure:
    """One bar panel per block: mean activation of each projection dimension (report Fig. 10).

    The panels share the y axis, so the spread of the first and last block can be compared;
    each title gives the standard deviation across dimensions.
    """
    n = len(activations)
    width = max(len(np.ravel(a)) for a in activations.values())
    # Short vectors (the report's 16) side by side, long ones (64, 128) stacked.
    cols = min(n, 2) if width <= 32 else 1
    rows = math.ceil(n / cols)
    fig, axes = _subplots(
        rows, cols, figsize=(min(12.0, max(5.0, 0.22 * width + 1.5)) * cols, 3.2 * rows),
        sharey=True, squeeze=False, layout="constrained",
    )
    colors = sns.color_palette(n_colors=n)
    for ax, (name, values), color in zip(axes.flat, activations.items(), colors):
        values = np.ravel(values)
        ax.bar(np.arange(len(values)), values, color=color)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_title(f"{name}: mean activation (std across dims {values.std():.3f})", fontsize=10)
        ax.set_xlabel("projection dimension")
        step = max(1, math.ceil(len(values) / 16))
        ax.set_xticks(np.arange(0, len(values), step))
        sns.despine(ax=ax)
    for ax in axes.flat[n:]:
        ax.remove()
    for ax in axes[:, 0]:
        ax.set_ylabel("mean over patches")
    return fig


def plot_attention(image, attention: np.ndarray, title: str | None = None) -> Figure:
    """The image, the patch-grid attention (e.g. 12x12) and the two overlaid.

    ``attention`` from :func:`~ferlib.features.vit_attention_map`; a per-head stack
    ``(heads, g, g)`` is averaged over the heads.
    """
    attention = np.asarray(attention, dtype=float)
    if attention.ndim == 3:
        attention = attention.mean(axis=0)
    img = _gray(image)
    h, w = img.shape
    # Shown as the ratio to uniform attention (1 = every patch gets 1/144) on a log scale
    # symmetric around 1, so that half and twice the even share sit equally far from white;
    # a nearly uniform map then looks nearly flat instead of structured.
    ratio = attention / attention.mean()
    reach = max(float(ratio.max()), 1 / max(float(ratio.min()), 1e-3), 1.05)
    norm = LogNorm(vmin=1 / reach, vmax=reach)
    ratio = np.clip(ratio, 1 / reach, reach)
    fig, axes = _subplots(1, 3, figsize=(10.5, 3.7), layout="constrained")
    _show_image(axes[0], img, "input image")
    shown = axes[1].imshow(ratio, cmap="RdBu_r", norm=norm)
    axes[1].set_title(f"attention per patch ÷ uniform ({attention.shape[0]}x{attention.shape[1]})", fontsize=9)
    _no_ticks(axes[1])
    bar = fig.colorbar(shown, ax=axes[1], fraction=0.046, pad=0.04, label="× uniform share")
    ticks = [t for t in (0.125, 0.25, 0.5, 1, 2, 4, 8) if 1 / reach <= t <= reach]
    bar.minorticks_off()
    bar.set_ticks(ticks, labels=[f"{t:g}×" for t in ticks])
    _show_image(axes[2], img, f"overlay (max {ratio.max():.2f}× uniform)")
    # The extent stretches the patch grid over the pixels; bilinear smoothing upsamples it.
    axes[2].imshow(ratio, cmap="RdBu_r", norm=norm, alpha=0.5,
                   extent=(-0.5, w - 0.5, h - 0.5, -0.5), interpolation="bilinear")
    if title:
        fig.suptitle(title)
    return fig


def plot_where_models_look(images, maps: Mapping[str, np.ndarray], titles: Sequence[str] | None = None,
                           answers: Mapping[str, Sequence[str]] | None = None) -> Figure:
    """The same faces (rows) under each model's map (columns): a CNN's Grad-CAM ``(N, 48, 48)``
    or a transformer's attention rollout ``(N, g, g)``, each overlaid on the face, scaled per
    face to its own maximum. `titles` name the rows, on their left (the face's true emotion, say);
    `answers`, by the same names as `maps`, what each model answered for each face, written
    under its map, green where it is the row's title and red where not. Column names are
    wrapped to the column's width."""
    faces = [_gray(image) for image in images]
    fig, axes = _subplots(len(faces), len(maps) + 1, figsize=(1.9 * (len(maps) + 1), 1.95 * len(faces)),
                          layout="constrained", squeeze=False)
    for i, face in enumerate(faces):
        h, w = face.shape
        _show_image(axes[i, 0], face, "face" if i == 0 else None)
        if titles:
            axes[i, 0].set_ylabel(titles[i], fontsize=9)
        for j, (name, stack) in enumerate(maps.items(), start=1):
            heat = np.asarray(stack[i], dtype=float)
            heat = heat / heat.max() if heat.max() > 0 else heat
            column = "\n".join(textwrap.fill(line, 26) for line in name.split("\n"))
            _show_image(axes[i, j], face, column if i == 0 else None)
            overlay = axes[i, j].imshow(heat, cmap="inferno", alpha=0.45, vmin=0, vmax=1,
                                        extent=(-0.5, w - 0.5, h - 0.5, -0.5), interpolation="bilinear")
            if answers and name in answers:
                answer = answers[name][i]
                right = titles is not None and answer == titles[i]
                axes[i, j].set_xlabel(f"says {answer}", fontsize=8, color="#1e8449" if right else "#c0392b")
    for ax in axes.ravel():
        _no_ticks(ax)
    if maps and faces:
        # A map of even colour means the model draws on the whole face alike, not on one part.
        bar = fig.colorbar(overlay, ax=axes[:, 1:], shrink=min(0.8, 2.5 / len(faces)), aspect=30)
        bar.solids.set_alpha(1)
        bar.set_label("share of the face's highest value", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    return fig
