"""The book's figures: data, training curves, evaluation, feature views and tuning.

Every function returns a :class:`matplotlib.figure.Figure` and never shows it; save it
with ``fig.savefig(...)`` or let the notebook display it. Images may be uint8
``(N, 48, 48)`` or float ``(N, 48, 48, 1)`` in [0, 1].
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence


import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from .fer2013 import EMOTIONS, NUM_CLASSES, as_model_input

_TRAIN_STYLE = {"linestyle": "--", "alpha": 0.8}


def _subplots(*grid, figsize=None, layout="constrained", **kwargs):
    """Like ``plt.subplots``, but the figure is not registered with pyplot.

    A notebook then shows it once, as the cell's result, instead of once more when the
    inline backend flushes pyplot's open figures; and nothing piles up in pyplot's state.
    """
    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(*grid, **kwargs)


def _gray(image) -> np.ndarray:
    """One image as a 2-D float array in [0, 1], for ``imshow``."""
    x = np.asarray(image)
    return as_model_input(x.reshape(x.shape[0], x.shape[1]))[0, ..., 0]


def _show_image(ax, image, title: str | None = None) -> None:
    # Fixed limits, so a dark image stays dark instead of being stretched to full contrast.
    ax.imshow(_gray(image), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def _class_names(n: int) -> list[str]:
    return list(EMOTIONS) if n == len(EMOTIONS) else [str(i) for i in range(n)]


def _human(n: float) -> str:
    """1234567 -> '1.23M', 45000 -> '45k'."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= 0.9995 * size:  # 999,999 is '1M', not '1e+03k'
            return f"{n / size:.3g}{suffix}"
    return f"{n:.0f}"


