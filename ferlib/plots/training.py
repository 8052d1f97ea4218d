"""Figures of training: loss and accuracy per epoch (one run or several), and the ViT
configurations' accuracies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ._common import _draw_baseline, _human, _subplots

_TRAIN_STYLE = {"linestyle": "--", "alpha": 0.8}
_PANEL_TITLES = {"learning_rate": "learning rate"}


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
    else:
        fig = _plot_run(history.reset_index(drop=True), title)
    _draw_baseline(fig.axes[0], baseline)  # the accuracy panel comes first
    return fig


def _epochs(history: pd.DataFrame) -> pd.Series:
    """Epochs counted from 1, as Keras prints them and ``train.json``'s ``best_epoch`` counts
    (``history.csv`` counts from 0)."""
    return history["epoch"] + 1 if "epoch" in history else pd.Series(np.arange(1, len(history) + 1), index=history.index)


def _best_row(history: pd.DataFrame):
    """The row of the best validation accuracy, or None where the history has none."""
    if "val_accuracy" in history and history["val_accuracy"].notna().any():
        return history["val_accuracy"].idxmax()
    return None


def _mark_best(ax, epoch, value, color, markersize: float = 11, **style) -> None:
    ax.plot(epoch, value, marker="*", markersize=markersize, color=color, zorder=5, **style)


def _plot_metric(ax, history: pd.DataFrame, metric: str, epochs: pd.Series, train: dict, validation: dict) -> None:
    """The training and the validation curve of `metric`, each where the history logged it."""
    if metric in history:
        ax.plot(epochs, history[metric], **train)
    if f"val_{metric}" in history:
        ax.plot(epochs, history[f"val_{metric}"], **validation)


def _epoch_axis(ax, epochs: int) -> None:
    """Whole-number epoch ticks; a run of one or two epochs gets room either side, or
    matplotlib would fall back to fractional ticks (0.95, 0.975 ...)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    if epochs <= 3:
        ax.set_xlim(0.5, epochs + 0.5)
        ax.set_xticks(range(1, epochs + 1))


def _label_panels(axes, panels: Sequence[str], epochs: int, xlabel: str = "epoch") -> None:
    for ax, metric in zip(axes, panels):
        ax.set_title(_PANEL_TITLES.get(metric, metric))
        ax.set_xlabel(xlabel)
        _epoch_axis(ax, epochs)
        sns.despine(ax=ax)


def _plot_run(history: pd.DataFrame, title: str | None) -> Figure:
    """One run: train and validation in two colours, the best epoch starred and marked on
    every panel, the learning rate in a panel of its own where it changed."""
    epochs = _epochs(history)
    rates = history["learning_rate"].dropna() if "learning_rate" in history else pd.Series(dtype=float)
    # a learning rate that never changed is a flat line: say it in the title instead of a panel
    has_lr = rates.nunique() > 1
    panels = ["accuracy", "loss"] + (["learning_rate"] if has_lr else [])  # accuracy first, as for several runs
    # Wide enough to read at the book's column width: the learning rate, a step curve, gets less room.
    widths = [1, 1, 0.7][: len(panels)]
    fig, axes = _subplots(1, len(panels), figsize=(3.9 * sum(widths), 3.6), squeeze=False, layout="constrained",
                          gridspec_kw={"width_ratios": widths})
    axes, accuracy = axes[0], axes[0][0]
    train_color, val_color = sns.color_palette()[:2]
    for ax, metric in zip(axes, panels):
        if metric == "learning_rate":
            ax.plot(epochs, history[metric], color="gray")
            ax.set_yscale("log")
        else:
            _plot_metric(ax, history, metric, epochs, {"color": train_color, "label": "train"},
                         {"color": val_color, "label": "validation"})
    _label_panels(axes, panels, len(history))
    best = _best_row(history)
    if best is not None:
        for ax in axes:
            ax.axvline(epochs[best], color="gray", linestyle=":", linewidth=1)
        # The best epoch goes into the legend: a note inside the panel collides with the baseline.
        value = history["val_accuracy"][best]
        _mark_best(accuracy, epochs[best], value, val_color, markersize=12, linestyle="",
                   label=f"best val {value:.3f} (epoch {epochs[best]})")
    # One legend below the panels, as for several runs: inside, it would hide a curve or the baseline.
    handles, labels = accuracy.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=len(handles), frameon=False)
    if len(rates) and not has_lr:
        title = f"{title or ''}{' · ' if title else ''}learning rate {rates.iloc[0]:g} throughout"
    if title:
        fig.suptitle(title)
    return fig


