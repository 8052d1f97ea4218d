"""Phase 2 (report 5.3: hard samples, then augmentation) and evaluation (Table 1, section VI,
results with provenance)."""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

import ferlib.data
import ferlib.files
import ferlib.recipes.phase2 as phase2_module
from ferlib.data import EMOTIONS, load_synthetic
from ferlib.evaluate import confusion_frame, evaluate_model, per_class_metrics, predict_labels
from ferlib.recipes.report import REPORT_CORRECT_COUNTS, REPORT_TABLE1, table1
from ferlib.provenance import load_results, provenance, save_results
from ferlib.models import build_cnn
from ferlib.runfolder import RunFolder
from ferlib.recipes.phase2 import STEPS, hard_sample_indices, run_phase2, steps_table
from ferlib.splits import official_split
from ferlib.data.synthetic import make_synthetic_faces
from ferlib.train import TrainConfig, compile_model, read_history, set_seed

PROVENANCE_KEYS = {"data", "data_fingerprint", "split", "profile", "seed", "backend", "keras_version",
                   "device", "commit", "started", "finished"}
STATISTICS = [
    "phase1 train accuracy", "phase1 val accuracy", "phase1 test accuracy",
    "phase2 train accuracy", "phase2 val accuracy", "phase2 test accuracy", "final test loss",
]


def small_cnn() -> keras.Model:
    return build_cnn(filters=(8, 16, 16, 16), dense_units=(16, 16, 16))


def fixed_model() -> keras.Model:
    """A model whose prediction we control: the class is the brightest of the first 7 pixels.

    Flatten -> Dense(7, softmax) with weight 20 from pixel j to class j (j < 7), else 0.
    """
    inputs = keras.Input((48, 48, 1))
    flat = keras.layers.Flatten()(inputs)
    dense = keras.layers.Dense(7, activation="softmax", name="fixed")
    outputs = dense(flat)
    model = keras.Model(inputs, outputs)
    kernel = np.zeros((48 * 48, 7), np.float32)
    kernel[np.arange(7), np.arange(7)] = 20.0
    dense.set_weights([kernel, np.zeros(7, np.float32)])
    return compile_model(model)


def images_predicting(classes: np.ndarray) -> np.ndarray:
    """Images that `fixed_model` classifies as `classes` (pixel k of the first row is lit)."""
    x = np.zeros((len(classes), 48, 48, 1), np.float32)
    x[np.arange(len(classes)), 0, classes, 0] = 1.0
    return x


# --------------------------------------------------------------------------- hard samples


def test_fixed_model_predicts_what_we_say():
    predicted = np.array([0, 1, 2, 3, 4, 5, 6, 3, 3])
    np.testing.assert_array_equal(predict_labels(fixed_model(), images_predicting(predicted)), predicted)


def test_hard_samples_of_a_fixed_model():
    predicted = np.array([0, 1, 2, 3, 4, 5, 6, 6, 2, 0])
    truth = np.array([0, 2, 2, 3, 1, 5, 0, 6, 3, 0])
    hard = hard_sample_indices(fixed_model(), images_predicting(predicted), truth, batch_size=4)
    np.testing.assert_array_equal(hard, [1, 4, 6, 8])
    assert hard.dtype.kind == "i"


def test_hard_samples_are_the_misclassified_rows():
    rng = np.random.default_rng(0)
    x = rng.random((60, 48, 48, 1), dtype=np.float32)
    y = rng.integers(0, 7, 60)
    set_seed(0)
    model = small_cnn()
    independent = np.flatnonzero(np.argmax(model.predict(x, verbose=0), axis=1) != y)
    hard = hard_sample_indices(model, x, y)
    np.testing.assert_array_equal(hard, independent)
    assert 0 < len(hard) < 60


def test_hard_samples_use_predict_labels(monkeypatch):
    monkeypatch.setattr(phase2_module, "predict_labels", lambda model, x, batch_size=256: np.array([3, 3, 1, 0]))
    np.testing.assert_array_equal(hard_sample_indices(None, np.zeros((4, 48, 48, 1)), np.array([3, 2, 1, 1])), [1, 3])