# --------------------------------------------------------------------------- data


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
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
        # ylabel (not axis("off")) so the row keeps its class name.
        row[0].set_ylabel(f"{name}\n(n={len(idx):,})", rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(title)
    return fig


def plot_face_grid(images, titles: Sequence[str], cols: int = 6, title: str | None = None) -> Figure:
    """Faces in rows of `cols`, each with its own caption (e.g. two disagreeing labels)."""
    images = list(images)
    rows = max(1, math.ceil(len(images) / cols))
    fig, axes = _subplots(rows, cols, figsize=(1.75 * cols, 2.0 * rows), squeeze=False, layout="constrained")
    for i, ax in enumerate(axes.flat):
        if i < len(images):
            _show_image(ax, images[i])
            ax.set_title(titles[i], fontsize=8)
        else:
            ax.remove()
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


def plot_augmentation_grid(original, augmented, max_cols: int = 5) -> Figure:
    """The original image, then each augmented draw (``(n, 48, 48, 1)``), in rows of `max_cols`."""
    panels = [original, *list(augmented)]
    cols = min(max_cols, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = _subplots(rows, cols, figsize=(1.7 * cols, 1.9 * rows), squeeze=False, layout="constrained")
    for i, ax in enumerate(axes.flat):
        if i < len(panels):
            _show_image(ax, panels[i], "original" if i == 0 else f"draw {i}")
        else:
            ax.remove()
    fig.suptitle("Augmentation: rotation, shift, zoom, horizontal flip")
    return fig


def plot_equalization(images, n: int = 6) -> Figure:
    """Faces as the challenge CSV stores them (top) and histogram-equalized, as the
    image-folder release has them (bottom), each with its grey-level range."""
    from .fer2013 import equalize_histogram

    images = [np.asarray(image, np.uint8).reshape(48, 48) for image in list(images)[:n]]
    fig, axes = _subplots(2, len(images), figsize=(1.7 * len(images), 4.0), squeeze=False, layout="constrained")
    for col, image in enumerate(images):
        for row, shown in enumerate((image, equalize_histogram(image))):
            axes[row, col].imshow(shown, cmap="gray", vmin=0, vmax=255)
            axes[row, col].set_title(f"{shown.min()}..{shown.max()}", fontsize=9)
            axes[row, col].axis("off")
    axes[0, 0].text(-0.15, 0.5, "challenge CSV", transform=axes[0, 0].transAxes, rotation=90, va="center", ha="right")
    axes[1, 0].text(-0.15, 0.5, "equalized", transform=axes[1, 0].transAxes, rotation=90, va="center", ha="right")
    fig.suptitle("The same faces in the two releases (grey-level range above each)")
    return fig


# --------------------------------------------------------------------------- training


def _epochs(history: pd.DataFrame) -> pd.Series:
    """Epochs counted from 1, as Keras prints them and ``train.json``'s ``best_epoch`` counts
    (``history.csv`` counts from 0)."""
    return history["epoch"] + 1 if "epoch" in history else pd.Series(np.arange(1, len(history) + 1), index=history.index)


def _mark_best(ax, epochs: pd.Series, values: pd.Series, color) -> None:
    best = values.idxmax()
    ax.plot(epochs[best], values[best], marker="*", markersize=11, color=color, zorder=5)


def plot_training_curves(history, title: str | None = None, baseline: float | None = None,
                         in_sequence: bool = False, best: Sequence[str] | None = None) -> Figure:
    """Loss and accuracy (and learning rate, if logged) per epoch, train vs validation.

    ``history``: a DataFrame with ``epoch, loss, accuracy, val_loss, val_accuracy`` and
    optionally ``learning_rate``; a star marks the epoch of the best validation accuracy.
    A dict ``{label: DataFrame}`` overlays several runs, one colour per run (train dashed,
    validation solid); with `in_sequence` the runs are steps of one training (phase 2's hard
    samples, then augmentation) and follow each other along the epoch axis instead.
    `baseline` (e.g. the majority-class accuracy) is drawn across the accuracy panel, so one
    look tells whether a model learned anything. `best` names the runs whose best
    validation epoch gets its star (default: all): those whose weights early stopping
    restored, not a step that keeps its last epoch's weights.
    """
    if isinstance(history, Mapping):
        fig = _plot_runs(dict(history), title, in_sequence, best)
        _draw_baseline(fig.axes[0], baseline)
        return fig
    history = history.reset_index(drop=True)
    epochs = _epochs(history)
    # a learning rate that never changed is a flat line: say it in the title instead of a panel
    has_lr = "learning_rate" in history and history["learning_rate"].dropna().nunique() > 1
    panels = ["accuracy", "loss"] + (["learning_rate"] if has_lr else [])  # accuracy first, as for several runs
    # Wide enough to read at the book's column width: the learning rate, a step curve, gets less room.
    widths = [1, 1, 0.7][: len(panels)]
    fig, axes = _subplots(1, len(panels), figsize=(3.9 * sum(widths), 3.6), squeeze=False, layout="constrained",
                          gridspec_kw={"width_ratios": widths})
    train_color, val_color = sns.color_palette()[:2]
    for ax, metric in zip(axes[0], panels):
        if metric == "learning_rate":
            ax.plot(epochs, history[metric], color="gray")
            ax.set_yscale("log")
            ax.set_title("learning rate")
        else:
            if metric in history:
                ax.plot(epochs, history[metric], color=train_color, label="train")
            if f"val_{metric}" in history:
                ax.plot(epochs, history[f"val_{metric}"], color=val_color, label="validation")
            ax.set_title(metric)
        ax.set_xlabel("epoch")
        _epoch_axis(ax, len(history))
        sns.despine(ax=ax)
    if "val_accuracy" in history and history["val_accuracy"].notna().any():
        best = history["val_accuracy"].idxmax()
        for ax in axes[0]:
            ax.axvline(epochs[best], color="gray", linestyle=":", linewidth=1)
        acc_ax = axes[0][panels.index("accuracy")]
        # The best epoch goes into the legend: a note inside the panel collides with the baseline.
        acc_ax.plot(epochs[best], history["val_accuracy"][best], marker="*", markersize=12, color=val_color,
                    linestyle="", zorder=5, label=f"best val {history['val_accuracy'][best]:.3f} (epoch {epochs[best]})")
    _draw_baseline(axes[0][panels.index("accuracy")], baseline)
    # One legend below the panels, as for several runs: inside, it would hide a curve or the baseline.
    handles, labels = axes[0][panels.index("accuracy")].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=len(handles), frameon=False)
    if "learning_rate" in history and not has_lr and history["learning_rate"].notna().any():
        title = f"{title or ''}{' · ' if title else ''}learning rate {history['learning_rate'].dropna().iloc[0]:g} throughout"
    if title:
        fig.suptitle(title)
    return fig


def _epoch_axis(ax, epochs: int) -> None:
    """Whole-number epoch ticks; a run of one or two epochs gets room either side, or
    matplotlib would fall back to fractional ticks (0.95, 0.975 ...)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    if epochs <= 3:
        ax.set_xlim(0.5, epochs + 0.5)
        ax.set_xticks(range(1, epochs + 1))


def _draw_baseline(ax, baseline: float | None, label: str = "majority class", style: str = "--",
                   margin: bool = False) -> None:
    """A baseline across `ax`, labelled inside, under the line at the right (curves, which
    start near it on the left and rise away from it), or, with `margin`, in the right
    margin (bar charts, whose bars carry labels of their own)."""
    if baseline is None:
        return
    ax.axhline(baseline, color="black", linestyle=style, linewidth=1 if margin else 0.8)
    if margin:
        ax.text(1.0, baseline, f" {label} {baseline:.1%}", transform=ax.get_yaxis_transform(), va="center", fontsize=9)
    else:
        ax.text(0.99, baseline, f"{label} {baseline:.1%} ", transform=ax.get_yaxis_transform(), va="top",
                ha="right", fontsize=8.5)


def _plot_runs(runs: dict[str, pd.DataFrame], title: str | None, in_sequence: bool = False,
               best: Sequence[str] | None = None) -> Figure:
    has_loss = any("loss" in h or "val_loss" in h for h in runs.values())
    panels = ["accuracy"] + (["loss"] if has_loss else [])
    fig, axes = _subplots(1, len(panels), figsize=(5.2 * len(panels), 4.0), squeeze=False, layout="constrained")
    colors = sns.color_palette(n_colors=max(len(runs), 1))
    # A run of one or two epochs is a point or a short segment: markers keep it visible.
    marker = {"marker": "o", "markersize": 5} if max((len(h) for h in runs.values()), default=0) <= 3 else {}
    offset = 0
    for (name, history), color in zip(runs.items(), colors):
        history = history.reset_index(drop=True)
        epochs = _epochs(history) + offset
        if in_sequence and offset:
            for ax in axes[0]:  # where one step ends and the next begins
                ax.axvline(offset + 0.5, color="gray", linestyle=":", linewidth=1)
        offset += len(history) if in_sequence else 0
        for ax, metric in zip(axes[0], panels):
            if metric in history:
                ax.plot(epochs, history[metric], color=color, **_TRAIN_STYLE, **marker)
            if f"val_{metric}" in history:
                ax.plot(epochs, history[f"val_{metric}"], color=color, **marker)
        if "val_accuracy" in history and history["val_accuracy"].notna().any() and (best is None or name in best):
            _mark_best(axes[0][0], epochs, history["val_accuracy"], color)
    last = offset if in_sequence else max((len(h) for h in runs.values()), default=1)
    for ax, metric in zip(axes[0], panels):
        ax.set_title(metric)
        ax.set_xlabel("epoch" + (" (the steps in order)" if in_sequence else ""))
        _epoch_axis(ax, last)
        sns.despine(ax=ax)
    # Run colours and line styles share one legend.
    run_handles = [Line2D([], [], color=c, label=str(k)) for k, c in zip(runs, colors)]
    style_handles = [
        Line2D([], [], color="black", label="train", **_TRAIN_STYLE),
        Line2D([], [], color="black", label="validation"),
        Line2D([], [], color="black", marker="*", linestyle="", markersize=10, label="best validation"),
    ]
    # Below the panels, so that no legend hides a curve however many runs there are.
    fig.legend(handles=run_handles + style_handles, loc="outside lower center", ncols=min(4, len(run_handles) + 3),
               frameon=False)
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- architecture


def _layer_group(name: str) -> str:
    """Which drawn box a layer belongs to, from its stable name (see ferlib.models)."""
    for pattern, label in ((r"^(conv|bn|relu|pool|drop)(\d+)$", "conv block {}"),
                           (r"^dense(?:_bn|_relu|_drop)?(\d+)$", "dense {}"),
                           (r"^(?:norm|attention|residual|mlp)(\d+)", "transformer block {}"),
                           (r"^block(\d+)$", "transformer block {}")):
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
    short = {"BatchNormalization": "batch norm", "FusedBatchNormalization": "batch norm",
             "LayerNormalization": "layer norm", "MaxPooling2D": "max pool 2x2",
             "GlobalAveragePooling1D": "average over patches", "Flatten": "flatten", "InputLayer": "input",
             "Add": "+ residual", "Patches": "4x4 patches", "PatchEncoder": "projection + position"}
    return short.get(kind, kind)


def plot_architecture(model, title: str | None = None, per_row: int = 4) -> Figure:
    """A diagram of a Keras model drawn from its layers: one box per block (the CNN's conv
    blocks, its dense layers, the ViT's transformer blocks), listing the block's layers,
    its output shape and its parameters, in rows of `per_row` boxes."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    groups: list[tuple[str, list]] = []
    for layer in model.layers:
        key = _layer_group(layer.name)
        if groups and groups[-1][0] == key:
            groups[-1][1].append(layer)
        else:
            groups.append((key, [layer]))
    boxes = []
    for key, layers in groups:
        names, seen = [], set()
        for layer in layers:  # a transformer block repeats "layer norm" and "+ residual": list each once
            text = _describe_layer(layer)
            if text not in seen:
                names.append(text)
                seen.add(text)
        shape = tuple(layers[-1].output.shape[1:])
        params = sum(int(np.prod(w.shape)) for layer in layers for w in layer.weights)
        boxes.append((key, names, " x ".join(str(d) for d in shape), params))
    rows = math.ceil(len(boxes) / per_row)
    fig, ax = _subplots(1, 1, figsize=(2.15 * min(per_row, len(boxes)), 2.3 * rows + 0.4), layout="constrained")
    ax.set_xlim(0, min(per_row, len(boxes)))
    ax.set_ylim(rows, 0)
    ax.axis("off")
    palette = {"conv": "#dbe9f6", "dense": "#fde2c8", "transformer": "#e3f1dc"}
    def place(i):  # a snake: every other row runs right to left, so each step is a short arrow
        row, col = divmod(i, per_row)
        return row, (per_row - 1 - col) if row % 2 else col

    for i, (key, names, shape, params) in enumerate(boxes):
        row, col = place(i)
        x, y = col + 0.06, row + 0.1
        color = next((c for prefix, c in palette.items() if key.startswith(prefix)), "#eeeeee")
        ax.add_patch(FancyBboxPatch((x, y), 0.84, 0.72, boxstyle="round,pad=0.02", facecolor=color, edgecolor="#555555"))
        ax.text(x + 0.42, y + 0.07, key, ha="center", va="top", fontsize=10.5, weight="bold")
        ax.text(x + 0.42, y + 0.2, "\n".join(n for n in names[:6] if n != key), ha="center", va="top", fontsize=9,
                linespacing=1.25)
        ax.text(x + 0.42, y + 0.69, f"{shape}" + (f" · {params:,} p." if params else ""), ha="center", va="bottom",
                fontsize=8.5, color="#333333")
        if i + 1 < len(boxes):
            nrow, ncol = place(i + 1)
            if nrow == row:
                right = ncol > col
                start = (x + 0.86, y + 0.36) if right else (x - 0.02, y + 0.36)
                end = (ncol + 0.04, y + 0.36) if right else (ncol + 0.92, y + 0.36)
            else:
                start, end = (x + 0.42, y + 0.76), (x + 0.42, nrow + 0.08)
            ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, color="#555555"))
    total = sum(b[3] for b in boxes)
    fig.suptitle(title or f"{model.name}: {total:,} parameters", fontsize=11)
    return fig


