"""Training the report's way (section IV): settings, callbacks, history, reuse, seeds, resume.

Every fit here is tiny (synthetic faces, small models, a few epochs) so that the file runs
in about a minute on a 2-core CPU. Two tests start subprocesses: one kills a training run
mid-way and resumes it, one trains both models on the JAX backend.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

import ferlib.train as train_module
from ferlib.augment import BatchSequence
from ferlib.evaluate import one_hot
from ferlib.files import save_model
from ferlib.models import build_cnn, build_vit
from ferlib.data.synthetic import make_synthetic_faces
from ferlib.train import (
    TrainConfig,
    compile_model,
    read_history,
    report_callbacks,
    set_seed,
    train_model,
)

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).resolve().parent / "scripts"
HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "epoch_seconds"]


def small_cnn(dropout: float = 0.3) -> keras.Model:
    return build_cnn(filters=(8, 16, 16, 16), dense_units=(16, 16, 16), dropout=dropout)


def small_vit() -> keras.Model:
    return build_vit(projection_dim=8, num_heads=2, transformer_layers=1)


@pytest.fixture(scope="module")
def faces():
    """140 synthetic faces (20 per class): 112 to train, 28 to validate."""
    images, labels = make_synthetic_faces(n_per_class=20, seed=0)
    x = (images[..., None] / 255.0).astype(np.float32)
    return (x[:112], labels[:112]), (x[112:], labels[112:])


class EpochCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs: list[int] = []
        self.train_begun = 0

    def on_train_begin(self, logs=None):
        self.train_begun += 1

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


class SpyBatchSequence(BatchSequence):
    """A BatchSequence that remembers what train_model gave it."""

    instances: list["SpyBatchSequence"] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        SpyBatchSequence.instances.append(self)


def subprocess_env(**extra) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("KILL_AT_EPOCH", None)
    env["KERAS_BACKEND"] = keras.backend.backend()
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update(extra)
    return env


# --------------------------------------------------------------------------- settings


def test_train_config_defaults_are_the_reports():
    config = TrainConfig()
    assert config.epochs == 100
    assert config.batch_size == 64
    assert config.learning_rate == pytest.approx(1e-3)
    assert config.early_stopping_patience == 10
    assert config.lr_factor == pytest.approx(0.9)
    assert config.lr_patience == 5
    assert config.restore_best_weights is True


def test_report_callbacks():
    callbacks = report_callbacks()
    kinds = [type(cb).__name__ for cb in callbacks]
    assert kinds == ["EarlyStopping", "ReduceLROnPlateau"]
    early, plateau = callbacks

    assert early.monitor == "val_accuracy"
    assert early.patience == 10
    assert early.mode == "max"
    assert early.restore_best_weights is True

    assert plateau.monitor == "val_loss"
    assert plateau.factor == pytest.approx(0.9)
    assert plateau.patience == 5
    assert plateau.mode in ("auto", "min")


def test_report_callbacks_follow_the_config():
    callbacks = report_callbacks(TrainConfig(early_stopping_patience=None, lr_factor=0.5, lr_patience=2))
    assert [type(cb).__name__ for cb in callbacks] == ["ReduceLROnPlateau"]
    assert callbacks[0].factor == pytest.approx(0.5) and callbacks[0].patience == 2


def test_compile_model_uses_adam_and_categorical_crossentropy():
    model = compile_model(small_cnn())
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(1e-3)
    assert model.loss == "categorical_crossentropy"
    other = compile_model(small_cnn(), learning_rate=5e-4)
    assert float(keras.ops.convert_to_numpy(other.optimizer.learning_rate)) == pytest.approx(5e-4)


def test_one_hot():
    encoded = one_hot(np.array([0, 6, 3]))
    assert encoded.shape == (3, 7) and encoded.dtype == np.float32
    np.testing.assert_array_equal(encoded.argmax(axis=1), [0, 6, 3])
    np.testing.assert_array_equal(encoded.sum(axis=1), 1)


def test_read_history_keeps_the_last_row_of_a_repeated_epoch(tmp_path):
    (tmp_path / "history.csv").write_text(
        "epoch,accuracy,learning_rate,loss,val_accuracy,val_loss\n"
        "0,0.1,0.001,2.0,0.1,2.0\n"
        "1,0.2,0.001,1.9,0.2,1.9\n"
        "1,0.3,0.001,1.8,0.3,1.8\n"  # epoch 1 again, after a resume
        "2,0.4,0.001,1.7,0.4,1.7\n"
    )
    history = read_history(tmp_path)
    assert history["epoch"].tolist() == [0, 1, 2]
    assert history.loc[1, "accuracy"] == pytest.approx(0.3)
    empty = read_history(tmp_path / "nothing-here")
    assert len(empty) == 0 and set(HISTORY_COLUMNS[:-1]) <= set(empty.columns)


def test_save_model_is_atomic(tmp_path):
    model = small_vit()
    folder = tmp_path / "run"
    folder.mkdir()
    path = save_model(model, folder / "model.keras")
    assert path == folder / "model.keras" and path.exists()
    assert [p.name for p in folder.iterdir()] == ["model.keras"]  # no partial file left behind
    assert keras.saving.load_model(path).count_params() == model.count_params()


# --------------------------------------------------------------------------- one real run


@pytest.fixture(scope="module")
def trained(faces, tmp_path_factory):
    """A small CNN (no dropout, so the training loss is smooth) trained 5 epochs, as a run."""
    train, val = faces
    folder = tmp_path_factory.mktemp("cnn-run")
    SpyBatchSequence.instances.clear()
    counter = EpochCounter()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(train_module, "BatchSequence", SpyBatchSequence)
        set_seed(0)
        result = train_model(small_cnn(dropout=0.0), train, val, folder, TrainConfig(epochs=5, batch_size=32),
                             seed=0, verbose=0, callbacks=[counter])
    return result, counter, list(SpyBatchSequence.instances)


def test_training_lowers_the_loss(trained):
    result, counter, _ = trained
    loss = result.history["loss"].to_numpy()
    assert counter.epochs == [0, 1, 2, 3, 4]
    assert np.all(np.isfinite(loss))
    assert loss[-1] < loss[0] - 0.05, f"training loss did not fall: {loss}"
    assert result.history["accuracy"].iloc[-1] > 1 / 7  # better than chance on the training set


def test_history_file_and_columns(trained):
    result, _, _ = trained
    history = read_history(result.folder)
    assert set(history.columns) == set(HISTORY_COLUMNS)
    assert history["epoch"].tolist() == [0, 1, 2, 3, 4]
    assert len(result.history) == result.epochs == 5
    pd.testing.assert_frame_equal(history, result.history)
    raw = pd.read_csv(result.folder / "history.csv")
    assert len(raw) == 5  # one row per epoch, written by CSVLogger
    np.testing.assert_allclose(history["learning_rate"], 1e-3, rtol=1e-6)
    assert history[["loss", "accuracy", "val_loss", "val_accuracy"]].notna().all().all()


def test_run_directory_contents(trained):
    result, _, _ = trained
    folder = result.folder
    assert (folder / "model.keras").is_file()
    assert not (folder / "checkpoints").exists()  # the saved model supersedes the checkpoints
    assert not list(folder.glob("*.partial*"))
    info = json.loads((folder / "train.json").read_text())
    assert info == result.info
    assert info["epochs"] == 5
    assert info["stopped_early"] is False
    best = int(result.history["val_accuracy"].idxmax()) + 1
    assert info["best_epoch"] == best
    signature = info["signature"]
    assert signature["model"] == "cnn"
    assert signature["n_train"] == 112
    assert signature["augment"] is False and signature["seed"] == 0
    assert signature["config"]["epochs"] == 5 and signature["config"]["batch_size"] == 32
    assert signature["params"] == result.model.count_params()


def test_saved_model_is_the_best_epoch_and_validation_is_not_augmented(trained, faces):
    """EarlyStopping restores the best epoch (by val accuracy) and model.keras holds it; its
    validation scores equal the history row of that epoch, so validation was plain data."""
    result, _, spies = trained
    _, (x_val, y_val) = faces
    best = int(result.history["val_accuracy"].idxmax())
    saved = keras.saving.load_model(result.folder / "model.keras")
    scores = saved.evaluate(x_val, one_hot(y_val), verbose=0, return_dict=True)
    assert scores["accuracy"] == pytest.approx(result.history.loc[best, "val_accuracy"], abs=1e-6)
    assert scores["loss"] == pytest.approx(result.history.loc[best, "val_loss"], rel=1e-4)
    np.testing.assert_allclose(saved.predict(x_val, verbose=0), result.model.predict(x_val, verbose=0), rtol=1e-5, atol=1e-6)
    # without augment=True the training batches get no augmenter
    assert len(spies) == 1
    assert spies[0].augmenter is None
    assert spies[0].batch_size == 32 and len(spies[0].x) == 112


def test_same_settings_reuse_the_finished_run(trained, faces):
    result, _, _ = trained
    train, val = faces
    history_before = (result.folder / "history.csv").read_bytes()
    counter = EpochCounter()
    again = train_model(small_cnn(dropout=0.0), train, val, result.folder, TrainConfig(epochs=5, batch_size=32),
                        seed=0, verbose=0, callbacks=[counter])
    assert again.reused is True
    assert counter.train_begun == 0 and counter.epochs == []  # nothing was trained
    assert (result.folder / "history.csv").read_bytes() == history_before
    pd.testing.assert_frame_equal(again.history, result.history)
    assert again.seconds == pytest.approx(result.seconds)
    x_val = val[0]
    np.testing.assert_allclose(again.model.predict(x_val, verbose=0), result.model.predict(x_val, verbose=0), rtol=1e-5, atol=1e-6)


def test_other_settings_train_again(trained, faces, tmp_path):
    result, _, _ = trained
    train, val = faces
    folder = tmp_path / "run"
    shutil.copytree(result.folder, folder)
    counter = EpochCounter()
    SpyBatchSequence.instances.clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(train_module, "BatchSequence", SpyBatchSequence)
        again = train_model(small_cnn(dropout=0.0), train, val, folder, TrainConfig(epochs=2, batch_size=32),
                            augment=True, seed=0, verbose=0, callbacks=[counter])
    assert again.reused is False
    assert counter.epochs == [0, 1]
    assert read_history(folder)["epoch"].tolist() == [0, 1]  # the old history was replaced, not appended to
    info = json.loads((folder / "train.json").read_text())
    assert info["signature"]["config"]["epochs"] == 2 and info["signature"]["augment"] is True
    # augment=True: training batches go through the augmenter...
    assert len(SpyBatchSequence.instances) == 1
    augmenter = SpyBatchSequence.instances[0].augmenter
    assert augmenter is not None
    assert [type(layer).__name__ for layer in augmenter.layers] == ["RandomAffine"]
    # ...but validation data are not: the logged val scores of the kept (best) epoch are
    # exactly what the model scores on the plain validation images
    best = int(again.history["val_accuracy"].idxmax())
    scores = again.model.evaluate(val[0], one_hot(val[1]), verbose=0, return_dict=True)
    assert scores["loss"] == pytest.approx(again.history.loc[best, "val_loss"], rel=1e-4)
    assert scores["accuracy"] == pytest.approx(again.history.loc[best, "val_accuracy"], abs=1e-6)


def test_learning_rate_decays_by_0_9_on_a_plateau(faces, tmp_path):
    """With a learning rate too small to move the validation loss by min_delta, every epoch
    is a plateau; with lr_patience=1 the rate drops by 0.9 after each such epoch."""
    train, val = faces
    lr = 1e-6
    set_seed(1)
    result = train_model(small_vit(), (train[0][:64], train[1][:64]), val, tmp_path,
                         TrainConfig(epochs=4, batch_size=32, learning_rate=lr, lr_patience=1, early_stopping_patience=None),
                         seed=1, verbose=0)
    rates = result.history["learning_rate"].to_numpy()
    assert len(rates) == 4
    assert rates[0] == pytest.approx(lr, rel=1e-5)
    ratios = rates[1:] / rates[:-1]
    for r in ratios:
        assert r == pytest.approx(1.0, rel=1e-4) or r == pytest.approx(0.9, rel=1e-4), ratios
    assert any(r == pytest.approx(0.9, rel=1e-4) for r in ratios), f"no 0.9 step in {rates}"
    assert rates[-1] < lr
    # and each rate is lr * 0.9**k
    k = np.log(rates / lr) / np.log(0.9)
    np.testing.assert_allclose(k, np.round(k), atol=1e-3)


def test_progress_reports_the_epoch_and_the_kernels_cpu_time(faces, tmp_path):
    """``ferlib status`` reads the epoch from it; the pipeline counts its CPU time for an
    attempt that is killed (the kernel's own count dies with it)."""
    import time

    train, val = faces
    progress = tmp_path / "progress.json"
    before = time.process_time()
    set_seed(0)
    train_model(small_cnn(), (train[0][:64], train[1][:64]), val, tmp_path / "run", TrainConfig(epochs=2, batch_size=32),
                seed=0, verbose=0, progress=progress, label="cnn/phase1")
    report = json.loads(progress.read_text())
    assert report["training"] == "cnn/phase1" and report["state"] == "finished"
    assert report["epoch"] == 2 and report["epochs"] == 2
    assert before < report["cpu_seconds"] <= time.process_time()  # this process's count, and it grew


class InterruptAt(keras.callbacks.Callback):
    """Stops training like a kill: at the start of `epoch`, after the earlier epochs' checkpoints."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_a_resumed_training_does_not_shift_the_next_training_of_the_same_model(faces, tmp_path):
    """Phase 2 fits one model twice. When the first fit resumed from a checkpoint, Keras kept
    its start epoch on the model, and the second fit started there too (epochs 17.. instead of
    0.., with that epoch's shuffle and augmentation)."""
    train, val = faces
    config = TrainConfig(epochs=3, batch_size=32, early_stopping_patience=None)
    model = small_vit()
    with pytest.raises(KeyboardInterrupt):
        train_model(model, train, val, tmp_path / "first", config, verbose=0, callbacks=[InterruptAt(2)])
    resumed = EpochCounter()
    train_model(model, train, val, tmp_path / "first", config, verbose=0, callbacks=[resumed])
    assert resumed.epochs == [2], "the first training resumes at its checkpoint"
    counter = EpochCounter()
    second = train_model(model, train, val, tmp_path / "second", replace(config, epochs=2), verbose=0,
                         callbacks=[counter])
    assert counter.epochs == [0, 1]
    assert list(second.history["epoch"]) == [0, 1]


# --------------------------------------------------------------------------- seeds


def _weights(model):
    return [np.asarray(w) for w in model.get_weights()]


def test_set_seed_gives_identical_initial_weights():
    set_seed(11)
    a = _weights(small_cnn())
    set_seed(11)
    b = _weights(small_cnn())
    c = _weights(small_cnn())  # same process, no reseed: new draws
    set_seed(12)
    d = _weights(small_cnn())
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    assert not all(np.array_equal(x, y) for x, y in zip(a, d))

    set_seed(11)
    v1 = _weights(small_vit())
    set_seed(11)
    v2 = _weights(small_vit())
    assert all(np.array_equal(x, y) for x, y in zip(v1, v2))


def test_two_trainings_from_the_same_seed_agree(faces, tmp_path):
    train, val = faces
    train = (train[0][:64], train[1][:64])
    runs = []
    for name in ("a", "b"):
        set_seed(5)
        result = train_model(small_cnn(), train, val, tmp_path / name, TrainConfig(epochs=1, batch_size=32),
                             augment=True, seed=5, verbose=0)
        runs.append(result)
    h1, h2 = (r.history[["loss", "accuracy", "val_loss", "val_accuracy"]].to_numpy() for r in runs)
    np.testing.assert_allclose(h1, h2, rtol=1e-5, atol=1e-7)
    for w1, w2 in zip(_weights(runs[0].model), _weights(runs[1].model)):
        np.testing.assert_allclose(w1, w2, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- kill and resume


# A small ViT (no BatchNorm) at a learning rate too small to move the validation loss by
# ReduceLROnPlateau's min_delta: with lr_patience=1 every epoch after the first is a plateau,
# so the rate drops by 0.9 after epoch 1 on every backend, and the resumed run must keep it.
RESUME_LR = 1e-6
RESUME_ARGS = ("--model", "vit", "--learning-rate", str(RESUME_LR), "--lr-patience", "1")


def _run_script(folder: Path, order_log: Path, kill_at: int | None = None) -> subprocess.CompletedProcess:
    extra = {} if kill_at is None else {"KILL_AT_EPOCH": str(kill_at)}
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "train_until_killed.py"), str(folder), "--epochs", "4", "--order-log", str(order_log),
         *RESUME_ARGS],
        env=subprocess_env(**extra), cwd=REPO, capture_output=True, text=True, timeout=300,
    )


