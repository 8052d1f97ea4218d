"""The chapter "Why the ViT loses, tested": its contenders, their equal budgets, their records."""

from __future__ import annotations

import numpy as np
import pytest

from ferlib.evaluate import interval
from ferlib.files import read_json, write_json
from ferlib.models import model_names
from ferlib.recipes import vit_question as vq


def _arrays(n_train=96, n_test=64, seed=0):
    rng = np.random.default_rng(seed)

    def part(n):
        y = rng.integers(0, 7, n)
        x = rng.random((n, 48, 48, 1), dtype=np.float32) * 0.5
        for c in range(7):  # each emotion a bright band of its own
            x[y == c, c * 6:c * 6 + 6] += 0.5
        return x, y

    return {"train": part(n_train), "val": part(n_test), "test": part(n_test)}


def test_every_contender_is_a_registered_model_and_the_issue_s_variants_are_there():
    names = [c.name for c in vq.CONTENDERS]
    assert len(names) == len(set(names))
    assert all(c.model in model_names(every=True) for c in vq.CONTENDERS)
    families = {c.family for c in vq.CONTENDERS}
    assert families == {"cnn", "transformer"}
    patch_sizes = {getattr(c.config, "patch_size", 4) for c in vq.CONTENDERS if c.model == "vit"}
    assert patch_sizes == {2, 3, 4, 6}
    assert {"vit-spt", "cct", "hybrid"} <= {c.model for c in vq.CONTENDERS}
    assert vq.contender("report-vit").training == "report"
    with pytest.raises(ValueError, match="no contender 'vit-9'"):
        vq.contender("vit-9")


def test_transformers_train_with_adamw_and_a_crop_that_keeps_the_face_at_inference():
    assert vq.TRANSFORMER_RECIPE.optimizer == "adamw"
    assert vq.TRANSFORMER_RECIPE.network.crop_style == "translate"
    assert vq.contender("fastcnn").recipe.optimizer == "sgd"


def test_the_budget_is_measured_once_and_kept_by_a_resumed_run(tmp_path):
    arrays = _arrays()
    c = vq.contender("cct")
    budget = vq.budget_epochs(c, arrays, 30.0, tmp_path)
    assert budget["epochs"] >= 1 and budget["seconds_per_image"] > 0
    assert budget["epochs"] == max(1, int(30.0 / (budget["seconds_per_image"] * 96))) or budget["epochs"] == 400
    # a resumed run reads the schedule back instead of timing again (which would give another number)
    write_json(tmp_path / "budget.json", {**budget, "epochs": 7})
    assert vq.budget_epochs(c, arrays, 30.0, tmp_path)["epochs"] == 7
    # another budget is measured anew
    assert vq.budget_epochs(c, arrays, 1e-6, tmp_path)["epochs"] == 1


def test_contenders_train_for_their_budget_and_leave_a_record(tmp_path):
    arrays = _arrays()
    records = []
    for name in ("report-vit", "cct"):
        # one epoch within the budget, whatever this machine's speed (a slow one would time it over)
        write_json(tmp_path / f"{name}-seed0" / "budget.json",
                   {"budget_seconds": 1.0, "seconds_per_image": 0.001, "epochs": 1, "over_budget": False,
                    "machine": "cpu: test", "train_images": 96})
        record = vq.train_contender(vq.contender(name), arrays, root=tmp_path, seed=0, budget_seconds=1.0)
        assert record["epochs"] == record["budget"]["epochs"]
        assert 0.0 <= record["private_test"] <= 1.0 and record["train_seconds"] > 0
        assert record["params"] > 0 and record["multiply_adds"] > 0
        assert (tmp_path / f"{name}-seed0" / "record.json").exists()
        predicted = vq.predictions(record)
        assert predicted.shape == (64,)
        assert np.isclose(np.mean(predicted == arrays["test"][1]), record["private_test"])
        records.append(record)
    # finished: read back, not trained again
    again = vq.train_contender(vq.contender("cct"), arrays, root=tmp_path, seed=0, budget_seconds=1.0)
    assert again == read_json(tmp_path / "cct-seed0" / "record.json")
    # a training finished in an earlier session whose record was never written: the record is
    # made from the saved model, predictions included
    (tmp_path / "cct-seed0" / "record.json").unlink()
    remade = vq.train_contender(vq.contender("cct"), arrays, root=tmp_path, seed=0, budget_seconds=1.0)
    assert remade["private_test_predictions"] == again["private_test_predictions"]
    table = vq.summary_table(records)
    assert list(table["name"]) == ["report-vit", "cct"]
    assert list(table["contender"]) == [vq.contender("report-vit").label, vq.contender("cct").label]
    assert table["weights"].iloc[0] == 24_487  # the report's ViT, as the architecture chapter teaches it
    # the recipe gives the interval as numbers; the page's table writes it as every table does
    assert (table["interval low"] < table["PrivateTest"]).all() and (table["PrivateTest"] < table["interval high"]).all()
    from ferlib.display import interval_text, style_question

    shown = style_question(table).data
    assert shown["95% interval"].iloc[0] == interval_text(table["interval low"].iloc[0], table["interval high"].iloc[0])
    model = vq.trained_model(tmp_path, "cct", 0)  # the bare network, without the recipe's augmentation
    assert model.name == "cct" and model.predict(arrays["test"][0][:2], verbose=0).shape == (2, 7)
    test = vq.cnn_against_transformer(records, arrays["test"][1])
    assert test is None  # no CNN among these two
    out = vq.question_json(records, {"before": 1.0, "after": 5.0})
    assert [m["name"] for m in out["models"]] == ["report-vit", "cct"]
    for entry in out["models"]:
        assert set(entry) >= {"name", "family", "private_test", "params", "multiply_adds", "train_seconds", "seeds"}
        assert entry["family"] == "transformer" and len(entry["seeds"]) == 1
    assert out["vit_speedup"] == {"before": 1.0, "after": 5.0}