# --------------------------------------------------------------------------- evaluation


def plot_confusion_matrices(matrices: Mapping[str, object], normalize: bool = True) -> Figure:
    """Confusion matrices one above the other, rows = true class, columns = predicted class.

    ``matrices``: ``{model_name: 7x7 array or DataFrame}`` of counts. Every cell shows its
    count and, with ``normalize``, its share of the true class (the diagonal is then the
    per-class recall); colour follows that share, so rare and common emotions read alike.
    Titles give each model's accuracy.
    """
    n = len(matrices)
    fig, axes = _subplots(n, 1, figsize=(7.6, 6.4 * n), squeeze=False, layout="constrained")
    for ax, (name, matrix) in zip(axes[:, 0], matrices.items()):
        if isinstance(matrix, pd.DataFrame):
            classes, counts = [str(c) for c in matrix.index], matrix.to_numpy()
        else:
            counts = np.asarray(matrix)
            classes = _class_names(len(counts))
        counts = counts.astype(float)
        accuracy = np.trace(counts) / max(counts.sum(), 1)
        rates = 100 * counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        values = rates if normalize else counts
        annot = np.vectorize(lambda c, r: f"{c:,.0f}\n{r:.0f}%")(counts, rates) if normalize else \
            np.vectorize(lambda c: f"{c:,.0f}")(counts)
        sns.heatmap(
            values, annot=annot, fmt="", cmap="Blues", square=True, ax=ax, annot_kws={"fontsize": 9},
            xticklabels=classes, yticklabels=classes, vmin=0, vmax=100 if normalize else None,
            cbar_kws={"shrink": 0.7, "label": "% of the true emotion" if normalize else "images"},
        )
        ax.set_xlabel("predicted emotion")
        ax.set_ylabel("true emotion")
        ax.set_title(f"{name}: accuracy {accuracy:.1%} (each cell: images, and % of its row)", fontsize=11)
        ax.tick_params(axis="x", rotation=45)
        ax.tick_params(axis="y", rotation=0)
    return fig


