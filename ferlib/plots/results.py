"""Figures of the evaluation: confusion matrices, per-emotion bars and accuracies against
the baselines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter

from ..fer2013 import EMOTIONS
from ._common import _class_names, _draw_baseline, _human, _label_points, _subplots


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
        if frame["model"].nunique() > 1:
            sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1), title="model", frameon=False, fontsize=9)
        elif ax.get_legend() is not None:  # one model: the legend would only repeat what the page says
            ax.get_legend().remove()
        sns.despine(ax=ax)
    fig.get_layout_engine().set(h_pad=0.2)  # each title clear of the tick labels above it
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


def plot_with_intervals(ours: pd.DataFrame, report: Mapping[tuple[str, str], float] | None = None,
                        baselines: Mapping[str, float] | None = None,
                        title: str = "Test accuracy with 95% intervals, beside the report's") -> Figure:
    """Our accuracies as bars with their 95% intervals (`ours`: columns model, phase, accuracy,
    low, high), the report's as black diamonds at (model, phase) where given, and the baselines
    as dashed lines."""
    models, phases = list(dict.fromkeys(ours["model"])), list(dict.fromkeys(ours["phase"]))
    fig, ax = _subplots(1, 1, figsize=(7.5, 3.8), layout="constrained")
    width = 0.8 / len(phases)
    colours = sns.color_palette("Blues", len(phases) + 1)[1:]
    for j, phase in enumerate(phases):
        rows = ours[ours["phase"] == phase].set_index("model").reindex(models)
        xs = np.arange(len(models)) + (j - (len(phases) - 1) / 2) * width
        errors = np.vstack([rows["accuracy"] - rows["low"], rows["high"] - rows["accuracy"]])
        ax.bar(xs, rows["accuracy"], width * 0.9, yerr=errors, capsize=4, color=colours[j], label=f"ours, {phase}")
        if report:
            marks = [report.get((m, phase), np.nan) for m in models]
            ax.scatter(xs, marks, marker="D", color="black", zorder=3, s=28,
                       label="the report's" if j == 0 else None)
    for (name, value), style in zip((baselines or {}).items(), ("--", ":")):
        _draw_baseline(ax, value, name, style, margin=True)
    ax.set_xticks(np.arange(len(models)), models)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    sns.despine(ax=ax)
    return fig


#: How the ViT-question figure tells the families apart (colour and marker).
_FAMILY_STYLE = {"cnn": ("#c0392b", "s"), "transformer": ("#2471a3", "o")}


def plot_accuracy_against_cost(records: pd.DataFrame, title: str | None = None,
                               baseline: tuple[str, float] | None = None) -> Figure:
    """PrivateTest accuracy of each contender against its weights, its multiply-adds per image
    and its training minutes, one panel each: each seed a small mark, the seeds' mean a large
    one with the contender's name, CNNs and transformers in two colours.

    `records`: one row per training, with columns ``name`` (the short name each point is
    labelled with), ``family``, ``private_test``, ``params``, ``multiply_adds`` and
    ``train_seconds`` (``ferlib.recipes.vit_question``). `baseline`: a ``(label, accuracy)``
    drawn across every panel, such as always answering the most common emotion."""
    costs = (("params", "weights", True), ("multiply_adds", "multiply-adds per image", True),
             ("train_seconds", "training minutes", False))
    # the book shows the figure at its text width: larger type than matplotlib's default keeps
    # the points' names readable there
    fig, axes = _subplots(1, 3, figsize=(11, 4.6), layout="constrained", sharey=True)
    means = records.groupby("name", sort=False).agg(
        family=("family", "first"), private_test=("private_test", "mean"), params=("params", "first"),
        multiply_adds=("multiply_adds", "first"), train_seconds=("train_seconds", "mean")).reset_index()
    for ax, (column, name, log) in zip(axes, costs):
        scale = 1 / 60 if column == "train_seconds" else 1
        for family, (colour, marker) in _FAMILY_STYLE.items():
            seeds = records[records["family"] == family]
            ax.scatter(seeds[column] * scale, seeds["private_test"], s=14, color=colour, marker=marker, alpha=0.45)
            mine = means[means["family"] == family]
            ax.scatter(mine[column] * scale, mine["private_test"], s=60, color=colour, marker=marker,
                       edgecolor="black", linewidth=0.6, label="CNN" if family == "cnn" else "transformer")
        if log:
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 3.0)))  # a label or two per decade
            ax.xaxis.set_major_formatter(lambda v, _: _human(v))
            ax.xaxis.set_minor_formatter(NullFormatter())  # the minor ticks' own labels overlap
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
        sns.despine(ax=ax)
        if baseline is not None:
            ax.axhline(baseline[1], color="grey", linestyle="--", linewidth=0.9, label=baseline[0])
    axes[0].set_ylabel("PrivateTest accuracy")
    axes[0].yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    # Below the panels, not inside one: a legend's marker among the points reads as a point.
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=10, frameon=False)
    fig.suptitle(title or "Accuracy against size, arithmetic and training time (small marks: seeds)", fontsize=12)
    for ax, (column, _, _) in zip(axes, costs):  # last: the labels dodge each other in the final layout
        scale = 1 / 60 if column == "train_seconds" else 1
        _label_points(ax, [(row.name, getattr(row, column) * scale, row.private_test) for row in means.itertuples()])
    return fig
