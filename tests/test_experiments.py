"""The report's recipes end to end on the synthetic faces at the smoke profile: the run card,
the readings, phase 1, phase 2 trained on demand, the comparison, and reuse."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ferlib.recipes.comparison import Comparison, compare_models
from ferlib.recipes.phase1 import train_phase1
from ferlib.recipes.phase2 import load_or_train_stage
from ferlib.recipes.readings import build_for_run, load_or_compare_readings, compare_readings
from ferlib.recipes.run import PROFILES, prepare_run
from ferlib.models import READINGS, build_model
from ferlib.train import read_history

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return prepare_run(data="synthetic", profile="smoke", seed=3, run_dir=tmp_path_factory.mktemp("run"))


def test_prepare_run_writes_a_card_that_keeps_its_start(run, tmp_path):
    card = json.loads(run.folder.card.read_text())
    assert card["profile"] == "smoke" and card["seed"] == 3 and card["synthetic"] is True
    assert card["precision"] == run.precision and set(run.precision) == {"cnn", "vit"}
    assert card["settings"]["reading_epochs"] == PROFILES["smoke"].reading_epochs
    again = prepare_run(data="synthetic", profile="smoke", seed=3, run_dir=run.run_dir)
    assert json.loads(again.folder.card.read_text())["started"] == card["started"]
    assert {part: len(y) for part, (x, y) in run.arrays.items()} == run.split.sizes()
    with pytest.raises(ValueError, match="unknown profile"):
        prepare_run(data="synthetic", profile="huge", run_dir=tmp_path)


def test_the_banner_names_the_runs_precisions_or_the_pages_own(run):
    """Pages 1 to 7 train the run's CNN and ViT in the card's precisions; pages 8 and 9 train
    their own networks, each in its own, and say so instead of the card's."""
    assert all(f"{policy}" in run.banner() for policy in run.precision.values())
    own = run.banner("each network's own, in its table")
    assert "(each network's own, in its table)" in own and "ViT" not in own


def test_readings_rank_the_fits_and_phase1_trains_the_chosen_one(run):
    readings = compare_readings(run, "cnn", verbose=0)
    assert list(readings.table["reading"]) == list(READINGS["cnn"])
    best = readings.table.loc[readings.table["log_train_accuracy"].idxmax(), "reading"]
    assert readings.leader == best
    # the smoke profile trains one seed, which cannot separate a lead from noise
    assert readings.chosen == "as-built" == load_or_compare_readings(run, "cnn") and readings.p_value is None
    result, scores = train_phase1(run, "cnn", verbose=0)
    assert result.model.count_params() == build_for_run(run, "cnn").count_params()
    assert set(scores) == {"train", "val", "test"}
    saved = json.loads(run.folder.metrics("cnn_phase1").read_text())
    assert saved["reading"] == readings.chosen and saved["provenance"]["profile"] == "smoke"
    again, _ = train_phase1(run, "cnn", verbose=0)
    assert again.reused  # a finished training is not repeated


def test_a_leading_reading_trains_again_from_more_seeds(run):
    from dataclasses import replace

    two_seeds = replace(run, profile=replace(run.profile, reading_seeds=2))
    readings = compare_readings(two_seeds, "cnn", verbose=0)  # the run's seed: reused
    if readings.leader == "as-built":
        assert len(readings.seeds) == 1 and readings.p_value is None
    else:
        assert sorted(readings.seeds["seed"]) == [run.seed, run.seed, run.seed + 1, run.seed + 1]
        assert run.folder.reading("cnn", readings.leader, seed=run.seed + 1).joinpath("model.keras").exists()
        # two seeds each is enough for the test to answer (a p-value, or None when both are constant)
        assert readings.chosen in ("as-built", readings.leader)
        assert (readings.chosen == readings.leader) == (readings.p_value is not None and readings.p_value < 0.05)


def test_a_missing_stage_is_trained_on_demand_and_said(run, capsys):
    model = load_or_train_stage(run, "cnn", "phase2")
    assert "training it now at the smoke profile" in " ".join(capsys.readouterr().out.split())
    assert run.folder.final_model("cnn", "phase2").exists() and model.output_shape == (None, 7)
    with pytest.raises(FileNotFoundError, match="04_phase2"):
        load_or_train_stage(run, "vit", "phase2", train_if_missing=False)


