"""The report's published numbers, and its Table 1 rebuilt beside a run's.

Everything here is quoted from the report (its section 5.3 and 6.2); a run's own numbers
come from :mod:`ferlib.evaluate`.
"""

from __future__ import annotations

import pandas as pd

from ..files import read_json
from ..models import model_names
from ..runfolder import RunFolder
from ..train import read_history

#: The report's Table 1 (section 5.3), as printed there ("06289" read as 0.6289).
REPORT_TABLE1: dict[str, dict[str, float]] = {
    "cnn": {
        "phase1 train accuracy": 0.9832,
        "phase1 val accuracy": 0.6202,
        "phase1 test accuracy": 0.6289,
        "phase2 train accuracy": 0.8042,
        "phase2 val accuracy": 0.6652,
        "phase2 test accuracy": 0.6472,
        "final test loss": 0.9814,
    },
    "vit": {
        "phase1 train accuracy": 0.5202,
        "phase1 val accuracy": 0.3807,
        "phase1 test accuracy": 0.3962,
        "phase2 train accuracy": 0.4295,
        "phase2 val accuracy": 0.4151,
        "phase2 test accuracy": 0.4187,
        "final test loss": 1.5021,
    },
}
#: What the report's training logs showed at the last epoch of each training (5.1-5.3): its
#: Table 1 training (and phase-1 validation) accuracy are these last-epoch log figures,
#: measured with dropout active and, as far as the text tells, with the last epoch's weights.
#: The ViT's "20 epochs" of phase 2 may count the hard-sample step; the text does not say.
REPORT_TRAININGS: dict[str, dict[str, float]] = {
    "cnn phase1": {"epochs": 42, "accuracy": 0.9832, "loss": 0.1858, "val_accuracy": 0.6202, "val_loss": 1.9669},
    "vit phase1": {"epochs": 51, "accuracy": 0.5202, "loss": 1.2982, "val_accuracy": 0.3807, "val_loss": 1.6457},
    "cnn augmentation": {"epochs": 13, "accuracy": 0.8042, "loss": 0.9100, "val_accuracy": 0.6652, "val_loss": 0.8989},
    "vit augmentation": {"epochs": 20, "accuracy": 0.4295, "loss": 1.6035, "val_accuracy": 0.4151},
}
#: What the report says of its phase-1 learning-rate schedule (ReduceLROnPlateau, x0.9): the
#: CNN's rate fell to 0.0009 at epoch 25 and to 0.00081 at epoch 31, the ViT's from 0.001 to
#: 0.00053144 (six reductions) by epoch 51.
REPORT_SCHEDULES = {"cnn": "at epochs 25 and 31 (the report names no later reduction)",
                    "vit": "six times, to 0.00053144 by epoch 51"}
#: Which configurations of the ViT tuning story (5.2) the report saw learn, by
#: ``ViTConfig.label``: the 128- and 64-dimensional ones stagnated, the 32- and 16-dimensional
#: ones learned.
REPORT_TUNING_LEARNED: dict[str, bool] = {
    "6 layers / 6 heads / dim 128": False,
    "6 layers / 6 heads / dim 64": False,
    "4 layers / 4 heads / dim 64": False,
    "4 layers / 4 heads / dim 32": True,
    "4 layers / 4 heads / dim 16": True,
}
#: Correct test predictions per class that the report quotes (6.2).
REPORT_CORRECT_COUNTS = {"cnn": {"Angry": 379, "Disgust": 36}, "vit": {"Angry": 31, "Disgust": 0}}


def report_glue_values() -> dict[str, float]:
    """The report's Table 1 accuracies by the names the pages quote them:
    ``report_cnn_p1_test_acc`` ... ``report_vit_p2_train_acc``."""
    values = {}
    for model, statistics in REPORT_TABLE1.items():
        for statistic, value in statistics.items():
            if statistic.endswith("accuracy"):
                phase, part, _ = statistic.split()
                values[f"report_{model}_p{phase[-1]}_{part}_acc"] = value
    return values


#: Table 1's statistics that the report read from its training logs' last epoch
#: (:data:`REPORT_TRAININGS`), each with the training and the log's column that give ours
#: like with like.
LOGGED: dict[str, tuple[str, str]] = {
    "phase1 train accuracy": ("phase1", "accuracy"), "phase1 val accuracy": ("phase1", "val_accuracy"),
    "phase2 train accuracy": ("augmentation", "accuracy"), "phase2 val accuracy": ("augmentation", "val_accuracy"),
}
#: How Table 1 names a logged statistic, and the same statistic measured after training.
LOG_ROW, MEASURED_ROW = "{}, last epoch's log", "{}, measured after training"


