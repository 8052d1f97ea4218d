"""ferlib: FER2013, the report's CNN and ViT, training, evaluation and plots, in one import.

    import ferlib as fl
    run = fl.prepare_run(data="auto", profile="smoke")
    result, scores = fl.train_phase1(run, "cnn")
    fl.plot_training_curves(result.history, baseline=run.baseline())

Three layers. The science: ``data`` (FER2013 and how it is found and read), ``ferplus``,
``splits``, ``augment``, ``models``, ``train``, ``evaluate``, ``features``, ``clustering``,
``predict``, ``plots``. The report's recipes: ``experiments`` (phase 1, readings, the ViT
tuning story, the comparison), ``phase2``, ``beyond`` (the future work, measured). The
tooling: ``runfolder``, ``files``, ``provenance``, ``pipeline`` (papermill and the book),
``cli`` (the ``ferlib`` command).

Words used one way throughout:

model        ``"cnn"`` or ``"vit"``: one of the report's two networks.
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
             ``"synthetic"``); a ``FER2013`` object is the loaded data set, and its ``kind``
             the format it was read from (``csv``, ``folder``, ``synthetic``).
baseline     the accuracy of always answering the most common training emotion.
"""

from .augment import BatchSequence, augment_examples, make_augmenter
from .data import (
    EMOTIONS,
    FER2013,
    FER2013Error,
    FER2013NotFound,
    find_fer2013,
    load_data,
    load_fer2013,
    equalize_histogram,
    load_synthetic,
)
from .evaluate import (
    REPORT_CORRECT_COUNTS,
    REPORT_TABLE1,
    confusion_frame,
    evaluate_model,
    per_class_metrics,
    predict_labels,
    table1,
)
from .experiments import (
    PROFILES,
    build_for_run,
    choose_precision,
    chosen_reading,
    compare_models,
    compare_precision,
    compare_readings,
    load_stage_model,
    prepare_run,
    train_phase1,
    train_phase2,
    vit_tuning_story,
)
from .features import cnn_feature_maps, vit_attention_map, vit_block_activations
from .models import (
    CNN_READINGS,
    READING_NOTES,
    READINGS,
    VIT_READINGS,
    VIT_TUNING_STORY,
    ViTConfig,
    build_cnn,
    build_model,
    build_vit,
    count_params,
    model_summary,
    model_table,
)
from .phase2 import hard_sample_indices, run_phase2
from .plots import (
    plot_class_samples,
    plot_class_balance,
    plot_accuracies,
    plot_augmentation_grid,
    plot_cluster_map,
    plot_face_grid,
    plot_equalization,
    plot_training_curves,
    plot_confusion_matrices,
    plot_per_class,
    plot_feature_maps,
    plot_activation_bars,
    plot_architecture,
    plot_attention,
    plot_tuning_results,
)
from .splits import check_disjoint, class_distribution, duplicate_report, official_split, report_split
from . import beyond, predict
from .runfolder import RunFolder
from .train import TrainConfig, read_history, set_seed, train_model

__version__ = "0.1.0"


def glue(name: str, value, display: bool = False):
    """myst-nb's ``glue`` when it is installed (the book build); a no-op otherwise (Colab)."""
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return value
    _glue(name, value, display=display)
    return value
