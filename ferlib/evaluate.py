"""Evaluation: accuracy and loss, predictions (with test-time augmentation), baselines,
confusion matrices and per-class metrics.

Metrics come from Keras (accuracy, loss) and scikit-learn (confusion matrix, per-class
precision and recall).
"""

from __future__ import annotations


import keras
import numpy as np
import pandas as pd
from dataclasses import dataclass

from scipy.stats import binomtest, ttest_ind
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


def labels_text(labels: np.ndarray) -> str:
    """Predicted labels as one digit per face ("3420…"): a run keeps its test answers in git
    this way, a few kilobytes, so that its paired tests outlive its weights."""
    labels = np.asarray(labels)
    if labels.size and not (0 <= labels.min() and labels.max() < NUM_CLASSES):
        raise ValueError(f"labels must be emotion codes 0 to {NUM_CLASSES - 1}")
    return "".join(map(str, labels.tolist()))


def labels_from_text(digits: str) -> np.ndarray:
    """The labels :func:`labels_text` wrote."""
    return np.frombuffer(digits.encode(), dtype=np.uint8).astype(np.int64) - ord("0")


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


def predict_flip_pair(model: keras.Model, x: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities for each face of `x`, plain and averaged with its mirror image, from
    two passes: to the bit what ``model.predict(x)`` and ``predict_with_tta(model, x, shift=0)``
    give, which called one after the other take three."""
    x = np.asarray(x, np.float32)
    plain = model.predict(x, batch_size=batch_size, verbose=0)
    total = np.zeros((len(x), NUM_CLASSES), np.float64)
    for probabilities in (plain, model.predict(x[:, :, ::-1], batch_size=batch_size, verbose=0)):
        total += probabilities  # in predict_with_tta's order and precision
    return plain, (total / 2).astype(np.float32)


def majority_class(labels) -> int:
    """The most common emotion's index among `labels` (the lowest index on a tie)."""
    return int(np.bincount(np.asarray(labels), minlength=NUM_CLASSES).argmax())


def majority_baseline(train_labels: np.ndarray, test_labels: np.ndarray) -> float:
    """Accuracy on `test_labels` of always answering the most common training emotion."""
    return float(np.mean(np.asarray(test_labels) == majority_class(train_labels)))


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


def interval(accuracy: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """The Wilson interval of an accuracy measured on `n` images."""
    ci = binomtest(int(round(accuracy * n)), n).proportion_ci(level, method="wilson")
    return float(ci.low), float(ci.high)


def above_rate_p_value(accuracy: float, n: int, rate: float) -> float:
    """The one-sided exact binomial test that an accuracy measured on `n` images beats `rate`
    (the always-majority rate, say): the p-value."""
    return float(binomtest(int(round(accuracy * n)), n, rate, alternative="greater").pvalue)


def seeds_p_value(first, second) -> float:
    """Welch's t-test between two recipes' accuracies, one per seed: whether their means differ
    by more than the seeds' own spread allows (nan with fewer than two seeds on either side).
    A paired test on one network of each sees only the test faces' noise, not the seeds'."""
    first, second = np.asarray(first, float), np.asarray(second, float)
    if len(first) < 2 or len(second) < 2:
        return float("nan")
    return float(ttest_ind(first, second, equal_var=False).pvalue)


def stratified_permutation_p_value(values, in_group, strata, max_exact: int = 200_000, draws: int = 20_000) -> float:
    """Whether a group's values differ from the rest's within strata (the two-sided p-value).

    The statistic sums, over each stratum that holds both groups, the group's mean minus the
    rest's; the null relabels the group within each stratum. Every relabelling is counted when
    there are at most `max_exact`, otherwise `draws` random ones are (seeded, so the answer repeats).
    """
    from itertools import combinations, product
    from math import comb, prod

    values, in_group, strata = np.asarray(values, float), np.asarray(in_group, bool), np.asarray(strata)
    parts = []  # each stratum that holds both groups: its values and its group mask
    for stratum in np.unique(strata):
        where = strata == stratum
        if 0 < in_group[where].sum() < where.sum():
            parts.append((values[where], in_group[where]))
    if not parts:
        raise ValueError("no stratum holds both groups: there is nothing to compare")

    def statistic(masks) -> float:
        return abs(sum(vals[mask].mean() - vals[~mask].mean() for (vals, _), mask in zip(parts, masks)))

    def mask(size: int, chosen) -> np.ndarray:
        out = np.zeros(size, bool)
        out[list(chosen)] = True
        return out

    observed = statistic([group for _, group in parts])
    sizes = [(len(vals), int(group.sum())) for vals, group in parts]
    if prod(comb(n, k) for n, k in sizes) <= max_exact:
        relabellings = product(*(combinations(range(n), k) for n, k in sizes))
        stats = [statistic([mask(n, c) for (n, _), c in zip(sizes, choice)]) for choice in relabellings]
    else:
        rng = np.random.default_rng(0)
        stats = [statistic([mask(n, rng.choice(n, k, replace=False)) for n, k in sizes]) for _ in range(draws)]
    return float(np.mean(np.asarray(stats) >= observed - 1e-12))


@dataclass
class PairedTest:
    """Two models scored on the same images: their accuracies, the images only one of them
    gets right, and the exact McNemar test of the difference."""

    first: str
    second: str
    first_accuracy: float
    second_accuracy: float
    only_first: int
    only_second: int
    p_value: float
    images: str = "PrivateTest"  # what the images are, for the sentence

    def sentence(self, level: float = 0.05) -> str:
        scores = (f"{self.first} scores {self.first_accuracy:.1%} and {self.second} {self.second_accuracy:.1%} on the "
                  f"same {self.images} images")
        scores = scores[:1].upper() + scores[1:]  # a sentence may open with "our final model"
        if self.only_first + self.only_second == 0:
            return f"{scores}, right on exactly the same faces: there is no difference to test."
        verdict = ("not beyond chance" if self.p_value >= level else
                   f"{self.first} {'better' if self.first_accuracy > self.second_accuracy else 'worse'}, beyond chance")
        return (f"{scores}: {self.only_first:,} faces only {self.first} gets right, {self.only_second:,} only "
                f"{self.second} (exact McNemar test, p = {self.p_value:.2g}): {verdict}.")


def select_ensemble(probabilities: dict[str, np.ndarray], y: np.ndarray, max_members: int = 5) -> list[str]:
    """Members of a small ensemble, chosen on the labelled images `y` by greedy forward
    selection (Caruana et al., 2004): the best single model first, then, one at a time, the
    model whose probabilities, averaged with the members', most raise the accuracy, until no
    model raises it or `max_members` are in. `probabilities` maps each candidate's name to its
    (images, classes) probabilities on those images; ties go to the earlier name. Choose on a
    validation part and score the average of the members' probabilities once on a test part."""
    if not probabilities:
        raise ValueError("no candidate models to choose an ensemble from")
    y = np.asarray(y)
    names = sorted(probabilities)

    def score(members: list[str]) -> float:
        averaged = np.mean([probabilities[name] for name in members], axis=0)
        return float(np.mean(averaged.argmax(axis=1) == y))

    members = [max(names, key=lambda name: (score([name]), -names.index(name)))]
    best = score(members)
    while len(members) < max_members:
        scores = {name: score(members + [name]) for name in names if name not in members}
        if not scores:
            break
        name = max(scores, key=lambda n: (scores[n], -names.index(n)))
        if scores[name] <= best:
            break
        members.append(name)
        best = scores[name]
    return members


def paired_test(first: str, first_correct: np.ndarray, second: str, second_correct: np.ndarray,
                images: str = "PrivateTest") -> PairedTest:
    """The exact McNemar test of two models' per-image correctness on the same images."""
    first_correct, second_correct = np.asarray(first_correct, bool), np.asarray(second_correct, bool)
    only_first = int(np.sum(first_correct & ~second_correct))
    only_second = int(np.sum(second_correct & ~first_correct))
    discordant = only_first + only_second
    p_value = 1.0 if discordant == 0 else float(binomtest(only_first, discordant, 0.5).pvalue)
    return PairedTest(first, second, float(first_correct.mean()), float(second_correct.mean()),
                      only_first, only_second, p_value, images)
