"""The run folder: its layout, what is finished, ``ferlib status`` and the background run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ferlib.tooling.cli import main
from ferlib.files import write_json
from ferlib.ledger import TimeLedger
from ferlib.notebooks import NOTEBOOKS
from ferlib.runfolder import RunFolder, default_runs_dir
import ferlib.runstatus as runstatus
from ferlib.runstatus import format_status, run_status, running_pid

REPO = Path(__file__).resolve().parents[1]


def test_layout_names_every_place_once(tmp_path):
    folder = RunFolder(tmp_path)
    assert folder.card == tmp_path / "run.json"
    assert folder.notebook("02_cnn") == tmp_path / "notebooks" / "02_cnn.ipynb"
    assert folder.phase1("cnn") == tmp_path / "cnn" / "phase1"
    assert folder.phase2("vit", "augmentation") == tmp_path / "vit" / "phase2" / "augmentation"
    assert folder.final_model("cnn", "phase2") == tmp_path / "cnn" / "phase2" / "augmentation" / "model.keras"
    assert folder.final_model("vit", "phase1") == tmp_path / "vit" / "phase1" / "model.keras"
    assert folder.reading("cnn", "he-init") == tmp_path / "readings" / "cnn" / "he-init"
    assert folder.reading("cnn", "he-init", "float32") != folder.reading("cnn", "he-init")
    assert folder.metrics("comparison") == tmp_path / "metrics" / "comparison.json"
    with pytest.raises(ValueError, match="phase-2 step"):
        folder.phase2("cnn", "tuning")
    with pytest.raises(ValueError, match="stage"):
        folder.final_model("cnn", "phase3")


def test_runs_live_outside_the_checkout_by_default(monkeypatch, tmp_path):
    monkeypatch.delenv("FERLIB_RUNS", raising=False)
    monkeypatch.setenv("FERLIB_CACHE", str(tmp_path / "cache"))
    assert default_runs_dir() == tmp_path / "cache" / "runs"
    monkeypatch.setenv("FERLIB_RUNS", str(tmp_path / "elsewhere"))
    assert default_runs_dir() == tmp_path / "elsewhere"


def test_runs_and_the_data_cache_share_one_cache_root(monkeypatch, tmp_path):
    from ferlib.data.sources import cache_dir

    for name in ("FERLIB_RUNS", "FERLIB_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "ferlib"
    assert default_runs_dir() == cache_dir() / "runs"


def test_a_notebook_is_finished_only_with_its_timing_and_its_output(tmp_path):
    folder = RunFolder(tmp_path)
    folder.notebook("01_data").parent.mkdir(parents=True)
    folder.notebook("01_data").write_text("{}")
    folder.notebook("02_cnn").write_text("{}")  # written by papermill, but the notebook never ended
    TimeLedger(folder).record_notebook("01_data", 12.34)
    assert TimeLedger(folder).finished_notebooks() == {"01_data": 12.3}
    folder.notebook("01_data").unlink()  # an executed copy removed: the notebook runs again
    assert TimeLedger(folder).finished_notebooks() == {}


def _fake_run(tmp_path) -> RunFolder:
    folder = RunFolder(tmp_path / "run")
    write_json(folder.card, {"profile": "full", "data": "FER2013", "first_started_unix": time.time() - 3600})
    for name in NOTEBOOKS[:2]:
        folder.notebook(name).parent.mkdir(parents=True, exist_ok=True)
        folder.notebook(name).write_text("{}")
        TimeLedger(folder).record_notebook(name, 65.0)
    done = folder.phase1("cnn")
    done.mkdir(parents=True)
    (done / "history.csv").write_text("epoch,accuracy\n0,0.5\n")
    (done / "model.keras").write_text("x")
    write_json(done / "train.json", {"epochs": 31, "seconds": 2500.0})
    going = folder.tuning("L6-H6-D128")
    going.mkdir(parents=True)
    (going / "history.csv").write_text("epoch,accuracy\n0,0.25\n")
    write_json(folder.progress, {"training": "vit_tuning/L6-H6-D128", "state": "training", "epoch": 2, "epochs": 4,
                                 "best_val_accuracy": 0.2514, "epoch_seconds": 700.0, "seconds": 1400.0,
                                 "notebook": "03_vit_tuning", "updated": time.time()})
    return folder


def test_status_says_where_the_run_stands(tmp_path):
    folder = _fake_run(tmp_path)
    status = run_status(folder)
    assert status["notebooks"]["01_data"] == "done" and status["notebooks"]["03_vit_tuning"] == "pending"
    assert status["current"]["training"] == "vit_tuning/L6-H6-D128"
    assert status["current"]["left_at_most_seconds"] == pytest.approx(1400.0)
    assert status["current"]["stale"] is True  # no process is running it
    assert status["training_seconds"] == pytest.approx(2500.0)
    assert [t["state"] for t in status["trainings"]] == ["finished", "in progress"]
    # named from the run folder, not from the file system's root
    assert [t["training"] for t in status["trainings"]] == [
        folder.phase1("cnn").relative_to(folder.root).as_posix(), "vit_tuning/L6-H6-D128"]
    text = format_status(status)
    assert "not running" in text
    assert "interrupted in: 03_vit_tuning, training vit_tuning/L6-H6-D128, 2 of at most 4 epochs done" in text
    assert "best val accuracy 0.2514" in text
    assert "at most 23 min 20 s left" in text
    assert "cnn/phase1" in text and "31 epochs" in text
    assert "since the run first started: 1 h 00 min" in text


def test_status_shows_the_long_runs_fast_recipe_trainings(tmp_path):
    """Pages 8 and 9 train in long runs of their own, which log each epoch to log.jsonl and
    keep no progress file: the status counts them, finished or not, with their planned epochs."""
    folder = _fake_run(tmp_path)
    done, going = folder.root / "vit-question" / "cct-seed0" / "training", folder.root / "vit-question" / "cct-seed1" / "training"
    for training, epochs in ((done, 7), (going, 3)):
        training.mkdir(parents=True)
        write_json(training / "signature.json", {"recipe": {"epochs": 7}})
        (training / "log.jsonl").write_text("".join(json.dumps({"epoch": e, "train_seconds": 100.0 * e}) + "\n"
                                                    for e in range(1, epochs + 1)))
    write_json(done / "summary.json", {"train_seconds": 700.0})
    status = run_status(folder)
    rows = {t["training"]: t for t in status["trainings"]}
    assert rows["vit-question/cct-seed0/training"]["state"] == "finished"
    assert rows["vit-question/cct-seed1/training"]["epochs"] == 3
    assert status["training_seconds"] == pytest.approx(2500.0 + 700.0)
    text = format_status(status)
    assert "long run, not finished: vit-question/cct-seed1/training, 3 of 7 epochs done in 5 min 00 s" in text
    assert "vit-question/cct-seed0/training 7 epochs, 11 min 40 s" in text


def test_status_of_a_folder_of_long_runs_alone_says_how_long_the_training_has_left(tmp_path, capsys):
    """A full run's folder that lost its pages (the queue then trains only the long runs) has
    no run card: the status lists no pages, and gives the training in progress its pace."""
    going = tmp_path / "full" / "closing-the-gap" / "wide-200ep-seed0"
    going.mkdir(parents=True)
    write_json(going / "signature.json", {"recipe": {"epochs": 200}})
    seconds = [300.0] + [260.0] * 9 + [270.0] * 10  # the first epoch traces the step
    public = [0.5 + 0.01 * e for e in range(1, 15)] + [0.6] * 6  # best at epoch 14, then lower
    (going / "log.jsonl").write_text("".join(
        json.dumps({"epoch": e, "epoch_seconds": s, "train_seconds": sum(seconds[:e]), "machine": "cpu: AMD EPYC",
                    "public": public[e - 1]})
        + "\n" for e, s in enumerate(seconds, 1)))
    assert main(["status", str(tmp_path / "full")]) == 0
    text = capsys.readouterr().out
    assert "long runs only" in text and "01_data" not in text
    assert "the long runs' queue is not running: resume it" in text
    assert "wide-200ep-seed0, 20 of 200 epochs done" in text
    assert "4 min 30 s per epoch lately on cpu: AMD EPYC: about 13 h 30 min of training left at that pace" in text
    assert "best PublicTest so far: 64.0% (epoch 14)" in text


def test_a_cut_short_epoch_log_is_named_with_its_line(tmp_path):
    from ferlib.files import DamagedFile, read_json_lines

    log = tmp_path / "log.jsonl"
    log.write_text('{"epoch": 1}\n{"epoch": 2, "loss": 1.')
    with pytest.raises(DamagedFile, match=r"log\.jsonl, line 2: is not valid JSON"):
        read_json_lines(log)
    assert read_json_lines(tmp_path / "none.jsonl") == []


def test_status_says_when_no_epoch_has_ended_for_long(tmp_path, monkeypatch):
    """A resumed notebook first runs its earlier cells again: the training line is then old news."""
    folder = _fake_run(tmp_path)
    progress = json.loads(folder.progress.read_text())
    write_json(folder.progress, {**progress, "updated": time.time() - 3000})  # 50 min, two 700-s epochs
    monkeypatch.setattr(runstatus, "running_pid", lambda folder: 4242)
    text = format_status(run_status(folder))
    assert "now: 03_vit_tuning" in text and "no epoch has ended for 50 min" in text
    write_json(folder.progress, {**progress, "updated": time.time() - 600})  # within an epoch or two
    assert "no epoch has ended" not in format_status(run_status(folder))


def test_status_command(tmp_path, capsys):
    folder = _fake_run(tmp_path)
    assert main(["status", str(folder.root)]) == 0
    assert "2 of at most 4 epochs done" in capsys.readouterr().out
    assert main(["status", str(tmp_path / "nothing")]) == 1
    assert "not a run folder" in capsys.readouterr().err


@pytest.mark.parametrize("card", ["", '{"profile": "smo', "[1, 2]", "\x00\xff"])
@pytest.mark.parametrize("command", ["status", "publish"])
def test_a_damaged_run_card_is_one_line_that_names_it(tmp_path, capsys, command, card):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "run.json").write_bytes(card.encode("latin-1"))
    assert main([command, str(folder)]) == 1
    said = capsys.readouterr()
    assert said.err.count("\n") == 1 and said.err.startswith(f"ferlib: error: {folder / 'run.json'}: ")
    assert said.out == ""


def test_publish_refuses_a_missing_folder_in_one_line(tmp_path, capsys):
    assert main(["publish", str(tmp_path / "nothing")]) == 1
    assert capsys.readouterr().err == f"ferlib: error: {tmp_path / 'nothing'}: no such run folder\n"


def test_the_command_line_has_a_version_and_describes_every_command(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("ferlib ")
    for command in ("run", "status", "publish", "predict", "ship", "data"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        description = text.split("\n\n")[1]  # after the usage lines
        assert not description.lstrip().startswith(("options", "positional")), f"{command} has no description"


def test_status_into_a_pipe_that_closes_early_has_no_traceback(tmp_path):
    """``ferlib status RUN | head -3``: head leaves after three lines; the command must not
    answer with a BrokenPipeError traceback."""
    folder = _fake_run(tmp_path)
    code = ("import sys; from ferlib.tooling.cli import main; sys.stdout.write('x' * 100000);"
            f" sys.exit(main(['status', {str(folder.root)!r}]))")  # fill the pipe so the status write hits it closed
    reader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader.stdout.read(10)
    reader.stdout.close()
    _, err = reader.communicate(timeout=120)
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()


def test_running_pid_sees_live_and_finished_processes(tmp_path):
    folder = RunFolder(tmp_path)
    assert running_pid(folder) is None
    folder.pid_file.write_text(f"{os.getpid()}\n")
    assert running_pid(folder) == os.getpid()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    folder.pid_file.write_text(f"{child.pid}\n")
    assert running_pid(folder) is None


def test_a_run_in_the_foreground_is_running_while_it_runs_and_refuses_a_second(tmp_path, monkeypatch):
    """``ferlib run`` without --background records its pid: status says "running", a second
    run of the same folder is refused, and the pid goes when the run ends."""
    from ferlib.tooling import cli

    run_dir = tmp_path / "fg"
    seen = {}

    def fake_run_notebooks(root, *args, **kwargs):
        seen["pid"] = running_pid(RunFolder(root))

    monkeypatch.setattr(cli, "run_notebooks", fake_run_notebooks)
    assert cli.main(["run", "--profile", "smoke", "--data", "synthetic", "--run-dir", str(run_dir), "--no-book"]) == 0
    assert seen["pid"] == os.getpid()
    assert running_pid(RunFolder(run_dir)) is None, "the pid file outlived the run"
    RunFolder(run_dir).pid_file.write_text("1\n")  # pid 1 is alive and is not us
    assert cli.main(["run", "--profile", "smoke", "--data", "synthetic", "--run-dir", str(run_dir), "--no-book"]) == 1


@pytest.mark.slow
def test_background_run_starts_once_logs_and_finishes(tmp_path):
    """``ferlib run --background`` detaches; the same command while it runs starts nothing."""
    run_dir = tmp_path / "bg"
    command = [sys.executable, "-m", "ferlib", "run", "--profile", "smoke", "--data", "synthetic",
               "--only", "01_data", "--run-dir", str(run_dir), "--background"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    first = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "started in the background" in first.stdout
    folder = RunFolder(run_dir)
    pid = int(folder.pid_file.read_text())
    second = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert second.returncode == 0
    assert f"already going on in {run_dir} (pid {pid})" in second.stdout
    deadline = time.time() + 400
    while running_pid(folder) is not None and time.time() < deadline:
        time.sleep(2)
    assert running_pid(folder) is None
    assert TimeLedger(folder).finished_notebooks().keys() == {"01_data"}, folder.log.read_text()[-3000:]
    assert "01_data: done in" in folder.log.read_text()
    assert not folder.pid_file.exists()  # the run removed its pid file when it ended
    third = subprocess.run(command[:-1], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert "01_data: finished earlier in this run folder" in third.stdout  # resumed: nothing repeated


def test_time_of_an_interrupted_notebook_counts(tmp_path, monkeypatch):
    import ferlib.ledger as runfolder

    folder = RunFolder(tmp_path)
    clock = [1000.0]
    monkeypatch.setattr(runfolder.time, "time", lambda: clock[0])
    TimeLedger(folder).start_notebook("02_cnn")
    # the last epoch it finished before the kill, and its kernel's CPU time by then
    write_json(folder.progress, {"updated": 1600.0, "cpu_seconds": 1100.0, "notebook": "02_cnn"})
    clock[0] = 5000.0  # the next session
    TimeLedger(folder).start_notebook("02_cnn")
    clock[0] = 5100.0
    TimeLedger(folder).start_notebook("02_cnn")  # killed again before its first epoch: nothing more to count
    folder.notebook("02_cnn").parent.mkdir(parents=True)
    folder.notebook("02_cnn").write_text("{}")
    TimeLedger(folder).record_notebook("02_cnn", 300.0, cpu_seconds=550.0)
    assert TimeLedger(folder).finished_notebooks() == {"02_cnn": 900.0}
    assert json.loads(folder.cpu_times.read_text()) == {"02_cnn": {"seconds": 1650.0, "complete": True}}


def test_cpu_time_of_a_kill_is_incomplete_where_the_progress_report_lacks_it(tmp_path, monkeypatch):
    """A run resumed from one that an older ferlib started: its progress reports carry no
    CPU time, so the killed attempt's CPU time is unknown and the record says so."""
    import ferlib.ledger as runfolder

    folder = RunFolder(tmp_path)
    clock = [1000.0]
    monkeypatch.setattr(runfolder.time, "time", lambda: clock[0])
    TimeLedger(folder).start_notebook("03_vit_tuning")
    write_json(folder.progress, {"updated": 1600.0})
    clock[0] = 5000.0
    TimeLedger(folder).start_notebook("03_vit_tuning")
    TimeLedger(folder).record_notebook("03_vit_tuning", 300.0, cpu_seconds=550.0)
    assert json.loads(folder.cpu_times.read_text()) == {"03_vit_tuning": {"seconds": 550.0, "complete": False}}
    assert json.loads(folder.attempts.read_text()).get("unmeasured_cpu") == []


