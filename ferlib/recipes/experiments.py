"""The report's experiments as a few calls, so each notebook stays a page of narrative.

A :class:`Run` ties one run folder (:class:`~ferlib.runfolder.RunFolder`) to its data,
split, profile, seed and precision. The notebooks pass results to each other through
that folder: 02 and 03 train phase 1, 04 phase 2, 05 and 06 read what they saved.
"""

from __future__ import annotations

import textwrap
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from ..data import FER2013, load_data
from ..evaluate import (
    CHANCE,
    confusion_frame,
    evaluate_model,
    majority_baseline,
    per_class_metrics,
    predict_labels,
)
from ..files import read_json, write_json
from ..models import READING_NOTES, READINGS, VIT_TUNING_STORY, ViTConfig, build_model, count_multiply_adds, count_params, load_model
from .phase2 import Phase2Result, run_phase2
from .report import table1, training_logs
from ..provenance import describe_run, load_results, provenance, save_results, supports_bfloat16
from ..runfolder import RunFolder
from ..splits import Split, make_split, split_arrays, subsample
from ..train import TrainConfig, TrainResult, set_seed, train_model


@dataclass(frozen=True)
class Profile:
    """How big a run is. ``smoke`` checks the pipeline on a CPU; ``full`` is the report."""

    subset: float  # fraction of each part of the split
    epochs: int  # phase 1, and the augmentation step of phase 2
    hard_epochs: int  # the hard-sample step of phase 2 (report: 20)
    tuning_epochs: int  # each configuration of the ViT tuning story
    reading_epochs: int  # each reading of an architecture
    synthetic_per_class: int = 300  # images per class when data="synthetic"
    beyond_epochs: int = 1  # each fine-tuning of the future-work experiments (07)


PROFILES = {
    "smoke": Profile(subset=0.03, epochs=2, hard_epochs=1, tuning_epochs=1, reading_epochs=1, synthetic_per_class=120,
                     beyond_epochs=1),
    # A CPU-sized run (under two hours on 2 cores): real learning curves, not the report's scale.
    "cpu": Profile(subset=0.3, epochs=10, hard_epochs=2, tuning_epochs=1, reading_epochs=2, synthetic_per_class=300,
                   beyond_epochs=2),
    # The report's recipe on the whole split. The readings and the tuning story train a few
    # epochs each, the same for every candidate, so that they fit a CPU.
    "full": Profile(subset=1.0, epochs=100, hard_epochs=20, tuning_epochs=4, reading_epochs=5, synthetic_per_class=600,
                    beyond_epochs=5),
}


def choose_precision(model: str) -> str:
    """The dtype policy a model trains in on this machine.

    Measured on a 2-core AVX-512 BF16 CPU (``benchmarks/bench_precision.py``): the CNN,
    with its fused batch normalisation, trains its full-split epochs clearly faster
    under ``mixed_bfloat16`` and learns at the same pace; the small ViT is slower in
    bfloat16. Without native bfloat16, float32 for both.
    """
    return "mixed_bfloat16" if model == "cnn" and supports_bfloat16() else "float32"


