"""Phase 1 of the report (5.1, 5.2): each model trained under the report's callbacks, and the
ViT tuning story."""

from __future__ import annotations

from dataclasses import dataclass, fields

import keras
import numpy as np
import pandas as pd

from ..evaluate import evaluate_model
from ..models import VIT_TUNING_STORY, ViTConfig, build_model, count_params, model_spec, network_differences
from ..train import TrainConfig, TrainResult, compile_differences, compile_model
from .readings import build_for_run, load_or_compare_readings
from .run import Run


@dataclass
class Phase1Result:
    """One model's phase 1: its training and its scores on every part of the split."""

    training: TrainResult
    scores: dict[str, dict[str, float]]  # part -> {"accuracy", "loss"}
    name: str  # the registered model ("cnn"): the prefix of its glue names

    def __iter__(self):  # ``result, scores = train_phase1(...)`` unpacks as before
        return iter((self.training, self.scores))

    def glue_values(self) -> dict[str, float]:
        """What the chapters quote: ``<name>_p1_train_acc``, ``<name>_p1_val_acc``, ``<name>_p1_test_acc``."""
        return {f"{self.name}_p1_{part}_acc": float(score["accuracy"]) for part, score in self.scores.items()}


def train_phase1(run: Run, model: str, verbose: int = 2, *, network: keras.Model | None = None,
                 callbacks: list | None = None, changes: dict | None = None) -> Phase1Result:
    """Phase 1 of the report for a registered model: train, evaluate, save metrics.

    `network` and `callbacks` are what a book page writes out in Keras: the network, built and
    compiled, and the report's EarlyStopping and ReduceLROnPlateau. They are checked against
    ferlib's (layers, shapes, weights, dtype policies, initial weights, compile settings,
    callback settings; an error lists what differs), the page's callbacks act in the
    training, and the network trains as ferlib builds it (the same one, with batch norm in
    TensorFlow's fused kernel where that backend runs).

    `changes` are an exercise's departures from the report (:func:`exercise_changes`): fields
    of the model's config (``{"dropout": 0.1}``, ``{"patch_size": 6}``) or of
    :class:`~ferlib.train.TrainConfig` (``{"lr_factor": 0.5}``). A changed phase 1 trains in its
    own folder and keeps its own metrics (:func:`variant_name`), so the run's phase 1, which
    the later pages build on, stays as it is.
    """
    network_changes, training_changes = exercise_changes(run, model, changes)
    changed = {**network_changes, **training_changes}
    variant = variant_suffix(changed)
    if network is not None:
        check_same_network(run, model, network, network_changes)
        check_same_compile(run, network)
    result = run.train(build_for_run(run, model, changes=network_changes), run.folder.phase1(model, variant),
                       run.train_config(**training_changes), verbose=verbose, report_callbacks_shown=callbacks)
    scores = evaluate_model(result.model, run.arrays)
    run.save_metrics(f"{model}_phase1{variant}", {
        "model": model, "reading": load_or_compare_readings(run, model), "changes": changed, "params": count_params(result.model),
        "epochs": result.epochs, "train_seconds": result.seconds, "scores": scores,
        "history": result.history.to_dict(orient="list")})
    return Phase1Result(result, scores, model)


def exercise_changes(run: Run, model: str, changes: dict | None) -> tuple[dict, dict]:
    """An exercise's `changes`, split into the network's (fields of `model`'s config) and the
    training's (fields of :class:`~ferlib.train.TrainConfig`), each without the values that
    equal this run's. An unknown name is refused with the names a page can change."""
    changes = dict(changes or {})
    network_fields = {f.name for f in fields(model_spec(model).config)}
    training_fields = {f.name for f in fields(TrainConfig)} - {"epochs"}  # epochs is a page parameter
    unknown = sorted(set(changes) - network_fields - training_fields)
    if unknown:
        raise ValueError(f"{model} has no setting {', '.join(map(repr, unknown))}; an exercise can change its "
                         f"network's {', '.join(sorted(network_fields))} or the training's "
                         f"{', '.join(sorted(training_fields))}")
    network_default = model_spec(model).config()
    training_default = run.train_config()
    network = {k: v for k, v in changes.items() if k in network_fields and getattr(network_default, k) != v}
    training = {k: v for k, v in changes.items() if k in training_fields and getattr(training_default, k) != v}
    return network, training


def variant_suffix(changes: dict) -> str:
    """What names a phase 1 with an exercise's changes, after its folder's and metrics' usual
    names: ``""`` for the run's own, ``"~dropout=0.1"`` for a changed one."""
    suffix = ",".join(f"{k}={v}" for k, v in sorted(changes.items()))
    return f"~{suffix}" if suffix else ""


def variant_name(model: str, changes: dict) -> str:
    """The metrics name of a phase 1: ``cnn_phase1``, or with an exercise's changes
    ``cnn_phase1~dropout=0.1``."""
    return f"{model}_phase1{variant_suffix(changes)}"


def check_same_network(run: Run, model: str, network: keras.Model, changes: dict | None = None) -> None:
    """Raise AssertionError unless `network` (a page's Keras code, built under the run's seed and
    precision) is layer for layer, and initial weight for initial weight, the network
    :func:`train_phase1` trains for `model` in this run (with an exercise's `changes` to its config)."""
    built = build_for_run(run, model, changes=changes)
    differences = network_differences(network, built)
    if not differences:
        differences = [f"initial weights of {a.path} differ (seed with keras.utils.set_random_seed(run.seed) first)"
                       for a, b in zip(network.weights, built.weights)
                       if not np.array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))][:3]
    assert not differences, f"the page's network is not ferlib's {model}:\n" + "\n".join(differences)


def check_same_compile(run: Run, network: keras.Model) -> None:
    """Raise AssertionError unless `network` is compiled as phase 1 compiles (:func:`compile_model`)."""
    reference = compile_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]),
                              run.train_config().learning_rate)
    differences = compile_differences(network, reference)
    assert not differences, "the page's compile differs from phase 1's:\n" + "\n".join(differences)


def tuning_name(config: ViTConfig) -> str:
    return f"L{config.transformer_layers}-H{config.num_heads}-D{config.projection_dim}"


def vit_tuning_story(run: Run, configs=VIT_TUNING_STORY, verbose: int = 2) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Train every configuration of the report's ViT tuning story (5.2) under one setting:
    the profile's ``tuning_epochs`` each, from the same seed, in the run's chosen ViT reading.

    Returns one row per configuration (sizes, parameters, epochs, accuracies, seconds) and
    each configuration's history.
    """
    rows, histories = [], {}
    config_train = run.train_config(run.profile.tuning_epochs)
    reading = load_or_compare_readings(run, "vit")
    for config in configs:
        net = build_model("vit", reading, vit_config=config, precision=run.precision["vit"],
                          name=f"vit_{tuning_name(config)}", seed=run.seed)
        result = run.train(net, run.folder.tuning(tuning_name(config)), config_train, verbose=verbose)
        scores = evaluate_model(result.model, run.arrays)
        histories[config.label] = result.history
        rows.append({"config": config.label, "layers": config.transformer_layers, "heads": config.num_heads,
                     "projection_dim": config.projection_dim, "params": count_params(result.model)["total"],
                     "epochs": result.epochs, "seconds": round(result.seconds, 1),
                     **{f"{part}_accuracy": s["accuracy"] for part, s in scores.items()},
                     **{f"{part}_loss": s["loss"] for part, s in scores.items()}})
    frame = pd.DataFrame(rows)
    run.save_metrics("vit_tuning", {"configurations": frame.to_dict(orient="records")})
    return frame, histories
