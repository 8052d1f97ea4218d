"""ferlib: FER2013, the report's CNN and ViT, training, evaluation and plots, in one import.

    import ferlib as fl
    run = fl.prepare_run(data="auto", profile="smoke")
    result, scores = fl.train_phase1(run, "cnn")
    fl.plot_training_curves(result.history, baseline=run.baseline())

Three layers, each importing only from the ones below it:

* **the science**: ``fer2013`` (the data set's facts), ``data`` (loading, by source: the
  challenge CSV, image folders, Kaggle and the cache, synthetic faces, FER+), ``splits``,
  ``augment``, ``models``, ``train``, ``evaluate``, ``features``, ``clustering``,
  ``predict``, ``shipped`` (the model inside the package), ``plots``;
* **the report's recipes** (``recipes``): ``run`` (profiles, precision, a run and its
  set-up), ``readings``, ``precision`` (the precision check), ``phase1`` (with the ViT tuning
  story), ``phase2``, ``comparison``, ``report`` (the report's published numbers, Table 1),
  ``beyond`` (the future work, measured), ``fast`` (the fast recipe) and ``closing_gap``
  (page 8: the fast recipe against the literature), ``vit_question`` (page 9: the report's
  explanation of the ViT's loss, tested), ``tuning`` (its transformer search with KerasTuner,
  on one machine or several), ``ship`` (makes the shipped model), ``pages``
  (what a results page asks: set-up and glue), ``verdicts`` (the sentences that interpret
  a run, made from its numbers);
* **the tooling** (``tooling``): ``pipeline`` (papermill), ``publish`` (the book), ``cli``
  (the ``ferlib`` command).

Under all three: ``files`` (atomic writing), ``runfolder`` (a run's folder), ``provenance``
(what made a result), ``literature`` (published FER2013 results and their protocols) and
``peers`` (the `fer` package's network, scored in our harness). Names are imported on first
use, so ``ferlib status`` and the command line start without loading TensorFlow.

Words used one way throughout:

model        a registered network (``ferlib.models.registry``): ``"cnn"`` and ``"vit"``, the
             report's two, and any other registered; ``model_names()`` lists them.
reading      one way of filling the choices the report's text leaves open (``CNN_READINGS``,
             ``VIT_READINGS``); a run trains each briefly and keeps one.
precision    the Keras dtype policy a model computes in (``float32``, ``mixed_bfloat16``).
phase 1      the report's first training (section 5.1/5.2).
phase 2      the report's fix for overfitting (5.3): the hard samples, then the
             augmentation round. A *stage* (``phase1``, ``phase2``) names a saved model.
training     one fit, resumable, in its own folder (``history.csv``, ``checkpoints/``,
             ``model.keras``, ``train.json``).
profile      how big a run is: ``smoke``, ``cpu`` or ``full``.
run          one execution of the notebooks at one profile; its *run folder*
             (``RunFolder``) holds everything, its *run card* (``run.json``) says what made it.
split        ``report`` or ``official``: which images train, validate and test. Its *parts*
             are ``train``, ``val`` and ``test`` (row indices); ``Run.arrays`` holds each
             part's ``(images, labels)`` as the models take them.
data         where FER2013 comes from (``data="auto"``, a path, ``"kaggle"``,
             ``"synthetic"``), and the package that loads it (``ferlib.data``).
dataset      the loaded data: a ``FER2013`` object (``Run.dataset``); its ``format`` says
             how it was stored (``csv``, ``folder``, ``synthetic``).
baseline     the accuracy of always answering the most common training emotion.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# name -> the module that owns it (imported on first use)
_OWNERS = {
    "fer2013": ("EMOTIONS", "NUM_CLASSES", "IMAGE_SIZE", "FER2013", "FER2013Error", "FER2013NotFound",
                "as_model_input", "equalize_histogram"),
    "data": ("find_fer2013", "load_data", "load_fer2013", "load_synthetic"),
    "augment": ("BatchSequence", "RandomAffine", "augment_examples", "make_augmenter"),
    "evaluate": ("confusion_frame", "evaluate_model", "majority_baseline", "majority_class", "per_class_metrics", "predict_labels",
                 "select_ensemble"),
    "recipes.report": ("REPORT_CORRECT_COUNTS", "REPORT_TABLE1", "REPORT_TRAININGS", "table1"),
    "recipes.run": ("PROFILES", "Run", "choose_precision", "prepare_run"),
    "recipes.readings": ("build_for_run", "load_or_compare_readings", "compare_readings"),
    "recipes.precision": ("compare_precision",),
    "recipes.phase1": ("train_phase1", "vit_tuning_story"),
    "recipes.comparison": ("Comparison", "ComparisonTests", "compare_models", "comparison_tests"),
    "recipes.pages": ("glue", "glue_values", "setup_notebook", "with_baselines"),
    "recipes.phase2": ("hard_sample_indices", "load_or_train_stage", "run_phase2", "train_phase2"),
    "recipes.verdicts": ("comparison_verdicts", "difference_verdicts", "fit_story", "map_border_verdict", "fit_verdict", "phase2_verdict", "hard_sample_verdict", "ranking_verdict", "attention_verdict",
                         "tuning_verdict", "schedule_verdict", "class_weight_verdict", "cluster_verdict", "reading_verdict",
                         "precision_verdict", "release_of", "release_sentence", "ferplus_verdict", "too_small",
                         "tta_verdict", "gap_verdict", "ablation_verdict", "best_goal_verdict", "ensemble_verdict", "per_class_verdict", "activation_verdict", "dispute_verdict",
                         "vit_question_verdict"),
    "features": ("attention_rollout", "border_share", "border_shares", "cnn_feature_maps", "grad_cam", "vit_attention_map", "vit_block_activations"),
    "models": ("CNN_READINGS", "READING_NOTES", "READINGS", "VIT_READINGS", "VIT_TUNING_STORY", "ViTConfig",
               "CNNConfig", "ModelSpec", "display_name", "model_names", "model_spec", "register_model",
               "FusedBatchNormalization", "build_cnn", "build_model", "build_vit", "count_multiply_adds", "count_params",
               "load_model", "model_summary", "model_table"),
    "plots": ("plot_class_samples", "plot_class_balance", "plot_accuracies", "plot_augmentation_grid",
              "plot_cluster_map", "plot_face_grid", "plot_equalization", "plot_training_curves",
              "plot_confusion_matrices", "plot_per_class", "plot_feature_maps", "plot_activation_bars",
              "plot_architecture", "plot_attention", "plot_tuning_results", "plot_accuracy_against_time", "plot_learning_rate",
              "plot_with_intervals", "plot_accuracy_against_cost", "plot_where_models_look"),
    "display": ("GUESS", "describe_params", "majority_label", "style_literature_table", "style_published", "style_ablation",
                "style_seeds", "style_table", "style_table1", "style_contenders", "style_question", "style_trials"),
    "splits": ("check_disjoint", "class_distribution", "duplicate_report", "official_split", "report_split"),
    "runfolder": ("RunFolder",),
    "train": ("TrainConfig", "learning_rate_drops", "read_history", "report_callbacks", "set_seed", "train_model"),
}
_WHERE = {name: module for module, names in _OWNERS.items() for name in names}
# Modules reached as attributes (``fl.beyond.tta_scores``, ``fl.predict.predict_photo``).
_MODULES = {"beyond": "recipes.beyond", "predict": "predict", "ferplus": "data.ferplus",
            "closing_gap": "recipes.closing_gap", "fast": "recipes.fast", "literature": "literature",
            "shipped": "shipped", "phase1": "recipes.phase1", "course": "recipes.course",
            "augment": "augment", "phase2": "recipes.phase2", "comparison": "recipes.comparison",
            "vit_question": "recipes.vit_question", "tuning": "recipes.tuning"}

__all__ = sorted(_WHERE) + sorted(_MODULES)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    elif name in _MODULES:
        value = importlib.import_module(f".{_MODULES[name]}", __name__)
    else:
        raise AttributeError(f"module 'ferlib' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