@dataclass
class Run:
    dataset: FER2013  # the loaded data set
    split: Split
    arrays: dict[str, tuple[np.ndarray, np.ndarray]]  # part -> (images in [0, 1], labels)
    profile_name: str
    profile: Profile
    seed: int
    folder: RunFolder
    precision: dict[str, str]  # model -> Keras dtype policy
    started: datetime

    @property
    def run_dir(self) -> Path:
        return self.folder.root

    def train_config(self, epochs: int | None = None, **changes) -> TrainConfig:
        return TrainConfig(epochs=epochs or self.profile.epochs, **changes)

    def train(self, model: keras.Model, folder: Path, config: TrainConfig | None = None, *,
              arrays: tuple[np.ndarray, np.ndarray] | None = None, augment: bool = False,
              class_weight: dict[int, float] | None = None, verbose: int = 2) -> TrainResult:
        """Train on this run's training images (or `arrays`), resumably, reporting progress."""
        return train_model(model, arrays or self.arrays["train"], self.arrays["val"], folder, config or self.train_config(),
                           augment=augment, seed=self.seed, verbose=verbose, progress=self.folder.progress,
                           label=folder.relative_to(self.run_dir).as_posix(), class_weight=class_weight)

    def baseline(self, part: str = "val") -> float:
        """Accuracy on `part` of always answering the most common training emotion."""
        return majority_baseline(self.arrays["train"][1], self.arrays[part][1])

    def baselines(self, part: str = "test") -> dict[str, float]:
        """Both baselines on `part`: ``"majority class"`` (:meth:`baseline`) and ``"chance"``."""
        return {"majority class": self.baseline(part), "chance": CHANCE}

    def provenance(self, **extra) -> dict:
        card = read_json(self.folder.card, {})
        started = datetime.fromisoformat(card["started"]) if card.get("started") else self.started
        return provenance(self.dataset, self.split, self.profile_name, self.seed, started, precision=self.precision, **extra)

    def describe(self) -> str:
        return describe_run(self.provenance())

    def banner(self) -> str:
        """Markdown for the top of a results page: which run made it, and any caveat."""
        lines = [f"**Run:** {self.describe()}"]
        if self.dataset.is_synthetic:
            lines.append("**Synthetic data:** these numbers come from generated faces, not FER2013; "
                         "they check the pipeline and say nothing about emotion recognition.")
        if self.profile_name == "smoke":
            lines.append(f"**Smoke profile:** a {self.profile.subset:.0%} subset and {self.profile.epochs} "
                         "epoch(s) to check the pipeline end to end; accuracies are not meaningful. "
                         "The `full` profile reproduces the report.")
        elif self.profile_name != "full":
            lines.append(f"**{self.profile_name} profile:** a {self.profile.subset:.0%} subset and at most "
                         f"{self.profile.epochs} epochs, sized for a CPU: real training, but not the report's "
                         "scale. The `full` profile reproduces the report.")
        return "\n>\n".join(f"> {line}" for line in lines)  # a quote block stands out in Jupyter and the book

    def save_metrics(self, name: str, results: dict) -> Path:
        return save_results(self.folder.metrics(name), results, self.provenance())

    def load_metrics(self, name: str) -> dict:
        path = self.folder.metrics(name)
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run the notebook that makes {name!r} first (same run_dir)")
        return load_results(path)


