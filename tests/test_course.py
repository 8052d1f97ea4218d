"""The course around the pages: openings with measured times, exercises that run."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import pytest

from ferlib.notebooks import NOTEBOOKS
from ferlib.recipes.course import EXERCISES, PROFILE_ORDER, exercises_markdown, record_page_times, times_markdown

REPO = Path(__file__).resolve().parent.parent


def _parameters(name: str) -> dict:
    nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    return {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(cell.source).body}


@pytest.mark.parametrize("name", [n for n in NOTEBOOKS if n in EXERCISES])
def test_every_exercise_sets_parameters_its_page_has(name):
    exercises = EXERCISES[name]
    assert 3 <= len(exercises) <= 5, f"{name}: {len(exercises)} exercises"
    known = _parameters(name)
    for exercise in exercises:
        assert exercise.profile in PROFILE_ORDER
        unknown = set(exercise.parameters) - set(known)
        assert not unknown, f"{name}: exercise {exercise.title!r} sets {unknown}, which the page does not have"
        for key, value in exercise.parameters.items():
            assert value != known[key], f"{name}: exercise {exercise.title!r} sets {key} to its default"


def test_every_page_opens_with_its_times_and_closes_with_a_summary_and_exercises():
    for name in NOTEBOOKS:
        nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
        sources = [c.source for c in nb.cells]
        assert "**What you will learn:**" in sources[1] and "**Before you start:**" in sources[1], name
        assert any(f'fl.course.times_markdown("{name}"' in s for s in sources), name
        assert any(s.startswith("## Summary") for s in sources), name
        assert any(s.startswith("## Exercises") for s in sources), name
        if name in EXERCISES:
            assert sources[-1] == f'Markdown(fl.course.exercises_markdown("{name}"))', name


def test_times_say_what_was_measured_and_what_was_not(tmp_path):
    from ferlib.runfolder import RunFolder

    folder = RunFolder(tmp_path / "run")
    folder.root.mkdir()
    folder.card.write_text(json.dumps({"profile": "smoke", "device": "cpu: test (2 cores)", "commit": "abc",
                                       "finished": "2026-12-05T01:00:00+00:00"}))
    folder.timings.write_text(json.dumps({"02_cnn": 95.0}))
    times = record_page_times(folder.root, path=tmp_path / "times.json")
    assert times["02_cnn"]["smoke"]["2-core CPU"]["seconds"] == 95.0
    table = times_markdown("02_cnn", times)
    assert "| smoke | 2 min | not measured yet |" in table
    assert "| full | not measured yet | not measured yet |" in table
    assert "cpu: test (2 cores) (2026-12-05)" in table
    text = exercises_markdown("02_cnn", times)
    assert "`dropout = 0.0`" in text and '`profile = "cpu"`' in text and "not measured yet" in text
    assert "not measured yet" not in exercises_markdown("01_data", {"01_data": times["02_cnn"]})


def test_a_page_executed_after_its_long_run_shows_both_times():
    """Page 8 executes in a minute once its long run has trained for hours: the opening must
    show the hours too, and say which time is which."""
    entry = {"seconds": 70.1, "machine": "cpu: test (2 cores)", "measured": "2026-12-05", "commit": "abc",
             "long_run": {"seconds": 7.5 * 3600, "trainings": 10}}
    table = times_markdown("08_closing_the_gap", {"08_closing_the_gap": {"full": {"2-core CPU": entry}}})
    assert "| full | 7 h 30 min of long run + 1 min | not measured yet |" in table
    assert "which had trained 10 networks for 7 h 30 min when the page was executed" in table
    assert "earlier pages' trainings" in table and "A page opened alone" in table
    # a page that shares nothing with the others does not speak of earlier pages
    alone = times_markdown("08_closing_the_gap", {"08_closing_the_gap": {"full": {"2-core CPU": entry}}},
                           standalone=True)
    assert "earlier pages" not in alone and "A page opened alone" not in alone
    assert "Measured on cpu: test (2 cores) (2026-12-05). At the full profile" in alone
    # one machine measuring two profiles on two days is named once
    smoke = {**entry, "measured": "2026-12-07"}
    smoke.pop("long_run")
    both = times_markdown("08_closing_the_gap", {"08_closing_the_gap": {"full": {"2-core CPU": entry},
                                                                        "smoke": {"2-core CPU": smoke}}}, standalone=True)
    assert "Measured on cpu: test (2 cores) (2026-12-05 and 2026-12-07)." in both


def test_the_shipped_times_agree_with_the_published_run():
    published = json.loads((REPO / "book" / "results" / "run.json").read_text())
    shipped = json.loads((REPO / "ferlib" / "recipes" / "page_times.json").read_text())
    for name, seconds in published["notebook_seconds"].items():
        entry = shipped[name][published["profile"]]["2-core CPU"]
        # a page published alone ran its own commit, which the card keeps apart
        commit = published.get("page_commits", {}).get(name, published["commit"])
        assert entry["seconds"] == round(seconds, 1) and entry["commit"] == commit, name
    for name, run in published.get("long_runs", {}).items():
        entry = shipped[name][run["profile"]]["2-core CPU"]
        assert entry["long_run"] == {"seconds": run["seconds"], "trainings": run["trainings"]}, name


def test_an_exercise_change_has_its_own_folder_and_an_unknown_name_is_refused(tmp_path):
    from ferlib.recipes.phase1 import exercise_changes, variant_name
    from ferlib.recipes.run import prepare_run

    run = prepare_run(data="synthetic", profile="smoke", run_dir=tmp_path)
    network, training = exercise_changes(run, "cnn", {"dropout": 0.0, "lr_factor": 0.9, "learning_rate": 0.01})
    assert network == {"dropout": 0.0} and training == {"learning_rate": 0.01}  # 0.9 is the report's
    assert variant_name("cnn", {**network, **training}) == "cnn_phase1~dropout=0.0,learning_rate=0.01"
    assert variant_name("cnn", {}) == "cnn_phase1"
    with pytest.raises(ValueError, match="no setting 'dropuot'.*dropout"):
        exercise_changes(run, "cnn", {"dropuot": 0.1})


RUN_KEYS = {"seed", "split", "data"}  # a change to any of these starts a new run


def _exercise_to_run(name):
    """The page's first exercise a test machine can do (no upload from Colab) that keeps the
    run, so it starts from the pages already executed; page 1 trains nothing, so its first
    exercise runs as it is. An exercise that changes the seed or the split retrains every page
    before it: only the data page's split exercise runs here (that page trains nothing), and
    ``test_every_exercise_sets_parameters_its_page_has`` checks the others' values."""
    exercises = [e for e in EXERCISES[name] if e.parameters.get("photo") != "upload"]
    if name == "01_data":
        return exercises[0]
    return next(e for e in exercises if not set(e.parameters) & RUN_KEYS)


