"""Phase 2, the report's fix for overfitting (5.3): hard samples, then augmentation.

1. Collect the training images the phase-1 model gets wrong (the *hard samples*).
2. Retrain on them alone for 20 epochs.
3. Train again on the whole training set with augmentation, under the report's callbacks.

Accuracy and loss on train, validation and test are recorded before and after each step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from ..evaluate import evaluate_model, predict_labels
from ..files import atomic_write
from ..train import TrainConfig, train_model

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

    def table(self) -> pd.DataFrame:
        """One row per step, columns like ``train accuracy`` ... ``test loss``."""
        return steps_table(self.scores)


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
    run_dir: str | Path,
    config: TrainConfig = TrainConfig(),
    *,
    hard_epochs: int = 20,
    seed: int = 0,
    verbose: int = 2,
    progress: str | Path | None = None,
    label: str = "phase2",
) -> Phase2Result:
    """Run both phase-2 steps on a phase-1 `model`; `arrays` has each part (train, val, test) as ``(images, labels)``.

    The hard-sample step trains a fixed `hard_epochs` (no early stopping); the augmentation
    step uses `config` as it is (the report's callbacks). Each step keeps its own run
    directory under `run_dir`, so an interrupted phase 2 resumes where it stopped.
    """
    run_dir = Path(run_dir)
    x_train, y_train = arrays["train"]
    scores = {STEPS[0]: evaluate_model(model, arrays)}
    hard = hard_sample_indices(model, x_train, y_train)
    if len(hard) == 0:
        raise ValueError("the phase-1 model classifies every training image correctly: there are no hard samples")
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(run_dir / "hard_indices.npy", lambda f: np.save(f, hard))

    hard_config = replace(config, epochs=hard_epochs, early_stopping_patience=None)
    step1 = train_model(model, (x_train[hard], y_train[hard]), arrays["val"], run_dir / "hard_samples",
                        hard_config, seed=seed, verbose=verbose, progress=progress, label=f"{label}/hard_samples")
    scores[STEPS[1]] = evaluate_model(step1.model, arrays)
    step2 = train_model(step1.model, arrays["train"], arrays["val"], run_dir / "augmentation",
                        config, augment=True, seed=seed, verbose=verbose, progress=progress, label=f"{label}/augmentation")
    scores[STEPS[2]] = evaluate_model(step2.model, arrays)
    return Phase2Result(step2.model, hard, scores, {"hard samples": step1.history, "augmentation": step2.history})
