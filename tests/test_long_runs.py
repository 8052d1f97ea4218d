"""benchmarks/long_runs.py: the long runs' queue, without training (its commands are recorded)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _queue():
    spec = importlib.util.spec_from_file_location("long_runs", REPO / "benchmarks" / "long_runs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _record(folder: Path, name: str, family: str, public: float) -> None:
    folder.mkdir(parents=True)
    (folder / "record.json").write_text(json.dumps({"name": name, "family": family, "seed": 0,
                                                    "public_test": public, "private_test": public}))
    (folder / "budget.json").write_text(json.dumps({"epochs": 3}))


def test_page9_weights_restores_the_records_and_retrains_only_the_explained_models_without_weights(
        tmp_path, monkeypatch):
    from ferlib.tooling.publish import restore_histories

    queue = _queue()
    commands = []
    monkeypatch.setattr(queue, "run", commands.append)
    kept = tmp_path / "book" / "results" / "vit-question"
    for name, family, public in [("fastcnn", "cnn", 0.56), ("report-vit", "transformer", 0.37),
                                 ("hybrid", "transformer", 0.42), ("cct", "transformer", 0.40)]:
        _record(kept / f"{name}-seed0", name, family, public)
    run_dir = tmp_path / "full"
    weights = run_dir / "vit-question" / "fastcnn-seed0" / "training" / "model.keras"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"kept")  # the best CNN's weights survived; the transformers' did not
    # the best transformer's training was interrupted before it saved its weights
    (run_dir / "vit-question" / "hybrid-seed0" / "training").mkdir(parents=True)

    assert len(restore_histories(run_dir, tmp_path / "book")) == 4
    queue.page9_weights(run_dir, "DATA")

    root = run_dir / "vit-question"
    retrained = [command[command.index("--only") + 1] for command in commands]
    assert retrained == ["report-vit", "hybrid"]  # the report's ViT and the best transformer on PublicTest
    assert all(command[-2:] == ["--data", "DATA"] and "--seeds" in command for command in commands)
    # their records make way for the new training's; the others come back from git as they were
    assert not (root / "report-vit-seed0" / "record.json").exists()
    assert not (root / "hybrid-seed0" / "record.json").exists()
    assert (root / "hybrid-seed0" / "budget.json").exists()  # the same epochs as before
    assert json.loads((root / "cct-seed0" / "record.json").read_text())["public_test"] == 0.40
    assert (root / "fastcnn-seed0" / "record.json").exists()
    # the next session's restore leaves the retraining trainings alone
    assert restore_histories(run_dir, tmp_path / "book") == []
    assert not (root / "hybrid-seed0" / "record.json").exists()


def test_restore_brings_back_finished_fast_runs_only_and_never_over_a_training_in_progress(tmp_path):
    from ferlib.tooling.publish import restore_histories

    kept = tmp_path / "book" / "results" / "closing-the-gap"
    for name, files in [("fast-50ep-seed0", ("log.jsonl", "signature.json", "summary.json", "predictions.json",
                                             "probabilities.json")),
                        ("wide-200ep-seed0", ("log.jsonl", "signature.json")),  # unfinished when banked
                        ("no-ema-seed0", ("log.jsonl", "signature.json", "summary.json"))]:
        (kept / name).mkdir(parents=True)
        for file in files:
            (kept / name / file).write_text(f"{name} {file}")
    run_dir = tmp_path / "full"
    training = run_dir / "closing-the-gap" / "no-ema-seed0"
    training.mkdir(parents=True)
    (training / "log.jsonl").write_text("its own epochs")  # trained again, not finished yet

    assert restore_histories(run_dir, tmp_path / "book") == ["closing-the-gap/fast-50ep-seed0"]
    restored = run_dir / "closing-the-gap" / "fast-50ep-seed0"
    assert sorted(p.name for p in restored.iterdir()) == ["log.jsonl", "predictions.json", "probabilities.json",
                                                          "signature.json", "summary.json"]
    assert (restored / "summary.json").read_text() == "fast-50ep-seed0 summary.json"
    assert not (run_dir / "closing-the-gap" / "wide-200ep-seed0").exists()
    assert (training / "log.jsonl").read_text() == "its own epochs" and not (training / "summary.json").exists()


def test_the_pages_step_has_nothing_to_resume_where_the_book_publishes_a_lost_full_run(tmp_path, monkeypatch):
    queue = _queue()
    commands = []
    monkeypatch.setattr(queue, "run", commands.append)
    book = tmp_path / "book" / "results"
    book.mkdir(parents=True)
    (book / "run.json").write_text(json.dumps({"profile": "full"}))
    monkeypatch.setattr(queue, "REPO", tmp_path)
    for page in queue.PAGES[:-1]:
        (book / f"{page}.ipynb").write_text("{}")
    queue.pages(tmp_path / "full", "DATA", poll_seconds=0)
    assert len(commands) == 1  # a page is missing from the book: the run goes on
    (book / f"{queue.PAGES[-1]}.ipynb").write_text("{}")
    queue.pages(tmp_path / "full", "DATA", poll_seconds=0)
    assert len(commands) == 1


def test_the_pages_step_waits_for_a_run_in_progress_then_resumes_it(tmp_path, monkeypatch):
    import ferlib.runstatus

    queue = _queue()
    commands, alive = [], iter([4242, 4242, None])
    monkeypatch.setattr(queue, "run", commands.append)
    monkeypatch.setattr(ferlib.runstatus, "running_pid", lambda folder: next(alive))
    monkeypatch.setattr(queue, "REPO", tmp_path)  # a book without the published pages
    queue.pages(tmp_path / "full", "DATA", poll_seconds=0)
    assert len(commands) == 1 and commands[0][2:4] == ["ferlib", "run"]
    assert commands[0][commands[0].index("--only") + 1:] == list(queue.PAGES)


def test_the_search_step_searches_where_page_9_reads_with_its_settings(tmp_path, monkeypatch):
    notebook = json.loads((REPO / "notebooks" / "09_vit_question.ipynb").read_text())
    code = "".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    assert 'run.run_dir / "transformer-search"' in code and '.get(run.profile_name, 9)' in code
    assert "factor=3" in code
    queue = _queue()
    commands = []
    monkeypatch.setattr(queue, "run", commands.append)
    queue.vit_search(tmp_path / "full", "DATA")
    (command,) = commands
    assert command[2:4] == ["ferlib", "tune"]
    assert command[command.index("--folder") + 1] == str(tmp_path / "full" / "transformer-search")
    assert command[command.index("--max-epochs") + 1] == "9" and command[command.index("--factor") + 1] == "3"


def test_a_second_queue_in_the_same_folder_is_refused_and_a_finished_one_lets_go(tmp_path, monkeypatch, capsys):
    import os
    import subprocess
    import sys

    queue = _queue()
    run_dir = tmp_path / "full"
    run_dir.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run_dir / "long-runs.pid").write_text(f"{other.pid}\n")
        monkeypatch.setattr(sys, "argv", ["long_runs.py", "--data", "DATA", "--run-dir", str(run_dir)])
        monkeypatch.setattr(queue, "run_steps", lambda *a: pytest.fail("the second queue must not start"))
        assert queue.main() == 1
        assert f"a queue is already running in {run_dir} (pid {other.pid})" in capsys.readouterr().out
    finally:
        other.kill()
        other.wait()
    seen = []
    monkeypatch.setattr(queue, "run_steps",
                        lambda *a: seen.append((run_dir / "long-runs.pid").read_text().strip()))
    assert queue.main() == 0  # the old queue is gone: this one claims the folder, and lets go at the end
    assert seen == [str(os.getpid())] and not (run_dir / "long-runs.pid").exists()
