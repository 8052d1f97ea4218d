"""Evaluation: accuracy and loss, predictions (with test-time augmentation), baselines,
confusion matrices and per-class metrics.

Metrics come from Keras (accuracy, loss) and scikit-learn (confusion matrix, per-class
precision and recall).
"""

from __future__ import annotations


import keras
import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from .fer2013 import EMOTIONS, NUM_CLASSES

def one_hot(labels: np.ndarray) -> np.ndarray:
    """Integer labels as float32 one-hot rows, the form categorical cross-entropy takes."""
    return keras.utils.to_categorical(labels, NUM_CLASSES).astype(np.float32)


def evaluate_model(model: keras.Model, arrays: dict[str, tuple[np.ndarray, np.ndarray]], batch_size: int = 256) -> dict[str, dict[str, float]]:
    """Accuracy and loss on each part: ``{"train": {"accuracy": .., "loss": ..}, ...}``."""
    results = {}
    for part, (x, y) in arrays.items():
        scores = model.evaluate(x, one_hot(y), batch_size=batch_size, verbose=0, return_dict=True)
        results[part] = {"accuracy": float(scores["accuracy"]), "loss": float(scores["loss"])}
    return results


def predict_labels(model: keras.Model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    return np.argmax(model.predict(x, batch_size=batch_size, verbose=0), axis=1)


def predict_with_tta(model: keras.Model, x: np.ndarray, shift: int = 2, batch_size: int = 256) -> np.ndarray:
    """Test-time augmentation: class probabilities averaged over the image, its mirror image
    and, with `shift` > 0, both moved by `shift` pixels left, right, up and down (edges
    repeated). Ten views per image with the default; `shift=0` averages the two flips."""
    x = np.asarray(x, np.float32)
    views = [x, x[:, :, ::-1]]
    if shift:
        for base in (x, x[:, :, ::-1]):
            padded = np.pad(base, ((0, 0), (shift, shift), (shift, shift), (0, 0)), mode="edge")
            size_y, size_x = x.shape[1], x.shape[2]
            for dy, dx in ((shift, 0), (shift, 2 * shift), (0, shift), (2 * shift, shift)):
                views.append(padded[:, dy:dy + size_y, dx:dx + size_x])
    total = np.zeros((len(x), NUM_CLASSES), np.float64)
    for view in views:
        total += model.predict(view, batch_size=batch_size, verbose=0)
    return (total / len(views)).astype(np.float32)


def majority_baseline(train_labels: np.ndarray, test_labels: np.ndarray) -> float:
    """Accuracy on `test_labels` of always answering the most common training emotion."""
    majority = np.bincount(train_labels, minlength=NUM_CLASSES).argmax()
    return float(np.mean(np.asarray(test_labels) == majority))


#: Accuracy of guessing uniformly among the seven emotions.
CHANCE = 1 / NUM_CLASSES


def confusion_frame(y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """Counts, rows = true emotion, columns = predicted emotion."""
    matrix = confusion_matrix(y_true, y_pred, labels=range(NUM_CLASSES))
    return pd.DataFrame(matrix, index=pd.Index(EMOTIONS, name="true"), columns=pd.Index(EMOTIONS, name="predicted"))


def per_class_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """Precision, recall, F1, support and correct predictions for each emotion."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=range(NUM_CLASSES), zero_division=0
    )
    correct = np.bincount(y_true[y_true == y_pred], minlength=NUM_CLASSES)
    return pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": support, "correct": correct},
        index=pd.Index(EMOTIONS, name="emotion"),
    )