def test_phase2_refuses_a_model_without_hard_samples(tmp_path):
    classes = np.array([0, 1, 2, 3, 4, 5, 6, 1])
    x = images_predicting(classes)
    parts = {"train": (x, classes), "val": (x, classes), "test": (x, classes)}
    with pytest.raises(ValueError, match="no hard samples"):
        run_phase2(fixed_model(), parts, RunFolder(tmp_path), "cnn", TrainConfig(epochs=1), hard_epochs=1, verbose=0)
    assert not RunFolder(tmp_path).hard_indices("cnn").exists()


# --------------------------------------------------------------------------- run_phase2


@pytest.fixture(scope="module")
def phase2_run(tmp_path_factory):
    images, labels = make_synthetic_faces(n_per_class=12, seed=1)  # 84 faces
    x = (images[..., None] / 255.0).astype(np.float32)
    parts = {"train": (x[:56], labels[:56]), "val": (x[56:70], labels[56:70]), "test": (x[70:], labels[70:])}
    set_seed(2)
    model = compile_model(small_cnn())  # an (untrained) phase-1 model: it gets most images wrong
    expected_hard = np.flatnonzero(np.argmax(model.predict(parts["train"][0], verbose=0), axis=1) != parts["train"][1])
    expected_phase1 = evaluate_model(model, parts)
    folder = RunFolder(tmp_path_factory.mktemp("run"))
    result = run_phase2(model, parts, folder, "cnn", TrainConfig(epochs=2, batch_size=16), hard_epochs=2, seed=2, verbose=0)
    run_dir = folder.phase2("cnn")
    return result, run_dir, parts, expected_hard, expected_phase1


def test_phase2_scores_every_step(phase2_run):
    result, _, _, _, expected_phase1 = phase2_run
    assert list(result.scores) == list(STEPS) == ["phase 1", "after hard samples", "after augmentation"]
    for step, parts in result.scores.items():
        assert set(parts) == {"train", "val", "test"}, step
        for part, metrics in parts.items():
            assert set(metrics) == {"accuracy", "loss"}, (step, part)
            assert 0.0 <= metrics["accuracy"] <= 1.0
            assert np.isfinite(metrics["loss"]) and metrics["loss"] > 0
    for part in ("train", "val", "test"):
        assert result.scores["phase 1"][part]["accuracy"] == pytest.approx(expected_phase1[part]["accuracy"])
        assert result.scores["phase 1"][part]["loss"] == pytest.approx(expected_phase1[part]["loss"], rel=1e-5)
    # the steps trained the model: the scores moved
    assert result.scores["after hard samples"]["train"]["loss"] != pytest.approx(result.scores["phase 1"]["train"]["loss"])


def test_phase2_hard_indices(phase2_run):
    result, run_dir, parts, expected_hard, _ = phase2_run
    np.testing.assert_array_equal(result.hard_indices, expected_hard)
    np.testing.assert_array_equal(np.load(run_dir / "hard_indices.npy"), expected_hard)
    assert 0 < len(expected_hard) < len(parts["train"][1])


def test_phase2_hard_step_trains_on_the_hard_samples_only(phase2_run):
    result, run_dir, parts, expected_hard, _ = phase2_run
    hard_dir = run_dir / "hard_samples"
    history = read_history(hard_dir)
    assert history["epoch"].tolist() == [0, 1]  # exactly hard_epochs, no early stopping
    pd.testing.assert_frame_equal(result.histories["hard samples"], history)
    info = json.loads((hard_dir / "train.json").read_text())
    assert info["signature"]["n_train"] == len(expected_hard)
    assert info["signature"]["augment"] is False
    assert info["signature"]["config"]["epochs"] == 2
    assert info["signature"]["config"]["early_stopping_patience"] is None
    assert (hard_dir / "model.keras").is_file()


def test_phase2_augmentation_step_uses_the_whole_training_set(phase2_run):
    result, run_dir, parts, _, _ = phase2_run
    aug_dir = run_dir / "augmentation"
    info = json.loads((aug_dir / "train.json").read_text())
    assert info["signature"]["n_train"] == len(parts["train"][1])
    assert info["signature"]["augment"] is True
    assert info["signature"]["config"]["early_stopping_patience"] == 10  # the report's callbacks
    assert read_history(aug_dir)["epoch"].tolist() == [0, 1]
    assert len(result.histories["augmentation"]) == 2
    # the returned model is the final one: it scores what "after augmentation" says
    final = evaluate_model(result.model, parts)
    for part in ("train", "val", "test"):
        assert final[part]["accuracy"] == pytest.approx(result.scores["after augmentation"][part]["accuracy"])


