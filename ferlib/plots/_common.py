"""What every figure family shares: pyplot-free figures, grey images, labels and baselines."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..fer2013 import EMOTIONS, as_model_input


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
    _no_ticks(ax)
    if title:
        ax.set_title(title, fontsize=9)


def _no_ticks(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _class_names(n: int) -> list[str]:
    return list(EMOTIONS) if n == len(EMOTIONS) else [str(i) for i in range(n)]


def _human(n: float) -> str:
    """1234567 -> '1.23M', 45000 -> '45k'."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= 0.9995 * size:  # 999,999 is '1M', not '1e+03k'
            return f"{n / size:.3g}{suffix}"
    return f"{n:.0f}"


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


def _label_points(ax, points) -> None:
    """Name each ``(text, x, y)`` point beside it: up and to the right, or, where that label
    would cover one already placed or leave the panel, at the next free corner around it.
    Call it once the panel's scales and limits are set, since placement uses drawn positions."""
    ax.figure.draw_without_rendering()  # lays the figure out, so that positions below are final
    inside = ax.get_window_extent()
    corners = (((4, 3), "left", "bottom"), ((-4, 3), "right", "bottom"),
               ((4, -3), "left", "top"), ((-4, -3), "right", "top"))
    placed = []
    for text, x, y in points:
        for number, (offset, ha, va) in enumerate(corners):
            label = ax.annotate(text, (x, y), xytext=offset, textcoords="offset points", ha=ha, va=va, fontsize=9)
            box = label.get_window_extent()
            free = not any(box.overlaps(other) for other in placed)
            if (free and inside.x0 <= box.x0 and box.x1 <= inside.x1) or number == len(corners) - 1:
                break
            label.remove()
        placed.append(box)
