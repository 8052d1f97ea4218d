"""Beyond the report: its two future-work ideas measured, test-time augmentation, the
labels' noise (FER+), baselines, and the standard FER2013 test set (notebook 07).

Every function takes a :class:`~ferlib.recipes.run.Run` whose phase-1 and phase-2 models
exist (or are trained on demand, see :func:`~ferlib.recipes.phase2.load_or_train_stage`) and
saves what it measured in the run's metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from sklearn.utils.class_weight import compute_class_weight

from ..clustering import cluster_features, map_2d
from ..fer2013 import EMOTIONS, NUM_CLASSES, FER2013NotFound, as_model_input
from ..evaluate import CHANCE, majority_baseline, majority_class, paired_test, per_class_metrics, predict_labels, predict_with_tta
from .phase2 import load_or_train_stage
from .run import Run
from ..display import GUESS, majority_label
from ..features import penultimate_features
from ..literature import LITERATURE
from ..models import display_name, model_names
from ..train import set_seed


# --------------------------------------------------------------------------- class weights


@dataclass
class ClassWeightResult:
    weights: dict[str, float]  # emotion -> weight
    per_class: pd.DataFrame  # rows: emotion; columns: (variant, precision/recall/f1)
    summary: pd.DataFrame  # rows: variant; accuracy, macro-F1, Disgust recall
    histories: dict[str, pd.DataFrame]
    # plain against weighted on the same test faces (exact McNemar): "accuracy" on all of
    # them, "Disgust recall" on the disgusted ones
    tests: dict = None


def class_weight_experiment(run: Run, learning_rate: float = 1e-4, verbose: int = 2) -> ClassWeightResult:
    """The CNN fine-tuned from its phase-1 model for the profile's ``beyond_epochs``, once with
    the plain loss and once with scikit-learn's balanced class weights (each emotion's loss
    scaled by n_images / (7 x n_images of that emotion)); same start, epochs, seed and
    augmentation. A small learning rate, because both start from a trained network."""
    y_train = run.arrays["train"][1]
    present = np.unique(y_train)
    balanced = compute_class_weight("balanced", classes=present, y=y_train)
    weights = {int(c): float(w) for c, w in zip(present, balanced)}
    config = run.train_config(run.profile.beyond_epochs, learning_rate=learning_rate, early_stopping_patience=None)
    x_test, y_test = run.arrays["test"]
    per_class, rows, histories, correct = {}, {}, {}, {}
    for variant, class_weight in (("plain loss", None), ("balanced class weights", weights)):
        model = load_or_train_stage(run, "cnn", "phase1")
        set_seed(run.seed)  # the same augmentation and dropout draws for both
        result = run.train(model, run.folder.beyond("class_weights_" + ("weighted" if class_weight else "plain")), config,
                           augment=True, class_weight=class_weight, verbose=verbose)
        predicted = predict_labels(result.model, x_test)
        metrics = per_class_metrics(y_test, predicted)
        per_class[variant] = metrics[["precision", "recall", "f1"]]
        rows[variant] = {"accuracy": float(np.mean(predicted == y_test)),
                         "macro-F1": float(f1_score(y_test, predicted, average="macro", labels=range(NUM_CLASSES),
                                                    zero_division=0)),
                         "Disgust recall": float(metrics.loc["Disgust", "recall"])}
        histories[variant] = result.history
        correct[variant] = predicted == y_test
    plain, weighted = correct["plain loss"], correct["balanced class weights"]
    disgust = y_test == EMOTIONS.index("Disgust")
    tests = {"accuracy": paired_test("plain loss", plain, "balanced class weights", weighted),
             "Disgust recall": paired_test("plain loss", plain[disgust], "balanced class weights", weighted[disgust],
                                           "disgusted test faces")}
    outcome = ClassWeightResult({EMOTIONS[c]: w for c, w in weights.items()}, pd.concat(per_class, axis=1),
                                pd.DataFrame(rows).T, histories, tests)
    run.save_metrics("class_weights", {"weights": outcome.weights, "summary": outcome.summary.to_dict(orient="index"),
                                       "epochs": run.profile.beyond_epochs, "learning_rate": learning_rate,
                                       "per_class": {v: f.to_dict(orient="index") for v, f in per_class.items()}})
    return outcome


# --------------------------------------------------------------------------- clustering


@dataclass
class ClusterResult:
    labels: np.ndarray  # the test images' emotions
    assignments: dict[str, np.ndarray]  # method -> cluster of each test image
    scores: pd.DataFrame  # method -> NMI, ARI, purity
    map: np.ndarray  # (N, 2) t-SNE map of the features
    rows: np.ndarray  # positions of the clustered images in the run's test part


def feature_clusters(run: Run, model: str = "cnn", max_images: int = 3000) -> ClusterResult:
    """The final `model`'s penultimate-layer features of (up to `max_images`) test images,
    clustered without labels into seven groups, and scored against the labels."""
    x_test, y_test = run.arrays["test"]
    rows = np.random.default_rng(run.seed).permutation(len(y_test))[:max_images]
    features = penultimate_features(load_or_train_stage(run, model, "phase2"), x_test[rows])
    assignments, scores = cluster_features(features, y_test[rows], seed=run.seed)
    outcome = ClusterResult(y_test[rows], assignments, scores, map_2d(features, seed=run.seed), rows)
    run.save_metrics(f"{model}_clusters", {"images": len(rows), "scores": scores.to_dict(orient="index")})
    return outcome


def cluster_majorities(result: ClusterResult, method: str = "k-means") -> dict[int, int]:
    """Each cluster's most common emotion (its code), by cluster number."""
    clusters = result.assignments[method]
    return {int(c): majority_class(result.labels[clusters == c])
            for c in np.unique(clusters)}