def test_phase2_table(phase2_run):
    result = phase2_run[0]
    table = result.table()
    assert table.shape == (3, 6)
    assert table.index.tolist() == list(STEPS)
    assert set(table.columns) == {f"{p} {m}" for p in ("train", "val", "test") for m in ("accuracy", "loss")}
    assert table.loc["after hard samples", "val loss"] == pytest.approx(result.scores["after hard samples"]["val"]["loss"])
    pd.testing.assert_frame_equal(table, steps_table(result.scores))


# --------------------------------------------------------------------------- evaluation


def test_evaluate_model_matches_predictions():
    rng = np.random.default_rng(3)
    x = rng.random((40, 48, 48, 1), dtype=np.float32)
    y = rng.integers(0, 7, 40)
    set_seed(3)
    model = compile_model(small_cnn())
    probs = model.predict(x, verbose=0)
    scores = evaluate_model(model, {"test": (x, y), "half": (x[:20], y[:20])}, batch_size=16)
    assert set(scores) == {"test", "half"}
    assert scores["test"]["accuracy"] == pytest.approx(np.mean(probs.argmax(axis=1) == y), abs=1e-6)
    assert scores["half"]["accuracy"] == pytest.approx(np.mean(probs[:20].argmax(axis=1) == y[:20]), abs=1e-6)
    cross_entropy = -np.mean(np.log(np.clip(probs[np.arange(40), y], 1e-7, 1.0)))
    assert scores["test"]["loss"] == pytest.approx(cross_entropy, rel=1e-4)
    np.testing.assert_array_equal(predict_labels(model, x, batch_size=7), probs.argmax(axis=1))


def test_evaluate_model_on_a_fixed_model():
    predicted = np.array([0, 1, 2, 3, 4, 5, 6, 0])
    truth = np.array([0, 1, 2, 3, 0, 0, 0, 0])  # 5 of 8 right
    scores = evaluate_model(fixed_model(), {"test": (images_predicting(predicted), truth)})
    assert scores["test"]["accuracy"] == pytest.approx(5 / 8)


Y_TRUE = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 4, 4, 5, 6, 6, 6])
Y_PRED = np.array([0, 0, 3, 0, 1, 2, 3, 3, 5, 3, 6, 4, 5, 6, 3, 6])


def test_confusion_frame_matches_sklearn():
    frame = confusion_frame(Y_TRUE, Y_PRED)
    assert frame.shape == (7, 7)
    assert list(frame.index) == list(EMOTIONS) and list(frame.columns) == list(EMOTIONS)
    assert frame.index.name == "true" and frame.columns.name == "predicted"
    np.testing.assert_array_equal(frame.to_numpy(), confusion_matrix(Y_TRUE, Y_PRED, labels=range(7)))
    assert frame.loc["Angry", "Happy"] == 1  # one Angry face called Happy
    assert frame.loc["Happy", "Happy"] == 3
    assert frame.to_numpy().sum() == len(Y_TRUE)


def test_confusion_frame_keeps_absent_classes():
    frame = confusion_frame(np.array([3, 3]), np.array([3, 0]))
    assert frame.shape == (7, 7)
    assert frame.loc["Disgust"].sum() == 0
    assert frame.loc["Happy", "Happy"] == 1 and frame.loc["Happy", "Angry"] == 1


def test_per_class_metrics_match_sklearn():
    metrics = per_class_metrics(Y_TRUE, Y_PRED)
    assert list(metrics.index) == list(EMOTIONS)
    assert list(metrics.columns) == ["precision", "recall", "f1", "support", "correct"]
    precision, recall, f1, support = precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=range(7), zero_division=0)
    np.testing.assert_allclose(metrics["precision"], precision)
    np.testing.assert_allclose(metrics["recall"], recall)
    np.testing.assert_allclose(metrics["f1"], f1)
    np.testing.assert_array_equal(metrics["support"], support)
    # correct predictions per class are the diagonal of the confusion matrix
    np.testing.assert_array_equal(metrics["correct"], np.diag(confusion_frame(Y_TRUE, Y_PRED).to_numpy()))
    assert metrics.loc["Angry", "correct"] == 2 and metrics.loc["Happy", "correct"] == 3
    assert metrics.loc["Angry", "recall"] == pytest.approx(2 / 3)
    assert metrics.loc["Happy", "precision"] == pytest.approx(3 / 5)