def _summary(rows):
    import pandas as pd

    return pd.DataFrame([{"name": n, "contender": n, "family": f, "PublicTest": pub, "PrivateTest": priv}
                         for n, f, pub, priv, _ in rows])


def test_the_verdict_chooses_on_publictest_and_names_the_networks_over_budget():
    import pandas as pd

    from ferlib.recipes.verdicts import vit_question_verdict

    summary = _summary([("report-vit", "transformer", 0.40, 0.39, False), ("vit-fast", "transformer", 0.55, 0.54, False),
                        ("cct", "transformer", 0.50, 0.60, False), ("fastcnn", "cnn", 0.66, 0.67, False)])
    over = pd.DataFrame([{"name": "vit-patch3", "minutes per epoch": 16.6, "budget minutes": 15.0, "machine": "AMD EPYC"},
                         {"name": "vit-patch2", "minutes per epoch": 83.2, "budget minutes": 15.0, "machine": "AMD EPYC"}])
    text = vit_question_verdict(summary, None, "full", over=over).text
    # vit-fast leads on PublicTest (cct's better PrivateTest must not choose it)
    assert "best transformer on PublicTest, vit-fast, scores 54.0%" in text
    assert "13.0 points below the CNN" in text and "is not met" in text
    assert ("On AMD EPYC, one epoch of vit-patch3 would take 17 minutes and one of vit-patch2 83 minutes, longer than the "
            "budget of 15 min, so they are measured, not trained, and stay out of this comparison.") in text
    assert "would take 83 minutes, longer than the budget of 15 min, so it is measured" in \
        vit_question_verdict(summary, None, "full", over=over.iloc[1:]).text
    assert "measured, not trained" not in vit_question_verdict(summary, None, "full", over=over.iloc[:0]).text
    assert "the same ViT gains 15.0 points (39.0% to 54.0%)" in text
    close = _summary([("cct", "transformer", 0.65, 0.66, False), ("fastcnn", "cnn", 0.66, 0.67, False)])
    assert "is met" in vit_question_verdict(close, None, "full").text
    far = _summary([("hybrid", "transformer", 0.41, 0.41, False), ("fastcnn", "cnn", 0.56, 0.57, False)])
    far["epochs"] = [3, 3]
    assert "Both trained 3 epochs, so the gap is not the budget buying the CNN more passes" in \
        vit_question_verdict(far, None, "full").gap
    far["epochs"] = [2, 5]
    assert "bought the CNN 5 epochs and the transformer 2, so part of the gap is the transformer's cost" in \
        vit_question_verdict(far, None, "full").gap
    close["epochs"] = [3, 3]
    assert "epochs" not in vit_question_verdict(close, None, "full").text  # met: nothing to explain
    close["budget minutes"], close["machine"] = 15.0, "AMD EPYC (2 cores) and B (2 cores)"
    close["budget machine"] = "AMD EPYC (2 cores)"  # a seed retrained on B kept the epochs EPYC measured
    assert ("At the same training budget, 15 min of training converted to epochs as timed on AMD EPYC (2 cores), "
            "the best") in \
        vit_question_verdict(close, None, "full").text
    assert vit_question_verdict(close.iloc[:0], None, "full").text.startswith("No contender has finished")


