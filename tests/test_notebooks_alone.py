"""A notebook executed on its own in a fresh folder, as Colab runs it: it must train (at the
smoke profile, on the synthetic faces) whatever the notebooks before it would have made.

Every results page gets its models through ``load_or_train_stage``: page 4 asks it for the
phase-1 models, page 7 (through ``ferlib.recipes.beyond``) for the final ones, as pages 5 and
6 do. Those two pages alone cover both paths; each alone trains the CNN and the ViT from
nothing, several minutes on a 2-core CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parent.parent
ALONE = ("04_phase2", "07_beyond")


@pytest.mark.slow
@pytest.mark.parametrize("name", ALONE)
def test_a_notebook_runs_alone_in_a_fresh_folder(name, tmp_path, monkeypatch):
    import papermill as pm

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    output = tmp_path / f"{name}.ipynb"
    pm.execute_notebook(str(REPO / "notebooks" / f"{name}.ipynb"), str(output), kernel_name="python3", cwd=str(tmp_path),
                        parameters={"data": "synthetic", "profile": "smoke", "run_dir": "."}, progress_bar=False)
    cells = json.loads(output.read_text())["cells"]
    text = "".join("".join(o.get("text", "")) for c in cells for o in c.get("outputs", []) if o.get("output_type") == "stream")
    assert "training it now at the smoke profile" in " ".join(text.split())  # it said what it did
    assert (tmp_path / "cnn" / "phase1" / "model.keras").exists()
    assert not any(o.get("output_type") == "error" for c in cells for o in c.get("outputs", []))


@pytest.mark.slow
def test_the_verdicts_follow_the_numbers(pages_run):
    """The sentences the conclusion quotes are the ones the run's own numbers give."""
    import ast

    from ferlib.recipes.verdicts import comparison_verdicts, difference_verdicts

    cells = json.loads((pages_run.folder / "notebooks" / "05_comparison.ipynb").read_text())["cells"]
    glued = {}
    for cell in cells:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook")
            if scrap:  # numbers and sentences; a glued table (a Styler) is not a literal
                text = "".join(output["data"].get(scrap["mime_prefix"] + "text/plain", ""))
                try:
                    glued[scrap["name"]] = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    pass
    results = {m: {f"phase{p}": {part: {"accuracy": glued[f"{m}_p{p}_{part}_acc"]} for part in ("train", "val", "test")}
                   for p in (1, 2)} for m in ("cnn", "vit")}
    from ferlib.recipes.comparison import load_comparison_tests

    tests = load_comparison_tests(json.loads((pages_run.folder / "metrics" / "comparison_tests.json").read_text()))
    expected = comparison_verdicts(results, glued["test_majority_baseline"], "smoke", tests)
    assert {k: glued[k] for k in expected} == expected
    assert "McNemar" in glued["verdict_ranking"]  # read through the paired test
    assert "This is a smoke run" in glued["verdict_caveat"]
    logs = {f"{m} {stage}": {"epochs": glued[f"{m}_{stage}_epochs"], "best_epoch": glued[f"{m}_{stage}_best_epoch"],
                             "accuracy": glued[f"{m}_{stage}_log_train_acc"],
                             "val_accuracy": glued[f"{m}_{stage}_log_val_acc"]}
            for m in ("cnn", "vit") for stage in ("phase1", "augmentation")}
    differences = difference_verdicts(results, logs)
    assert {k: glued[k] for k in differences} == differences
