"""The papermill pipeline and publishing, with tiny stand-in notebooks (no TensorFlow in the kernel).

``run_notebooks`` runs the registered notebooks by name from a notebooks folder, so these tests
write six tiny notebooks with the real names and the real parameters cell. The real
notebooks run end to end in CI (``make run``), not here.
"""

from __future__ import annotations

import ast
import functools
import json
import shutil
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

import ferlib.tooling.cli as cli
import ferlib.tooling.pipeline as pipeline
import ferlib.tooling.publish as publish_module
from ferlib.notebooks import NOTEBOOKS
from ferlib.tooling.pipeline import PipelineError, run_notebooks
from ferlib.tooling.publish import publish

REPO = Path(__file__).resolve().parent.parent

PARAMETERS_CELL = """\
data = "auto"
profile = "smoke"
subset = None
epochs = None
seed = 42
split = "report"
run_dir = "runs/latest"
"""

# Records what the kernel saw: its parameters, working directory and FER2013_PATH.
RECORD_CELL = """\
import json, os, pathlib
record = {"name": NAME, "cwd": os.getcwd(), "FER2013_PATH": os.environ.get("FER2013_PATH"),
          "data": data, "profile": profile, "subset": subset, "epochs": epochs, "seed": seed,
          "split": split, "run_dir": run_dir}
pathlib.Path(run_dir, "ran").mkdir(exist_ok=True)
pathlib.Path(run_dir, "ran", NAME + ".json").write_text(json.dumps(record))
print(NAME, "done")
"""


