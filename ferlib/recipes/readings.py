"""The readings of each model's text: every reading trained the same few epochs, and the
one a run keeps (the fastest to fit its training images)."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import pandas as pd

from ..models import READING_NOTES, READINGS, ViTConfig, build_model, count_params
from ..provenance import load_results
from .run import Run


@dataclass
class Readings:
    """Each reading of one model's architecture, trained the same few epochs."""

    model: str
    table: pd.DataFrame  # one row per reading: parameters, accuracies after the last epoch, seconds
    histories: dict[str, pd.DataFrame]
    chosen: str  # the reading that fits the training images fastest


def compare_readings(run: Run, model: str, verbose: int = 2) -> Readings:
    """Train every reading of `model` (:data:`~ferlib.models.READINGS`) for the profile's
    ``reading_epochs``, from the same seed, without early stopping, and keep the one with
    the highest training accuracy at the end: the report describes a fast, strong fit of
    the training data, so that is the behaviour to match (not the best validation score).
    """
    rows, histories = [], {}
    config = run.train_config(run.profile.reading_epochs, early_stopping_patience=None)
    for reading in READINGS[model]:
        net = build_model(model, reading, precision=run.precision[model], name=f"{model}_{reading}", seed=run.seed)
        result = run.train(net, run.folder.reading(model, reading), config, verbose=verbose)
        last = result.history.iloc[-1]
        histories[reading] = result.history
        rows.append({"reading": reading, "change": READING_NOTES[model][reading], "params": count_params(result.model)["total"], "epochs": result.epochs,
                     "train_accuracy": float(last["accuracy"]), "val_accuracy": float(last["val_accuracy"]),
                     "best_val_accuracy": float(result.history["val_accuracy"].max()), "seconds": round(result.seconds, 1)})
    table = pd.DataFrame(rows)
    chosen = str(table.loc[table["train_accuracy"].idxmax(), "reading"])
    run.save_metrics(f"{model}_readings", {"model": model, "chosen": chosen, "readings": table.to_dict(orient="records"),
                                           "histories": {k: h.to_dict(orient="list") for k, h in histories.items()}})
    return Readings(model, table, histories, chosen)


def choose_reading(run: Run, model: str) -> str:
    """The reading `model` trains in: the one :func:`compare_readings` chose for this run.
    When this run has not compared them yet, this trains the readings first."""
    path = run.folder.metrics(f"{model}_readings")
    if path.exists():
        return load_results(path)["chosen"]
    return compare_readings(run, model).chosen


def build_for_run(run: Run, model: str, vit_config: ViTConfig | None = None) -> keras.Model:
    """`model` in this run's chosen reading and precision, initialised from the run's seed."""
    return build_model(model, choose_reading(run, model), vit_config=vit_config, precision=run.precision[model],
                       seed=run.seed)