def _marks(stdout: str, word: str) -> list[int]:
    return [int(line.split()[1]) for line in stdout.splitlines() if line.startswith(word + " ")]


def _epoch_orders(order_log: Path, n_epochs: int) -> list[dict[int, list[int]]]:
    """The batches (index -> rows) of the last `n_epochs` epochs of a run, as BatchSequence
    numbered them (Keras may peek at a batch before the first epoch)."""
    by_epoch: dict[int, dict[int, list[int]]] = defaultdict(dict)
    for line in order_log.read_text().splitlines():
        entry = json.loads(line)
        by_epoch[entry["epoch"]][entry["index"]] = entry["rows"]
    return [by_epoch[e] for e in sorted(by_epoch)[-n_epochs:]]


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    folder = root / "run"
    killed = _run_script(folder, root / "killed.jsonl", kill_at=2)
    after_kill = {
        "history": read_history(folder),
        "backup": (folder / "checkpoints").is_dir() and any((folder / "checkpoints").iterdir()),
        "model": (folder / "model.keras").exists(),
    }
    resumed = _run_script(folder, root / "resumed.jsonl")
    return {"root": root, "folder": folder, "killed": killed, "after_kill": after_kill, "resumed": resumed}


def test_killed_run_leaves_a_backup_and_two_epochs(killed_and_resumed):
    killed = killed_and_resumed["killed"]
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert _marks(killed.stdout, "EPOCH_BEGIN") == [0, 1]
    assert _marks(killed.stdout, "KILLING_AT") == [2]
    assert "TRAINING_DONE" not in killed.stdout
    state = killed_and_resumed["after_kill"]
    assert state["history"]["epoch"].tolist() == [0, 1]
    assert state["backup"], "no BackupAndRestore checkpoint after the kill"
    assert not state["model"]  # an unfinished run has no model.keras