def _page_run(folder, profile: str, seconds: float, reexecuted: float):
    """A run folder holding an executed page 9 (re-executed in `reexecuted` seconds)."""
    import json

    (folder / "notebooks").mkdir(parents=True)
    (folder / "metrics").mkdir()
    notebook = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# 9. x"}],
                "metadata": {"papermill": {"duration": reexecuted}}, "nbformat": 4, "nbformat_minor": 5}
    (folder / "notebooks" / "09_vit_question.ipynb").write_text(json.dumps(notebook))
    (folder / "run.json").write_text(json.dumps({"profile": profile}))
    (folder / "timings.json").write_text(json.dumps({"09_vit_question": seconds}))
    record = folder / "vit-question" / "cct-seed0"
    record.mkdir(parents=True)
    (record / "record.json").write_text('{"name": "cct"}')
    (record / "training").mkdir()
    (record / "training" / "model.keras").write_text("weights stay out of git")


def test_page_9_published_from_another_profile_keeps_its_time_apart(tmp_path):
    """The published run is a full one; page 9 comes from a smoke run: its time (the run's
    recorded one, not a later re-execution's) goes to other_profiles, never into the full run's
    table, and its records (not its weights) into the book."""
    import json

    from ferlib.tooling.publish import publish_page

    book = tmp_path / "book"
    (book / "results").mkdir(parents=True)
    (book / "results" / "run.json").write_text(json.dumps(
        {"profile": "full", "notebook_seconds": {"01_data": 16.0, "09_vit_question": 5.0}}))
    _page_run(tmp_path / "smoke", "smoke", seconds=241.4, reexecuted=10.6)
    publish_page(tmp_path / "smoke", "09_vit_question", book_dir=book)
    card = json.loads((book / "results" / "run.json").read_text())
    assert card["notebook_seconds"] == {"01_data": 16.0}
    assert card["other_profiles"] == {"09_vit_question": {"profile": "smoke", "seconds": 241.4}}
    assert "published from a run at the smoke profile" in (book / "results" / "reproduction.md").read_text()
    kept = book / "results" / "vit-question" / "cct-seed0"
    assert sorted(p.name for p in kept.iterdir()) == ["record.json"]
    # published again from a run of the published run's own profile, it joins that run's table
    _page_run(tmp_path / "full", "full", seconds=900.0, reexecuted=12.0)
    publish_page(tmp_path / "full", "09_vit_question", book_dir=book)
    card = json.loads((book / "results" / "run.json").read_text())
    assert card["notebook_seconds"]["09_vit_question"] == 900.0 and not card["other_profiles"]


def test_publishing_page_9_records_what_its_long_run_trained(tmp_path):
    """Executed after its long run, the page takes minutes: its card and the openings' times
    also carry the long run's training seconds, summed over the finished contenders."""
    import json

    from ferlib.tooling.publish import publish_page

    book = tmp_path / "book"
    (book / "results").mkdir(parents=True)
    (book / "results" / "run.json").write_text(json.dumps({"profile": "full", "notebook_seconds": {}}))
    _page_run(tmp_path / "full", "full", seconds=95.0, reexecuted=95.0)
    root = tmp_path / "full" / "vit-question"
    (root / "cct-seed0" / "record.json").write_text('{"name": "cct", "train_seconds": 910.5}')
    (root / "fastcnn-seed0").mkdir()
    (root / "fastcnn-seed0" / "record.json").write_text('{"name": "fastcnn", "train_seconds": 889.5}')
    (root / "hybrid-seed0").mkdir()  # still training: no record yet
    times = tmp_path / "times.json"
    publish_page(tmp_path / "full", "09_vit_question", book_dir=book, page_times=times)
    card = json.loads((book / "results" / "run.json").read_text())
    assert card["long_runs"]["09_vit_question"] == {"profile": "full", "seconds": 1800.0, "trainings": 2}
    entry = json.loads(times.read_text())["09_vit_question"]["full"]["2-core CPU"]
    assert entry["seconds"] == 95.0 and entry["long_run"] == {"seconds": 1800.0, "trainings": 2}
    assert "09_vit_question was executed after its long run, which had trained 2 networks for 30 min" in \
        (book / "results" / "reproduction.md").read_text()