def plot_per_class(frame: pd.DataFrame, metric: str | Sequence[str] = "recall") -> Figure:
    """Grouped bars per emotion, one colour per model.

    ``frame``: long format, columns ``model``, ``emotion`` and metric columns such as
    ``precision``, ``recall``, ``f1``, ``correct`` (``emotion`` may be the index).
    Several metrics give one panel each.
    """
    frame = frame.reset_index() if "emotion" not in frame.columns else frame
    metrics = [metric] if isinstance(metric, str) else list(metric)
    present = set(frame["emotion"])
    order = [e for e in EMOTIONS if e in present] + sorted(present - set(EMOTIONS), key=str)
    fig, axes = _subplots(len(metrics), 1, figsize=(9, 3.8 * len(metrics)), squeeze=False, layout="constrained")
    for ax, name in zip(axes[:, 0], metrics):
        sns.barplot(data=frame, x="emotion", y=name, hue="model", order=order, errorbar=None, ax=ax)
        is_count = pd.api.types.is_integer_dtype(frame[name]) or name == "correct"
        for container in ax.containers:
            ax.bar_label(container, fmt="{:,.0f}" if is_count else "{:.2f}", fontsize=9, padding=1)
        ax.margins(y=0.12)
        ax.set_xlabel("")
        ax.set_title(f"{name} per emotion")
        sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1), title="model", frameon=False, fontsize=9)
        sns.despine(ax=ax)
    return fig


