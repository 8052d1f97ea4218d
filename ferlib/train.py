"""Training the report's way (section IV), resumable and seeded.

Adam at 1e-3, batch 64, categorical cross-entropy; early stopping on validation accuracy
(patience 10); learning rate times 0.9 when validation loss has not improved for 5
epochs. Each run lives in its own directory: the Keras ``BackupAndRestore`` checkpoint
(so a run killed mid-training resumes from its last finished epoch), the per-epoch
history (``history.csv``, from ``CSVLogger``), the trained model and a ``train.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from .augment import BatchSequence, SyncEpoch, make_augmenter
from .data import NUM_CLASSES, atomic_write


@dataclass(frozen=True)
class TrainConfig:
    """The report's training settings; every one can be changed for a run."""

    epochs: int = 100
    batch_size: int = 64
    learning_rate: float = 1e-3
    early_stopping_patience: int | None = 10  # None: train all epochs
    lr_factor: float = 0.9
    lr_patience: int = 5
    restore_best_weights: bool = True


@dataclass
class TrainResult:
    model: keras.Model
    history: pd.DataFrame  # one row per epoch: loss, accuracy, val_loss, val_accuracy, learning_rate
    run_dir: Path
    seconds: float
    reused: bool = False  # True when a finished run in run_dir was loaded instead of trained
    info: dict = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        return len(self.history)


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and the backend; on TensorFlow also make its ops deterministic."""
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def compile_model(model: keras.Model, learning_rate: float = 1e-3) -> keras.Model:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def report_callbacks(run_dir: str | Path, config: TrainConfig = TrainConfig()) -> list[keras.callbacks.Callback]:
    """EarlyStopping, ReduceLROnPlateau, CSVLogger and BackupAndRestore, as in the report.

    Order matters: ReduceLROnPlateau writes the learning rate into the epoch's logs before
    CSVLogger saves them, and the logger runs before the backup, so an epoch is never
    backed up without its history row.
    """
    run_dir = Path(run_dir)
    callbacks: list[keras.callbacks.Callback] = []
    if config.early_stopping_patience is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy",
                mode="max",
                patience=config.early_stopping_patience,
                restore_best_weights=config.restore_best_weights,
            )
        )
    callbacks += [
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=config.lr_factor, patience=config.lr_patience),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
    ]
    return callbacks


def one_hot(labels: np.ndarray) -> np.ndarray:
    return keras.utils.to_categorical(labels, NUM_CLASSES).astype(np.float32)


def read_history(run_dir: str | Path) -> pd.DataFrame:
    """The per-epoch history of a run; an epoch repeated after a resume keeps its last row."""
    path = Path(run_dir) / "history.csv"
    if not path.exists():
        return pd.DataFrame(columns=["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"])
    history = pd.read_csv(path)
    return history.drop_duplicates("epoch", keep="last").sort_values("epoch").reset_index(drop=True)


def save_model(model: keras.Model, path: str | Path) -> Path:
    """Save atomically: a crash mid-save leaves the previous file (or none), never half of one."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial.keras")
    model.save(tmp)
    tmp.replace(path)
    return path


def _run_signature(model: keras.Model, config: TrainConfig, n_train: int, augment: bool, seed: int) -> dict:
    return {"model": model.name, "params": int(model.count_params()), "config": asdict(config),
            "n_train": int(n_train), "augment": augment, "seed": seed}


def train_model(
    model: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    run_dir: str | Path,
    config: TrainConfig = TrainConfig(),
    *,
    augment: bool = False,
    seed: int = 0,
    verbose: int = 2,
    callbacks: list | tuple = (),
    reuse: bool = True,
) -> TrainResult:
    """Train `model` the report's way, with its run kept in `run_dir`.

    `train` and `val` are ``(x, labels)`` with x float in [0, 1], shape (N, 48, 48, 1) and
    integer labels. With ``augment=True`` every training batch goes through
    :func:`~ferlib.augment.make_augmenter`. Started again on the same `run_dir` after an
    interruption, training resumes from the last finished epoch; once finished, the
    saved model is reused (``reuse=True``) as long as model, settings and data size match.
    The model is (re)compiled with a fresh Adam optimiser.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    signature = _run_signature(model, config, len(train[0]), augment, seed)
    info_path, model_path = run_dir / "train.json", run_dir / "model.keras"
    if reuse and model_path.exists() and info_path.exists():
        info = json.loads(info_path.read_text())
        if info.get("signature") == signature:
            return TrainResult(keras.saving.load_model(model_path), read_history(run_dir), run_dir, info["seconds"], True, info)
    if model_path.exists():  # a finished run with other settings: start over, cleanly
        for stale in (model_path, info_path, run_dir / "history.csv"):
            stale.unlink(missing_ok=True)

    compile_model(model, config.learning_rate)
    augmenter = make_augmenter(seed=seed) if augment else None
    batches = BatchSequence(train[0], one_hot(train[1]), config.batch_size, augmenter, seed=seed)
    started = time.time()
    model.fit(
        batches,
        validation_data=(val[0], one_hot(val[1])),
        epochs=config.epochs,
        callbacks=[SyncEpoch(batches)] + report_callbacks(run_dir, config) + list(callbacks),
        verbose=verbose,
    )
    seconds = time.time() - started
    history = read_history(run_dir)
    save_model(model, model_path)
    info = {
        "signature": signature,
        "seconds": seconds,
        "epochs": len(history),
        "best_epoch": int(history["val_accuracy"].idxmax()) + 1 if len(history) else None,
        "stopped_early": len(history) < config.epochs,
    }
    atomic_write(info_path, lambda f: f.write(json.dumps(info, indent=2).encode()))
    return TrainResult(model, history, run_dir, seconds, False, info)