def test_resumed_run_finishes_the_remaining_epochs_only(killed_and_resumed):
    resumed = killed_and_resumed["resumed"]
    folder = killed_and_resumed["folder"]
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _marks(resumed.stdout, "EPOCH_BEGIN") == [2, 3]  # it resumed: epochs 0 and 1 were not redone
    assert f"BACKEND {keras.backend.backend()}" in resumed.stdout
    assert "TRAINING_DONE 4 reused=False" in resumed.stdout
    history = read_history(folder)
    assert history["epoch"].tolist() == [0, 1, 2, 3]
    raw = pd.read_csv(folder / "history.csv")
    assert sorted(raw["epoch"].unique().tolist()) == [0, 1, 2, 3]
    assert list(raw.columns).count("epoch") == 1  # the resumed run did not write a second header
    pd.testing.assert_frame_equal(history.iloc[:2].reset_index(drop=True),
                                  killed_and_resumed["after_kill"]["history"].iloc[:2].reset_index(drop=True))
    # the learning rate that ReduceLROnPlateau lowered before the kill (after epoch 1) is
    # restored with the optimizer: epoch 2 runs at 0.9 x the initial rate, not at the initial rate
    np.testing.assert_allclose(history["learning_rate"].iloc[:2], RESUME_LR, rtol=1e-5)
    assert history.loc[2, "learning_rate"] == pytest.approx(0.9 * RESUME_LR, rel=1e-5)
    assert (folder / "model.keras").is_file()
    info = json.loads((folder / "train.json").read_text())
    assert info["epochs"] == 4
    assert not (folder / "checkpoints").exists()


