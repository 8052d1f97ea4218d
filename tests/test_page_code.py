"""The Keras code the book shows is the code ferlib runs.

Page cells are executed here as the page runs them (the cell's source, read from the committed
notebook), and what they build is compared with what ferlib trains: every reading of the CNN,
in float32 and in mixed_bfloat16, layer for layer and initial weight for initial weight; the
compile call; the callbacks. A change on either side without the other fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from ferlib.models import CNN_READINGS, VIT_READINGS, build_model, network_differences
from ferlib.train import TrainConfig, callback_differences, compile_differences, compile_model, report_callbacks

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def page_cell(page: str, marker: str) -> str:
    """The source of the one code cell of `page` that contains `marker`."""
    cells = json.loads((NOTEBOOKS / f"{page}.ipynb").read_text())["cells"]
    found = ["".join(c["source"]) for c in cells if c["cell_type"] == "code" and marker in "".join(c["source"])]
    assert len(found) == 1, f"{page}: {len(found)} code cells contain {marker!r}"
    return found[0]


def page_parameters(page: str) -> dict:
    """The page's parameters cell, run: its defaults (the report's values for the exercise ones)."""
    namespace: dict = {}
    exec(page_cell(page, 'run_dir = "runs/latest"'), namespace)
    return {k: v for k, v in namespace.items() if not k.startswith("__")}


def run_cell(page: str, marker: str, namespace: dict | None = None) -> dict:
    namespace = {**page_parameters(page), **({} if namespace is None else namespace)}
    exec(page_cell(page, marker), namespace)
    return namespace


@pytest.fixture(scope="module")
def report_cnn():
    return run_cell("02_cnn", "def report_cnn(")["report_cnn"]


@pytest.fixture(autouse=True)
def default_policy():
    yield
    keras.mixed_precision.set_global_policy("float32")


def _page_build(report_cnn, reading: str, precision: str, seed: int = 3):
    """What page 02's build cell does, for one reading and policy."""
    keras.utils.set_random_seed(seed)
    keras.mixed_precision.set_global_policy(precision)
    model = report_cnn(**CNN_READINGS[reading])
    keras.mixed_precision.set_global_policy("float32")
    return model


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("reading", sorted(CNN_READINGS))
def test_page_02_builds_ferlibs_cnn_in_every_reading(report_cnn, reading, precision):
    shown = _page_build(report_cnn, reading, precision)
    built = build_model("cnn", reading, precision=precision, seed=3)
    assert network_differences(shown, built) == []
    assert shown.count_params() == built.count_params()
    for a, b in zip(shown.weights, built.weights):  # the same seed gives the same initial weights
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), err_msg=a.path)


def test_a_page_network_that_drifts_is_caught(report_cnn):
    built = build_model("cnn", "as-built", seed=3)
    assert any("configuration" in d for d in network_differences(report_cnn(dropout=0.5), built))
    assert any("dtype policy" in d for d in network_differences(_page_build(report_cnn, "as-built", "mixed_bfloat16"),
                                                                 built))
    other_reading = report_cnn(**CNN_READINGS["dense-batchnorm"])
    assert any("layers" in d for d in network_differences(other_reading, built))


def test_page_02_compiles_as_phase_1_does(report_cnn):
    model = report_cnn()
    namespace = run_cell("02_cnn", "cnn.compile(", {"cnn": model, "keras": keras})
    reference = compile_model(build_model("cnn", "as-built"), TrainConfig().learning_rate)
    assert compile_differences(namespace["cnn"], reference) == []
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    (difference,) = compile_differences(model, reference)
    assert difference.startswith("optimizer learning_rate 0.0099")


def test_page_02_shows_the_callbacks_phase_1_uses():
    shown = run_cell("02_cnn", "callbacks = [", {"keras": keras})["callbacks"]
    assert callback_differences(shown, report_callbacks(TrainConfig())) == []
    assert callback_differences(shown[:1], report_callbacks(TrainConfig()))  # one left out
    shown[1].factor = 0.5
    assert callback_differences(shown, report_callbacks(TrainConfig())) == [
        "ReduceLROnPlateau.factor = 0.5, expected 0.9"]


def test_the_pages_callbacks_are_the_ones_that_act(tmp_path):
    from ferlib.models import build_cnn
    from ferlib.train import train_model

    rng = np.random.default_rng(0)
    data = (rng.random((32, 48, 48, 1), dtype=np.float32), rng.integers(0, 7, 32))
    shown = run_cell("02_cnn", "callbacks = [", {"keras": keras})["callbacks"]
    tiny = build_cnn(filters=(4, 4, 4, 4), dense_units=(8, 8, 8))
    config = TrainConfig(epochs=1, batch_size=16)
    train_model(tiny, data, data, tmp_path / "a", config, verbose=0, report_callbacks_shown=shown)
    assert shown[0].best is not None and shown[1].best is not None  # they watched this training
    drifted = run_cell("02_cnn", "callbacks = [", {"keras": keras})["callbacks"]
    drifted[0].patience = 3
    with pytest.raises(ValueError, match="EarlyStopping.patience = 3, expected 10"):
        train_model(build_cnn(filters=(4, 4, 4, 4), dense_units=(8, 8, 8)), data, data, tmp_path / "b", config,
                    verbose=0, report_callbacks_shown=drifted)


