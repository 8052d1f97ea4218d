"""Page 8's reading of the fast recipe's trainings: the page's Keras code checked against
ferlib's, seeds with intervals, the paired test, the verdict and one-page publishing."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ferlib.recipes import closing_gap as cg
from ferlib.recipes.fast import FastRecipe, FastRun, PlannedRun


def _page_network(widths=None, momentum=0.99):
    """The network page 8 teaches, built by the code of its own cell (with `momentum` edited in)."""
    notebook = json.loads((Path(__file__).parents[1] / "notebooks" / "08_closing_the_gap.ipynb").read_text())
    cell = next("".join(c["source"]) for c in notebook["cells"]
                if c["cell_type"] == "code" and "def fast_cnn(" in "".join(c["source"]))
    cell = cell.replace("momentum=0.99)", f"momentum={momentum})").replace("\nmodel = fast_cnn()", "")
    namespace = {}
    exec(cell, namespace)
    return namespace["fast_cnn"]() if widths is None else namespace["fast_cnn"](widths)


def test_the_pages_network_matches_ferlibs_and_a_changed_one_does_not():
    cg.check_same_network(_page_network())
    with pytest.raises(AssertionError, match="layer"):
        cg.check_same_network(_page_network(widths=(32, 64, 128, 192)))
    with pytest.raises(AssertionError, match="momentum"):
        cg.check_same_network(_page_network(momentum=0.9))


def test_the_pages_compile_matches_ferlibs_and_another_learning_rate_does_not():
    import keras

    from ferlib.recipes.fast import compile_fast

    planned = PlannedRun("x", FastRecipe(epochs=4))
    model = compile_fast(_page_network(), planned.recipe, 10)
    cg.check_same_compile(model, planned, 10)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True), loss="categorical_crossentropy")
    with pytest.raises(AssertionError, match="optimizer"):
        cg.check_same_compile(model, planned, 10)


def _trainings(private: dict[str, float]) -> cg.GapTrainings:
    plan = tuple(PlannedRun(name, FastRecipe(epochs=10), seed=i) for i, name in enumerate(private))
    runs = {name: FastRun(Path("."), [], {"private_test": acc, "private_test_tta": acc + 0.01, "public_test": acc - 0.01,
                                          "train_seconds": 600.0 + i, "machines": ["cpu: Test CPU (2 cores)"],
                                          "precisions": ["mixed_bfloat16"]})
            for i, (name, acc) in enumerate(private.items())}
    return cg.GapTrainings(runs, (), plan)


def test_the_seeds_table_averages_the_seeds_with_a_wilson_interval():
    seeds = cg.seeds_table(_trainings({"a": 0.60, "b": 0.62, "c": 0.64}), n_test=3589)
    row = seeds.iloc[0]
    assert row["seeds"] == [0, 1, 2]
    assert row["private_test"] == pytest.approx(0.62)
    assert row["private_test_sd"] == pytest.approx(0.02)
    # Wilson 95% on 3,589 faces: about ±1.6 points around 62%
    assert row["private_test_low"] == pytest.approx(0.604, abs=0.002)
    assert row["private_test_high"] == pytest.approx(0.636, abs=0.002)


def test_the_best_run_is_chosen_on_public_test_among_those_with_answers(tmp_path):
    from ferlib.recipes.fast import PREDICTIONS

    trainings = _trainings({"a": 0.60, "b": 0.64, "c": 0.62})
    assert cg.final_model(trainings).name is None  # no run has its answers here
    for name, answer in zip(trainings.runs, "012"):
        trainings.runs[name].folder = tmp_path / name
        trainings.runs[name].folder.mkdir()
        if name != "c":
            (tmp_path / name / PREDICTIONS).write_text(json.dumps({"plain": answer * 4, "tta": answer * 4}))
    trainings.runs["a"].summary["public_test"] = 0.70  # best on PublicTest, worse on PrivateTest
    trainings.runs["c"].summary["public_test"] = 0.80  # better still, but restored without its answers
    final = cg.final_model(trainings, np.zeros((4, 48, 48, 1)))
    assert final.name == "a" and final.answers.tolist() == [0, 0, 0, 0] and final.passed == {"c": 0.80}
    note = cg.final_model_note(final)
    assert note.startswith("The final model is seed 0 of the fast CNN, 10 epochs (run a), 70.0% on PublicTest.")
    assert "c (80.0%)" in note
    # an ablation's variant is never the page's final model, however it scores on PublicTest
    trainings.plan = tuple(replace(p, group="ablation") if p.name == "a" else p for p in trainings.plan)
    assert cg.final_model(trainings).name == "b"
    assert "has no final model" in cg.final_model_note(cg.FinalModel(None, None))


def test_the_run_that_ships_answers_with_the_shipped_weights_once_its_own_are_gone(tmp_path):
    from ferlib.recipes import fast
    from ferlib.shipped import shipped_card

    card = shipped_card()
    signature = {"recipe": card["recipe"], "model": "fastcnn", "config": None, "seed": card["seed"]}
    folder = tmp_path / "fast-50ep-seed2"
    folder.mkdir()
    summary = {"signature": signature, "commit": card["training_commit"], "private_test": 0.7021,
               "public_test": card["public_test"]}
    (folder / "summary.json").write_text(json.dumps(summary))
    assert fast.ships(folder)
    answers = fast.read_predictions(folder, np.full((3, 48, 48, 1), 0.5, np.float32))
    assert answers["plain"].shape == (3,)
    assert json.loads((folder / fast.PREDICTIONS).read_text())["weights"] == fast.SHIPPED_WEIGHTS
    # another seed, or the same seed trained at another commit, is not the shipped model
    for changed in ({"signature": {**signature, "seed": card["seed"] + 1}}, {"commit": "0123456789ab"}):
        other = tmp_path / f"other-{len(list(tmp_path.iterdir()))}"
        other.mkdir()
        (other / "summary.json").write_text(json.dumps({**summary, **changed}))
        assert not fast.ships(other) and fast.kept_model(other) == (None, None)

    final = cg.FinalModel("fast-50ep-seed2", answers["plain"], card["public_test"], {}, fast.SHIPPED_WEIGHTS, 0.7021)
    note = cg.final_model_note(final)
    assert "It is the model ferlib ships" in note and "recorded 70.2% on PrivateTest" in note


def test_the_paired_test_counts_the_discordant_faces():
    first = np.array([True] * 60 + [False] * 40)
    second = np.array([True] * 40 + [False] * 60)
    test = cg.paired_test("A", first, "B", second)
    assert (test.only_first, test.only_second) == (20, 0)
    assert test.p_value < 1e-5 and "20 faces only A gets right, 0 only B" in test.sentence()
    assert test.sentence().endswith("A better, beyond chance.")
    same = cg.paired_test("A", first, "B", first)
    assert same.p_value == 1.0 and same.sentence().endswith("there is no difference to test.")
    close = cg.paired_test("A", first, "B", np.array([True] * 58 + [False] * 42))
    assert close.sentence().endswith("not beyond chance.")


def test_the_verdict_follows_the_numbers():
    from ferlib.recipes.verdicts import gap_verdict

    seeds = cg.seeds_table(_trainings({"a": 0.60, "b": 0.62, "c": 0.64}), n_test=3589)
    text = gap_verdict(seeds, goal=(30, 0.70), best_from_scratch=0.7328, profile="full")
    assert "62.0% ± 2.0%" in text and "short of the 70% goal" in text and "11.3 percentage points" in text
    compared = gap_verdict(seeds, (30, 0.70), 0.7328, "full", as_here=("the challenge winner", 0.7116))
    assert compared.endswith("the challenge winner, 71.2%: 9.2 points above the best recipe's mean and above the "
                             "interval of that mean; with flip averaging that mean is 63.0%.")
    level = gap_verdict(seeds, (30, 0.70), 0.7328, "full", as_here=("X", 0.625))
    assert "0.5 points above the best recipe's mean and inside the interval" in level
    reached = cg.seeds_table(_trainings({"a": 0.74, "b": 0.75}), n_test=3589)
    assert "reaches the 70% goal" in gap_verdict(reached, (30, 0.70), 0.7328, "full")
    assert "smoke run" in gap_verdict(seeds, (30, 0.70), 0.7328, "smoke")
    assert "No fast-recipe training" in gap_verdict(seeds.iloc[:0], (30, 0.70), 0.7328, "full")


def test_the_verdict_sets_the_median_epoch_beside_a_wall_clock_that_shared_the_cpu():
    from ferlib.recipes.verdicts import gap_verdict

    def run(epoch_seconds, timed_alone=True):
        totals = np.cumsum(epoch_seconds)
        rows = [{"epoch": i + 1, "train_seconds": float(total), **({"epoch_seconds": float(e)} if timed_alone else {})}
                for i, (e, total) in enumerate(zip(epoch_seconds, totals))]
        return FastRun(Path("."), rows, {"private_test": 0.69, "private_test_tta": 0.70, "public_test": 0.68,
                                         "train_seconds": float(totals[-1]), "epochs": len(rows)})

    plan = (PlannedRun("final0", FastRecipe(epochs=10), seed=0),)
    disturbed = cg.seeds_table(cg.GapTrainings({"final0": run([30.0] * 7 + [90.0] * 3)}, (), plan), 3589)
    assert disturbed.loc[0, "median_epoch_seconds"] == 30.0 and disturbed.loc[0, "epochs"] == 10
    text = gap_verdict(disturbed, (30, 0.70), 0.7328, "full")
    assert "shared the CPU" in text and "at its median epoch, 30.0 s, the 10 epochs take 5 min" in text
    # an older log without per-epoch times gives the same median from its running totals
    older = cg.seeds_table(cg.GapTrainings({"final0": run([30.0] * 7 + [90.0] * 3, False)}, (), plan), 3589)
    assert older.loc[0, "median_epoch_seconds"] == 30.0
    calm = cg.seeds_table(cg.GapTrainings({"final0": run([30.0] * 10)}, (), plan), 3589)
    assert "shared the CPU" not in gap_verdict(calm, (30, 0.70), 0.7328, "full")


def test_the_seeds_table_puts_the_final_recipe_first_and_leaves_the_ablation_out():
    from ferlib.recipes.fast import FIRST
    from ferlib.recipes.verdicts import gap_verdict

    plan = (PlannedRun("final0", FastRecipe(), seed=0),
            PlannedRun("first0", FIRST, seed=0, group="first", label="first recipe, 10 epochs"),
            PlannedRun("ablation0", FastRecipe(), seed=0, group="ablation", label="no flips"))

    def summary(accuracy, seconds):
        return {"private_test": accuracy, "private_test_tta": accuracy, "public_test": accuracy,
                "train_seconds": seconds}

    # finished in another order than the plan's; the first recipe is the faster one
    runs = {"first0": FastRun(Path("."), [], summary(0.63, 600.0)),
            "ablation0": FastRun(Path("."), [], summary(0.66, 1300.0)),
            "final0": FastRun(Path("."), [], summary(0.74, 1300.0))}
    seeds = cg.seeds_table(cg.GapTrainings(runs, (), plan), n_test=3589)
    assert list(seeds["recipe"]) == [cg.recipe_label(plan[0]), "first recipe, 10 epochs"]
    assert "reaches the 70% goal" in gap_verdict(seeds, (30, 0.70), 0.7328, "full")
    assert cg.gap_glue_values(seeds, cg.PeerScores(unavailable="offline"))["fast_private_mean"] == 0.74


def test_the_json_records_name_every_field_the_issue_lists():
    seeds = cg.seeds_table(_trainings({"a": 0.60, "b": 0.62}), n_test=3589)
    peer = cg.PeerScores(0.65, 0.655, 0.669, np.ones(3, bool))
    records = cg.gap_records(seeds, peer)
    assert len(records) == 2 and records[1]["name"].startswith("fer package")
    for record in records:
        assert {"name", "private_test", "private_test_tta", "public_test", "train_seconds", "seeds", "machine"} <= set(record)
    json.dumps(records)  # numpy values would not serialise
    assert records[0]["seeds"] == [0, 1]
    # the machine and precision the trainings recorded, not those of the machine that reads them
    assert records[0]["machine"] == "cpu: Test CPU (2 cores)" and records[0]["precision"] == "mixed_bfloat16"


def test_the_figure_labels_stay_apart_and_inside():
    from ferlib.plots.training import _spread

    placed = _spread([0.65, 0.655, 0.66, 0.74, 0.744], gap=0.01, top=0.745)
    assert all(b - a >= 0.01 - 1e-12 for a, b in zip(placed, placed[1:]))
    assert max(placed) <= 0.745


def test_only_a_page_that_stands_alone_is_published_by_itself(tmp_path):
    from ferlib.tooling.pipeline import PipelineError
    from ferlib.tooling.publish import publish_page

    run = tmp_path / "run"
    (run / "notebooks").mkdir(parents=True)
    (run / "metrics").mkdir()
    with pytest.raises(PipelineError, match="publish the whole run"):
        publish_page(run, "05_comparison", book_dir=tmp_path / "book")
    with pytest.raises(PipelineError, match="no page"):
        publish_page(run, "99_nothing", book_dir=tmp_path / "book")
    notebook = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# 8. x"}], "metadata": {},
                "nbformat": 4, "nbformat_minor": 5}
    (run / "notebooks" / "08_closing_the_gap.ipynb").write_text(json.dumps(notebook))
    (run / "metrics" / "closing_the_gap.json").write_text('{"recipes": []}')
    (run / "closing-the-gap" / "fast-10ep-seed0" / "backup").mkdir(parents=True)
    (run / "closing-the-gap" / "fast-10ep-seed0" / "log.jsonl").write_text('{"epoch": 1}\n')
    (run / "closing-the-gap" / "fast-10ep-seed0" / "model.keras").write_text("weights stay out of git")
    (run / "closing-the-gap" / "fast-10ep-seed0" / "predictions.json").write_text('{"plain": "34", "tta": "33"}')
    (tmp_path / "book" / "results").mkdir(parents=True)
    (tmp_path / "book" / "results" / "comparison.json").write_text("{}")
    (tmp_path / "book" / "results" / "run.json").write_text(json.dumps(
        {"profile": "full", "commit": "abc", "device": "cpu: Old CPU", "notebook_seconds": {"08_closing_the_gap": 40.0}}))
    (run / "run.json").write_text(json.dumps({"profile": "full", "device": "cpu: New CPU", "commit": "def"}))
    (run / "timings.json").write_text(json.dumps({"08_closing_the_gap": 66.84}))
    times = tmp_path / "page_times.json"
    published = publish_page(run, "08_closing_the_gap", book_dir=tmp_path / "book", page_times=times)
    # the card and the chapters' table of page times agree on the new time, and on the commit
    # the page ran (its own run's, which a later publish of pages 1-7 leaves as it is)
    card = json.loads((tmp_path / "book" / "results" / "run.json").read_text())
    assert card["notebook_seconds"] == {"08_closing_the_gap": 66.8}
    assert card["commit"] == "abc" and card["page_commits"] == {"08_closing_the_gap": "def"}
    entry = json.loads(times.read_text())["08_closing_the_gap"]["full"]["2-core CPU"]
    assert entry["seconds"] == 66.8 and entry["commit"] == "def" and entry["machine"] == "cpu: New CPU"
    assert published.exists()
    assert json.loads((tmp_path / "book" / "results" / "closing_the_gap.json").read_text()) == {"recipes": []}
    assert (tmp_path / "book" / "results" / "comparison.json").read_text() == "{}"  # other pages untouched
    kept = tmp_path / "book" / "results" / "closing-the-gap" / "fast-10ep-seed0"
    # the epoch log and the PrivateTest answers (for the paired tests), never the weights
    assert sorted(p.name for p in kept.iterdir()) == ["log.jsonl", "predictions.json"]

    # a page whose execution stopped on an error is not published over the good one
    notebook["cells"].append({"cell_type": "code", "metadata": {}, "execution_count": 15, "source": "fl.nothing",
                              "outputs": [{"output_type": "error", "ename": "AttributeError", "evalue": "x",
                                           "traceback": []}]})
    (run / "notebooks" / "08_closing_the_gap.ipynb").write_text(json.dumps(notebook))
    before = published.read_text()
    with pytest.raises(PipelineError, match=r"cell \[15\] raised an error"):
        publish_page(run, "08_closing_the_gap", book_dir=tmp_path / "book", page_times=times)
    assert published.read_text() == before


@pytest.mark.slow
def test_the_ablation_table_compares_each_ablation_with_the_recipe(tmp_path):
    from dataclasses import replace

    from ferlib.models.fastcnn import FastCNNConfig
    from ferlib.recipes.fast import train_fast

    rng = np.random.default_rng(0)
    arrays = {part: (rng.random((n, 48, 48, 1), dtype=np.float32), rng.integers(0, 7, n))
              for part, n in (("train", 64), ("val", 16), ("test", 40))}
    tiny = FastRecipe(epochs=1, batch_size=32, network=FastCNNConfig(widths=(4, 8), convs_per_stage=1))
    plan = (PlannedRun("base-seed0", tiny), PlannedRun("base-seed1", tiny, seed=1),
            PlannedRun("cut-seed0", replace(tiny, label_smoothing=0.0), group="ablation", label="without smoothing"),
            PlannedRun("cut-seed1", replace(tiny, label_smoothing=0.0), seed=1, group="ablation",
                       label="without smoothing"))
    runs = {p.name: train_fast(arrays, p.recipe, folder=tmp_path / p.name, seed=p.seed, keep_model=False) for p in plan}
    table = cg.ablation_table(cg.GapTrainings(runs, (), plan), arrays)
    assert list(table["ablation"]) == ["without smoothing"]
    row = table.iloc[0]
    base = np.mean([runs[n].summary["private_test"] for n in ("base-seed0", "base-seed1")])
    cut = np.mean([runs[n].summary["private_test"] for n in ("cut-seed0", "cut-seed1")])
    assert row["difference"] == pytest.approx(cut - base)
    assert row["seeds"] == [0, 1] and 0 <= row["p_value"] <= 1 and row["paired_seeds"] == (0, 0)
    assert 0 <= row["seeds_p_value"] <= 1  # Welch's t-test over the two seeds of each
    assert row["private_test_low"] <= row["private_test"] <= row["private_test_high"]
    # A seed restored from the book without its answers: the test pairs the next seed that has them.
    for name in ("predictions.json", "model.keras"):
        (tmp_path / "cut-seed0" / name).unlink()
    again = cg.ablation_table(cg.GapTrainings(runs, (), plan), arrays).iloc[0]
    assert again["paired_seeds"] == (1, 0) and again["private_test"] == pytest.approx(row["private_test"])
    # the pair's own difference is that of the two runs the test compares, not of the means
    assert again["paired_difference"] == pytest.approx(runs["cut-seed1"].summary["private_test"]
                                                       - runs["base-seed0"].summary["private_test"])
    for name in ("predictions.json", "model.keras"):
        (tmp_path / "cut-seed1" / name).unlink()
    untested = cg.ablation_table(cg.GapTrainings(runs, (), plan), arrays).iloc[0]
    assert np.isnan(untested["p_value"]) and untested["paired_seeds"] is None


def test_the_per_class_verdict_names_the_best_and_worst_emotion_and_the_commonest_mistake():
    from ferlib.evaluate import confusion_frame, per_class_metrics
    from ferlib.recipes.verdicts import per_class_verdict

    y = np.array([3, 3, 3, 3, 2, 2, 2, 4])
    predicted = np.array([3, 3, 3, 3, 4, 4, 2, 4])
    text = per_class_verdict("M", per_class_metrics(y, predicted), confusion_frame(y, predicted))
    assert "Happy best (recall 100%)" in text and "Fear worst (33%)" in text
    assert "call a Fear face Sad (2 faces)" in text


def test_the_seeds_and_ablation_tables_show_mean_spread_and_interval():
    from ferlib.display import style_ablation, style_seeds

    seeds = cg.seeds_table(_trainings({"a": 0.60, "b": 0.62, "c": 0.64}), n_test=3589)
    shown = style_seeds(seeds).data
    assert shown.loc[0, "PrivateTest"] == "62.0% ± 2.0%" and shown.loc[0, "seeds"] == "0–2"
    assert shown.loc[0, "dtype"] == "bf16"  # what the trainings recorded
    ablation = seeds.rename(columns={"recipe": "ablation"}).assign(difference=-0.031, p_value=0.01,
                                                                   paired_seeds=[(1, 3)], paired_difference=0.012)
    shown = style_ablation(ablation.assign(seeds_p_value=0.2)).data
    assert shown.loc[0, "Δ"] == "\N{MINUS SIGN}3.1" and shown.loc[0, "p pair"] == "0.010 *"  # two digits each
    assert shown.loc[0, "p seeds"] == "0.20"
    # the tested pair's own difference, which here has the other sign than the means', and its seeds
    assert shown.loc[0, "pair Δ"] == "+1.2 (1 vs 3)"


def test_the_ablation_verdict_says_what_finished_what_is_beyond_chance_and_what_is_still_to_train():
    from ferlib.recipes.verdicts import ablation_verdict

    rows = pd.DataFrame({"ablation": ["no label smoothing", "per-face crops"], "difference": [-0.004, 0.001],
                         "seeds_p_value": [0.3, np.nan], "p_value": [0.74, 0.2], "private_test": [0.691, 0.696]})
    text = ablation_verdict(rows, ["plain momentum", "the report's CNN"])
    assert text.startswith("2 of the plan's 4 changes have finished; their means lie \N{MINUS SIGN}0.4 to +0.1 points")
    assert "None differs from the recipe beyond chance" in text
    assert text.endswith("Not trained yet: plain momentum, the report's CNN. The long run trains them one after "
                         "another; the question of network against training waits for the row \"the report's CNN\".")
    # a pair that differs while the means stay within the seeds' spread is not claimed
    rows.loc[1, "p_value"] = 0.01
    rows.loc[2] = ["the report's CNN", -0.05, 0.002, 1e-6, 0.645]
    text = ablation_verdict(rows, [])
    assert "Beyond chance both over the seeds and in the paired test (p < 0.05 each): the report's CNN" in text
    assert "Beyond chance in the paired test only: per-face crops (+0.1 points)." in text
    assert "does not claim them as effects" in text and "None differs" not in text
    assert "The report's CNN under this recipe scores 64.5%, \N{MINUS SIGN}5.0 points from the fast CNN" in text
    assert "Not trained yet" not in text and ablation_verdict(rows.iloc[:0], ["x"]) == ""


def test_seeds_are_written_short_where_they_run_on():
    from ferlib.display import seeds_text

    assert seeds_text([0, 1]) == "0, 1" and seeds_text([3, 0, 2, 1]) == "0–3"
    assert seeds_text([0, 1, 2, 5]) == "0–2, 5" and seeds_text([42]) == "42"


def test_scrubbing_a_path_inside_an_escaped_json_string_keeps_the_notebook_json():
    """A data path passed as a papermill parameter sits in the JSON as \\"/work/...\\"."""
    from ferlib.tooling.publish import _scrub

    text = json.dumps({"source": 'data = "/work/shared/data"  # a path'})
    scrubbed = _scrub(text, Path("/nowhere/at/all"))
    assert json.loads(scrubbed) == {"source": 'data = "<path>"  # a path'}


def test_reading_the_plan_back_counts_the_epochs_of_the_runs_still_training(tmp_path, monkeypatch):
    from types import SimpleNamespace

    plan = cg.page_plan("full")
    finished, training = plan[0], plan[1]
    root = tmp_path / cg.FOLDER
    (root / finished.name).mkdir(parents=True)
    (root / finished.name / "summary.json").write_text("{}")
    (root / training.name).mkdir(parents=True)
    (root / training.name / "log.jsonl").write_text("".join(json.dumps({"epoch": e}) + "\n" for e in (1, 2, 3)))
    # reading a finished run back is train_fast's own business (tested in test_fast.py)
    monkeypatch.setattr(cg, "train_fast", lambda arrays, recipe, folder, **kw: FastRun(folder, [], {}))
    run = SimpleNamespace(run_dir=tmp_path, profile_name="full", parameters=SimpleNamespace(batch_size=None))
    trainings = cg.train_plan(run, {}, train_missing=False)
    assert list(trainings.runs) == [finished.name]
    assert trainings.in_progress == {training.name: 3}  # the others have not logged an epoch
    assert len(trainings.missing) == len(plan) - 1


def test_the_plan_table_has_a_row_per_recipe_with_what_is_trained():
    trainings = _trainings({"a": 0.60, "b": 0.62})
    trainings.plan += (PlannedRun("c", FastRecipe(epochs=30), group="longer"),)
    table = cg.plan_table(trainings)
    assert list(table.index) == ["fast CNN, 10 epochs", "fast CNN, 30 epochs"]
    assert table.loc["fast CNN, 10 epochs", "trained"] == "0, 1"
    assert table.loc["fast CNN, 10 epochs", "PublicTest"] == "60.0%"
    assert table.loc["fast CNN, 30 epochs", "trained"] == "none yet"
    assert trainings.untrained("longer") == ["fast CNN, 30 epochs"] and trainings.untrained("seeds") == []
    # a long run's unfinished training says how far it has come
    assert cg.progress_note(trainings) == ""
    trainings.in_progress["c"] = 12
    assert cg.progress_note(trainings) == "Still training when this page ran: fast CNN, 30 epochs, seed 0, at epoch 12 of 30."


def test_another_batch_size_scales_sgds_learning_rate_and_trains_in_folders_of_its_own():
    sgd = FastRecipe()
    bigger = sgd.with_batch_size(512)
    assert bigger.batch_size == 512 and bigger.learning_rate == pytest.approx(sgd.learning_rate * 4)
    adamw = FastRecipe(optimizer="adamw", learning_rate=1e-3)
    assert adamw.with_batch_size(512).learning_rate == 1e-3  # Adam's step does not grow with the gradient
    with pytest.raises(ValueError, match="positive"):
        sgd.with_batch_size(0)
    plain, batched = cg.page_plan("smoke"), cg.page_plan("smoke", 512)
    assert [p.name + "-batch512" for p in plain] == [p.name for p in batched]
    assert {p.recipe.batch_size for p in batched} == {512}
    # the page's compile check follows the scaled recipe: its schedule peaks at the scaled rate
    from ferlib.recipes.fast import schedule

    peak = schedule(batched[0].recipe, 10)(10)  # the warm-up of one epoch of 10 steps ends at the peak
    assert float(peak) == pytest.approx(4 * plain[0].recipe.learning_rate, rel=1e-6)


def test_the_peer_sentence_names_the_final_run_once_and_reads_the_paired_test():
    y = np.array([0, 1, 2, 3, 4, 5, 6, 0, 1, 2])
    ours = y.copy()
    ours[:2] = 6  # our model misses two faces the peer gets right
    peer = cg.PeerScores(public_test=0.5, private_test=0.5, test_correct=np.ones(len(y), bool))
    text = cg.peer_comparison(ours, {"test": (np.zeros((len(y), 48, 48, 1)), y)}, peer, "fast-50ep-seed3")
    assert text.count("fast-50ep-seed3") == 1 and text.startswith("Our final model here is fast-50ep-seed3.")
    assert "exact McNemar test" in text and "not beyond chance" in text


def _one_hot_probabilities(answers: list[int], confidence) -> np.ndarray:
    """Probabilities that put `confidence` (one number, or one per face) on each answer and
    share the rest."""
    confidence = np.broadcast_to(np.asarray(confidence, float), (len(answers),))
    out = np.repeat(((1 - confidence) / 6)[:, None], 7, axis=1)
    out[np.arange(len(answers)), answers] = confidence
    return out


def test_the_ensemble_is_chosen_greedily_and_stops_when_nothing_helps():
    from ferlib.evaluate import select_ensemble

    y = np.array([0, 1, 2, 3])
    candidates = {"a": _one_hot_probabilities([0, 1, 2, 0], 0.9),   # 3 of 4
                  "b": _one_hot_probabilities([5, 5, 5, 3], [0.2, 0.2, 0.2, 0.95]),  # sure only of the one "a" misses
                  "c": _one_hot_probabilities([0, 1, 2, 0], 0.5)}   # "a" again, less sure: adds nothing
    assert select_ensemble(candidates, y) == ["a", "b"]  # together: 4 of 4
    assert select_ensemble(candidates, y, max_members=1) == ["a"]
    tied = {"z": candidates["a"], "m": candidates["a"]}
    assert select_ensemble(tied, y) == ["m"]  # a tie goes to the earlier name; a copy adds nothing
    with pytest.raises(ValueError, match="no candidate"):
        select_ensemble({}, y)


def test_a_runs_probabilities_are_cached_and_scored_again_for_other_faces(tmp_path, monkeypatch):
    import keras

    from ferlib.files import save_model
    from ferlib.recipes import fast

    inputs = keras.Input((48, 48, 1))
    model = keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(keras.layers.Flatten()(inputs)))
    save_model(model, tmp_path / "run" / "model.keras")
    rng = np.random.default_rng(0)
    arrays = {part: (rng.random((5, 48, 48, 1), dtype=np.float32), rng.integers(0, 7, 5)) for part in ("val", "test")}
    first = fast.run_probabilities(tmp_path / "run", arrays)
    x = arrays["test"][0]
    assert sorted(first) == ["test", "test_tta", "val_tta"] and first["test"].dtype == np.float32
    assert np.allclose(first["test"], model.predict(x, verbose=0), atol=1e-3)  # kept in thousandths (at most 0.999)
    assert np.allclose(first["test_tta"], (model.predict(x, verbose=0) + model.predict(x[:, :, ::-1], verbose=0)) / 2,
                       atol=1e-3)
    assert (tmp_path / "run" / fast.PROBABILITIES).exists()
    monkeypatch.setattr(fast, "load_model", lambda path: pytest.fail("the cache should have answered"))
    again = fast.run_probabilities(tmp_path / "run", arrays)
    assert all(np.array_equal(again[k], first[k]) for k in first)
    (tmp_path / "run" / "model.keras").unlink()  # weights lost: the kept probabilities still answer
    assert all(np.array_equal(v, first[k]) for k, v in fast.run_probabilities(tmp_path / "run", arrays).items())
    monkeypatch.undo()
    save_model(model, tmp_path / "run" / "model.keras")
    other = {**arrays, "test": (x, (arrays["test"][1] + 1) % 7)}  # other faces (their labels differ)
    calls = []
    monkeypatch.setattr(fast, "load_model", lambda path: calls.append(path) or model)
    fast.run_probabilities(tmp_path / "run", other)
    assert calls, "faces other than the cached ones must be scored again"
    assert fast.run_probabilities(tmp_path / "no-weights", arrays) is None


def test_the_small_ensemble_is_scored_once_on_privatetest_and_said_with_its_test(monkeypatch):
    from ferlib.recipes.verdicts import ensemble_verdict

    y_val, y_test = np.array([0, 1, 2, 3]), np.array([0, 1, 2, 3, 4])
    answers = {"a": ([0, 1, 2, 0], [0, 1, 2, 0, 0]), "b": ([5, 5, 5, 3], [5, 5, 5, 3, 4]), "c": ([6, 6, 6, 6], [0] * 5)}
    sure = {"a": ([0.9] * 4, [0.9] * 5), "b": ([0.2, 0.2, 0.2, 0.95], [0.2, 0.2, 0.2, 0.95, 0.95]),
            "c": ([0.9] * 4, [0.9] * 5)}
    probabilities = {name: {key: _one_hot_probabilities(v if key.startswith("val") else t,
                                                        sure[name][0] if key.startswith("val") else sure[name][1])
                            for key in ("val", "val_tta", "test", "test_tta")}
                     for name, (v, t) in answers.items()}
    probabilities["none"] = None  # a run that kept neither weights nor probabilities
    monkeypatch.setattr(cg, "run_probabilities", lambda folder, arrays: probabilities[folder.name])
    plan = tuple(PlannedRun(name, FastRecipe(epochs=10), seed=i) for i, name in enumerate(probabilities))
    runs = {name: FastRun(Path(name), [], {"train_seconds": 600.0}) for name in probabilities}
    trainings = cg.GapTrainings(runs, (), plan)
    arrays = {"val": (None, y_val), "test": (None, y_test)}
    ensemble = cg.small_ensemble(trainings, arrays)
    assert ensemble.members == ["a", "b"] and ensemble.candidates == 3 and ensemble.seeds == [0, 1]
    assert ensemble.public_test == 1.0 and ensemble.private_test == ensemble.private_test_tta == 1.0
    assert ensemble.train_seconds == 1200.0
    final = cg.FinalModel("a", np.array(answers["a"][1]), 0.75)
    text = ensemble_verdict(ensemble, final, y_test)
    assert "among the 3 runs whose probabilities are kept, the ensemble averages 2 networks (a, b; 20 min of" in text
    assert "100.0% on PrivateTest (95% interval" in text
    assert "2 faces only the ensemble gets right and 0 only the final model; exact McNemar p = 0.5, within noise" in text
    records = cg.gap_records(pd.DataFrame(), cg.PeerScores(unavailable="absent"), ensemble)
    assert records == [{"name": "small ensemble (2 networks)", "private_test": 1.0, "private_test_tta": 1.0,
                        "public_test": 1.0, "train_seconds": 1200.0, "seeds": [0, 1], "members": ["a", "b"],
                        "note": records[0]["note"]}]
    few = cg.GapTrainings({"a": runs["a"], "none": runs["none"]}, (), plan)
    assert cg.small_ensemble(few, arrays) is None
    assert "no ensemble to choose yet" in ensemble_verdict(None, final, y_test)
    alone = replace(ensemble, members=["a"])
    text = ensemble_verdict(alone, final, y_test)
    assert "no second network raised the PublicTest accuracy of the best one, a, so the ensemble is that network" in text
    assert "McNemar" not in text  # the final model itself: nothing to test


def test_the_second_goal_reads_the_longer_recipe_and_the_ensemble_with_their_intervals():
    from ferlib.recipes.verdicts import best_goal_verdict

    plan = (PlannedRun("final0", FastRecipe(epochs=10), seed=0),
            PlannedRun("wide0", FastRecipe(epochs=200), seed=0, group="longer", label="wide CNN"))
    summary = {"private_test": 0.742, "private_test_tta": 0.752, "public_test": 0.73, "train_seconds": 6 * 3600.0,
               "machines": ["cpu: AMD EPYC (2 cores)"]}
    runs = {"final0": FastRun(Path("."), [], {**summary, "private_test": 0.69, "train_seconds": 1500.0}),
            "wide0": FastRun(Path("."), [], summary)}
    seeds = cg.seeds_table(cg.GapTrainings(runs, (), plan), n_test=3589)
    assert list(seeds["group"]) == ["seeds", "longer"]
    text = best_goal_verdict(seeds, None, goal=(8, 0.735, 0.75), n_test=3589)
    assert "\"wide CNN\" trained for 6 h 00 min on AMD EPYC (2 cores), within the 8 hours, and scores 74.2% (one seed)" in text
    assert "which is above 73.5%, though its 95% interval" in text and "does not rule out less" in text
    assert "with flip averaging it scores 75.2%, which is above 75.0%" in text
    ensemble = cg.Ensemble(["a", "b"], 3, 0.77, 0.77, 0.78, np.zeros(3589), 3000.0, [0, 1])
    assert "The small ensemble, flip-averaged, scores 78.0%, which reaches 75.0% (95% interval" in \
        best_goal_verdict(seeds, ensemble, (8, 0.735, 0.75), 3589)
    short = best_goal_verdict(seeds.iloc[:1], None, (8, 0.735, 0.75), 3589)
    assert "No longer recipe has finished in this run yet." in short
