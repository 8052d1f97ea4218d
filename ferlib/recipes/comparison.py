"""The comparison page's numbers: Table 1 beside the report's, and every registered model's
final network class by class on the test images."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from ..evaluate import confusion_frame, per_class_metrics, predict_labels
from ..models import count_multiply_adds, count_params, display_name, model_names
from .phase2 import load_or_train_stage
from .report import table1, training_logs
from .run import Run


@dataclass
class Comparison:
    """What the comparison page shows: Table 1 beside the report's, and both final models
    class by class on the test images."""

    table1: pd.DataFrame  # the report's statistics (rows) for both models: ours, the report's, the difference
    results: dict[str, dict]  # model -> phase1/phase2 -> part -> {"accuracy", "loss"}
    confusion: dict[str, pd.DataFrame]  # display name ("CNN") -> counts, rows = true emotion
    per_class: dict[str, pd.DataFrame]  # display name -> precision, recall, f1, support, correct per emotion
    logs: dict[str, dict] = field(default_factory=dict)  # "cnn phase1" ... -> epochs, best_epoch, last epoch's log
    sizes: dict[str, dict] = field(default_factory=dict)  # model -> params, multiply_adds (per image)

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
            if {"cnn", "vit"} <= set(self.sizes):  # the report's two networks, as the chapters compare them
                values["params_ratio"] = self.sizes["cnn"]["params"] / self.sizes["vit"]["params"]
                values["multiply_adds_ratio"] = self.sizes["cnn"]["multiply_adds"] / self.sizes["vit"]["multiply_adds"]
        return values


def compare_models(run: Run) -> Comparison:
    """Everything the comparison page shows, from what notebooks 02-04 saved (or, for a
    notebook opened alone, what :func:`~ferlib.recipes.phase2.load_or_train_stage` trains on demand)."""
    results, confusion, per_class, sizes = {}, {}, {}, {}
    x_test, y_test = run.arrays["test"]
    for model in model_names():
        final = load_or_train_stage(run, model, "phase2")
        sizes[model] = {"params": count_params(final)["total"], "multiply_adds": count_multiply_adds(final)}
        results[model] = {"phase1": run.load_metrics(f"{model}_phase1")["scores"],
                          "phase2": run.load_metrics(f"{model}_phase2")["scores"]["after augmentation"]}
        predicted = predict_labels(final, x_test)
        label = display_name(model)
        confusion[label] = confusion_frame(y_test, predicted)
        per_class[label] = per_class_metrics(y_test, predicted)
    logs = training_logs(run.folder)
    comparison = Comparison(table1(results, logs), results, confusion, per_class, logs, sizes)
    run.save_metrics("comparison", {"table1": comparison.table1, "results": results,
                                    "baselines": run.baselines("test"), "sizes": sizes,
                                    "confusion": {k: v.values for k, v in confusion.items()},
                                    "per_class": comparison.per_class_long.to_dict(orient="records")})
    return comparison


@dataclass
class ComparisonTests:
    """Every test accuracy the comparison page compares, with its 95% interval, and the paired
    tests of the two models against each other and of each model's phase 1 against its phase 2."""

    intervals: pd.DataFrame  # model, phase, accuracy, low, high, images
    tests: list  # PairedTest, one per comparison

    def table(self) -> pd.DataFrame:
        """One row per paired test: what is compared, both accuracies, the discordant faces, p."""
        return pd.DataFrame([{"comparison": f"{t.first} vs {t.second}", "first": t.first_accuracy,
                              "second": t.second_accuracy, "only first right": t.only_first,
                              "only second right": t.only_second, "McNemar p": t.p_value,
                              "verdict": "beyond chance" if t.p_value < 0.05 else "not beyond chance"}
                             for t in self.tests])

    def by_name(self) -> dict:
        """The paired tests by what they compare: ``"CNN phase 2 vs ViT phase 2"`` ..."""
        return _by_name(self.tests)


def comparison_tests(run: Run) -> ComparisonTests:
    """Score phase 1 and phase 2 of the report's two models on the run's test images: the
    Wilson interval of each accuracy, and exact McNemar tests of CNN against ViT (each phase)
    and of phase 1 against phase 2 (each model), on the same faces."""
    from ..evaluate import interval, paired_test
    from .report import REPORT_TABLE1

    x, y = run.arrays["test"]
    correct, rows = {}, []
    for model in REPORT_TABLE1:  # the report's two networks
        for stage in ("phase1", "phase2"):
            right = predict_labels(load_or_train_stage(run, model, stage), x) == y
            name = f"{display_name(model)} {stage.replace('phase', 'phase ')}"
            correct[name] = right
            low, high = interval(float(right.mean()), len(y))
            rows.append({"model": display_name(model), "phase": stage.replace("phase", "phase "),
                         "accuracy": float(right.mean()), "low": low, "high": high, "images": len(y)})
    cnn, vit = (display_name(m) for m in REPORT_TABLE1)
    pairs = [(f"{cnn} phase 1", f"{vit} phase 1"), (f"{cnn} phase 2", f"{vit} phase 2"),
             (f"{cnn} phase 2", f"{cnn} phase 1"), (f"{vit} phase 2", f"{vit} phase 1")]
    tests = [paired_test(a, correct[a], b, correct[b], images="test") for a, b in pairs]
    # Saved beside the comparison, so that the published verdicts can be checked against them.
    run.save_metrics("comparison_tests", {"intervals": rows, "tests": [asdict(t) for t in tests]})
    return ComparisonTests(pd.DataFrame(rows), tests)


def load_comparison_tests(metrics: dict) -> dict:
    """:meth:`ComparisonTests.by_name` from the metrics :func:`comparison_tests` saved."""
    from ..evaluate import PairedTest

    return _by_name(PairedTest(**t) for t in metrics["tests"])


def _by_name(tests) -> dict:
    return {f"{t.first} vs {t.second}": t for t in tests}


def check_same_evaluation(comparison: Comparison, model: str, accuracy: float, loss: float, counts) -> None:
    """Raise AssertionError unless a page's own evaluation of `model`'s final network (test
    accuracy and loss from ``evaluate``, the confusion `counts` from scikit-learn) is what the
    comparison reports for it (its phase-2 test scores and confusion matrix)."""
    import numpy as np

    scores = comparison.results[model]["phase2"]["test"]
    differences = []
    if not np.isclose(accuracy, scores["accuracy"], atol=1e-6):
        differences.append(f"accuracy {accuracy:.6f}, the comparison's {scores['accuracy']:.6f}")
    if not np.isclose(loss, scores["loss"], rtol=1e-4):
        differences.append(f"loss {loss:.6f}, the comparison's {scores['loss']:.6f}")
    if not np.array_equal(np.asarray(counts), comparison.confusion[display_name(model)].to_numpy()):
        differences.append("the confusion matrices differ")
    assert not differences, f"the page's evaluation of {model} is not the comparison's: " + "; ".join(differences)