def plot_accuracies(frame: pd.DataFrame, baselines: Mapping[str, float], x: str = "model", hue: str | None = None,
                    value: str = "accuracy", title: str = "Accuracy") -> Figure:
    """Accuracy bars with the baselines drawn across them (majority class, chance), so that
    one look tells whether a model learned anything."""
    fig, ax = _subplots(1, 1, figsize=(7.5, 3.6), layout="constrained")
    sns.barplot(data=frame, x=x, y=value, hue=hue, errorbar=None, ax=ax)
    for container in ax.containers:
        ax.bar_label(container, fmt="{:.1%}", fontsize=9, padding=1)
    for (name, level), style in zip(baselines.items(), ("--", ":")):
        _draw_baseline(ax, level, name, style=style, margin=True)
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_xlabel("")
    ax.set_title(title)
    if hue:
        sns.move_legend(ax, "upper left", bbox_to_anchor=(1.18, 1), frameon=False, fontsize=9)
    sns.despine(ax=ax)
    return fig


def plot_cluster_map(points: np.ndarray, labels: np.ndarray, clusters: np.ndarray, title: str = "k-means") -> Figure:
    """The 2-D map of the features twice: coloured by emotion, and by cluster."""
    fig, axes = _subplots(1, 2, figsize=(11, 4.8), layout="constrained")
    # two palettes: a colour on the left must not suggest the same group on the right
    for ax, values, names, heading, palette in (
            (axes[0], labels, list(EMOTIONS), "coloured by emotion (the labels)", sns.color_palette("tab10", NUM_CLASSES)),
            (axes[1], clusters, [f"cluster {c + 1}" for c in range(int(clusters.max()) + 1)],
             f"coloured by {title} cluster (no labels used)", sns.color_palette("Dark2", 8))):
        for code, name in enumerate(names):
            mine = values == code
            ax.scatter(points[mine, 0], points[mine, 1], s=4, alpha=0.6, color=palette[code % len(palette)], label=name)
        ax.set_title(heading, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(markerscale=3, fontsize=9, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    return fig


# --------------------------------------------------------------------------- features


def plot_feature_maps(maps: Mapping[str, np.ndarray], image=None, n_filters: int = 5, select: str = "active") -> Figure:
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
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"channel {ch}", fontsize=8)
            if j == 0:
                h, w, c = fmap.shape
                ax.set_ylabel(f"{name}\n{h}x{w}x{c}", fontsize=9)
    fig.suptitle("CNN feature maps (" + ("most active channels" if select == "active" else "first channels") + ")")
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
    # Shown as the ratio to uniform attention (1 = every patch gets 1/144), on a scale
    # centred on 1: a nearly uniform map then looks nearly flat instead of structured.
    # A ratio is never negative: below 1 the scale stops at 0, above it reaches the maximum.
    ratio = attention / attention.mean()
    spread = max(float(np.abs(ratio - 1).max()), 0.05)
    norm = TwoSlopeNorm(vcenter=1.0, vmin=max(0.0, 1 - spread), vmax=1 + spread)
    fig, axes = _subplots(1, 3, figsize=(10.5, 3.7), layout="constrained")
    _show_image(axes[0], img, "input image")
    shown = axes[1].imshow(ratio, cmap="RdBu_r", norm=norm)
    axes[1].set_title(f"attention per patch ÷ uniform ({attention.shape[0]}x{attention.shape[1]})", fontsize=9)
    axes[1].set_xticks([])
    axes[1].set_yticks([])
    fig.colorbar(shown, ax=axes[1], fraction=0.046, pad=0.04, label="× uniform share")
    _show_image(axes[2], img, f"overlay (max {ratio.max():.2f}× uniform)")
    # The extent stretches the patch grid over the pixels; bilinear smoothing upsamples it.
    axes[2].imshow(ratio, cmap="RdBu_r", norm=norm, alpha=0.5,
                   extent=(-0.5, w - 0.5, h - 0.5, -0.5), interpolation="bilinear")
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- tuning


def plot_tuning_results(frame: pd.DataFrame, title: str = "ViT configurations",
                        baseline: float | None = None) -> Figure:
    """Accuracies per configuration, in the given order, with parameter counts under the names,
    and a dashed line at the majority-class `baseline` (a configuration at that line has not
    learned).

    ``frame``: columns ``config`` (label), ``val_accuracy``, ``test_accuracy``, ``params``
    and optionally ``train_accuracy``.
    """
    frame = frame.reset_index(drop=True)
    columns = [c for c in ("train_accuracy", "val_accuracy", "test_accuracy") if c in frame]
    long = frame.melt(id_vars="config", value_vars=columns, var_name="split", value_name="accuracy")
    long["split"] = long["split"].str.replace("_accuracy", "", regex=False)
    fig, ax = _subplots(figsize=(max(7.0, 1.9 * len(frame)), 4.8), layout="constrained")
    sns.barplot(data=long, x="config", y="accuracy", hue="split", order=list(frame["config"]), errorbar=None, ax=ax)
    for container in ax.containers:  # in percent without the sign, so three labels fit side by side
        ax.bar_label(container, labels=[f"{100 * v:.1f}" for v in container.datavalues], fontsize=9, padding=1)
    labels = [str(c).replace(" / ", "\n") for c in frame["config"]]
    if "params" in frame:
        labels = [f"{lab}\n({_human(p)} params)" for lab, p in zip(labels, frame["params"])]
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, fontsize=9)
    ax.set_xlabel("")
    ax.set_ylim(0, min(1.0, max(long["accuracy"].max(), baseline or 0) * 1.2 + 0.02))
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    _draw_baseline(ax, baseline, margin=True)  # in the right margin, clear of the bars' own labels
    fig.suptitle(title)
    # Above the bars, so it never covers them.
    sns.move_legend(ax, "lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(columns), title=None, frameon=False)
    sns.despine(ax=ax)
    return fig


#: Short column names for the book's narrow column.
_SHORT_COLUMNS = {"train_accuracy": "train", "val_accuracy": "val", "best_val_accuracy": "best val",
                  "test_accuracy": "test", "seconds": "seconds", "params": "parameters", "config": "configuration"}


def style_table(frame: pd.DataFrame):
    """A results table as a book page shows it: short column names, accuracies in %,
    parameter counts with thousands separators, seconds rounded, no index."""
    table = frame.rename(columns=_SHORT_COLUMNS)
    percent = [_SHORT_COLUMNS[c] for c in frame.columns if c.endswith("accuracy")]
    formats = {**{c: "{:.1%}" for c in percent}, "parameters": "{:,}", "seconds": "{:,.0f}"}
    return table.style.format({c: f for c, f in formats.items() if c in table.columns}, na_rep="").hide(axis="index")


_SITES = {"arxiv.org": "arXiv", "github.com": "GitHub"}


def style_literature_table(records: pd.DataFrame):
    """:func:`~ferlib.recipes.beyond.literature_table` as a page shows it: accuracies in %,
    each source a short link, this run's rows in bold."""

    def link(url: str) -> str:
        site = url.split("/")[2] if url.startswith("http") else ""
        return f'<a href="{url}">{_SITES.get(site, site)}</a>' if site else url

    return (records.style.format({"accuracy": "{:.1%}", "source": link})
            .apply(lambda row: ["font-weight: bold" if row["this run"] else ""] * len(row), axis=1)
            .hide(axis="index").hide(["this run"], axis="columns"))


def style_table1(table: pd.DataFrame):
    """Table 1 (:func:`~ferlib.recipes.report.table1`, with baseline rows or without) as a
    page shows it: short row names, the two models as column groups of *report*, *ours* and
    *Δ* (ours minus the report's), four decimals, narrow enough for the book's column."""
    rows = {name: name.replace("phase1", "phase 1").replace("phase2", "phase 2").replace(" accuracy", "")
            .replace(", test", " (test)").replace(" (majority class)", "").replace(" (chance)", "")
            for name in table.index}
    frame = table.rename(index=rows)
    frame.columns = pd.MultiIndex.from_tuples(
        [("ViT" if model == "VIT" else model, {"difference": "Δ"}.get(what, what))
         for model, what in (column.split(" ", 1) for column in frame.columns)])
    return frame.style.format("{:.4f}", na_rep="–")