def test_resumed_run_sees_the_shuffle_order_of_an_uninterrupted_run(killed_and_resumed):
    root = killed_and_resumed["root"]
    assert killed_and_resumed["resumed"].returncode == 0
    reference = _run_script(root / "uninterrupted", root / "uninterrupted.jsonl")
    assert reference.returncode == 0, reference.stderr[-3000:]
    full = _epoch_orders(root / "uninterrupted.jsonl", 4)
    killed = _epoch_orders(root / "killed.jsonl", 2)
    resumed = _epoch_orders(root / "resumed.jsonl", 2)
    assert killed == full[:2]  # same seed, same first two epochs: the comparison itself is sound
    assert resumed == full[2:]


# A run in which early stopping and the learning-rate schedule both act (found by trying):
# the validation accuracy peaks at epoch 2, so early stopping (patience 4) ends it after
# epoch 6, and the rate halves after every epoch whose validation loss did not improve.
KILL_TWICE_ARGS = ("--epochs", "20", "--early-stopping-patience", "4", "--lr-patience", "1", "--lr-factor", "0.5",
                   "--n-per-class", "24", "--learning-rate", "1e-2")


def _run_kill_script(folder: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPTS / "train_until_killed.py"), str(folder), *KILL_TWICE_ARGS],
                          env=subprocess_env(**env), cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def killed_twice(tmp_path_factory):
    """The same training three ways: uninterrupted; killed before epoch 2, then killed
    half-way through writing the checkpoint of epoch 5, then resumed to the end."""
    root = tmp_path_factory.mktemp("killed-twice")
    reference = _run_kill_script(root / "reference")
    first = _run_kill_script(root / "run", KILL_AT_EPOCH="2")
    second = _run_kill_script(root / "run", KILL_IN_CHECKPOINT="5")
    checkpoints = root / "run" / "checkpoints"
    after_second = sorted(p.name for p in checkpoints.iterdir())
    final = _run_kill_script(root / "run")
    return {"root": root, "reference": reference, "first": first, "second": second, "final": final,
            "after_second": after_second}