def test_compare_models_returns_the_comparison(run):
    comparison = compare_models(run)
    assert isinstance(comparison, Comparison)
    assert set(comparison.confusion) == {"CNN", "ViT"}
    for name, matrix in comparison.confusion.items():
        assert matrix.to_numpy().sum() == len(run.arrays["test"][1]), name
    assert comparison.table1.loc["phase2 test accuracy", "CNN ours"] == pytest.approx(
        comparison.results["cnn"]["phase2"]["test"]["accuracy"])
    assert set(comparison.per_class_long["model"]) == {"CNN", "ViT"}
    assert run.folder.metrics("comparison").exists()
    values = comparison.glue_values()
    # every number the chapters quote (conclusion.md, comparison.md) has its name
    for model in ("cnn", "vit"):
        for phase in ("p1", "p2"):
            for part in ("train", "val", "test"):
                assert values[f"{model}_{phase}_{part}_acc"] == pytest.approx(
                    comparison.results[model]["phase" + phase[1]][part]["accuracy"])
        assert values[f"{model}_test_loss"] == comparison.results[model]["phase2"]["test"]["loss"]
        assert values[f"{model}_disgust_correct"] == comparison.per_class[model.upper() if model == "cnn" else "ViT"].loc["Disgust", "correct"]
        # the trainings' logs, which the conclusion quotes beside the report's
        for stage in ("phase1", "augmentation"):
            log = comparison.logs[f"{model} {stage}"]
            assert values[f"{model}_{stage}_epochs"] == log["epochs"] == len(read_history(
                run.folder.phase1(model) if stage == "phase1" else run.folder.phase2(model, stage)))
            assert values[f"{model}_{stage}_log_train_acc"] == log["accuracy"]


def test_the_comparison_gives_intervals_and_paired_tests(run):
    from ferlib.recipes.comparison import comparison_tests

    stats = comparison_tests(run)
    table = stats.intervals
    assert list(table["phase"]) == ["phase 1", "phase 2"] * 2 and set(table["model"]) == {"CNN", "ViT"}
    assert ((table["low"] <= table["accuracy"]) & (table["accuracy"] <= table["high"])).all()
    n = len(run.arrays["test"][1])
    assert (table["images"] == n).all()
    assert [(t.first, t.second) for t in stats.tests] == [
        ("CNN phase 1", "ViT phase 1"), ("CNN phase 2", "ViT phase 2"),
        ("CNN phase 2", "CNN phase 1"), ("ViT phase 2", "ViT phase 1")]
    for test in stats.tests:
        assert 0 <= test.p_value <= 1 and test.only_first + test.only_second <= n
        assert "test images" in test.sentence()
    assert set(stats.table()["verdict"]) <= {"beyond chance", "not beyond chance"}


def test_setup_notebook_prepares_glues_and_shows_the_run(run, monkeypatch):
    import ferlib.recipes.pages as pages

    glued, shown = {}, []
    monkeypatch.setattr(pages, "glue", lambda name, value, display=False: glued.setdefault(name, value))
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    again = pages.setup_notebook(data="synthetic", profile="smoke", seed=3, run_dir=run.run_dir)
    assert again.split.sizes() == run.split.sizes() and again.profile_name == "smoke"
    from ferlib.recipes.report import report_glue_values

    assert glued == {"run_profile": "smoke", "run_data": run.dataset.name, **report_glue_values()}
    assert glued["report_cnn_p2_test_acc"] == 0.6472  # the report's Table 1, quoted by the pages
    assert len(shown) == 1 and "synthetic" in shown[0].data.lower()


def test_run_baseline_is_the_majority_answer(run):
    train, val = run.arrays["train"][1], run.arrays["val"][1]
    majority = np.bincount(train).argmax()
    assert run.baseline() == pytest.approx(np.mean(val == majority))


def test_unknown_model_names_are_refused(run):
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet")


def test_each_phase_2_step_is_tested_against_the_one_before(run):
    from ferlib.recipes.phase2 import step_tests

    tests = step_tests(run, "cnn")
    assert {k: (t.first, t.second) for k, t in tests.items()} == {
        "after hard samples": ("CNN after hard samples", "CNN phase 1"),
        "augmentation": ("CNN after augmentation", "CNN after hard samples"),
        "phase 2": ("CNN after augmentation", "CNN phase 1")}
    n = len(run.arrays["test"][1])
    assert all(0 <= t.p_value <= 1 and t.only_first + t.only_second <= n for t in tests.values())
    # phase 2 carries them, in its metrics too, and its verdict reads them
    from ferlib.recipes.phase2 import train_phase2

    result = train_phase2(run, "cnn", verbose=0)
    assert result.tests["phase 2"].p_value == tests["phase 2"].p_value
    assert run.load_metrics("cnn_phase2")["tests"]["phase 2"]["p_value"] == tests["phase 2"].p_value
    assert "p = " in result.verdict or "p < " in result.verdict


def test_the_batch_size_and_the_augmentations_place_are_run_parameters(tmp_path):
    run = prepare_run(data="synthetic", profile="smoke", seed=3, run_dir=tmp_path / "a", batch_size=32,
                      augment_on="device")
    assert run.train_config().batch_size == 32 and run.train_config(3, learning_rate=1e-4).batch_size == 32
    assert run.augment_in_step is True
    card = json.loads(run.folder.card.read_text())
    assert card["batch_size"] == 32 and card["augment_on"] == "device"
    default = prepare_run(data="synthetic", profile="smoke", seed=3, run_dir=tmp_path / "b")
    assert default.train_config().batch_size == 64  # the report's
    with pytest.raises(ValueError, match="batch_size = 0"):
        prepare_run(data="synthetic", profile="smoke", seed=3, run_dir=tmp_path / "c", batch_size=0)