def _plot_runs(runs: dict[str, pd.DataFrame], title: str | None, in_sequence: bool = False,
               best: Sequence[str] | None = None) -> Figure:
    """Several runs, one colour each (train dashed, validation solid), overlaid or, with
    `in_sequence`, one after the other along the epoch axis."""
    has_loss = any("loss" in h or "val_loss" in h for h in runs.values())
    panels = ["accuracy"] + (["loss"] if has_loss else [])
    fig, axes = _subplots(1, len(panels), figsize=(5.2 * len(panels), 4.0), squeeze=False, layout="constrained")
    axes = axes[0]
    colors = sns.color_palette(n_colors=max(len(runs), 1))
    # A run of one or two epochs is a point or a short segment: markers keep it visible.
    marker = {"marker": "o", "markersize": 5} if max((len(h) for h in runs.values()), default=0) <= 3 else {}
    offset = 0
    for (name, history), color in zip(runs.items(), colors):
        history = history.reset_index(drop=True)
        epochs = _epochs(history) + offset
        if in_sequence and offset:
            for ax in axes:  # where one step ends and the next begins
                ax.axvline(offset + 0.5, color="gray", linestyle=":", linewidth=1)
        offset += len(history) if in_sequence else 0
        for ax, metric in zip(axes, panels):
            _plot_metric(ax, history, metric, epochs, {"color": color, **_TRAIN_STYLE, **marker}, {"color": color, **marker})
        row = _best_row(history)
        if row is not None and (best is None or name in best):
            _mark_best(axes[0], epochs[row], history["val_accuracy"][row], color)
    last = offset if in_sequence else max((len(h) for h in runs.values()), default=1)
    _label_panels(axes, panels, last, "epoch" + (" (the steps in order)" if in_sequence else ""))
    _runs_legend(fig, runs, colors)
    if title:
        fig.suptitle(title)
    return fig


def _runs_legend(fig: Figure, runs: Mapping[str, pd.DataFrame], colors) -> None:
    """Run colours and line styles in one legend, below the panels, so that no legend hides
    a curve however many runs there are."""
    run_handles = [Line2D([], [], color=c, label=str(k)) for k, c in zip(runs, colors)]
    style_handles = [
        Line2D([], [], color="black", label="train", **_TRAIN_STYLE),
        Line2D([], [], color="black", label="validation"),
        Line2D([], [], color="black", marker="*", linestyle="", markersize=10, label="best validation"),
    ]
    fig.legend(handles=run_handles + style_handles, loc="outside lower center", ncols=min(4, len(run_handles) + 3),
               frameon=False)


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


def _spread(levels: Sequence[float], gap: float, top: float) -> list[float]:
    """`levels` (sorted upwards) nudged apart so that labels at them stay `gap` apart and
    none is above `top`: pushed up from the bottom, then down from the top."""
    placed: list[float] = []
    for level in levels:
        placed.append(max(level, placed[-1] + gap) if placed else level)
    ceiling = top
    for i in range(len(placed) - 1, -1, -1):
        placed[i] = min(placed[i], ceiling)
        ceiling = placed[i] - gap
    return placed


