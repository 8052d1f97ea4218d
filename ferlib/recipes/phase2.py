"""Phase 2, the report's fix for overfitting (5.3): hard samples, then augmentation.

1. Collect the training images the phase-1 model gets wrong (the *hard samples*).
2. Retrain on them alone for 20 epochs.
3. Train again on the whole training set with augmentation, under the report's callbacks.

Accuracy and loss on train, validation and test are recorded before and after each step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import textwrap

import keras
import numpy as np
import pandas as pd

from ..display import epoch_lines
from ..evaluate import evaluate_model, predict_labels
from ..files import atomic_write
from ..models import display_name, load_model, model_spec
from ..runfolder import RunFolder
from ..train import TrainConfig, train_model
from .phase1 import train_phase1
from .run import Run

STEPS = ("phase 1", "after hard samples", "after augmentation")


def hard_sample_indices(model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Positions in (x, y) of the samples `model` misclassifies."""
    return np.flatnonzero(predict_labels(model, x, batch_size) != y)


@dataclass
class Phase2Result:
    model: keras.Model
    hard_indices: np.ndarray  # positions in the training part
    scores: dict[str, dict[str, dict[str, float]]]  # step -> part -> {"accuracy", "loss"}
    histories: dict[str, pd.DataFrame]  # "hard samples", "augmentation"
    name: str = ""  # the registered model's name ("cnn"): the prefix of its glue names
    display: str = ""  # how the book writes it ("CNN")
    n_train: int = 0  # training images the hard samples were picked from
    # The paired tests on the test faces (:func:`step_tests`): "after hard samples" and
    # "phase 2" against phase 1, "augmentation" against after the hard samples.
    tests: dict = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """One row per step, columns like ``train accuracy`` ... ``test loss``."""
        return steps_table(self.scores)

    @property
    def verdict(self) -> str:
        """What each step did to the test accuracy, in a sentence (:func:`~ferlib.recipes.verdicts.hard_sample_verdict`)."""
        from .verdicts import hard_sample_verdict

        return hard_sample_verdict(self.display or self.name, self.scores, len(self.hard_indices), self.n_train,
                                   self.tests)

    def glue_values(self) -> dict:
        """What the chapters quote of this phase 2: ``<name>_p2_test_acc``, ``<name>_p2_train_acc``
        (after the augmentation round) and ``<name>_hard_verdict`` (:attr:`verdict`)."""
        final = self.scores[STEPS[2]]
        return {f"{self.name}_p2_test_acc": float(final["test"]["accuracy"]),
                f"{self.name}_p2_train_acc": float(final["train"]["accuracy"]),
                f"{self.name}_hard_verdict": self.verdict}


def steps_table(scores: dict[str, dict[str, dict[str, float]]]) -> pd.DataFrame:
    rows = {
        step: {f"{part} {metric}": value for part, metrics in parts.items() for metric, value in metrics.items()}
        for step, parts in scores.items()
    }
    frame = pd.DataFrame(rows).T
    frame.index.name = "step"
    return frame


def run_phase2(
    model: keras.Model,
    arrays: dict[str, tuple[np.ndarray, np.ndarray]],
    folder: RunFolder,
    name: str,
    config: TrainConfig = TrainConfig(),
    *,
    hard_epochs: int = 20,
    seed: int = 0,
    verbose: int = 2,
    progress: str | Path | None = None,
    label: str = "phase2",
    augment_in_step: bool = False,
) -> Phase2Result:
    """Run both phase-2 steps on a phase-1 `model`; `arrays` has each part (train, val, test) as ``(images, labels)``.

    The hard-sample step trains a fixed `hard_epochs` (no early stopping); the augmentation
    step uses `config` as it is (the report's callbacks). Each step trains in its own folder,
    which `folder` names for model `name`, so an interrupted phase 2 resumes where it stopped.
    """
    x_train, y_train = arrays["train"]
    scores = {STEPS[0]: evaluate_model(model, arrays)}
    hard = hard_sample_indices(model, x_train, y_train)
    if len(hard) == 0:
        raise ValueError("the phase-1 model classifies every training image correctly: there are no hard samples")
    atomic_write(folder.hard_indices(name), lambda f: np.save(f, hard))

    hard_config = replace(config, epochs=hard_epochs, early_stopping_patience=None)
    keras_verbose, lines = epoch_lines(verbose, hard_config.epochs)
    step1 = train_model(model, (x_train[hard], y_train[hard]), arrays["val"], folder.phase2(name, "hard_samples"),
                        hard_config, seed=seed, verbose=keras_verbose, progress=progress, label=f"{label}/hard_samples",
                        callbacks=lines)
    scores[STEPS[1]] = evaluate_model(step1.model, arrays)
    keras_verbose, lines = epoch_lines(verbose, config.epochs)
    step2 = train_model(step1.model, arrays["train"], arrays["val"], folder.phase2(name, "augmentation"),
                        config, augment=True, seed=seed, verbose=keras_verbose, progress=progress,
                        label=f"{label}/augmentation", callbacks=lines, augment_in_step=augment_in_step)
    scores[STEPS[2]] = evaluate_model(step2.model, arrays)
    return Phase2Result(step2.model, hard, scores, {"hard samples": step1.history, "augmentation": step2.history},
                        n_train=len(y_train))