def table1_rows() -> list[str]:
    """Table 1's rows: the report's seven statistics (those it read from its training logs
    named as such), then our logged statistics measured after training, which the report
    does not give."""
    rows = [LOG_ROW.format(s) if s in LOGGED else s for s in REPORT_TABLE1["cnn"]]
    return rows + [MEASURED_ROW.format(s) for s in LOGGED]


def table1(results: dict[str, dict], logs: dict[str, dict] | None = None) -> pd.DataFrame:
    """The report's Table 1 rebuilt: the report's, ours beside it, and the difference (the
    order of the reproduction page and the conclusion), like with like.

    The report's training and validation accuracies are its logs' last epoch, with dropout on
    (:data:`LOGGED`), so ours in those rows come from `logs` (:func:`training_logs`: ``"cnn
    phase1"`` -> the last epoch's log); without a log those cells are empty. Our accuracies
    measured after training (dropout off, the best epoch's weights) follow in rows of their own,
    with no report value and no difference. `results` maps each model (``"cnn"``, ``"vit"``, any
    registered one) to ``{"phase1": evaluate_model(...), "phase2": ...}``; the report's two
    models come first, with or without results. Columns are ``"<MODEL> report"``,
    ``"<MODEL> ours"``, ``"<MODEL> difference"``.
    """
    logs = logs or {}
    models = list(REPORT_TABLE1) + [m for m in results if m not in REPORT_TABLE1]
    columns = {}
    for model in models:
        ours, report = results.get(model, {}), REPORT_TABLE1.get(model, {})
        values, theirs = [], []
        for statistic in REPORT_TABLE1["cnn"]:
            if statistic in LOGGED:
                training, column = LOGGED[statistic]
                values.append(logs.get(f"{model} {training}", {}).get(column))
            else:
                values.append(statistic_value(ours, statistic))
            theirs.append(report.get(statistic))
        values += [statistic_value(ours, statistic) for statistic in LOGGED]
        theirs += [None] * len(LOGGED)
        columns[f"{model.upper()} report"] = theirs
        columns[f"{model.upper()} ours"] = values
        columns[f"{model.upper()} difference"] = [None if v is None or t is None else v - t for v, t in zip(values, theirs)]
    frame = pd.DataFrame(columns, index=pd.Index(table1_rows(), name="statistic"))
    return frame.astype(float)


def statistic_value(results: dict, statistic: str) -> float | None:
    """One model's value of a Table 1 `statistic` (``"phase1 test accuracy"``, ``"final test
    loss"``) from its results (phase -> part -> accuracy/loss); None where the results lack it."""
    if statistic == "final test loss":  # the report's is the loss after phase 2
        return results.get("phase2", {}).get("test", {}).get("loss")
    phase, part, _ = statistic.split()
    return results.get(phase, {}).get(part, {}).get("accuracy")


def differences(results: dict) -> dict[tuple[str, str], float]:
    """Ours minus the report's for every Table 1 statistic the results hold, by (model,
    statistic); accuracies in fractions, so 0.03 is three points."""
    found = {}
    for model, report in REPORT_TABLE1.items():
        for statistic, theirs in report.items():
            ours = statistic_value(results.get(model, {}), statistic)
            if ours is not None:
                found[model, statistic] = ours - theirs
    return found


def training_logs(folder: RunFolder) -> dict[str, dict]:
    """Each model's phase-1 training and phase-2 augmentation round as its log tells it:
    epochs trained, the best epoch (whose weights were kept), and the last epoch's training
    and validation figures, the ones the report's text quotes."""
    logs = {}
    for model in model_names():
        for stage, path in (("phase1", folder.phase1(model)), ("augmentation", folder.phase2(model, "augmentation"))):
            info = read_json(path / "train.json")
            history = read_history(path)
            if info is None or history.empty:
                continue
            last = history.iloc[-1]
            logs[f"{model} {stage}"] = {"epochs": int(info["epochs"]), "best_epoch": info.get("best_epoch"),
                                        **{key: float(last[key]) for key in ("accuracy", "loss", "val_accuracy", "val_loss")}}
    return logs
