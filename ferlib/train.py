"""Training the report's way (section IV), resumable and seeded.

Adam at 1e-3, batch 64, categorical cross-entropy; early stopping on validation accuracy
(patience 10); learning rate times 0.9 when validation loss has not improved for 5
epochs. Each training lives in its own directory: ``checkpoints/`` (a :class:`Checkpoint`
per finished epoch, written atomically with the callbacks' state, so a training killed at
any moment resumes from its last complete epoch as if it had never stopped), the per-epoch
history (``history.csv``, from ``CSVLogger``), and once finished the trained model and a
``train.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from .augment import BatchSequence, SyncEpoch, augmenting_trainer, make_augmenter
from .evaluate import one_hot
from .files import atomic_write, commit_dir, read_json, save_model, write_json
from .models import load_model


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
    folder: Path  # the training's own folder (history.csv, checkpoints/, model.keras, train.json)
    seconds: float
    reused: bool = False  # True when a finished training in `folder` was loaded instead of trained
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
    """Adam and the categorical cross-entropy, as the report compiles (loss-scaled in float16)."""
    model.compile(
        optimizer=scaled_for(model, keras.optimizers.Adam(learning_rate=learning_rate)),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def scaled_for(model: keras.Model, optimizer):
    """`optimizer`, wrapped in Keras's LossScaleOptimizer when `model` computes in float16.

    float16's small range lets small gradients underflow to zero; the wrapper multiplies the
    loss before the gradients are taken and divides them after, adjusting the factor as it
    goes. Keras wraps by itself only when the model's own policy is ``mixed_float16``; ferlib
    sets the policy layer by layer (the softmax stays float32), so it wraps here."""
    if model_precision(model) == "mixed_float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def report_callbacks(config: TrainConfig = TrainConfig()) -> list[keras.callbacks.Callback]:
    """EarlyStopping and ReduceLROnPlateau, as in the report."""
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
    callbacks.append(
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=config.lr_factor, patience=config.lr_patience)
    )
    return callbacks


#: The settings that decide what a callback does (its counters and remembered bests are state).
_CALLBACK_SETTINGS = ("monitor", "mode", "patience", "min_delta", "restore_best_weights", "baseline",
                      "start_from_epoch", "factor", "min_lr", "cooldown")


def callback_differences(shown, expected) -> list[str]:
    """How the callbacks written out on a page differ from the ones a training expects (class,
    order and settings such as monitor, patience and factor). Empty when they are the same."""
    shown, expected = list(shown), list(expected)
    if [type(c).__name__ for c in shown] != [type(c).__name__ for c in expected]:
        return [f"callbacks {[type(c).__name__ for c in shown]}, expected {[type(c).__name__ for c in expected]}"]
    return [f"{type(mine).__name__}.{key} = {getattr(mine, key, None)!r}, expected {getattr(theirs, key, None)!r}"
            for mine, theirs in zip(shown, expected) for key in _CALLBACK_SETTINGS
            if getattr(mine, key, None) != getattr(theirs, key, None)]


def compile_differences(model: keras.Model, reference: keras.Model) -> list[str]:
    """How `model`'s compile settings (optimizer and its configuration, loss, metrics) differ
    from `reference`'s; empty when the same. A page compiles its network in Keras, and a test
    or a check compares it with the model ferlib compiles."""
    if not getattr(model, "compiled", False) or model.optimizer is None:
        return ["not compiled"]
    mine, theirs = model.optimizer.get_config(), reference.optimizer.get_config()
    differences = [] if type(model.optimizer) is type(reference.optimizer) else [
        f"optimizer {type(model.optimizer).__name__}, ferlib's {type(reference.optimizer).__name__}"]
    differences += [f"optimizer {key} {mine.get(key)!r}, ferlib's {theirs.get(key)!r}"
                    for key in sorted(set(mine) | set(theirs)) if key != "name" and mine.get(key) != theirs.get(key)]
    given, wanted = model.get_compile_config(), reference.get_compile_config()
    differences += [f"{what} {given.get(what)!r}, ferlib's {wanted.get(what)!r}" for what in ("loss", "metrics")
                    if given.get(what) != wanted.get(what)]
    return differences


class EpochTimer(keras.callbacks.Callback):
    """Adds ``epoch_seconds`` (wall time of the epoch, validation included) to the logs."""

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self._started


#: The attributes that make up a callback's memory between epochs. Keras resets them in
#: ``on_train_begin``, so a resumed fit would otherwise forget wait counters and best values.
_CALLBACK_STATE = {
    keras.callbacks.EarlyStopping: ("wait", "best", "best_epoch", "stopped_epoch"),
    keras.callbacks.ReduceLROnPlateau: ("wait", "best", "cooldown_counter"),
}


class Checkpoint(keras.callbacks.Callback):
    """Resumable training: at each epoch end, weights, optimizer and callback state on disk.

    Keras' ``BackupAndRestore`` restores weights and the epoch but not the memory of
    ``EarlyStopping`` and ``ReduceLROnPlateau``, and writes its files in place (a kill
    mid-write leaves half a file). Here each epoch's checkpoint is written into a temporary
    folder and renamed into place (``epoch-0007/``), so the newest complete folder is always
    a whole checkpoint; it holds the weights (with the optimizer's state), the callbacks'
    counters, the early-stopping best weights and the training seconds so far.

    Put it after the callbacks whose state it keeps: their ``on_train_begin`` resets them,
    then this one restores them.
    """

    def __init__(self, directory: str | Path, history_path: str | Path | None = None,
                 stateful: list[keras.callbacks.Callback] = (), keep: int = 1):
        super().__init__()
        self.directory = Path(directory)
        self.stateful = [cb for cb in stateful if type(cb) in _CALLBACK_STATE]  # whose memory to keep
        self.history_path = Path(history_path) if history_path else None
        self.keep = keep
        self.seconds = 0.0  # training time so far, resumed sessions included
        self.resumed_from = 0  # epochs done before this fit call

    # -- what exists on disk
    def latest(self) -> Path | None:
        """The newest complete checkpoint folder (half-written ones never carry this name)."""
        done = sorted(self.directory.glob("epoch-[0-9][0-9][0-9][0-9]"))
        return done[-1] if done else None

    def latest_state(self) -> dict | None:
        """What the newest complete checkpoint says: epochs done, seconds, callbacks' state."""
        latest = self.latest()
        return json.loads((latest / "state.json").read_text()) if latest is not None else None

    # -- Keras hooks
    def on_train_begin(self, logs=None):
        self._clock = time.perf_counter()
        self._restored_seconds = 0.0
        for stale in self.directory.glob(".partial-*"):
            shutil.rmtree(stale, ignore_errors=True)
        latest, state = self.latest(), self.latest_state()
        self.model._initial_epoch = None  # a fresh training starts at epoch 0 (see on_train_end)
        if state is None:
            return
        if not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(latest / "model.weights.h5")
        with np.load(latest / "rng.npz") as rng:
            for i, variable in enumerate(_seed_states(self.model)):
                variable.assign(rng[f"s{i}"])
        for cb, saved in zip(self.stateful, state["callbacks"]):
            for name, value in saved.items():
                setattr(cb, name, value)
            if isinstance(cb, keras.callbacks.EarlyStopping) and cb.restore_best_weights:
                with np.load(latest / "best.npz") as best:
                    cb.best_weights = [best[f"w{i}"] for i in range(len(best.files))]
        self.seconds = self._restored_seconds = state["seconds"]
        self.resumed_from = state["epoch"]
        # A training that had already stopped early runs no further epoch.
        self.model._initial_epoch = self.params["epochs"] if state["stopped"] else state["epoch"]

    def on_train_end(self, logs=None):
        # Keras' fit starts at model._initial_epoch when it is set and never clears it, so the
        # next fit of the same model (phase 2's second step) would start where this resumed
        # one did, and draw that epoch's shuffle and augmentation.
        self.model._initial_epoch = None

    def epochs_done(self) -> int:
        state = self.latest_state()
        return state["epoch"] if state is not None else 0

    def drop_unsaved_history(self) -> None:
        """Keep only the history rows of the epochs the latest checkpoint holds (an epoch
        killed after CSVLogger wrote its row is trained again). Call before ``fit``: the
        logger keeps its file open during training."""
        if self.latest() is not None and self.history_path is not None and self.history_path.exists():
            _truncate_history(self.history_path, self.epochs_done())

    def on_epoch_end(self, epoch, logs=None):
        seconds = self._restored_seconds + time.perf_counter() - self._clock
        tmp = self.directory / f".partial-{epoch + 1:04d}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.model.save_weights(tmp / "model.weights.h5")
        # Weights files leave out the random state of dropout layers; without it a resumed
        # training would draw other dropout masks than an uninterrupted one.
        np.savez(tmp / "rng.npz", **{f"s{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(_seed_states(self.model))})
        states = []
        for cb in self.stateful:
            states.append({name: _plain_number(getattr(cb, name, None)) for name in _CALLBACK_STATE[type(cb)]})
            if isinstance(cb, keras.callbacks.EarlyStopping) and cb.restore_best_weights and cb.best_weights is not None:
                np.savez(tmp / "best.npz", **{f"w{i}": w for i, w in enumerate(cb.best_weights)})
        state = {"epoch": epoch + 1, "seconds": seconds, "stopped": bool(self.model.stop_training), "callbacks": states}
        (tmp / "state.json").write_text(json.dumps(state, indent=2))
        commit_dir(tmp, self.directory / f"epoch-{epoch + 1:04d}")
        self.seconds = seconds
        for old in sorted(self.directory.glob("epoch-[0-9][0-9][0-9][0-9]"))[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)


def _seed_states(model: keras.Model) -> list:
    """The state variables of every random-number generator in the model (dropout ...)."""
    return [generator.state for layer in model._flatten_layers() for generator in getattr(layer, "_seed_generators", [])]


def _plain_number(value):
    if value is None:
        return None
    value = float(value) if not isinstance(value, int) else value
    return value


def _truncate_history(path: Path, epochs_done: int) -> None:
    """Keep the history rows of the epochs a checkpoint holds (a killed epoch may have logged)."""
    history = _read_history_file(path)
    kept = history[history["epoch"] < epochs_done]
    atomic_write(path, lambda f: f.write(kept.to_csv(index=False).encode()))


class Progress(keras.callbacks.Callback):
    """Writes ``progress.json`` for ``ferlib status``: which training, epoch n of N, best so far.

    Put it after the CSVLogger and the :class:`Checkpoint`: it reads the history the
    logger wrote and the seconds the checkpoint counted.
    """

    def __init__(self, path: str | Path, training: str, checkpoint: Checkpoint):
        super().__init__()
        self.path = Path(path)
        self.training = training
        self.checkpoint = checkpoint

    def _write(self, state: str) -> None:
        history = read_history(self.checkpoint.history_path.parent)
        write_json(self.path, {
            "training": self.training, "state": state, "epoch": len(history), "epochs": self.params.get("epochs"),
            "best_val_accuracy": float(history["val_accuracy"].max()) if len(history) else None,
            "epoch_seconds": float(history["epoch_seconds"].mean()) if "epoch_seconds" in history and len(history) else None,
            "seconds": self.checkpoint.seconds, "notebook": os.environ.get("FERLIB_NOTEBOOK"), "updated": time.time(),
            # The kernel's CPU time so far (all threads): the pipeline counts it for an attempt
            # that is killed, whose kernel takes its own count with it.
            "cpu_seconds": time.process_time(),
        })

    def on_train_begin(self, logs=None):
        self._write("training")

    def on_epoch_end(self, epoch, logs=None):
        self._write("training")

    def on_train_end(self, logs=None):
        self._write("finished")


def read_history(folder: str | Path) -> pd.DataFrame:
    """The per-epoch history of the training in `folder`; an epoch repeated after a resume
    keeps its last row."""
    return _read_history_file(Path(folder) / "history.csv")


def learning_rate_drops(history: pd.DataFrame) -> list[int]:
    """The epochs (counted from 1) that trained at a lower learning rate than the epoch
    before: where ReduceLROnPlateau cut it (the history logs the rate each epoch used)."""
    rates = history["learning_rate"].to_numpy(dtype=float)
    return [i + 1 for i in range(1, len(rates)) if rates[i] < rates[i - 1] * (1 - 1e-6)]


_HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"]


def _read_history_file(path: Path) -> pd.DataFrame:
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=_HISTORY_COLUMNS)
    # A kill can cut the last line short: such a row has missing fields and is dropped.
    history = pd.read_csv(path, on_bad_lines="skip").dropna()
    history["epoch"] = history["epoch"].astype(int)
    return history.drop_duplicates("epoch", keep="last").sort_values("epoch").reset_index(drop=True)


def model_precision(model: keras.Model) -> str:
    """The dtype policy the model computes in: that of its first layer with weights (looked
    for inside a nested model, such as :func:`~ferlib.augment.augmenting_trainer`'s)."""
    for layer in model.layers:
        if layer.weights:
            return model_precision(layer) if isinstance(layer, keras.Model) else layer.dtype_policy.name
    return model.dtype_policy.name


def architecture_fingerprint(model: keras.Model) -> str:
    """A short hash of every layer's configuration (rates, sizes, activations, initialisers):
    two networks with the same parameter count but, say, another dropout rate differ here."""
    config = json.dumps(model.get_config(), sort_keys=True, default=str)
    return hashlib.sha256(config.encode()).hexdigest()[:16]


def _training_signature(model: keras.Model, config: TrainConfig, n_train: int, augment: bool, seed: int,
                        class_weight: dict | None = None, augment_in_step: bool = False) -> dict:
    """What makes two trainings the same. Add new keys only when they differ from the old
    default: a changed signature makes every finished training of a long run train again."""
    signature = {"model": model.name, "params": int(model.count_params()), "config": asdict(config),
                 "n_train": int(n_train), "augment": augment, "seed": seed, "precision": model_precision(model),
                 "architecture": architecture_fingerprint(model)}
    if class_weight is not None:
        signature["class_weight"] = {str(k): round(float(v), 6) for k, v in sorted(class_weight.items())}
    if augment and augment_in_step:  # other draws than the pipeline's, so another training
        signature["augment_in_step"] = True
    return signature


def _finished_training(folder: Path, signature: dict) -> TrainResult | None:
    """The finished training in `folder` if it was made with `signature`. Leftovers of a
    training with another signature are removed, so that nothing of it is resumed."""
    folder.mkdir(parents=True, exist_ok=True)
    info, model_path = read_json(folder / "train.json", {}), folder / "model.keras"
    if model_path.exists() and info.get("signature") == signature:
        return TrainResult(load_model(model_path), read_history(folder), folder, info["seconds"], True, info)
    if read_json(folder / "signature.json") != signature:
        for stale in (model_path, folder / "train.json", folder / "history.csv"):
            stale.unlink(missing_ok=True)
        shutil.rmtree(folder / "checkpoints", ignore_errors=True)
        write_json(folder / "signature.json", signature)
    return None


def _trainer_and_augmenter(model: keras.Model, augment: bool, in_step: bool, seed: int):
    """The model that `fit` runs and the augmenter the input pipeline applies: augmentation
    moves inside the training step (and out of the pipeline) with `in_step`."""
    augmenter = make_augmenter(seed=seed) if augment else None
    if augmenter is not None and in_step:
        return augmenting_trainer(model, augmenter), None
    return model, augmenter


def _acting_callbacks(config: TrainConfig, shown: list | None) -> list:
    """The report's callbacks for `config`, or the ones a page `shown` once they match them."""
    report = report_callbacks(config)
    if shown is None:
        return report
    differences = callback_differences(shown, report)
    if differences:
        raise ValueError("the callbacks given are not the report's for this training: " + "; ".join(differences))
    return list(shown)


def train_model(
    model: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    folder: str | Path,
    config: TrainConfig = TrainConfig(),
    *,
    augment: bool = False,
    seed: int = 0,
    verbose: int = 2,
    callbacks: list | tuple = (),
    reuse: bool = True,
    progress: str | Path | None = None,
    label: str | None = None,
    class_weight: dict[int, float] | None = None,
    report_callbacks_shown: list | None = None,
    augment_in_step: bool = False,
) -> TrainResult:
    """Train `model` the report's way, the training kept in its own `folder`.

    `train` and `val` are ``(x, labels)``: x float in [0, 1], shape (N, 48, 48, 1). With
    ``augment=True`` every training batch goes through :func:`~ferlib.augment.make_augmenter`,
    in the input pipeline or, with ``augment_in_step=True``, inside the compiled step. Started
    again on `folder` after a kill, training resumes from the last complete epoch with the
    callbacks' state (:class:`Checkpoint`); a finished training is reused (``reuse=True``)
    while model, settings, precision and data size match. It compiles a fresh Adam optimiser.
    `progress`: a JSON file updated every epoch (``ferlib status``), `label` naming this
    training there. `class_weight` (emotion code -> weight) scales each image's loss.
    `report_callbacks_shown`: EarlyStopping and ReduceLROnPlateau as a book page writes them,
    checked against `config` (a ValueError lists what differs) and then the ones that act.
    """
    folder = Path(folder)
    signature = _training_signature(model, config, len(train[0]), augment, seed, class_weight, augment_in_step)
    finished = _finished_training(folder, signature)
    if reuse and finished is not None:
        return finished
    trainer, augmenter = _trainer_and_augmenter(model, augment, augment_in_step, seed)
    compile_model(trainer, config.learning_rate)
    batches = BatchSequence(train[0], one_hot(train[1]), config.batch_size, augmenter, seed=seed)
    stateful = _acting_callbacks(config, report_callbacks_shown)
    checkpoint = Checkpoint(folder / "checkpoints", folder / "history.csv", stateful)
    checkpoint.drop_unsaved_history()
    batches.set_epoch(checkpoint.epochs_done())  # Keras may fetch batches before the first on_epoch_begin
    chain = _callback_chain(batches, stateful, checkpoint, progress, label or str(folder))
    # shuffle=False: the sequence shuffles the images itself, from (seed, epoch). Keras would
    # also shuffle the batches' order with Python's global random state, which a resumed
    # process does not share: its epochs would then see the batches in another order.
    trainer.fit(batches, validation_data=(val[0], one_hot(val[1])), epochs=config.epochs, shuffle=False,
                callbacks=chain + list(callbacks), verbose=verbose, class_weight=class_weight)
    return _finish(model, folder, signature, checkpoint, config)


def _callback_chain(batches, stateful: list, checkpoint: Checkpoint, progress, label: str) -> list:
    """The callbacks of one fit, in the order that keeps a resume faithful.

    The timer and ReduceLROnPlateau put their values into the epoch's logs before CSVLogger
    writes them; the checkpoint comes after the logger, so an epoch is never checkpointed
    without its history row, and after the callbacks whose state it keeps.
    """
    chain = [SyncEpoch(batches), EpochTimer(), *stateful,
             keras.callbacks.CSVLogger(str(checkpoint.history_path), append=True), checkpoint]
    if progress is not None:
        chain.append(Progress(progress, label, checkpoint))
    return chain


def _finish(model: keras.Model, folder: Path, signature: dict, checkpoint: Checkpoint, config: TrainConfig) -> TrainResult:
    """Save the trained model and what describes it; the checkpoints are then superseded."""
    history = read_history(folder)
    save_model(model, folder / "model.keras")
    info = {
        "signature": signature,
        "seconds": checkpoint.seconds,
        "epochs": len(history),
        "best_epoch": int(history["val_accuracy"].idxmax()) + 1 if len(history) else None,
        "stopped_early": len(history) < config.epochs,
        "precision": signature["precision"],
    }
    write_json(folder / "train.json", info)
    shutil.rmtree(checkpoint.directory, ignore_errors=True)  # the saved model supersedes the checkpoints
    return TrainResult(model, history, folder, checkpoint.seconds, False, info)