def _tiny_notebook(name: str, fail: bool = False, note: str = "") -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(f"# {name}\n\n{note}"),
        new_code_cell(PARAMETERS_CELL, metadata={"tags": ["parameters"]}),
        new_code_cell(f"NAME = {name!r}\n" + RECORD_CELL),
    ]
    if fail:
        cells.append(new_code_cell('raise RuntimeError("boom")'))
        cells.append(new_code_cell('print("never reached")'))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _write_notebooks(folder: Path, failing: str | None = None, note: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in NOTEBOOKS:
        nbformat.write(_tiny_notebook(name, fail=name == failing, note=note), folder / f"{name}.ipynb")
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by relative path, with its bytes."""
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _injected_parameters(path: Path) -> dict:
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name}: {len(cells)} injected-parameters cells"
    values = {}
    for node in ast.parse(cells[0].source).body:
        values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


ENVIRONMENT = ("FER2013_PATH", "KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL")


def _record_environment(mp: pytest.MonkeyPatch) -> None:
    """run_notebooks sets FER2013_PATH, KERAS_BACKEND and TF_CPP_MIN_LOG_LEVEL in os.environ
    (the kernels inherit them); record them so that `mp` restores them afterwards."""
    for name in ENVIRONMENT:
        if name in os.environ:
            mp.setenv(name, os.environ[name])
        else:
            mp.setenv(name, "recorded")
            mp.delenv(name)


@pytest.fixture(autouse=True)
def _restore_environment(monkeypatch):
    _record_environment(monkeypatch)


def _repo_book_state() -> tuple[dict[str, bytes], list[str]]:
    book = REPO / "book"
    return _snapshot(book / "results"), sorted(p.name for p in book.iterdir() if p.name.startswith((".results", "results")))


@pytest.fixture
def repo_book_snapshot():
    """The repository's published run (book/results) must never change during these tests.

    Only book/results and publish's staging folders are compared: the chapters may be
    edited by someone else while the tests run."""
    before = _repo_book_state()
    yield
    assert _repo_book_state() == before, "a test changed the repository's book/results"


# --------------------------------------------------------------------------- a failing notebook


def test_a_failing_notebook_stops_the_pipeline_and_is_named(tmp_path, repo_book_snapshot):
    notebooks = _write_notebooks(tmp_path / "nb", failing="03_vit_tuning")
    run_dir = tmp_path / "run"

    with pytest.raises(PipelineError) as caught:
        run_notebooks(run_dir, notebooks_dir=notebooks, only=None, data="synthetic")
    message = str(caught.value)

    failed = run_dir / "notebooks" / "03_vit_tuning.ipynb"
    assert failed.exists(), "the executed notebook with the error should be kept"
    executed = nbformat.read(failed, as_version=4)
    errors = [(c, o) for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors, "the failed notebook's output holds no error"
    cell, error = errors[0]
    assert (error.ename, error.evalue) == ("RuntimeError", "boom")
    assert 'raise RuntimeError("boom")' in cell.source

    assert "03_vit_tuning" in message
    assert "boom" in message and "RuntimeError" in message
    assert f"cell {cell.execution_count}" in message, f"the message does not name the failing cell: {message}"
    assert str(failed.resolve()) in message, "the message should say where the notebook with the error is"

    ran = sorted(p.stem for p in (run_dir / "ran").glob("*.json"))
    assert ran == ["01_data", "02_cnn", "03_vit_tuning"]  # 03 ran up to its failing cell
    assert sorted(p.stem for p in (run_dir / "notebooks").glob("*.ipynb")) == ["01_data", "02_cnn", "03_vit_tuning"]
    for name in ("04_phase2", "05_comparison", "06_features"):
        assert not (run_dir / "notebooks" / f"{name}.ipynb").exists(), f"{name} ran after a failure"
    timings = json.loads((run_dir / "timings.json").read_text())
    assert sorted(timings) == ["01_data", "02_cnn"], "only finished notebooks have a timing"
    assert not (run_dir / "book").exists()


def test_the_command_line_fails_loudly_and_publishes_nothing(tmp_path, monkeypatch, capsys, repo_book_snapshot):
    notebooks = _write_notebooks(tmp_path / "nb", failing="03_vit_tuning")
    run_dir = tmp_path / "run"
    # A book that already shows a (worse) published run, which --publish would replace.
    book = tmp_path / "book"
    book.mkdir()
    old_run = tmp_path / "old-run"
    _write_notebooks(old_run / "notebooks")
    (old_run / "run.json").write_text(json.dumps({"profile": "smoke", "synthetic": True, "data": "synthetic"}))
    publish(old_run, book_dir=book)
    before = _snapshot(book)

    built = []
    monkeypatch.setattr(cli, "run_notebooks", functools.partial(pipeline.run_notebooks, notebooks_dir=notebooks))
    monkeypatch.setattr(cli, "publish", functools.partial(publish_module.publish, book_dir=book))
    monkeypatch.setattr(cli, "stage_book", functools.partial(publish_module.stage_book, book_dir=book))
    monkeypatch.setattr(cli, "build_book", lambda *a, **k: built.append(a))

    code = cli.main(["run", "--profile", "full", "--data", "synthetic", "--run-dir", str(run_dir), "--publish"])
    output = capsys.readouterr()
    text = output.out + output.err

    assert code != 0
    assert "03_vit_tuning" in text and "boom" in text
    assert "error" in text.lower()
    assert built == [], "the book was built from a failed run"
    assert not (run_dir / "book").exists(), "a book was staged from a failed run"
    assert _snapshot(book) == before, "a failed run changed the published book"
    assert not (run_dir / "notebooks" / "04_phase2.ipynb").exists()


def test_unknown_notebook_names_are_refused_before_anything_runs(tmp_path):
    notebooks = _write_notebooks(tmp_path / "nb")
    with pytest.raises(PipelineError, match="02_cn"):
        run_notebooks(tmp_path / "run", notebooks_dir=notebooks, only=["02_cn"], data="synthetic")
    assert not (tmp_path / "run" / "ran").exists()


# --------------------------------------------------------------------------- parameters


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """The six tiny notebooks run once through run_notebooks with a data path and seed 7."""
    root = tmp_path_factory.mktemp("pipeline-run")
    notebooks = _write_notebooks(root / "nb")
    data = root / "my data" / "fer2013.csv.gz"
    data.parent.mkdir()
    data.write_bytes(b"")
    run_dir = root / "run"
    with pytest.MonkeyPatch.context() as mp:
        _record_environment(mp)
        mp.delenv("FER2013_PATH", raising=False)
        outputs = run_notebooks(run_dir, profile="smoke", data=str(data), seed=7, notebooks_dir=notebooks)
    return {"run_dir": run_dir, "data": data, "outputs": outputs, "root": root}


def test_parameters_reach_every_notebook(smoke_run):
    run_dir = smoke_run["run_dir"]
    assert smoke_run["outputs"] == [run_dir.resolve() / "notebooks" / f"{n}.ipynb" for n in NOTEBOOKS]
    for name in NOTEBOOKS:
        injected = _injected_parameters(run_dir / "notebooks" / f"{name}.ipynb")
        assert injected["seed"] == 7
        assert injected["run_dir"] == "."
        assert injected["data"] == "auto", "a data path must reach the kernels through FER2013_PATH, not a parameter"
        assert injected["profile"] == "smoke"
        assert injected["split"] == "report"
        assert not any(str(smoke_run["root"]) in str(v) for v in injected.values()), injected

        record = json.loads((run_dir / "ran" / f"{name}.json").read_text())
        assert record["seed"] == 7 and record["run_dir"] == "." and record["data"] == "auto"
        assert Path(record["cwd"]).resolve() == run_dir.resolve(), "notebooks run inside the run directory"
        assert record["FER2013_PATH"] == str(smoke_run["data"].resolve())


def test_timings_list_every_notebook(smoke_run):
    timings = json.loads((smoke_run["run_dir"] / "timings.json").read_text())
    assert list(timings) == list(NOTEBOOKS)
    assert all(isinstance(s, (int, float)) and s >= 0 for s in timings.values())


def test_the_kernels_cpu_time_is_measured_for_every_notebook(smoke_run):
    """Starting a Python kernel alone costs CPU time, so a zero means it was not measured."""
    cpu = json.loads((smoke_run["run_dir"] / "cpu.json").read_text())
    assert list(cpu) == list(NOTEBOOKS)
    assert all(entry["seconds"] > 0 and entry["complete"] for entry in cpu.values()), cpu


def test_the_command_line_passes_its_options(tmp_path, monkeypatch, capsys):
    notebooks = _write_notebooks(tmp_path / "nb")
    run_dir = tmp_path / "run"
    built = []
    monkeypatch.setattr(cli, "run_notebooks", functools.partial(pipeline.run_notebooks, notebooks_dir=notebooks))
    monkeypatch.setattr(cli, "build_book", lambda *a, **k: built.append(a))

    code = cli.main(["run", "--profile", "cpu", "--data", "synthetic", "--run-dir", str(run_dir),
                          "--only", "02_cnn", "--seed", "5", "--epochs", "3", "--split", "official"])
    assert code == 0, capsys.readouterr().out
    assert sorted(p.stem for p in (run_dir / "notebooks").glob("*.ipynb")) == ["02_cnn"]
    injected = _injected_parameters(run_dir / "notebooks" / "02_cnn.ipynb")
    assert injected == {"data": "synthetic", "profile": "cpu", "seed": 5, "split": "official", "run_dir": ".", "epochs": 3}
    assert built == [], "--only runs no book build"


# --------------------------------------------------------------------------- publish


def _make_run(root: Path, name: str, profile: str, synthetic: bool, comparison: dict | None = None) -> Path:
    run_dir = root / name
    _write_notebooks(run_dir / "notebooks", note=f"made by run {name}")
    data = "synthetic" if synthetic else "FER2013"
    (run_dir / "run.json").write_text(json.dumps({"profile": profile, "synthetic": synthetic, "data": data, "seed": 42}))
    (run_dir / "timings.json").write_text(json.dumps({n: 1.0 for n in NOTEBOOKS}))
    if comparison is not None:
        (run_dir / "metrics").mkdir()
        (run_dir / "metrics" / "comparison.json").write_text(json.dumps(comparison))
    return run_dir


def _published_by(book: Path) -> str:
    text = (book / "results" / "01_data.ipynb").read_text()
    return text.split("made by run ")[1].split("\\n")[0].split('"')[0]


@pytest.fixture
def book(tmp_path):
    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "intro.md").write_text("# Intro\n")
    return folder


def test_first_publish_copies_the_run(tmp_path, book, repo_book_snapshot):
    run = _make_run(tmp_path, "first", "smoke", synthetic=False, comparison={"table1": {"columns": []}})
    results = publish(run, book_dir=book)
    assert results == book / "results"
    assert sorted(p.name for p in results.iterdir()) == sorted(
        [f"{n}.ipynb" for n in NOTEBOOKS] + ["run.json", "comparison.json", "reproduction.md"])
    assert (results / "reproduction.md").read_text().startswith("# Reproduction")
    for name in NOTEBOOKS:
        nbformat.validate(nbformat.read(results / f"{name}.ipynb", as_version=4))
    summary = json.loads((results / "run.json").read_text())
    assert summary["profile"] == "smoke" and summary["synthetic"] is False
    assert summary["notebook_seconds"] == {n: 1.0 for n in NOTEBOOKS}
    assert json.loads((results / "comparison.json").read_text()) == {"table1": {"columns": []}}
    assert sorted(p.name for p in book.iterdir()) == ["intro.md", "results"], "publish left staging folders behind"
    assert _published_by(book) == "first"


def test_a_smoke_run_does_not_replace_a_published_smoke_run(tmp_path, book):
    publish(_make_run(tmp_path, "old", "smoke", synthetic=False), book_dir=book)
    before = _snapshot(book)
    with pytest.raises(PipelineError, match="not published"):
        publish(_make_run(tmp_path, "new", "smoke", synthetic=False), book_dir=book)
    assert _snapshot(book) == before
    assert sorted(p.name for p in book.iterdir()) == ["intro.md", "results"]


@pytest.mark.parametrize(
    "old, new",
    [
        (("smoke", False), ("full", False)),  # full beats smoke
        (("smoke", False), ("cpu", False)),
        (("cpu", False), ("full", False)),
        (("smoke", True), ("smoke", False)),  # FER2013 beats synthetic
        (("full", True), ("smoke", False)),
        (("smoke", True), ("full", True)),
    ],
    ids=["full>smoke", "cpu>smoke", "full>cpu", "real-smoke>synthetic-smoke", "real-smoke>synthetic-full", "synthetic-full>synthetic-smoke"],
)
def test_a_better_run_replaces_the_published_one(tmp_path, book, old, new):
    publish(_make_run(tmp_path, "old", *old), book_dir=book)
    publish(_make_run(tmp_path, "new", *new), book_dir=book)
    assert _published_by(book) == "new"
    summary = json.loads((book / "results" / "run.json").read_text())
    assert (summary["profile"], summary["synthetic"]) == new
    assert sorted(p.name for p in book.iterdir()) == ["intro.md", "results"]


@pytest.mark.parametrize(
    "old, new",
    [
        (("smoke", False), ("full", True)),  # a synthetic full run does not replace a real smoke run
        (("full", False), ("smoke", False)),
        (("full", False), ("cpu", False)),
        (("cpu", True), ("smoke", True)),
        (("full", False), ("full", False)),
    ],
    ids=["synthetic-full<real-smoke", "smoke<full", "cpu<full", "smoke<cpu", "full=full"],
)
def test_a_worse_or_equal_run_is_refused(tmp_path, book, old, new):
    publish(_make_run(tmp_path, "old", *old), book_dir=book)
    before = _snapshot(book)
    with pytest.raises(PipelineError, match="not published"):
        publish(_make_run(tmp_path, "new", *new), book_dir=book)
    assert _snapshot(book) == before
    assert _published_by(book) == "old"


def test_the_published_run_can_be_published_again(tmp_path, book):
    """After ``--reexecute`` the same run (same first start, data, profile, seed) replaces
    its own pages; another run of the same rank still does not."""
    run = _make_run(tmp_path, "old", "full", synthetic=False)
    card = {**json.loads((run / "run.json").read_text()), "first_started_unix": 1.0e9, "data_fingerprint": "sha256:ab"}
    (run / "run.json").write_text(json.dumps(card))
    publish(run, book_dir=book)
    _write_notebooks(run / "notebooks", note="made by run again")
    publish(run, book_dir=book)
    assert _published_by(book) == "again"
    other = _make_run(tmp_path, "other", "full", synthetic=False)
    (other / "run.json").write_text(json.dumps({**card, "first_started_unix": 2.0e9}))
    with pytest.raises(PipelineError, match="not published"):
        publish(other, book_dir=book)


def test_force_replaces_a_better_run(tmp_path, book):
    publish(_make_run(tmp_path, "old", "full", synthetic=False), book_dir=book)
    publish(_make_run(tmp_path, "new", "smoke", synthetic=True), book_dir=book, force=True)
    assert _published_by(book) == "new"
    assert json.loads((book / "results" / "run.json").read_text())["profile"] == "smoke"


def test_an_incomplete_run_is_not_published(tmp_path, book):
    publish(_make_run(tmp_path, "old", "smoke", synthetic=True), book_dir=book)
    before = _snapshot(book)
    incomplete = _make_run(tmp_path, "new", "full", synthetic=False)
    (incomplete / "notebooks" / "06_features.ipynb").unlink()
    with pytest.raises(PipelineError, match="06_features"):
        publish(incomplete, book_dir=book)
    assert _snapshot(book) == before
    assert sorted(p.name for p in book.iterdir()) == ["intro.md", "results"], "a failed publish left staging folders"


def test_a_run_of_pages_1_to_7_keeps_the_published_standalone_pages(tmp_path, book):
    from ferlib.tooling.publish import BANKED, STANDALONE_METRICS, STANDALONE_PAGES

    old = _make_run(tmp_path, "old", "full", synthetic=False)
    for page, folder in STANDALONE_PAGES.items():  # each standalone page's metrics and long run
        (old / "metrics").mkdir(exist_ok=True)
        (old / "metrics" / f"{STANDALONE_METRICS[page]}.json").write_text(json.dumps({"page": page}))
        (old / folder / "seed0").mkdir(parents=True)
        (old / folder / "seed0" / "summary.json").write_text(json.dumps({"from": "old"}))
        (old / folder / "seed0" / "probabilities.json").write_text(json.dumps({"test": "999000"}))
    publish(old, book_dir=book)
    (book / "results" / BANKED / "other").mkdir(parents=True)
    (book / "results" / BANKED / "other" / "run.json").write_text("{}")

    new = _make_run(tmp_path, "new", "full", synthetic=False)
    for page in STANDALONE_PAGES:
        (new / "notebooks" / f"{page}.ipynb").unlink()
    gap = STANDALONE_PAGES["08_closing_the_gap"]  # the new run goes on with page 8's long run
    (new / gap / "seed1").mkdir(parents=True)
    (new / gap / "seed1" / "summary.json").write_text(json.dumps({"from": "new"}))
    results = publish(new, book_dir=book, force=True)

    assert _published_by(book) == "new"
    for page, folder in STANDALONE_PAGES.items():
        assert "made by run old" in (results / f"{page}.ipynb").read_text()
        assert json.loads((results / f"{STANDALONE_METRICS[page]}.json").read_text()) == {"page": page}
        assert json.loads((results / folder / "seed0" / "summary.json").read_text()) == {"from": "old"}
        assert json.loads((results / folder / "seed0" / "probabilities.json").read_text()) == {"test": "999000"}
    assert json.loads((results / gap / "seed1" / "summary.json").read_text()) == {"from": "new"}
    assert (results / BANKED / "other" / "run.json").exists()
    summary = json.loads((results / "run.json").read_text())
    assert set(summary["notebook_seconds"]) == set(NOTEBOOKS)
    # with nothing published to keep them from, the same run is incomplete
    (tmp_path / "empty-book").mkdir()
    with pytest.raises(PipelineError, match="08_closing_the_gap"):
        publish(new, book_dir=tmp_path / "empty-book")


def test_bank_keeps_an_unfinished_runs_numbers_without_weights_or_csv(tmp_path, book, monkeypatch, capsys):
    from ferlib.tooling.publish import BANKED, bank

    run = _make_run(tmp_path, "full", "full", synthetic=False, comparison={"table1": {}})
    training = run / "readings" / "vit" / "as-built"
    training.mkdir(parents=True)
    (training / "history.csv").write_text("epoch,accuracy,val_accuracy\n0,0.25,0.24\n1,0.31,0.30\n")
    (training / "train.json").write_text(json.dumps({"epochs": 2}))
    (training / "model.keras").write_bytes(b"weights")
    starting = run / "readings" / "vit" / "split-heads"  # a training with no epoch yet
    starting.mkdir()
    (starting / "history.csv").write_text("")
    banked = bank(run, book_dir=book)

    assert banked == book / "results" / BANKED / "full"
    kept = sorted(p.relative_to(banked).as_posix() for p in banked.glob("**/*") if p.is_file())
    assert kept == ["metrics/comparison.json", "run.json", "timings.json",
                    "trainings/readings/vit/as-built/history.jsonl", "trainings/readings/vit/as-built/train.json"]
    lines = (banked / "trainings/readings/vit/as-built/history.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"epoch": 0, "accuracy": 0.25, "val_accuracy": 0.24},
                                                    {"epoch": 1, "accuracy": 0.31, "val_accuracy": 0.30}]
    # the command names what is not a run folder
    monkeypatch.setattr(cli, "bank", functools.partial(publish_module.bank, book_dir=book))
    assert cli.main(["bank", str(tmp_path / "nowhere")]) != 0
    assert "no such run folder" in capsys.readouterr().err
    # a full run's folder that lost its pages, where the long runs train again: banked, no card needed
    alone = tmp_path / "long-runs-alone"
    (alone / "closing-the-gap" / "wide-200ep-seed0").mkdir(parents=True)
    assert cli.main(["bank", str(alone)]) != 0  # nothing trains there yet: not a run folder
    assert "not a run folder" in capsys.readouterr().err
    (alone / "closing-the-gap" / "wide-200ep-seed0" / "log.jsonl").write_text('{"epoch": 1}\n')
    assert cli.main(["bank", str(alone)]) == 0
    assert (book / "results" / "closing-the-gap" / "wide-200ep-seed0" / "log.jsonl").read_text() == '{"epoch": 1}\n'
    assert cli.main(["publish", str(alone)]) != 0  # no pages to publish


def test_the_publish_command_refuses_a_worse_run(tmp_path, book, monkeypatch, capsys, repo_book_snapshot):
    monkeypatch.setattr(cli, "publish", functools.partial(publish_module.publish, book_dir=book))
    assert cli.main(["publish", str(_make_run(tmp_path, "old", "full", synthetic=False))]) == 0
    before = _snapshot(book)
    assert cli.main(["publish", str(_make_run(tmp_path, "new", "smoke", synthetic=False))]) != 0
    assert "not published" in capsys.readouterr().err
    assert _snapshot(book) == before
    assert cli.main(["publish", str(tmp_path / "new"), "--force"]) == 0
    assert _published_by(book) == "new"


NATIVE_LOG = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1795543610.067335   15362 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders. "
    "To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.\n"
)
NATIVE_CUDA = "E0000 00:00:1795543603.208068   15330 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n"
RETRACING = ("WARNING:tensorflow:5 out of the last 5 calls to <function TensorFlowTrainer.make_predict_function."
             "<locals>.one_step_on_data_distributed at 0x7f1c> triggered tf.function retracing. Tracing is expensive.\n")


def test_published_notebooks_hold_no_machine_paths_or_native_logs(tmp_path, book):
    run_dir = _make_run(tmp_path, "run", "smoke", synthetic=False).resolve()
    warning = (f"{sys.prefix}/lib/python3.11/site-packages/keras/src/layers/core/dense.py:87: UserWarning: "
               "Do not pass an `input_shape`/`input_dim` argument to a layer.\n"
               "  super().__init__(activity_regularizer=activity_regularizer, **kwargs)\n")
    nb = _tiny_notebook("02_cnn", note="made by run run")
    nb.metadata["papermill"] = {"input_path": str(REPO / "notebooks" / "02_cnn.ipynb"),
                                "output_path": str(run_dir / "notebooks" / "02_cnn.ipynb")}
    cell = nb.cells[2]
    cell.execution_count = 2
    cell.outputs = [
        new_output("stream", name="stderr", text=NATIVE_LOG),
        new_output("stream", name="stderr", text=NATIVE_CUDA),
        new_output("stream", name="stderr", text=RETRACING),
        new_output("stream", name="stdout", text=f"model saved to {run_dir}/cnn/phase1/model.keras\n"),
        new_output("stream", name="stdout", text=RETRACING),  # in a kernel TensorFlow logs it to stdout
        new_output("stream", name="stderr", text=warning),
        new_output("display_data", data={"text/plain": f"PosixPath('{run_dir}/metrics/cnn_phase1.json')"}),
    ]
    nbformat.write(nb, run_dir / "notebooks" / "02_cnn.ipynb")

    publish(run_dir, book_dir=book)
    published_text = (book / "results" / "02_cnn.ipynb").read_text()
    published = nbformat.reads(published_text, as_version=4)
    nbformat.validate(published)

    for path in (str(run_dir), str(tmp_path), sys.prefix, str(REPO)):
        assert path not in published_text, f"{path} leaked into the published notebook"
    assert "/tmp/" not in published_text and "/work/" not in published_text
    assert "oneDNN" not in published_text and "port.cc" not in published_text and "cuInit" not in published_text
    assert "retracing" not in published_text
    outputs = published.cells[2].outputs
    stderr = [o for o in outputs if o.get("name") == "stderr"]
    assert len(stderr) == 1, "only the Python warning should be left on stderr"
    assert "UserWarning: Do not pass an `input_shape`/`input_dim` argument to a layer." in stderr[0].text
    assert "model saved to ./cnn/phase1/model.keras" in published_text
    assert "./metrics/cnn_phase1.json" in published_text
    assert any(o.output_type == "display_data" for o in outputs)
    # the other notebooks are copied untouched, apart from the scrub
    assert "made by run run" in (book / "results" / "06_features.ipynb").read_text()


def test_a_trainings_epoch_lines_are_published_as_one_output():
    from ferlib.tooling.publish import _tidy_for_book

    lines = [new_output("stream", name="stdout", text=f"epoch {k}/3, accuracy 0.5\n") for k in (1, 2, 3)]
    cell = {"cell_type": "code", "metadata": {}, "source": "", "outputs": [
        *lines, new_output("display_data", data={"text/plain": "a figure"}),
        new_output("stream", name="stdout", text="3 epochs in 9 s\n")]}
    tidy = _tidy_for_book({"cells": [cell]})["cells"][0]["outputs"]
    assert [o["output_type"] for o in tidy] == ["stream", "display_data", "stream"]
    assert tidy[0]["text"] == "epoch 1/3, accuracy 0.5\nepoch 2/3, accuracy 0.5\nepoch 3/3, accuracy 0.5\n"


def test_published_notebooks_keep_runnable_defaults_and_name_the_runs_values(smoke_run, tmp_path):
    """No injected-parameters cell survives publishing: the parameters cell keeps its defaults
    (a student's download runs in minutes) and names the run's values in a comment, and a
    student's edit there is what the notebook then uses."""
    book = tmp_path / "book"
    book.mkdir()
    run_dir = tmp_path / "run"
    shutil.copytree(smoke_run["run_dir"], run_dir)
    (run_dir / "run.json").write_text(json.dumps({"profile": "smoke", "synthetic": True, "data": "synthetic"}))
    publish(run_dir, book_dir=book)
    for name in NOTEBOOKS:
        nb = nbformat.read(book / "results" / f"{name}.ipynb", as_version=4)
        assert not [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])], name
        (parameters,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        source = parameters.source
        assert "seed = 42" in source and 'profile = "smoke"' in source, source
        note = " ".join(line.removeprefix("# ") for line in source.split("# The values above")[1].splitlines())
        assert "seed = 7" in note and 'run_dir = "."' in note, source
        # the notebook, run as published with one parameter edited, uses the edit
        namespace: dict = {}
        exec(source.replace("seed = 42", "seed = 11"), namespace)
        assert namespace["seed"] == 11 and namespace["profile"] == "smoke"


def test_published_parameters_keep_the_defaults_and_name_the_runs_values():
    cell = publish_module.published_parameters('profile = "smoke"  # how big\nseed = 42\n',
                                               'profile = "full"\nseed = 42\nrun_dir = "."\n')
    lines = cell.splitlines()
    assert lines[:2] == ['profile = "smoke"  # how big', "seed = 42"]
    note = " ".join(line.removeprefix("# ") for line in lines[2:])
    assert all(line.startswith("# ") and len(line) <= 80 for line in lines[2:])
    assert note.endswith('used profile = "full", run_dir = ".".') and "seed" not in note
    namespace: dict = {}
    exec(cell, namespace)
    assert namespace["profile"] == "smoke"
    # published again (from a page that already carries the note): one note, not two
    assert publish_module.published_parameters(cell, 'profile = "full"\nrun_dir = "."\n') == cell
    assert publish_module.published_parameters('seed = 42\n', 'seed = 42\n') == "seed = 42"


def test_the_reproduction_page_states_cpu_time_only_where_it_was_measured():
    from ferlib.tooling.publish import reproduction_page

    summary = {"profile": "full", "device": "cpu: x86_64 (2 cores)",
               "notebook_seconds": {"01_data": 16.0, "02_cnn": 7200.0, "03_vit_tuning": 3600.0},
               "notebook_cpu": {"02_cnn": {"seconds": 13800.0, "complete": True},
                                "03_vit_tuning": {"seconds": 5400.0, "complete": False}}}
    page = reproduction_page(summary, {})
    assert "| 01_data | 16 s | – |" in page
    assert "| 02_cnn | 2 h 00 min | 3 h 50 min |" in page
    assert "| 03_vit_tuning | 1 h 00 min | partly measured |" in page
    assert "| **all notebooks** | **3 h 00 min** | **≥ 5 h 20 min** |" in page
    assert "CPU time of 01_data was not recorded" in page and "For 03_vit_tuning (1 h 30 min counted)" in page
    # 02_cnn, measured whole, kept 13800 / 7200 = 1.9 cores busy: 01_data would take 31 s of CPU,
    # 03_vit_tuning 6900 s (more than the 5400 s counted)
    assert "kept 1.9 cores busy on average" in page
    assert "the run used about 5 h 46 min of CPU time" in page  # 13800 + 31 + 6900 s
    summary["notebook_cpu"]["01_data"] = {"seconds": 90.0, "complete": True}
    summary["notebook_cpu"]["03_vit_tuning"]["complete"] = True
    page = reproduction_page(summary, {}, {"majority class": 0.2513, "chance": 1 / 7})
    assert "| 01_data | 16 s | 2 min |" in page
    assert "| *baseline: majority class, test accuracy* | – | 25.13% | – | – | 25.13% | – |" in page
    assert "| *baseline: chance, test accuracy* | – | 14.29% |" in page
    assert "| **all notebooks** | **3 h 00 min** | **5 h 22 min** |" in page
    assert "An estimate of the whole" not in page  # every notebook measured whole


def test_the_reproduction_page_sets_the_training_logs_beside_the_reports(tmp_path):
    """Log against log: epochs and the last epoch's figures, read from the run's own files."""
    from ferlib.files import write_json
    from ferlib.runfolder import RunFolder
    from ferlib.recipes.report import training_logs
    from ferlib.tooling.publish import reproduction_page

    folder = RunFolder(tmp_path)
    trained = folder.phase1("cnn")
    trained.mkdir(parents=True)
    (trained / "history.csv").write_text(
        "epoch,accuracy,learning_rate,loss,val_accuracy,val_loss\n"
        "0,0.30,0.001,1.8,0.35,1.7\n1,0.50,0.001,1.3,0.55,1.2\n2,0.60,0.001,1.1,0.52,1.25\n")
    write_json(trained / "train.json", {"epochs": 3, "best_epoch": 2})
    logs = training_logs(folder)
    assert logs == {"cnn phase1": {"epochs": 3, "best_epoch": 2, "accuracy": 0.60, "loss": 1.1,
                                   "val_accuracy": 0.52, "val_loss": 1.25}}
    page = reproduction_page({"trainings": logs}, {"cnn": {"phase1": {"train": {"accuracy": 0.60}}}})
    assert "| CNN, phase 1 | 42 | 3 (2) | 98.32% | 60.00% | 62.02% | 52.00% |" in page
    assert "ViT, phase 1" not in page  # not trained in this run: no row
    assert "{ref}`reproduction-differences`" in page  # 60% is far from the report's 98.32%


def test_without_the_notebooks_run_says_where_to_get_them(tmp_path, capsys):
    """An installed ferlib has no notebooks folder: the command says so and how to get them."""
    from ferlib.tooling.pipeline import REPOSITORY

    code = cli.main(["run", "--profile", "smoke", "--data", "synthetic", "--run-dir", str(tmp_path / "run"),
                     "--notebooks", str(tmp_path / "nowhere")])
    said = capsys.readouterr()
    assert code == 1 and said.err.count("\n") == 1
    assert f"git clone {REPOSITORY}" in said.err and "not with an installed ferlib" in said.err


def test_the_reproduction_page_names_the_models_of_a_card_written_before_cards_named_them():
    from ferlib.models import display_name
    from ferlib.tooling.publish import reproduction_page

    card = {"profile": "full", "data": "FER2013", "split": "report split", "seed": 42, "keras_version": "3.15.1",
            "backend": "tensorflow", "device": "cpu: x86_64 (2 cores)", "commit": "abc", "started": "2026-12-01",
            "finished": "2026-12-01", "precision": {"cnn": "mixed_bfloat16", "vit": "float32"}}
    run_line = reproduction_page(card, {}).splitlines()[2]
    assert f"({display_name('cnn')} mixed_bfloat16, {display_name('vit')} float32)" in run_line
    named = reproduction_page({**card, "display_names": {"cnn": "the CNN", "vit": "the ViT"}}, {})
    assert "(the CNN mixed_bfloat16, the ViT float32)" in named.splitlines()[2]