def test_killed_twice_the_kills_happened_where_intended(killed_twice):
    assert killed_twice["first"].returncode == -signal.SIGKILL
    assert _marks(killed_twice["first"].stdout, "EPOCH_BEGIN") == [0, 1]
    second = killed_twice["second"]
    assert second.returncode == -signal.SIGKILL
    assert _marks(second.stdout, "EPOCH_BEGIN") == [2, 3, 4]  # resumed after the two finished epochs
    assert "KILLING_IN_CHECKPOINT 5" in second.stdout
    # the half-written checkpoint never took a complete checkpoint's name
    assert killed_twice["after_second"] == [".partial-0005", "epoch-0004"]


def test_killed_twice_resumes_from_the_last_complete_checkpoint(killed_twice):
    final = killed_twice["final"]
    assert final.returncode == 0, final.stderr[-3000:]
    assert _marks(final.stdout, "EPOCH_BEGIN")[0] == 4  # epoch 5 was lost with its checkpoint, and redone
    assert not (killed_twice["root"] / "run" / "checkpoints").exists()


def test_killed_twice_ends_like_an_uninterrupted_run(killed_twice):
    """Same epochs, same learning rates, same early stop, same weights."""
    reference, final = killed_twice["reference"], killed_twice["final"]
    assert reference.returncode == 0 and final.returncode == 0, (reference.stderr[-2000:], final.stderr[-2000:])
    ref_dir, folder = killed_twice["root"] / "reference", killed_twice["root"] / "run"
    expected, got = read_history(ref_dir), read_history(folder)
    # the scenario is sound: early stopping ended it and the rate was lowered before the kills' epochs
    assert len(expected) < 20
    rates = expected["learning_rate"].to_numpy()
    assert rates[-1] < rates[0] and (rates[:5] < rates[0]).any()
    assert got["epoch"].tolist() == expected["epoch"].tolist()
    np.testing.assert_array_equal(got["learning_rate"].to_numpy(), rates)
    np.testing.assert_array_equal(got["val_accuracy"].to_numpy(), expected["val_accuracy"].to_numpy())
    ref_info, info = (json.loads((d / "train.json").read_text()) for d in (ref_dir, folder))
    for key in ("epochs", "best_epoch", "stopped_early"):
        assert info[key] == ref_info[key], key
    ref_model, model = (keras.saving.load_model(d / "model.keras") for d in (ref_dir, folder))
    for a, b in zip(ref_model.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- augmentation in the training step


@pytest.fixture(scope="module")
def trained_in_step(faces, tmp_path_factory):
    """The small CNN trained 2 epochs with the report's augmentation inside the training step."""
    train, val = faces
    folder = tmp_path_factory.mktemp("in-step")
    SpyBatchSequence.instances.clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(train_module, "BatchSequence", SpyBatchSequence)
        set_seed(0)
        model = small_cnn(dropout=0.0)
        result = train_model(model, train, val, folder, TrainConfig(epochs=2, batch_size=32), seed=0, verbose=0,
                             augment=True, augment_in_step=True)
    return model, result, list(SpyBatchSequence.instances)


def test_in_step_augmentation_leaves_the_pipeline_plain_and_the_saved_model_bare(trained_in_step):
    model, result, batches = trained_in_step
    assert [b.augmenter for b in batches] == [None]  # no augmentation on the host
    assert result.info["signature"]["augment_in_step"] is True
    assert np.all(np.isfinite(result.history["loss"]))
    saved = keras.saving.load_model(result.folder / "model.keras")
    # the saved network is the one built, without the augmentation in front of it
    assert [layer.name for layer in saved.layers] == [layer.name for layer in model.layers]
    assert not any("augment" in layer.name or "random" in layer.name for layer in saved.layers)
    for a, b in zip(saved.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)  # the trainer trained this model's own weights


def test_the_trainer_augments_when_training_only(faces):
    from ferlib.augment import augmenting_trainer, make_augmenter

    x = faces[0][0][:8]
    model = small_cnn(dropout=0.0)
    trainer = augmenting_trainer(model, make_augmenter(seed=1))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(trainer(x, training=False)),
                               keras.ops.convert_to_numpy(model(x, training=False)), rtol=1e-6, atol=1e-6)
    # in training the face reaching the network moved: the outputs differ from the plain ones
    trained_view = keras.ops.convert_to_numpy(trainer(x, training=True))
    plain_view = keras.ops.convert_to_numpy(model(x, training=True))
    assert np.abs(trained_view - plain_view).max() > 1e-4
    # the trainer's weights are the model's own variables, not copies
    assert [id(w) for w in trainer.trainable_weights] == [id(w) for w in model.trainable_weights]