def test_each_page_that_trains_has_an_exercise_that_keeps_the_run():
    for name in EXERCISES:
        if name != "01_data":  # StopIteration here: the page's exercises all start a new run
            assert not set(_exercise_to_run(name).parameters) & RUN_KEYS, name


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in NOTEBOOKS if n in EXERCISES])
def test_an_exercise_of_each_chapter_runs_at_the_smoke_profile(name, pages_run, tmp_path, monkeypatch):
    """As a student would: the pages executed, then one page again with the exercise's values."""
    import papermill as pm
    from PIL import Image
    from skimage import data as skdata

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    exercise = _exercise_to_run(name)
    parameters = {**pages_run.parameters(monkeypatch), **exercise.parameters, "profile": "smoke"}
    folder = tmp_path / "run"
    if name == "01_data":
        folder.mkdir()
    else:
        pages_run.copy(folder)
    if "photo" in parameters:  # the student's own photo: here a shrunken portrait
        Image.fromarray(skdata.astronaut()).resize((128, 128)).save(folder / parameters["photo"])
    output = tmp_path / f"{name}.ipynb"
    pm.execute_notebook(str(REPO / "notebooks" / f"{name}.ipynb"), str(output), kernel_name="python3",
                        cwd=str(folder), parameters=parameters, progress_bar=False)
    cells = json.loads(output.read_text())["cells"]
    assert not any(o.get("output_type") == "error" for c in cells for o in c.get("outputs", []))
    card = json.loads((folder / "run.json").read_text())
    assert card["seed"] == parameters.get("seed", 42) and card["profile"] == "smoke"
    if name == "02_cnn":  # the changed network trained apart from the run's phase 1
        assert (folder / "cnn" / "phase1~dropout=0.0" / "model.keras").exists()
        assert json.loads((folder / "metrics" / "cnn_phase1~dropout=0.0.json").read_text())["changes"] == {"dropout": 0.0}
    if name == "03_vit_tuning":
        assert (folder / "vit" / "phase1~patch_size=6" / "model.keras").exists()