def plot_accuracy_against_time(log: pd.DataFrame, references: Mapping[str, float], target: tuple[float, float] | None = None,
                               metric: str = "private", title: str = "PrivateTest accuracy against training time",
                               zoom: float = 0.08) -> Figure:
    """Accuracy after each epoch against the training minutes so far, one curve per run (one
    colour per recipe, one line per seed), with published and reference accuracies drawn
    across and labelled in the right margin (they come without a training time).

    ``log``: one row per epoch, columns ``recipe``, ``run``, ``train_seconds`` and `metric`.
    ``references``: ``{label: accuracy}``. ``target``: ``(minutes, accuracy)``, drawn as a
    point to reach (the chapter's goal); with one, an inset magnifies the band around it, where
    the curves end and the published numbers lie (`zoom`: how far below the goal it reaches)."""
    fig, ax = _subplots(1, 1, figsize=(8.6, 5.2), layout="constrained")
    recipes = list(dict.fromkeys(log["recipe"])) if len(log) else []
    colors = dict(zip(recipes, sns.color_palette("deep", max(len(recipes), 1))))
    seeds = log.groupby("recipe", sort=False)["run"].nunique() if len(log) else {}

    def draw_curves(axes, labelled: bool) -> None:
        for (recipe, run), epochs in (log.groupby(["recipe", "run"], sort=False) if len(log) else []):
            first = run == log.loc[log["recipe"] == recipe, "run"].iloc[0]
            label = f"{recipe} ({seeds[recipe]} seeds, one line each)" if seeds[recipe] > 1 else recipe
            axes.plot(epochs["train_seconds"] / 60, epochs[metric], marker="o", markersize=3.5 if labelled else 2.5,
                      linewidth=1.4 if labelled else 1.0, color=colors[recipe], alpha=1.0 if first else 0.55,
                      label=label if first and labelled else None)

    draw_curves(ax, labelled=True)
    levels = sorted(references.items(), key=lambda item: item[1])
    low = min([v for _, v in levels] + ([log[metric].min()] if len(log) else []) + ([target[1]] if target else []))
    high = max([v for _, v in levels] + ([log[metric].max()] if len(log) else []) + ([target[1]] if target else []))
    ax.set_ylim(max(0.0, low - 0.03), min(1.0, high + 0.02))
    gap = (ax.get_ylim()[1] - ax.get_ylim()[0]) / 24
    for (label, level), at in zip(levels, _spread([v for _, v in levels], gap, ax.get_ylim()[1] - gap / 2)):
        ax.axhline(level, color="0.55", linestyle=":", linewidth=0.9)
        # the leader runs from the line's end to its label, which may sit a little above or below
        ax.annotate(f"{level:.1%} {label}", xy=(1.0, level), xycoords=ax.get_yaxis_transform(),
                    xytext=(1.06, at), textcoords=ax.get_yaxis_transform(), va="center", fontsize=10,
                    arrowprops={"arrowstyle": "-", "color": "0.45", "linewidth": 0.7, "shrinkA": 0, "shrinkB": 2})
    if target:
        ax.plot(*target, marker="*", markersize=14, color="goldenrod", linestyle="none",
                label=f"goal: {target[1]:.0%} within {target[0]:.0f} min")
        # Where the curves end, the seeds and the published numbers lie within a few points:
        # the inset shows that band at a readable scale, in the empty lower right of the panel.
        inset = ax.inset_axes([0.36, 0.24, 0.6, 0.4])
        draw_curves(inset, labelled=False)
        for _, level in levels:
            inset.axhline(level, color="0.55", linestyle=":", linewidth=0.9)
        inset.plot(*target, marker="*", markersize=11, color="goldenrod", linestyle="none")
        inset.set_ylim(target[1] - zoom, ax.get_ylim()[1])
        inset.set_xlim(0, ax.get_xlim()[1])
        inset.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        inset.tick_params(labelsize=8)
        box = ax.indicate_inset_zoom(inset, edgecolor="0.5")
        for connector in box.connectors:  # the box says where; lines across the curves would not help
            connector.set_visible(False)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_xlim(left=0)
    ax.set_xlabel("training minutes (wall clock)")
    ax.set_ylabel({"private": "PrivateTest", "public": "PublicTest"}.get(metric, metric) + " accuracy")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=9, frameon=False)
    sns.despine(ax=ax)
    return fig


def plot_learning_rate(schedule, total_steps: int, steps_per_epoch: int,
                       title: str = "The learning rate, step by step") -> Figure:
    """A Keras learning-rate schedule over a training's steps, with the epochs on the axis."""
    import keras

    steps = np.arange(total_steps)
    rates = np.asarray([float(keras.ops.convert_to_numpy(schedule(int(s)))) for s in steps])
    fig, ax = _subplots(1, 1, figsize=(7.5, 2.8), layout="constrained")
    ax.plot(steps / steps_per_epoch, rates, linewidth=1.6)
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.set_xlim(0, total_steps / steps_per_epoch)
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    sns.despine(ax=ax)
    return fig