def test_the_speed_note_reads_the_benchmark_it_shows():
    speed = {"machine": "cpu: Some CPU (2 cores)", "before": 100.0, "after": 150.0, "how": "bfloat16",
             "speedup": 1.5, "peak": 1e11,
             "options": [{"option": "as trained", "backend": "tensorflow", "images_per_second": 100.0,
                          "speedup": 1.0, "flop_per_second": 1e10},
                         {"option": "XLA", "backend": "tensorflow", "images_per_second": 60.0, "speedup": 0.6},
                         {"option": "bfloat16", "backend": "tensorflow", "images_per_second": 150.0, "speedup": 1.5}]}
    note = vq.speed_note(speed)
    assert "(Some CPU (2 cores))" in note and "bfloat16, reaches 150 (1.50 times as many)" in note
    assert "Slower than the pages' own way on this CPU: XLA." in note and "10.0 GFLOP/s, 10% of the 100 GFLOP/s" in note
    assert list(vq.speed_table(speed).columns) == ["option", "backend", "batch", "faces/s", "against as trained"]
    assert "larger" not in note


def test_larger_batches_are_reported_apart_from_the_same_training(tmp_path):
    """A batch of 256 trains the same network another way: it never counts as the speed-up of
    the same training, and the note names it as another training."""
    from ferlib.files import write_json

    def option(label, rate, batch=64, same=True):
        return {"option": label, "backend": "jax", "images_per_second": rate, "speedup": rate / 100,
                "batch_size": batch, "same_network": same, "flop_per_second": rate * 1e8}

    write_json(tmp_path / "bench.json", {"machine": "cpu: Some CPU (2 cores)", "batch_size": 64,
                                         "matmul_peak_flops": 1e11,
                                         "options": [option("as trained", 100), option("JAX", 120),
                                                     option("JAX, batch 256", 450, batch=256),
                                                     option("no attention dropout", 900, same=False)]})
    speed = vq.vit_speedup(tmp_path / "bench.json")
    assert speed["how"] == "JAX" and speed["speedup"] == pytest.approx(1.2)
    assert speed["larger_batch"] == {"how": "JAX, batch 256", "batch_size": 256, "images_per_second": 450,
                                     "speedup": pytest.approx(4.5)}
    note = vq.speed_note(speed)
    assert "With batches of 256 (JAX, batch 256) it reaches 450 (4.50 times as many), but that is another training" in note
    assert list(vq.speed_table(speed)["batch"]) == [64, 64, 256, 64]