def prepare_run(
    data: str = "auto",
    profile: str = "smoke",
    subset: float | None = None,
    epochs: int | None = None,
    seed: int = 42,
    split: str = "report",
    run_dir: str | Path = "runs/latest",
) -> Run:
    """Load the data, make the split and the arrays, and seed everything, for one notebook.

    Writes the run card (``run.json``); a card that is already there keeps the date the run
    first started, so a run resumed over several sessions shows when it began and ended.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
    settings = PROFILES[profile]
    settings = replace(settings, subset=subset or settings.subset, epochs=epochs or settings.epochs)
    set_seed(seed)
    dataset = load_data(data, synthetic_per_class=settings.synthetic_per_class, seed=seed)
    chosen = make_split(split, dataset.labels, dataset.usage, seed=seed)
    if settings.subset < 1 and not dataset.is_synthetic:  # the synthetic set is already sized per profile
        chosen = subsample(chosen, dataset.labels, settings.subset, seed=seed)
    folder = RunFolder(Path(run_dir))
    folder.root.mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc)
    card = read_json(folder.card, {})
    same_run = card.get("profile") == profile and card.get("seed") == seed and card.get("data_fingerprint") == dataset.fingerprint
    started = datetime.fromisoformat(card["started"]) if same_run and card.get("started") else now
    run = Run(dataset, chosen, split_arrays(dataset.images, dataset.labels, chosen), profile, settings, seed, folder,
              {model: choose_precision(model) for model in READINGS}, started)
    first = card.get("first_started_unix") if same_run else None
    write_json(folder.card, {**run.provenance(), "settings": asdict(settings),
                             "first_started_unix": first or now.timestamp()})
    return run


# --------------------------------------------------------------------------- readings


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


def chosen_reading(run: Run, model: str) -> str:
    """The reading `model` trains in: the one :func:`compare_readings` chose for this run
    (it trains the readings first when this run has not compared them yet)."""
    path = run.folder.metrics(f"{model}_readings")
    if path.exists():
        return load_results(path)["chosen"]
    return compare_readings(run, model).chosen


def build_for_run(run: Run, model: str, vit_config: ViTConfig | None = None) -> keras.Model:
    """`model` in this run's chosen reading and precision, initialised from the run's seed."""
    return build_model(model, chosen_reading(run, model), vit_config=vit_config, precision=run.precision[model],
                       seed=run.seed)


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
    reading = chosen_reading(run, model)
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


# --------------------------------------------------------------------------- phase 1


def train_phase1(run: Run, model: str, verbose: int = 2) -> tuple[TrainResult, dict]:
    """Phase 1 of the report for ``"cnn"`` or ``"vit"``: train, evaluate, save metrics."""
    result = run.train(build_for_run(run, model), run.folder.phase1(model), verbose=verbose)
    scores = evaluate_model(result.model, run.arrays)
    run.save_metrics(f"{model}_phase1", {"model": model, "reading": chosen_reading(run, model),
                                         "params": count_params(result.model), "epochs": result.epochs,
                                         "train_seconds": result.seconds, "scores": scores,
                                         "history": result.history.to_dict(orient="list")})
    return result, scores


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
    reading = chosen_reading(run, "vit")
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


def load_stage_model(run: Run, model: str, stage: str = "phase1", train_if_missing: bool = True) -> keras.Model:
    """The model a notebook saved: stage ``phase1`` or ``phase2`` (after the augmentation round).

    A notebook opened on its own (in Colab, say) finds no model in a fresh run folder; then
    the missing stages are trained here, at the run's profile, and the notebook says so.
    """
    path = run.folder.final_model(model, stage)
    if not path.exists():
        notebook = "02_cnn" if (model, stage) == ("cnn", "phase1") else "03_vit_tuning" if stage == "phase1" else "04_phase2"
        if not train_if_missing:
            raise FileNotFoundError(f"{path} is missing: run notebook {notebook} with the same run_dir first")
        # Said in the notebook's output, wrapped to the book's column: a notebook opened alone
        # (Colab) trains what earlier notebooks would have made, and the reader should know.
        print(textwrap.fill(f"This run folder has no {model.upper()} {stage} model yet (notebook {notebook} "
                            f"makes it): training it now at the {run.profile_name} profile.", width=78), flush=True)
        if stage == "phase2":
            train_phase2(run, model, verbose=0)
        else:
            train_phase1(run, model, verbose=0)
    return load_model(path)


# --------------------------------------------------------------------------- phase 2


def train_phase2(run: Run, model: str, verbose: int = 2) -> Phase2Result:
    """Phase 2 of the report (5.3) on the phase-1 model of `model`; saves its metrics."""
    result = run_phase2(load_stage_model(run, model, "phase1"), run.arrays, run.folder.phase2(model), run.train_config(),
                        hard_epochs=run.profile.hard_epochs, seed=run.seed, verbose=verbose,
                        progress=run.folder.progress, label=f"{model}/phase2")
    run.save_metrics(f"{model}_phase2", {"model": model, "n_hard": len(result.hard_indices),
                                         "scores": result.scores,
                                         "histories": {k: h.to_dict(orient="list") for k, h in result.histories.items()}})
    return result


@dataclass
class Comparison:
    """What the comparison page shows: Table 1 beside the report's, and both final models
    class by class on the test images."""

    table1: pd.DataFrame  # the report's statistics (rows) for both models: ours, the report's, the difference
    results: dict[str, dict]  # model -> phase1/phase2 -> part -> {"accuracy", "loss"}
    confusion: dict[str, pd.DataFrame]  # "CNN"/"ViT" -> counts, rows = true emotion
    per_class: dict[str, pd.DataFrame]  # "CNN"/"ViT" -> precision, recall, f1, support, correct per emotion
    logs: dict[str, dict] = field(default_factory=dict)  # "cnn phase1" ... -> epochs, best_epoch, last epoch's log
    sizes: dict[str, dict] = field(default_factory=dict)  # "cnn"/"vit" -> params, multiply_adds (per image)

    @property
    def per_class_long(self) -> pd.DataFrame:
        """Both models' per-class metrics in one long table (a ``model`` column)."""
        return pd.concat(self.per_class, names=["model"]).reset_index()

    def glue_values(self) -> dict[str, float]:
        """The numbers the chapters quote, by name: ``cnn_p1_train_acc`` ... ``vit_p2_test_acc``
        (accuracy per model, phase and part), ``cnn_test_loss`` and ``vit_test_loss`` (the
        final models' test loss), ``cnn_disgust_correct`` (test images of each emotion that
        each final model gets right), and for each training in :attr:`logs` its epochs, best
        epoch and last epoch's training-log accuracies (``vit_phase1_epochs``,
        ``cnn_augmentation_log_train_acc`` ...)."""
        values = {}
        for model, phases in self.results.items():
            for phase, short in (("phase1", "p1"), ("phase2", "p2")):
                for part, score in phases[phase].items():
                    values[f"{model}_{short}_{part}_acc"] = float(score["accuracy"])
            values[f"{model}_test_loss"] = float(phases["phase2"]["test"]["loss"])
        for label, metrics in self.per_class.items():
            for emotion, correct in metrics["correct"].items():
                values[f"{label.lower()}_{emotion.lower()}_correct"] = int(correct)
        for training, log in self.logs.items():  # "cnn phase1" -> cnn_phase1_epochs ...
            key = training.replace(" ", "_")
            values[f"{key}_epochs"] = log["epochs"]
            values[f"{key}_best_epoch"] = log["best_epoch"]
            values[f"{key}_log_train_acc"] = log["accuracy"]
            values[f"{key}_log_val_acc"] = log["val_accuracy"]
        if self.sizes:  # the final models as this run built them (its readings)
            for model, size in self.sizes.items():
                values[f"{model}_params"] = size["params"]
                values[f"{model}_multiply_adds"] = size["multiply_adds"]
            values["params_ratio"] = self.sizes["cnn"]["params"] / self.sizes["vit"]["params"]
            values["multiply_adds_ratio"] = self.sizes["cnn"]["multiply_adds"] / self.sizes["vit"]["multiply_adds"]
        return values


