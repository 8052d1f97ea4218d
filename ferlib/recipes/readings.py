"""The readings of each model's text: every reading trained the same few epochs, and the
one a run keeps. A reading replaces the as-built network only when it fits the training
images faster by more than the seed-to-seed noise."""

from __future__ import annotations

from dataclasses import dataclass, replace

import keras
import numpy as np
import pandas as pd
from scipy.stats import ttest_ind

from ..models import READING_NOTES, READINGS, ViTConfig, build_model, count_params, model_spec
from ..provenance import load_results
from .run import Run

#: The one-sided p-value below which the leading reading's lead counts as more than noise.
SIGNIFICANCE = 0.05


@dataclass
class Readings:
    """Each reading of one model's architecture, trained the same few epochs."""

    model: str
    table: pd.DataFrame  # one row per reading: parameters, accuracies after the last epoch, seconds
    histories: dict[str, pd.DataFrame]
    chosen: str  # the reading the run trains: the as-built one unless the leader beats it beyond noise
    leader: str  # the reading with the highest training accuracy from the run's seed
    seeds: pd.DataFrame  # reading, seed, log_train_accuracy: the leader and the as-built reading over seeds
    p_value: float | None  # Welch's one-sided test of the leader against as-built; None: not tested


def compare_readings(run: Run, model: str, verbose: int = 2) -> Readings:
    """Train every reading of `model` (:data:`~ferlib.models.READINGS`) for the profile's
    ``reading_epochs``, from the run's seed, without early stopping, and rank them by
    training accuracy at the end: the report describes a fast, strong fit of the training
    data, so that is the behaviour to match (not the best validation score).

    A few epochs from one seed cannot separate readings a point apart. So when another
    reading leads, it and the as-built reading train again from ``reading_seeds - 1`` more
    seeds, and the leader is kept only when Welch's one-sided t-test over the seeds gives
    p < :data:`SIGNIFICANCE`; otherwise (one seed included) the run keeps the as-built network.
    """
    rows, histories, finals = [], {}, []
    config = run.train_config(run.profile.reading_epochs, early_stopping_patience=None)

    def train(reading: str, seed: int):
        net = build_model(model, reading, precision=run.precision[model], name=f"{model}_{reading}", seed=seed)
        folder = run.folder.reading(model, reading, seed=None if seed == run.seed else seed)
        result = run.train(net, folder, config, verbose=verbose, seed=seed)
        finals.append({"reading": reading, "seed": seed, "log_train_accuracy": float(result.history["accuracy"].iloc[-1])})
        return result

    for reading in READINGS[model]:
        result = train(reading, run.seed)
        last = result.history.iloc[-1]
        histories[reading] = result.history
        rows.append({"reading": reading, "change": READING_NOTES[model][reading], "params": count_params(result.model)["total"], "epochs": result.epochs,
                     # the last epoch's log (dropout on for the training accuracy), as the report's
                     "log_train_accuracy": float(last["accuracy"]), "log_val_accuracy": float(last["val_accuracy"]),
                     "best_val_accuracy": float(result.history["val_accuracy"].max()), "seconds": round(result.seconds, 1)})
    table = pd.DataFrame(rows)
    as_built = str(table["reading"].iloc[0])
    leader = str(table.loc[table["log_train_accuracy"].idxmax(), "reading"])
    if leader != as_built:
        for seed in range(run.seed + 1, run.seed + run.profile.reading_seeds):
            for reading in (as_built, leader):
                train(reading, seed)
    seeds = pd.DataFrame(finals)
    seeds = seeds[seeds["reading"].isin([as_built, leader])].reset_index(drop=True)
    p_value = lead_p_value(seeds, leader, as_built) if leader != as_built else None  # None with one seed
    chosen = leader if p_value is not None and p_value < SIGNIFICANCE else as_built
    run.save_metrics(f"{model}_readings", {"model": model, "chosen": chosen, "leader": leader, "p_value": p_value,
                                           "readings": table.to_dict(orient="records"),
                                           "seeds": seeds.to_dict(orient="records"),
                                           "histories": {k: h.to_dict(orient="list") for k, h in histories.items()}})
    return Readings(model, table, histories, chosen, leader, seeds, p_value)


def lead_p_value(seeds: pd.DataFrame, leader: str, as_built: str) -> float | None:
    """Welch's one-sided p-value that `leader`'s final training accuracy over seeds exceeds
    `as_built`'s (`seeds`: columns reading, log_train_accuracy); None with fewer than two seeds
    each, or when both are constant."""
    a = seeds.loc[seeds["reading"] == leader, "log_train_accuracy"].to_numpy()
    b = seeds.loc[seeds["reading"] == as_built, "log_train_accuracy"].to_numpy()
    if min(len(a), len(b)) < 2:
        return None
    p = float(ttest_ind(a, b, equal_var=False, alternative="greater").pvalue)
    return None if np.isnan(p) else p


def load_or_compare_readings(run: Run, model: str) -> str:
    """The reading `model` trains in: the one :func:`compare_readings` chose for this run, read
    from its metrics, or, where this run has not compared the readings yet, trained now."""
    path = run.folder.metrics(f"{model}_readings")
    if path.exists():
        return load_results(path)["chosen"]
    return compare_readings(run, model).chosen


def build_for_run(run: Run, model: str, vit_config: ViTConfig | None = None, changes: dict | None = None) -> keras.Model:
    """`model` in this run's chosen reading and precision, initialised from the run's seed (a
    run that has not compared the readings trains them first: :func:`load_or_compare_readings`);
    `changes` set fields of its config (an exercise's ``{"dropout": 0.1}``) before the
    reading's own changes apply."""
    config = vit_config
    if changes:
        config = replace(vit_config if vit_config is not None else model_spec(model).config(), **changes)
    return build_model(model, load_or_compare_readings(run, model), config=config, precision=run.precision[model],
                       seed=run.seed)