def test_per_class_metrics_with_a_class_never_right():
    y_true = np.array([1, 1, 3, 3])
    y_pred = np.array([3, 3, 3, 3])
    metrics = per_class_metrics(y_true, y_pred)
    assert metrics.loc["Disgust", "correct"] == 0  # as the report's ViT on Disgust
    assert metrics.loc["Disgust", "recall"] == 0.0
    assert metrics.loc["Happy", "precision"] == pytest.approx(0.5)


def test_per_class_metrics_accepts_lists():
    metrics = per_class_metrics(Y_TRUE.tolist(), Y_PRED.tolist())
    pd.testing.assert_frame_equal(metrics, per_class_metrics(Y_TRUE, Y_PRED))


def test_report_table1_constants():
    assert REPORT_TABLE1["cnn"] == dict(zip(STATISTICS, [0.9832, 0.6202, 0.6289, 0.8042, 0.6652, 0.6472, 0.9814]))
    assert REPORT_TABLE1["vit"] == dict(zip(STATISTICS, [0.5202, 0.3807, 0.3962, 0.4295, 0.4151, 0.4187, 1.5021]))
    assert REPORT_CORRECT_COUNTS == {"cnn": {"Angry": 379, "Disgust": 36}, "vit": {"Angry": 31, "Disgust": 0}}


def _scores(train_acc, val_acc, test_acc, test_loss):
    return {"train": {"accuracy": train_acc, "loss": 1.0}, "val": {"accuracy": val_acc, "loss": 1.1},
            "test": {"accuracy": test_acc, "loss": test_loss}}


def _log(accuracy, val_accuracy):
    return {"epochs": 10, "best_epoch": 8, "accuracy": accuracy, "loss": 1.0, "val_accuracy": val_accuracy,
            "val_loss": 1.1}


def test_table1_puts_ours_beside_the_report_like_with_like():
    """The report's training and validation accuracies are its logs' last epoch: ours in those
    rows come from our logs, and our accuracies measured after training get rows of their own,
    with no report value to be compared against."""
    results = {
        "cnn": {"phase1": _scores(0.9, 0.6, 0.61, 1.9), "phase2": _scores(0.8, 0.65, 0.64, 0.95)},
        "vit": {"phase1": _scores(0.5, 0.4, 0.41, 1.7), "phase2": _scores(0.45, 0.42, 0.43, 1.5)},
    }
    logs = {"cnn phase1": _log(0.88, 0.59), "cnn augmentation": _log(0.62, 0.63),
            "vit phase1": _log(0.43, 0.37), "vit augmentation": _log(0.34, 0.36)}
    table = table1(results, logs)
    logged = [f"{s}, last epoch's log" for s in STATISTICS if s.split()[1] in ("train", "val")]
    measured = [f"{s}, measured after training" for s in STATISTICS if s.split()[1] in ("train", "val")]
    assert list(table.index[:7]) == [f"{s}, last epoch's log" if s.split()[1] in ("train", "val") else s
                                     for s in STATISTICS]
    assert list(table.index[7:]) == measured
    assert list(table.columns) == ["CNN report", "CNN ours", "CNN difference", "VIT report", "VIT ours", "VIT difference"]
    np.testing.assert_allclose(table["CNN ours"], [0.88, 0.59, 0.61, 0.62, 0.63, 0.64, 0.95, 0.9, 0.6, 0.8, 0.65])
    np.testing.assert_allclose(table["VIT ours"], [0.43, 0.37, 0.41, 0.34, 0.36, 0.43, 1.5, 0.5, 0.4, 0.45, 0.42])
    np.testing.assert_allclose(table["CNN report"][:7], [REPORT_TABLE1["cnn"][s] for s in STATISTICS])
    assert table.loc[measured, ["CNN report", "CNN difference", "VIT report", "VIT difference"]].isna().all().all()
    # the report's 98.32% is its log's last epoch: set beside our log's, not our measured 90%
    assert table.loc["phase1 train accuracy, last epoch's log", "CNN difference"] == pytest.approx(0.88 - 0.9832)
    assert table.loc["phase1 test accuracy", "CNN difference"] == pytest.approx(0.61 - 0.6289)
    assert table.loc["final test loss", "VIT report"] == pytest.approx(1.5021)
    assert table.loc[logged[3], "CNN difference"] == pytest.approx(0.63 - 0.6652)  # phase 2 validation, log to log
    assert all(dtype == np.float64 for dtype in table.dtypes)