def test_the_verdict_sets_each_locality_contender_and_patch_size_against_the_plain_vit_with_its_paired_test():
    from types import SimpleNamespace

    from ferlib.recipes.verdicts import NOT_MEASURED, vit_question_verdict

    summary = _summary([("report-vit", "transformer", 0.40, 0.41, False), ("vit-fast", "transformer", 0.50, 0.50, False),
                        ("vit-patch2", "transformer", 0.48, 0.47, False), ("vit-spt", "transformer", 0.52, 0.53, False),
                        ("cct", "transformer", 0.55, 0.58, False), ("fastcnn", "cnn", 0.66, 0.67, False)])
    tests = vq.QuestionTests(training=SimpleNamespace(p_value=1e-9),
                             locality={"vit-spt": SimpleNamespace(p_value=0.3), "cct": SimpleNamespace(p_value=0.001)},
                             patches={"vit-patch2": SimpleNamespace(p_value=0.04)})
    verdict = vit_question_verdict(summary, tests, "full")
    assert "against the plain ViT with the same recipe (50.0%): vit-spt +3.0 points" in verdict.locality
    assert "p = 0.3, not beyond chance" in verdict.locality
    assert "cct +8.0 points (exact McNemar p = 0.001, beyond chance)" in verdict.locality
    assert verdict.patches == ("Against 4 x 4 patches with the same recipe and budget (50.0%): "
                               "2 x 2 -3.0 points (exact McNemar p = 0.04, beyond chance).")
    assert verdict.training.endswith("(41.0% to 50.0%; exact McNemar p < 0.001, beyond chance).")
    # the whole, and each part alone for the conclusion
    glued = verdict.glue_values()
    assert glued["verdict_vit_question"] == verdict.text
    assert all(glued[f"vit_question_{part}"] in verdict.text for part in ("gap", "training", "locality", "patches"))
    # the page shows the same words, a paragraph per claim
    assert verdict.markdown.split("\n\n")[-2:] == [verdict.locality, verdict.patches]
    assert verdict.markdown.replace("\n\n", " ") == verdict.text
    # over-budget patch sizes qualify the patches only, not every quoted part
    import pandas as pd

    over = vit_question_verdict(summary, tests, "full", over=pd.DataFrame([
        {"name": "vit-patch3", "minutes per epoch": 17.0, "budget minutes": 15.0, "machine": "AMD EPYC (2 cores)"}]))
    parts = over.glue_values()
    assert "vit-patch3 would take 17 minutes" in parts["vit_question_patches"]
    assert all("vit-patch3" not in parts[f"vit_question_{part}"] for part in ("gap", "training", "locality"))
    untested = vit_question_verdict(summary, None, "full")
    assert not untested.locality and not untested.patches
    # what the budget bought each network, where the summary counts its epochs
    summary["epochs"] = [5, 3, 1, 4, 7, 3]
    counted = vit_question_verdict(summary, tests, "full")
    assert counted.training.endswith("The budget bought the report's training 5 epochs and the fast recipe's 3.")
    assert "same recipe (50.0%, 3 epochs): vit-spt +3.0 points (4 epochs; exact McNemar p = 0.3" in counted.locality
    assert "2 x 2 -3.0 points (1 epoch; exact McNemar p = 0.04, beyond chance)" in counted.patches
    assert untested.glue_values()["vit_question_locality"] == NOT_MEASURED
    # a smaller run says so in front of every part the conclusion quotes
    smoke = vit_question_verdict(summary, tests, "smoke").glue_values()
    assert all(smoke[f"vit_question_{part}"].startswith("This is a smoke run") for part in ("gap", "locality"))


def test_locality_tests_pair_each_contender_with_the_plain_vit_on_the_lowest_seed():
    y = np.array([0, 1, 2, 3, 4, 5, 6, 0])

    def record(name, seed, right):
        predicted = np.where(np.arange(len(y)) < right, y, (y + 1) % 7)
        return {"name": name, "seed": seed, "private_test_predictions": "".join(map(str, predicted))}

    records = [record("vit-fast", 1, 8), record("vit-fast", 0, 2), record("cct", 0, 8), record("vit-spt", 0, 2)]
    tests = vq.locality_tests(records, y)
    assert set(tests) == {"cct", "vit-spt"}  # the hybrid never trained
    assert tests["cct"].only_first == 6 and tests["cct"].only_second == 0  # seed 0's vit-fast, not seed 1's
    assert tests["vit-spt"].only_first == 0 == tests["vit-spt"].only_second


def test_each_seed_is_tested_and_a_difference_is_beyond_chance_only_in_every_seed():
    """With two seeds, each seed's networks are paired with each other, the sentence gives
    both p-values, and a difference one seed does not replicate is not called beyond chance.
    The interval is on the test faces, which the seeds share: two seeds do not narrow it."""
    from ferlib.recipes.verdicts.vit_question import _chance

    y = np.zeros(400, dtype=int)

    def record(name, seed, right):
        predicted = np.where(np.arange(len(y)) < right, y, 1)
        return {"name": name, "family": "transformer", "seed": seed, "public_test": 0.5, "private_test": right / 400,
                "private_test_tta": right / 400, "params": 1, "multiply_adds": 1, "epochs": 3, "train_seconds": 60.0,
                "budget_seconds": 900.0, "machine": "cpu: test", "test_images": len(y),
                "private_test_predictions": "".join(map(str, predicted))}

    records = [record("vit-fast", 0, 100), record("vit-fast", 1, 100), record("cct", 0, 200), record("cct", 1, 104),
               record("vit-spt", 0, 130)]
    tests = vq.locality_tests(records, y)
    assert tests["cct"].seeds == (0, 1) and tests["vit-spt"].seeds == (0,)
    assert [t.only_first for t in tests["cct"].tests] == [100, 4]  # seed 1's cct against seed 1's vit-fast
    assert tests["cct"].p_value == tests["cct"].tests[1].p_value > 0.05  # the least convincing seed
    assert _chance(tests["cct"]).endswith("in seeds 0 and 1, beyond chance in seed 0 only")
    assert _chance(tests["vit-spt"]).startswith("exact McNemar p") and "seeds" not in _chance(tests["vit-spt"])
    # seeds whose p-values are all tiny share one "p < 0.001", not "5.2e-72 and 7e-71"
    from types import SimpleNamespace

    tiny = SimpleNamespace(tests=(SimpleNamespace(p_value=5.2e-72), SimpleNamespace(p_value=7e-71)), seeds=(0, 1))
    assert _chance(tiny) == "exact McNemar p < 0.001 in seeds 0 and 1, beyond chance in every seed"
    mixed = SimpleNamespace(tests=(SimpleNamespace(p_value=0.03), SimpleNamespace(p_value=1e-9)), seeds=(0, 1))
    assert _chance(mixed) == "exact McNemar p = 0.03 and < 0.001 in seeds 0 and 1, beyond chance in every seed"
    table = vq.summary_table(records).set_index("name")
    one_seed = interval(table.loc["vit-fast", "PrivateTest"], len(y))
    assert (table.loc["vit-fast", "interval low"], table.loc["vit-fast", "interval high"]) == one_seed