def test_in_step_and_pipeline_augmentation_are_different_trainings(faces, tmp_path):
    train, val = faces
    set_seed(0)
    common = dict(seed=0, verbose=0, augment=True)
    config = TrainConfig(epochs=1, batch_size=32)
    host = train_model(small_cnn(dropout=0.0), train, val, tmp_path / "run", config, **common)
    assert "augment_in_step" not in host.info["signature"]  # the published runs' signatures are unchanged
    set_seed(0)
    step = train_model(small_cnn(dropout=0.0), train, val, tmp_path / "run", config, augment_in_step=True, **common)
    assert step.reused is False  # the folder held the pipeline's training: not reused for the step's


@pytest.mark.parametrize("augment_on, gpu, expected", [
    ("host", 9.0, False), ("device", None, True), ("auto", None, False), ("auto", 7.5, True)])
def test_where_augmentation_runs(monkeypatch, augment_on, gpu, expected):
    import ferlib.provenance as provenance
    from ferlib.augment import augments_in_step

    monkeypatch.setattr(provenance, "gpu_compute_capability", lambda: gpu)
    assert augments_in_step(augment_on) is expected


def test_an_unknown_augmentation_place_is_refused():
    from ferlib.augment import augments_in_step

    with pytest.raises(ValueError, match="'auto', 'host', 'device'"):
        augments_in_step("gpu")