def test_table1_missing_phases_and_logs_are_nan():
    table = table1({"cnn": {"phase1": _scores(0.9, 0.6, 0.61, 1.9)}})
    # no ViT results at all: its columns are empty except the report's numbers
    assert table["VIT ours"].isna().all() and table["VIT difference"].isna().all()
    np.testing.assert_allclose(table["VIT report"][:7], [REPORT_TABLE1["vit"][s] for s in STATISTICS])
    # the CNN has phase 1 only, and no log: its logged rows are empty, never its measured ones in their place
    assert table.loc["phase1 train accuracy, last epoch's log", "CNN ours"] != table.loc["phase1 train accuracy, last epoch's log", "CNN ours"]
    assert table.loc["phase1 train accuracy, measured after training", "CNN ours"] == pytest.approx(0.9)
    phase2_rows = [s for s in table.index if s.startswith("phase2")]
    assert table.loc[phase2_rows, "CNN ours"].isna().all()
    assert table.loc["phase1 test accuracy", "CNN ours"] == pytest.approx(0.61)
    empty = table1({})
    assert empty[["CNN ours", "VIT ours", "CNN difference", "VIT difference"]].isna().all().all()
    assert empty.shape == (11, 6)


# --------------------------------------------------------------------------- results with provenance


@pytest.fixture
def prov():
    data = load_synthetic(5)
    return provenance(data, official_split(data.usage), "smoke", 1), data


def test_provenance_block(prov):
    block, data = prov
    assert PROVENANCE_KEYS <= set(block)
    assert block["data"] == data.name
    assert block["data_fingerprint"] == data.fingerprint and block["data_fingerprint"].startswith("synthetic-sha256:")
    assert block["synthetic"] is True
    assert block["split"] == official_split(data.usage).describe()
    assert "official" in block["split"]
    assert block["profile"] == "smoke" and block["seed"] == 1
    assert block["backend"] == keras.backend.backend()
    assert block["keras_version"] == keras.__version__
    assert block["device"] and block["commit"]
    assert block["started"] <= block["finished"]
    json.dumps(block)  # plain JSON


def test_save_results_round_trip(prov, tmp_path):
    block, _ = prov
    results = {
        "model": "cnn",
        "n": np.int64(3),
        "accuracy": np.float32(0.5),
        "confusion": np.eye(2, dtype=np.int64),
        "frame": pd.DataFrame({"a": [1, 2]}),
    }
    path = save_results(tmp_path / "metrics" / "cnn.json", results, block)
    assert path == tmp_path / "metrics" / "cnn.json"
    loaded = load_results(path)
    assert loaded == json.loads(path.read_text())
    assert loaded["model"] == "cnn" and loaded["n"] == 3 and loaded["accuracy"] == pytest.approx(0.5)
    assert loaded["confusion"] == [[1, 0], [0, 1]]
    assert loaded["frame"]["data"] == [[1], [2]]
    assert PROVENANCE_KEYS <= set(loaded["provenance"])
    assert loaded["provenance"] == json.loads(json.dumps(block))
    assert [p.name for p in path.parent.iterdir()] == ["cnn.json"]  # no temporary file left


def test_save_results_unserializable_leaves_no_file(prov, tmp_path):
    block, _ = prov
    target = tmp_path / "out" / "results.json"
    with pytest.raises(TypeError):
        save_results(target, {"model": object()}, block)
    assert not target.exists()
    assert not target.parent.exists() or list(target.parent.iterdir()) == []


def test_save_results_failing_write_keeps_the_old_file(prov, tmp_path, monkeypatch):
    block, _ = prov
    target = tmp_path / "results.json"
    save_results(target, {"version": 1}, block)
    before = target.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(ferlib.files.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_results(target, {"version": 2}, block)
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "ferlib-cache") == ["results.json"]

    fresh = tmp_path / "new" / "results.json"
    monkeypatch.setattr(ferlib.files.os, "replace", broken_replace)
    with pytest.raises(OSError):
        save_results(fresh, {"version": 1}, block)
    monkeypatch.undo()
    assert not fresh.exists()
    assert os.listdir(fresh.parent) == []