def test_the_table_names_the_precision_each_contenders_seeds_trained_in():
    """A seed trained on a CPU without bfloat16 trains in float32: the table says so beside the
    seed that had it, so the run box need not name one precision for the whole page."""
    from ferlib.display import style_question

    def record(name, seed, precision):
        return {"name": name, "family": "cnn", "seed": seed, "public_test": 0.5, "private_test": 0.5,
                "private_test_tta": 0.5, "params": 1, "multiply_adds": 1, "epochs": 3, "train_seconds": 60.0,
                "budget_seconds": 900.0, "machine": "cpu: test", "test_images": 100, "precision": precision}

    records = [record("fastcnn", 0, "mixed_bfloat16"), record("fastcnn", 1, "float32"),
               record("cct", 0, "float32"), record("cct", 1, "float32")]
    shown = style_question(vq.summary_table(records)).data.set_index("contender")
    assert shown.loc["fastcnn", "dtype"] == "fp32, bf16" and shown.loc["cct", "dtype"] == "fp32"


def test_paired_tests_are_the_pairs_fixed_before_the_run():
    y = np.array([0, 1, 2, 3, 4, 5, 6, 0])

    def record(name, family, right, public=0.5):
        predicted = np.where(np.arange(len(y)) < right, y, (y + 1) % 7)
        return {"name": name, "family": family, "seed": 0, "public_test": public,
                "private_test_predictions": "".join(map(str, predicted))}

    records = [record("report-vit", "transformer", 1), record("vit-fast", "transformer", 4),
               record("vit-patch6", "transformer", 8, public=0.9), record("cct", "transformer", 5),
               record("fastcnn", "cnn", 7)]
    tests = vq.paired_tests(records, y)
    assert (tests.training.only_first, tests.training.only_second) == (3, 0)  # vit-fast first
    assert set(tests.patches) == {"vit-patch6"} and tests.patches["vit-patch6"].only_first == 4
    assert set(tests.locality) == {"cct"}
    assert set(tests.locality_against_report) == {"cct"}  # the report's ViT trained too
    # best of each family chosen on PublicTest: patch 6, though cct is not worse on PrivateTest
    assert tests.cnn_against_transformer.only_second == 1