@pytest.fixture(scope="module")
def report_vit():
    namespace = run_cell("03_vit_tuning", "class PatchEncoder(")
    return run_cell("03_vit_tuning", "def report_vit(", namespace)["report_vit"]


@pytest.mark.parametrize("reading", sorted(VIT_READINGS))
def test_page_03_builds_ferlibs_vit_in_every_reading(report_vit, reading):
    keras.utils.set_random_seed(3)
    shown = report_vit(**VIT_READINGS[reading])
    built = build_model("vit", reading, seed=3)
    assert network_differences(shown, built) == []
    for a, b in zip(shown.weights, built.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), err_msg=a.path)
    x = np.random.default_rng(0).random((2, 48, 48, 1), dtype=np.float32)
    np.testing.assert_allclose(shown.predict(x, verbose=0), built.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_page_03_builds_every_configuration_of_the_tuning_story(report_vit):
    from dataclasses import asdict

    from ferlib.models import VIT_TUNING_STORY

    for config in VIT_TUNING_STORY:
        sizes = asdict(config)
        keras.utils.set_random_seed(3)
        shown = report_vit(**sizes)
        assert network_differences(shown, build_model("vit", config=config, seed=3)) == [], config.label


def test_page_03_compiles_and_stops_as_phase_1_does(report_vit):
    source = page_cell("03_vit_tuning", "vit.compile(")
    taught = "\n".join(line for line in source.splitlines() if "fl." not in line)  # ferlib's calls left out
    namespace = {**page_parameters("03_vit_tuning"), "vit": report_vit(), "keras": keras}
    exec(taught, namespace)
    reference = compile_model(build_model("vit", "as-built"), TrainConfig().learning_rate)
    assert compile_differences(namespace["vit"], reference) == []
    assert callback_differences(namespace["callbacks"], report_callbacks(TrainConfig())) == []


def test_page_01_augmenter_is_the_one_phase_2_trains_with():
    from ferlib.augment import RandomAffine, make_augmenter

    namespace = run_cell("01_data", "chained = keras.Sequential(")
    namespace = run_cell("01_data", "augmenter = keras.Sequential(",
                         {**namespace, "fl": __import__("ferlib"), "display": lambda *a: None, "run": _TinyRun()})
    shown = namespace["augmenter"].layers
    used = make_augmenter().layers
    assert [type(layer) for layer in shown] == [type(layer) for layer in used]
    settings = ("rotation_degrees", "shift", "zoom", "horizontal_flip", "fill_mode")
    assert [{k: layer.get_config()[k] for k in settings} for layer in shown] == \
           [{k: layer.get_config()[k] for k in settings} for layer in used]
    assert namespace["once"].shape == (9, 48, 48, 1)
    from ferlib.augment import check_same_augmenter

    check_same_augmenter(namespace["augmenter"])
    with pytest.raises(AssertionError, match="zoom = 0.2, expected 0.1"):
        check_same_augmenter(keras.Sequential([RandomAffine(zoom=0.2)]))


class _TinyRun:
    """What page 1's augmentation cell reads of a run: one face and the split's training rows."""

    class dataset:  # noqa: N801 - attributes as Run has them
        images = np.random.default_rng(0).integers(0, 256, (4, 48, 48), dtype=np.uint8)

    class split:  # noqa: N801
        train = np.arange(4)


# --------------------------------------------------------------------------- page 9's search


def test_page_9s_build_hp_is_what_the_searchs_trials_build():
    """The page's ``build(hp)`` against ``tuning.trial_builder``, for the smallest and the largest
    sizes; a page that compiled another schedule would fail."""
    import ferlib as fl
    import numpy as np

    namespace = {"fl": fl, "np": np, "run": type("Run", (), {"profile_name": "smoke"})(),
                 "arrays": {"train": (None, np.zeros(640, dtype=int))}}
    namespace = run_cell("09_vit_question", "def build(hp):", namespace)
    build, steps, max_epochs = namespace["build"], namespace["steps"], namespace["max_epochs"]
    assert steps == 5 and max_epochs == 2
    fl.tuning.check_same_build(build, steps, max_epochs=max_epochs)
    with pytest.raises(AssertionError, match="decay_steps|learning_rate"):
        fl.tuning.check_same_build(build, steps, max_epochs=max_epochs + 1)
    # a page that forgot the budget would train the space's largest draw; the search skips it
    unbounded = {**namespace, "cost_limit": float("inf")}
    exec("def build(hp):\n" + page_cell("09_vit_question", "def build(hp):").split("def build(hp):\n", 1)[1],
         unbounded)
    with pytest.raises(AssertionError, match="only the search skips it"):
        fl.tuning.check_same_build(unbounded["build"], steps, max_epochs=max_epochs)