@pytest.fixture(scope="module", params=["host", "step"])
def killed_augmented(request, tmp_path_factory):
    """A CNN with dropout and the report's augmentation (in the input pipeline, or in the
    training step) trained 4 epochs: uninterrupted, and killed at the start of epoch 2 then
    resumed."""
    root = tmp_path_factory.mktemp(f"killed-augment-{request.param}")
    args = ("--epochs", "4", "--augment", request.param)

    def run(folder, **env):
        return subprocess.run([sys.executable, str(SCRIPTS / "train_until_killed.py"), str(folder), *args],
                              env=subprocess_env(**env), cwd=REPO, capture_output=True, text=True, timeout=300)

    reference = run(root / "reference")
    killed = run(root / "run", KILL_AT_EPOCH="2")
    resumed = run(root / "run")
    return root, reference, killed, resumed


def test_an_augmented_training_resumes_like_an_uninterrupted_run(killed_augmented):
    """The resumed epochs see the same batches in the same order, augmented alike (the
    in-step augmenter's random state travels in the checkpoint), so both runs end with the
    same weights. Keras's own shuffling of the batches' order, from Python's global random
    state, broke this until train_model turned it off."""
    root, reference, killed, resumed = killed_augmented
    assert reference.returncode == 0, reference.stderr[-3000:]
    assert killed.returncode == -signal.SIGKILL
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _marks(resumed.stdout, "EPOCH_BEGIN") == [2, 3]
    expected, got = read_history(root / "reference"), read_history(root / "run")
    np.testing.assert_allclose(got["loss"].to_numpy(), expected["loss"].to_numpy(), rtol=1e-6)
    ref_model, model = (keras.saving.load_model(d / "model.keras") for d in (root / "reference", root / "run"))
    for a, b in zip(ref_model.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- JAX


def test_end_to_end_fit_on_jax(tmp_path):
    pytest.importorskip("jax")
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "jax_smoke.py"), str(tmp_path / "runs")],
        # the lent GPU machine has JAX and no TensorFlow: make `import tensorflow` fail
        env=subprocess_env(KERAS_BACKEND="jax", FERLIB_TEST_BLOCK_TENSORFLOW="1"),
        cwd=REPO, capture_output=True, text=True, timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, proc.stdout[-2000:]
    out = json.loads(lines[0][len("RESULT "):])
    assert out["backend"] == "jax"
    assert out["tensorflow_imported"] is False
    assert set(out["models"]) == {"vit", "cnn"}
    for name, model in out["models"].items():
        assert model["reused"] is False
        assert model["history"]["epoch"] == [0], name
        for column in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
            assert np.all(np.isfinite(model["history"][column])), (name, column)
        for part in ("train", "val", "test"):
            scores = model["scores"][part]
            assert np.isfinite(scores["loss"]) and scores["loss"] > 0, (name, part)
            assert 0.0 <= scores["accuracy"] <= 1.0, (name, part)
        assert (tmp_path / "runs" / name / "model.keras").is_file()
        # the validation score logged during fit is the plain validation score
        assert model["scores"]["val"]["loss"] == pytest.approx(model["history"]["val_loss"][0], rel=1e-4)