@pytest.mark.slow
def test_the_batch_curve_script_trains_each_batch_size_and_resumes(tmp_path):
    """benchmarks/vit_batch_curve.py: one training per batch size, Adam's rate scaled by the
    square root of the batch ratio, PublicTest after every epoch; run again, it reads them back."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    command = [sys.executable, str(repo / "benchmarks" / "vit_batch_curve.py"), "--root", str(tmp_path),
               "--data", "synthetic", "--epochs", "1", "--batches", "32", "128"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    first = subprocess.run(command, capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    curve = json.loads((tmp_path / "curve.json").read_text())
    assert [run["batch_size"] for run in curve["runs"]] == [32, 128]
    assert curve["runs"][1]["learning_rate"] == pytest.approx(2e-3)
    assert all(len(run["public_test_by_epoch"]) == 1 and run["images_per_second"] > 0 for run in curve["runs"])
    assert "batch 128 against 32:" in first.stdout
    again = subprocess.run(command, capture_output=True, text=True, env=env)
    assert again.returncode == 0 and again.stdout.count("(read back)") == 2, again.stdout


def test_a_later_seed_trains_the_epochs_the_first_seed_measured(tmp_path):
    """Seeds are replicates: seed 1 reuses seed 0's epochs (marked as measured on seed 0),
    even on another machine, instead of timing its own."""
    from ferlib.files import read_json, write_json

    first = {"budget_seconds": 900.0, "seconds_per_image": 0.008, "epochs": 3, "over_budget": False,
             "machine": "cpu: A (2 cores)", "train_images": 100}
    write_json(tmp_path / "cct-seed0" / "budget.json", first)
    write_json(tmp_path / "cct-seed3" / "budget.json", {**first, "budget_seconds": 60.0, "epochs": 1})
    assert vq.first_seed_budget(tmp_path, "cct", 0, 900.0) is None  # its own is not another seed's
    assert vq.first_seed_budget(tmp_path, "vit-spt", 1, 900.0) is None
    measured = vq.first_seed_budget(tmp_path, "cct", 1, 900.0)
    assert measured == {**first, "measured_on_seed": 0}
    folder = tmp_path / "cct-seed1"
    folder.mkdir()
    # no arrays needed: nothing is timed
    assert vq.budget_epochs(vq.contender("cct"), {}, 900.0, folder, measured=measured)["epochs"] == 3
    assert read_json(folder / "budget.json")["measured_on_seed"] == 0
    assert vq.first_seed_budget(tmp_path, "cct", 2, 900.0)["measured_on_seed"] == 0


def test_a_contender_over_the_budget_is_measured_and_not_trained(tmp_path):
    """A network whose one epoch takes longer than the budget gets a record of its measured
    cost and sizes, not a training: it stays out of the tables, tests and choices, and
    over_budget() lists it with the minutes one epoch would take."""
    from ferlib.files import read_json, write_json

    budget = {"budget_seconds": 900.0, "seconds_per_image": 0.1, "epochs": 1, "over_budget": True,
              "machine": "cpu: A (2 cores)", "train_images": 28709}
    write_json(tmp_path / "vit-patch2-seed0" / "budget.json", budget)
    # no arrays: nothing may be trained or timed
    record = vq.train_contender(vq.contender("vit-patch2"), {}, root=tmp_path, seed=0, budget_seconds=900.0)
    assert record["trained"] is False and "private_test" not in record
    assert record["minutes_per_epoch"] == pytest.approx(0.1 * 28709 / 60)
    assert record["params"] > 0 and record["multiply_adds"] > 0
    assert read_json(tmp_path / "vit-patch2-seed0" / "record.json") == record
    assert not (tmp_path / "vit-patch2-seed0" / "training").exists()
    # a later seed measures nothing and trains nothing either
    again = vq.train_contender(vq.contender("vit-patch2"), {}, root=tmp_path, seed=1, budget_seconds=900.0)
    assert again["trained"] is False and again["seed"] == 1
    y = np.array([0, 1, 2, 3])
    trained = [{"name": "vit-fast", "family": "transformer", "seed": 0, "public_test": 0.3, "private_test": 0.3,
                "private_test_predictions": "0123"}]
    records = trained + [record, again]
    assert list(vq.records_frame(records)["name"]) == ["vit-fast"]
    assert vq.best_of(records, "transformer") == "vit-fast"
    assert vq.paired_tests(records, y).patches == {}
    over = vq.over_budget(records)
    assert list(over["name"]) == ["vit-patch2"] and over["minutes per epoch"].iloc[0] == pytest.approx(0.1 * 28709 / 60)
    assert over["machine"].iloc[0] == "A (2 cores)" and over["budget minutes"].iloc[0] == 15.0


def test_locality_gains_over_a_plain_vit_that_learned_nothing_are_set_against_the_reports_vit_too():
    """A plain ViT whose interval holds the majority-class accuracy learned nothing in the
    budget: the verdict says so, and also sets each locality contender against the report's
    ViT as the report trained it, each with its paired test."""
    from types import SimpleNamespace

    from ferlib.recipes.verdicts import vit_question_verdict

    summary = _summary([("report-vit", "transformer", 0.36, 0.352, False), ("vit-fast", "transformer", 0.26, 0.249, False),
                        ("vit-spt", "transformer", 0.33, 0.329, False), ("hybrid", "transformer", 0.42, 0.413, False),
                        ("fastcnn", "cnn", 0.56, 0.571, False)])
    summary["interval low"], summary["interval high"] = summary["PrivateTest"] - 0.014, summary["PrivateTest"] + 0.014
    summary["epochs"] = [5, 3, 4, 3, 3]
    chance = SimpleNamespace(p_value=0.01)
    tests = vq.QuestionTests(training=chance, locality={"vit-spt": chance, "hybrid": chance},
                             locality_against_report={"vit-spt": SimpleNamespace(p_value=0.2), "hybrid": chance})
    verdict = vit_question_verdict(summary, tests, "full", majority=0.245)
    assert "no better than always answering the most common emotion (24.5% lies in its interval)" in verdict.locality
    assert ("Against the report's ViT trained the report's way (35.2%, 5 epochs): vit-spt -2.3 points "
            "(4 epochs; exact McNemar p = 0.2, not beyond chance); hybrid +6.1 points") in verdict.locality
    assert "the same ViT loses 10.3 points (35.2% to 24.9%" in verdict.training
    assert "With the fast recipe it is no better than always answering" in verdict.training
    learned = vit_question_verdict(summary, tests, "full", majority=0.10)
    assert "no better than always" not in learned.text


def test_a_smoke_budget_reads_in_seconds():
    from ferlib.recipes.verdicts import vit_question_verdict

    close = _summary([("cct", "transformer", 0.65, 0.66, False), ("fastcnn", "cnn", 0.66, 0.67, False)])
    close["budget minutes"], close["machine"] = 0.5, "AMD EPYC (2 cores)"
    assert ", 30 s of training converted to epochs as timed on AMD EPYC (2 cores)," in \
        vit_question_verdict(close, None, "smoke").text


def test_the_step_parts_come_with_the_speed_and_say_what_caps_a_speed_up(tmp_path):
    """Where the step's time goes travels with the speed figures when measured, and the note
    reads its shares and its ceiling from the file (here: the attention core is 60 of 100 ms,
    so nothing else can make the step more than 1.67 times as fast)."""
    from ferlib.files import write_json

    bench = {"machine": "cpu: Some CPU (2 cores)", "batch_size": 64, "matmul_peak_flops": 2e11,
             "options": [{"option": "as trained", "backend": "tensorflow", "images_per_second": 640.0,
                          "speedup": 1.0}]}
    write_json(tmp_path / "bench.json", bench)
    assert vq.vit_speedup(tmp_path / "bench.json")["step_parts"] is None
    seconds = {"step": 0.1, "attention core": 0.06, "attention core, no dropout": 0.035, "attention products": 0.04}
    write_json(tmp_path / vq.STEP_PARTS_FILE.name,
               {"seconds": seconds, "batch_size": 64, "blocks": 4, "key_dim": 16,
                "attention_weights_bytes": 64 * 4 * 144 * 144 * 4, "product_flop_per_second": 5e10,
                "matmul_peak_flops": 2e11, "ceiling_speedup": 0.1 / 0.06})
    parts = vq.vit_speedup(tmp_path / "bench.json")["step_parts"]
    table = vq.step_parts_table(parts)
    assert list(table["part"]) == list(seconds) and list(table["of the step"].round(2)) == [1.0, 0.6, 0.35, 0.4]
    note = vq.step_parts_note(parts)
    assert "On the benchmark's machine, of the 100 ms a batch of 64 takes, the attention core of the 4 blocks takes " \
        "60 ms (60%)" in note
    assert "the dropout on the attention weights accounts for 25 ms" in note and "take 40 ms" in note
    assert "50 GFLOP/s, 25% of the matrix-multiply peak" in note and "21 MB per block" in note
    assert "would be only 1.67 times as fast" in note


def test_the_speed_note_says_plainly_when_nothing_was_faster():
    speed = {"machine": "cpu: Some CPU (2 cores)", "before": 100.0, "after": 90.0, "how": "as trained + aug",
             "speedup": 0.9,
             "options": [{"option": "as trained", "images_per_second": 100.0, "speedup": 1.0},
                         {"option": "as trained + aug", "images_per_second": 90.0, "speedup": 0.9},
                         {"option": "JAX, batch 256", "images_per_second": 50.0, "speedup": 0.5},
                         {"option": "XLA", "images_per_second": 60.0, "speedup": 0.6}]}
    note = vq.speed_note(speed)
    assert "no other way of training the same network in the same batches was faster: the closest, " \
           "as trained + aug, reaches 90 (0.90 times as many)" in note
    # the closest is named once, not also among the slower ones; names with commas stay whole
    assert note.endswith("Slower than the pages' own way on this CPU: JAX, batch 256; XLA.")
