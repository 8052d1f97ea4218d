"""The precision check: the chosen reading trained in float32 beside the run's precision."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..models import build_model
from .readings import load_or_compare_readings
from .run import Run


@dataclass
class PrecisionCheck:
    """The chosen reading trained the same epochs in float32 and in the run's precision."""

    model: str
    precision: str
    histories: dict[str, pd.DataFrame]  # precision -> history
    val_accuracy_gap: float  # |float32 - chosen| validation accuracy after the last epoch, in points
    best_val_accuracy_gap: float  # the same for the best validation accuracy over the epochs
    train_accuracy_gap: float  # the same for the training accuracy after the last epoch
    val_accuracy_swing: float  # the largest epoch-to-epoch change of validation accuracy in float32, in points


def compare_precision(run: Run, model: str, verbose: int = 2) -> PrecisionCheck | None:
    """Train `model`'s chosen reading in float32 for ``reading_epochs``, beside the same
    reading in the run's precision (trained by :func:`compare_readings`): same data, seed,
    epochs. None when the run trains `model` in float32 anyway."""
    precision = run.precision[model]
    if precision == "float32":
        return None
    reading = load_or_compare_readings(run, model)
    config = run.train_config(run.profile.reading_epochs, early_stopping_patience=None)
    net = build_model(model, reading, precision="float32", name=f"{model}_{reading}", seed=run.seed)
    reference = run.train(net, run.folder.reading(model, reading, "float32"), config, verbose=verbose)
    chosen = run.train(build_model(model, reading, precision=precision, name=f"{model}_{reading}", seed=run.seed),
                       run.folder.reading(model, reading), config, verbose=verbose)  # reused from the readings
    histories = {"float32": reference.history, precision: chosen.history}
    ref, new = reference.history, chosen.history

    def gap(column, pick):
        return float(100 * abs(pick(ref[column]) - pick(new[column])))

    swing = float(100 * ref["val_accuracy"].diff().abs().max()) if len(ref) > 1 else 0.0
    check = PrecisionCheck(model, precision, histories, gap("val_accuracy", lambda c: c.iloc[-1]),
                           gap("val_accuracy", lambda c: c.max()), gap("accuracy", lambda c: c.iloc[-1]), swing)
    run.save_metrics(f"{model}_precision", {"model": model, "reading": reading, "precision": precision,
                                            "val_accuracy_gap_points": check.val_accuracy_gap,
                                            "best_val_accuracy_gap_points": check.best_val_accuracy_gap,
                                            "train_accuracy_gap_points": check.train_accuracy_gap,
                                            "float32_val_accuracy_swing_points": check.val_accuracy_swing,
                                            "histories": {k: h.to_dict(orient="list") for k, h in histories.items()}})
    return check