def test_one_line_per_epoch_fits_the_page(capsys):
    from ferlib.display import EpochLine

    line = EpochLine(100)
    line.on_epoch_end(6, {"accuracy": 0.1259, "val_accuracy": 0.2541, "loss": 3.8032, "val_loss": 1.9512,
                          "epoch_seconds": 15.2, "learning_rate": 0.001})
    out = capsys.readouterr().out.strip()
    assert out == "epoch 7/100, accuracy 0.126 (val 0.254), loss 3.803 (val 1.951), 15 s"
    assert len(out) <= 80


@pytest.mark.parametrize("bfloat16, float16, expected", [
    (True, True, "mixed_bfloat16"),  # an A100, an H100 or an AMX CPU
    (False, True, "mixed_float16"),  # a T4: tensor cores, no native bfloat16
    (False, False, "float32"),  # a CPU without bfloat16
])
def test_the_precision_follows_the_device(monkeypatch, bfloat16, float16, expected):
    import ferlib.recipes.run as run_module

    monkeypatch.setattr(run_module, "supports_bfloat16", lambda: bfloat16)
    monkeypatch.setattr(run_module, "supports_float16", lambda: float16)
    assert run_module.choose_precision("cnn") == expected
    assert run_module.choose_precision("vit") == "float32"  # measured slower in reduced precision


def test_a_resumed_run_keeps_the_precision_it_started_in(monkeypatch, tmp_path):
    """A run started on a CPU without bfloat16 and resumed on one with it trains on in float32:
    its finished trainings' signatures name float32, and another precision would train them again."""
    import ferlib.recipes.run as run_module

    monkeypatch.setattr(run_module, "supports_float16", lambda: False)
    monkeypatch.setattr(run_module, "supports_bfloat16", lambda: False)
    first = run_module.prepare_run(data="synthetic", profile="smoke", run_dir=str(tmp_path / "run"))
    assert first.precision["cnn"] == "float32"
    monkeypatch.setattr(run_module, "supports_bfloat16", lambda: True)  # the next session's machine
    again = run_module.prepare_run(data="synthetic", profile="smoke", run_dir=str(tmp_path / "run"))
    assert again.precision["cnn"] == "float32"
    assert json.loads((tmp_path / "run" / "run.json").read_text())["precision"]["cnn"] == "float32"
    # another run (another seed) chooses for this machine
    other = run_module.prepare_run(data="synthetic", profile="smoke", seed=7, run_dir=str(tmp_path / "run"))
    assert other.precision["cnn"] == "mixed_bfloat16"


def test_float16_training_scales_the_loss_and_learns(tmp_path):
    from ferlib.models import build_cnn
    from ferlib.train import TrainConfig, compile_model, train_model

    tiny = build_cnn(filters=(4, 4, 4, 4), dense_units=(8, 8, 8), precision="mixed_float16")
    compile_model(tiny)
    assert isinstance(tiny.optimizer, keras.optimizers.LossScaleOptimizer)
    float32 = compile_model(build_cnn(filters=(4, 4, 4, 4), dense_units=(8, 8, 8)))
    assert not isinstance(float32.optimizer, keras.optimizers.LossScaleOptimizer)
    rng = np.random.default_rng(0)
    x = rng.random((64, 48, 48, 1), dtype=np.float32)
    y = rng.integers(0, 7, 64)
    result = train_model(tiny, (x, y), (x[:16], y[:16]), tmp_path / "f16", TrainConfig(epochs=2, batch_size=16),
                         verbose=0)
    assert result.info["precision"] == "mixed_float16"
    assert np.isfinite(result.history["loss"]).all()