def check_same_hard_samples(hard: np.ndarray, result: Phase2Result) -> None:
    """Raise AssertionError unless `hard` (a page's selection) holds the training images that
    phase 2 fine-tuned on (``result.hard_indices``)."""
    hard = np.asarray(hard)
    if not np.array_equal(hard, result.hard_indices):
        extra, missing = np.setdiff1d(hard, result.hard_indices), np.setdiff1d(result.hard_indices, hard)
        raise AssertionError(f"the page's hard samples are not phase 2's: {len(hard):,} against "
                             f"{len(result.hard_indices):,} ({len(extra):,} only the page's, {len(missing):,} only "
                             "phase 2's)")


# --------------------------------------------------------------------------- a run's phase 2


def train_phase2(run: Run, model: str, verbose: int = 2) -> Phase2Result:
    """Phase 2 of the report (5.3) on the phase-1 model of `model`; saves its metrics."""
    result = run_phase2(load_or_train_stage(run, model, "phase1"), run.arrays, run.folder, model, run.train_config(),
                        hard_epochs=run.profile.hard_epochs, seed=run.seed, verbose=verbose,
                        progress=run.folder.progress, label=f"{model}/phase2", augment_in_step=run.augment_in_step)
    result = replace(result, name=model, display=display_name(model), tests=step_tests(run, model))
    run.save_metrics(f"{model}_phase2", {"model": model, "n_hard": len(result.hard_indices),
                                         "scores": result.scores,
                                         "tests": {k: asdict(t) for k, t in result.tests.items()},
                                         "histories": {k: h.to_dict(orient="list") for k, h in result.histories.items()}})
    return result


def load_or_train_stage(run: Run, model: str, stage: str = "phase1", train_if_missing: bool = True) -> keras.Model:
    """The model a notebook saved: stage ``phase1`` or ``phase2`` (after the augmentation round).

    A notebook opened on its own (in Colab, say) finds no model in a fresh run folder; then
    the missing stages are trained here, at the run's profile, and the notebook says so.
    """
    path = run.folder.final_model(model, stage)
    if not path.exists():
        notebook = (model_spec(model).phase1_page or "04_phase2") if stage == "phase1" else "04_phase2"
        if not train_if_missing:
            raise FileNotFoundError(f"{path} is missing: run notebook {notebook} with the same run_dir first")
        # Said in the notebook's output, wrapped to the book's column: a notebook opened alone
        # (Colab) trains what earlier notebooks would have made, and the reader should know.
        print(textwrap.fill(f"This run folder has no {display_name(model)} {stage} model yet (notebook {notebook} "
                            f"makes it): training it now at the {run.profile_name} profile.", width=78), flush=True)
        if stage == "phase2":
            train_phase2(run, model, verbose=0)
        else:
            train_phase1(run, model, verbose=0)
    return load_model(path)


def step_tests(run: Run, model: str) -> dict:
    """Whether each step of `model`'s phase 2 changed its test accuracy beyond chance: exact
    McNemar tests (``PairedTest``s), on the run's test images, of the model after the hard
    samples against phase 1 (``"after hard samples"``), after the augmentation against after
    the hard samples (``"augmentation"``), and after the augmentation against phase 1
    (``"phase 2"``)."""
    from ..evaluate import paired_test

    x, y = run.arrays["test"]
    paths = {STEPS[0]: run.folder.final_model(model, "phase1"),
             STEPS[1]: run.folder.phase2(model, "hard_samples") / "model.keras",
             STEPS[2]: run.folder.final_model(model, "phase2")}
    if not all(path.exists() for path in paths.values()):
        load_or_train_stage(run, model, "phase2")  # trains what is missing, as the page's other cells do
    right = {step: predict_labels(load_model(path), x) == y for step, path in paths.items()}
    name = display_name(model)

    def test(later: str, earlier: str):
        return paired_test(f"{name} {later}", right[later], f"{name} {earlier}", right[earlier], images="test")

    return {"after hard samples": test(STEPS[1], STEPS[0]), "augmentation": test(STEPS[2], STEPS[1]),
            "phase 2": test(STEPS[2], STEPS[0])}