def compare_models(run: Run) -> Comparison:
    """Everything the comparison page shows, from what notebooks 02-04 saved (or, for a
    notebook opened alone, what :func:`load_stage_model` trains on demand)."""
    results, confusion, per_class, sizes = {}, {}, {}, {}
    x_test, y_test = run.arrays["test"]
    for model in ("cnn", "vit"):
        final = load_stage_model(run, model, "phase2")
        sizes[model] = {"params": count_params(final)["total"], "multiply_adds": count_multiply_adds(final)}
        results[model] = {"phase1": run.load_metrics(f"{model}_phase1")["scores"],
                          "phase2": run.load_metrics(f"{model}_phase2")["scores"]["after augmentation"]}
        predicted = predict_labels(final, x_test)
        label = {"cnn": "CNN", "vit": "ViT"}[model]
        confusion[label] = confusion_frame(y_test, predicted)
        per_class[label] = per_class_metrics(y_test, predicted)
    comparison = Comparison(table1(results), results, confusion, per_class, training_logs(run.folder), sizes)
    run.save_metrics("comparison", {"table1": comparison.table1, "results": results,
                                    "baselines": run.baselines("test"), "sizes": sizes,
                                    "confusion": {k: v.values for k, v in confusion.items()},
                                    "per_class": comparison.per_class_long.to_dict(orient="records")})
    return comparison