def test_the_run_card_records_when_the_latest_notebook_finished(tmp_path):
    folder = RunFolder(tmp_path)
    write_json(folder.card, {"profile": "smoke", "started": "2026-01-01T00:00:00+00:00",
                             "finished": "2026-01-01T00:00:00+00:00"})
    TimeLedger(folder).mark_finished()
    card = json.loads(folder.card.read_text())
    assert card["started"] == "2026-01-01T00:00:00+00:00"
    assert card["finished"] > card["started"] and card["profile"] == "smoke"


def test_executing_again_keeps_the_time_of_the_pass_that_trained(tmp_path):
    folder = RunFolder(tmp_path)
    folder.notebook("02_cnn").parent.mkdir(parents=True, exist_ok=True)
    folder.notebook("02_cnn").write_text("{}")
    TimeLedger(folder).start_notebook("02_cnn")
    TimeLedger(folder).record_notebook("02_cnn", 5400.0, cpu_seconds=10000.0)
    TimeLedger(folder).start_notebook("02_cnn")  # --reexecute: the trainings are reused, so it takes seconds
    assert "02_cnn" not in TimeLedger(folder).finished_notebooks()  # killed now, it must run again
    TimeLedger(folder).record_notebook("02_cnn", 40.0, cpu_seconds=70.0)
    assert TimeLedger(folder).finished_notebooks() == {"02_cnn": 5400.0}
    assert json.loads(folder.cpu_times.read_text())["02_cnn"]["seconds"] == 10000.0
    assert json.loads(folder.attempts.read_text())["reexecuted_seconds"] == {"02_cnn": 40.0}


def test_a_background_runs_code_copy_can_build_its_book(tmp_path):
    """The copy a background run executes holds the book's sources, so the book from the
    finished run can be staged from it (it once failed: no book/ in the copy)."""
    from ferlib.tooling.cli import snapshot_code

    code, commit = snapshot_code(RunFolder(tmp_path / "run"))
    assert (code / "ferlib" / "__init__.py").is_file() and (code / "notebooks" / "07_beyond.ipynb").is_file()
    assert (code / "book" / "intro.md").is_file() and (code / "book" / "_static" / "tables.css").is_file()
    assert (code / "book" / "_toc.yml").read_text() == (code / "_toc.yml").read_text()
    assert not (code / "book" / "results").exists(), "a run's book takes the run's results, not the published ones"
    assert (code / "COMMIT").read_text().strip() == commit