def cluster_disagreements(result: ClusterResult, method: str = "k-means", n: int = 12) -> np.ndarray:
    """Positions (into the clustered images) of images whose cluster's majority emotion is
    not their label, the same few from each cluster."""
    clusters = result.assignments[method]
    majorities = cluster_majorities(result, method)
    per_cluster = max(1, -(-n // len(majorities)))  # ceil: n faces in all where the clusters allow
    picked = [np.flatnonzero((clusters == c) & (result.labels != majority))[:per_cluster]
              for c, majority in majorities.items()]
    return np.concatenate(picked)[:n] if picked else np.array([], int)


# --------------------------------------------------------------------------- TTA, official test


def private_test(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """The challenge's ``PrivateTest`` images, the test set published FER2013 results use.

    A smoke run takes its ``subset`` share of them (drawn with its seed), as it does of its
    split: ten views of all 3,589 faces for each model would be most of a smoke run's time.
    """
    rows = np.flatnonzero(run.dataset.usage == "PrivateTest")
    if run.profile_name == "smoke" and len(rows):
        share = max(1, round(run.profile.subset * len(rows)))
        rows = np.sort(np.random.default_rng(run.seed).choice(rows, size=share, replace=False))
    return as_model_input(run.dataset.images[rows]), run.dataset.labels[rows]


def tta_scores(run: Run) -> pd.DataFrame:
    """Both final models' accuracy on this run's test images and on ``PrivateTest``, plain,
    with flip averaging, and with flip and 2-pixel shift averaging; ``p``: the exact McNemar
    test of plain against flip and shifts on the same images."""
    sets = {"run's test images": run.arrays["test"]}
    if not run.dataset.is_synthetic:
        sets["PrivateTest"] = private_test(run)
    rows = []
    for model in model_names():
        net = load_or_train_stage(run, model, "phase2")
        for name, (x, y) in sets.items():
            if len(y) == 0:
                continue
            plain, views = predict_labels(net, x) == y, predict_with_tta(net, x, shift=2).argmax(1) == y
            rows.append({"model": display_name(model), "test set": name, "images": len(y),
                         "plain": float(np.mean(plain)),
                         "flip": float(np.mean(predict_with_tta(net, x, shift=0).argmax(1) == y)),
                         "flip + shifts": float(np.mean(views)),
                         "p": paired_test("plain", plain, "flip + shifts", views, name).p_value})
    frame = pd.DataFrame(rows)
    run.save_metrics("tta", {"scores": frame.to_dict(orient="records")})
    return frame


def private_test_glue_values(tta: pd.DataFrame) -> dict[str, float]:
    """What the chapters quote of :func:`tta_scores` on ``PrivateTest``: ``<model>_private_plain``
    and ``<model>_private_tta`` (flip + shifts) for every registered model; NaN where the run
    has no PrivateTest images (synthetic data)."""
    private = tta[tta["test set"] == "PrivateTest"].set_index("model")
    values = {}
    for model in model_names():
        row = private.reindex([display_name(model)]).iloc[0]
        values[f"{model}_private_plain"] = float(row["plain"])
        values[f"{model}_private_tta"] = float(row["flip + shifts"])
    return values


def tta_baselines(run: Run, tta: pd.DataFrame) -> pd.DataFrame:
    """Rows to set under a :func:`tta_scores` table: on each of its test sets, the accuracy
    of always answering the most common training emotion and of guessing. Neither looks at
    the image, so every column of views holds the same number."""
    rows = []
    for name in tta["test set"].unique():
        y = private_test(run)[1] if name == "PrivateTest" else run.arrays["test"][1]
        for label, accuracy in ((majority_label(run.arrays["train"][1]), majority_baseline(run.arrays["train"][1], y)), (GUESS, CHANCE)):
            rows.append({"model": label, "test set": name, "images": len(y),
                         **{views: accuracy for views in ("plain", "flip", "flip + shifts")}})
    return pd.DataFrame(rows, columns=tta.columns)


def literature_table(run: Run, tta: pd.DataFrame) -> pd.DataFrame:
    """This run's final models on ``PrivateTest`` (alone and with flip + shift averaging,
    from :func:`tta_scores`) among the published results (:data:`ferlib.literature.LITERATURE`,
    each on its own protocol) and the two baselines, best first."""
    rows = [{"model": record.model, "accuracy": record.accuracy, "source": record.paper, "this run": False}
            for record in LITERATURE]
    private = tta[tta["test set"] == "PrivateTest"]
    for _, row in private.iterrows():
        rows.append({"model": f"This book's {row['model']}", "accuracy": row["plain"], "source": "this run",
                     "this run": True})
        rows.append({"model": f"This book's {row['model']}, ten views averaged", "accuracy": row["flip + shifts"],
                     "source": "this run", "this run": True})
    if len(private):
        _, y_private = private_test(run)
        label = majority_label(run.arrays["train"][1])
        rows.append({"model": label[0].upper() + label[1:], "source": "this run", "this run": True,
                     "accuracy": majority_baseline(run.arrays["train"][1], y_private)})
    rows.append({"model": "Guessing among seven", "accuracy": CHANCE, "source": "", "this run": False})
    return pd.DataFrame(rows).sort_values("accuracy", ascending=False, kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- FER+


@dataclass
class FERPlusResult:
    agreement: pd.DataFrame  # per emotion: images with a FER+ label, share that agrees with FER2013
    ferplus_labels: np.ndarray  # FER+ majority for every row of the data (-1: none)
    scores: pd.DataFrame  # per model: test accuracy against FER2013's labels and against FER+'s


def ferplus_study(run: Run) -> FERPlusResult | None:
    """How often FER2013's label agrees with the FER+ annotators' majority (all rows), and
    both final models scored against each on the run's test images (rows with a FER+ label).
    None when the run's data are not the original FER2013 CSV or FER+ cannot be found."""
    from ..data.ferplus import agreement, check_aligned, load_ferplus

    if run.dataset.format != "csv":
        return None
    try:
        ferplus = load_ferplus()
    except FER2013NotFound:
        return None
    check_aligned(ferplus, run.dataset)
    votes = ferplus.majority()
    table = agreement(run.dataset.labels, votes)
    x_test, y_test = run.arrays["test"]
    test_plus = votes[run.split.test]
    valid = test_plus >= 0
    rows = []
    for model in model_names():
        predicted = predict_labels(load_or_train_stage(run, model, "phase2"), x_test)
        rows.append({"model": display_name(model), "images": int(valid.sum()),
                     "vs FER2013 labels": float(np.mean(predicted[valid] == y_test[valid])),
                     "vs FER+ majority": float(np.mean(predicted[valid] == test_plus[valid]))})
    rows.append({"model": "FER2013's own labels", "images": int(valid.sum()), "vs FER2013 labels": 1.0,
                 "vs FER+ majority": float(np.mean(y_test[valid] == test_plus[valid]))})
    majority = majority_class(run.arrays["train"][1])
    rows.append({"model": majority_label(run.arrays["train"][1]), "images": int(valid.sum()),
                 "vs FER2013 labels": float(np.mean(y_test[valid] == majority)),
                 "vs FER+ majority": float(np.mean(test_plus[valid] == majority))})
    rows.append({"model": GUESS, "images": int(valid.sum()), "vs FER2013 labels": CHANCE, "vs FER+ majority": CHANCE})
    outcome = FERPlusResult(table, votes, pd.DataFrame(rows))
    run.save_metrics("ferplus", {"agreement": table.reset_index().to_dict(orient="records"),
                                 "scores": outcome.scores.to_dict(orient="records")})
    return outcome


def hard_sample_disputes(run: Run, ferplus: FERPlusResult) -> pd.DataFrame:
    """For each report model, how many of its phase-2 hard samples (the training faces its
    phase-1 network got wrong) carry a FER2013 label that the FER+ majority disputes, beside
    the share among all training faces with a FER+ label, and Fisher's exact test of the two
    shares (are the hard samples richer in disputed labels than the training part?)."""
    from scipy.stats import fisher_exact

    from .report import REPORT_TABLE1

    rows_of_train = np.asarray(run.split.train)
    votes = ferplus.ferplus_labels[rows_of_train]
    labels = run.dataset.labels[rows_of_train]
    voted = votes >= 0
    disputed = voted & (votes != labels)
    table = []
    for model in REPORT_TABLE1:
        load_or_train_stage(run, model, "phase2")  # phase 2 saves the hard samples it used
        hard = np.zeros(len(rows_of_train), bool)
        hard[np.load(run.folder.hard_indices(model))] = True
        a, b = int((disputed & hard).sum()), int((voted & hard & ~disputed).sum())
        c, d = int((disputed & ~hard).sum()), int((voted & ~hard & ~disputed).sum())
        p = float(fisher_exact([[a, b], [c, d]], alternative="greater").pvalue) if min(a + b, c + d) else float("nan")
        table.append({"model": display_name(model), "hard samples": a + b, "hard, disputed": a / max(a + b, 1),
                      "others, disputed": c / max(c + d, 1), "Fisher p": p})
    return pd.DataFrame(table)
