"""The book's figures: data, training curves, evaluation, feature views and tuning.

Every function returns a :class:`matplotlib.figure.Figure` and never shows it; save it
with ``fig.savefig(...)`` or let the notebook display it. Images may be uint8
``(N, 48, 48)`` or float ``(N, 48, 48, 1)`` in [0, 1].

One module per family of figures, all of them importable from here:

* ``data``: examples per emotion, face grids, class balance, augmentation, equalization;
* ``training``: training curves (one run or several), accuracy against training time and the
  ViT tuning results;
* ``architecture``: a model's diagram, drawn from its layers;
* ``results``: confusion matrices, per-emotion bars, accuracies against the baselines, and
  accuracy against size, arithmetic and training time;
* ``features``: the feature clusters, CNN feature maps, ViT activations and attention, and
  where models look (Grad-CAM beside attention rollout);
* ``diagrams``: the teaching chapters' diagrams (patches, the transformer block, the two
  phases, ReduceLROnPlateau), drawn by ``book/figures/make_figures.py``;
* ``_common``: the helpers they share (figures kept out of pyplot, grey images, baselines).
"""

from __future__ import annotations

from ._common import _human
from .architecture import plot_architecture
from .data import plot_augmentation_grid, plot_class_balance, plot_class_samples, plot_equalization, plot_face_grid
from .features import plot_activation_bars, plot_attention, plot_cluster_map, plot_feature_maps, plot_where_models_look
from .results import (plot_accuracies, plot_accuracy_against_cost, plot_confusion_matrices, plot_per_class,
                      plot_with_intervals)
from .training import plot_accuracy_against_time, plot_learning_rate, plot_training_curves, plot_tuning_results

__all__ = [
    "plot_accuracies", "plot_accuracy_against_time", "plot_activation_bars", "plot_architecture", "plot_attention", "plot_augmentation_grid",
    "plot_class_balance", "plot_class_samples", "plot_cluster_map", "plot_confusion_matrices", "plot_equalization",
    "plot_face_grid", "plot_feature_maps", "plot_learning_rate", "plot_per_class", "plot_training_curves", "plot_tuning_results",
    "plot_with_intervals", "plot_accuracy_against_cost", "plot_where_models_look",
]
# ``_human`` (1234567 -> "1.23M") is imported above for the tests, which check it as ``plots._human``.
