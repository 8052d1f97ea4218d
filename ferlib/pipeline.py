"""The papermill pipeline: run the notebooks in order, build the book, publish a run.

A run folder (:class:`~ferlib.runfolder.RunFolder`) holds the executed notebooks, what they
saved (models, histories, metrics) and a book built from that run. Running the notebooks
again on the same folder skips the finished ones and resumes the interrupted one, whose
trainings pick up at their last complete epoch. The book in the repository's ``book/``
changes only through :func:`publish`, which refuses to replace a better published run
(full beats smoke, FER2013 beats synthetic) unless forced. The command line is
:mod:`ferlib.cli`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from .files import read_json, write_json
from .runfolder import NOTEBOOKS, RunFolder

REPO = Path(__file__).resolve().parent.parent
PUBLISHED_RUN = "results/run.json"


class PipelineError(RuntimeError):
    """A notebook failed; the message names it and its failing cell."""


def _say(message: str) -> None:
    print(message, flush=True)


def run_notebooks(
    run_dir: Path,
    profile: str = "smoke",
    data: str = "auto",
    seed: int = 42,
    split: str = "report",
    backend: str | None = None,
    only: list[str] | None = None,
    notebooks_dir: Path | None = None,
    extra_parameters: dict | None = None,
    timeout: int | None = None,
    resume: bool = True,
) -> list[Path]:
    """Execute the notebooks in order with papermill into ``run_dir/notebooks``.

    Notebooks run with ``run_dir`` as their working directory and get ``run_dir="."``, so
    no machine path lands in an executed notebook. A path given as `data` reaches them
    through ``FER2013_PATH`` for the same reason. With `resume`, notebooks that already
    ran to the end in this folder are skipped. Raises PipelineError on the first failure.
    """
    unknown = set(only or ()) - set(NOTEBOOKS)
    if unknown:
        raise PipelineError(f"unknown notebook(s) {sorted(unknown)}; the notebooks are {', '.join(NOTEBOOKS)}")
    names = [n for n in NOTEBOOKS if not only or n in only]
    notebooks_dir = Path(notebooks_dir or REPO / "notebooks")
    run_dir = Path(run_dir).resolve()
    kernel_env = {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}  # quieter TF start-up
    if data not in ("auto", "kaggle", "synthetic"):
        kernel_env["FER2013_PATH"] = str(Path(data).expanduser().resolve())
        data = "auto"
    if backend:
        kernel_env["KERAS_BACKEND"] = backend
    (run_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    kernel_env["FERLIB_NOTEBOOK"] = ""
    with _environment(kernel_env):  # the kernels inherit these; the caller's environment is restored
        return _execute(names, notebooks_dir, run_dir, profile, data, seed, split, extra_parameters, timeout, resume)


@contextmanager
def _environment(values: dict[str, str]):
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _execute(names, notebooks_dir, run_dir, profile, data, seed, split, extra_parameters, timeout, resume) -> list[Path]:
    import papermill as pm

    folder = RunFolder(run_dir)
    parameters = {"data": data, "profile": profile, "seed": seed, "split": split, "run_dir": ".", **(extra_parameters or {})}
    finished = folder.finished_notebooks() if resume else {}
    done = []
    for i, name in enumerate(names, start=1):
        output = folder.notebook(name)
        if name in finished:
            _say(f"[{i}/{len(names)}] {name}: finished earlier in this run folder ({finished[name]:.0f} s), skipped")
            done.append(output)
            continue
        _say(f"[{i}/{len(names)}] {name}: running ({profile} profile) ...")
        started = time.time()
        folder.start_notebook(name)
        os.environ["FERLIB_NOTEBOOK"] = name  # the kernel inherits it; training progress names the notebook
        try:
            pm.execute_notebook(
                str(notebooks_dir / f"{name}.ipynb"),
                str(output),
                parameters=parameters,
                kernel_name="python3",
                cwd=str(run_dir),
                log_output=False,
                progress_bar=False,
                execution_timeout=timeout,
            )
        except pm.PapermillExecutionError as err:
            raise PipelineError(
                f"notebook {name} failed in cell {err.exec_count} ({err.ename}: {err.evalue}); "
                f"the executed notebook with the error is {output}"
            ) from err
        except Exception as err:  # kernel died, timeout, missing kernel ...
            raise PipelineError(f"notebook {name} failed: {type(err).__name__}: {err}") from err
        seconds = time.time() - started
        folder.record_notebook(name, seconds)
        folder.mark_finished()
        _say(f"[{i}/{len(names)}] {name}: done in {seconds:.0f} s")
        done.append(output)
    return done


# --------------------------------------------------------------------------- the book


def build_book(book_dir: Path, builder: str = "html") -> Path:
    """``jupyter-book build`` with warnings as errors; returns the HTML folder."""
    executable = Path(sys.executable).with_name("jupyter-book")
    command = [str(executable) if executable.exists() else "jupyter-book", "build", str(book_dir),
               "--builder", builder, "-W", "-n", "--keep-going", "--all"]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PipelineError(f"the book build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return book_dir / "_build" / "html"


def stage_book(run_dir: Path, book_dir: Path | None = None) -> Path:
    """A copy of the book whose results pages are this run's notebooks (``run_dir/book``)."""
    book_dir = Path(book_dir or REPO / "book")
    run_dir = Path(run_dir).resolve()
    staged = run_dir / "book"
    if staged.exists():
        shutil.rmtree(staged)
    shutil.copytree(book_dir, staged, ignore=shutil.ignore_patterns("_build"))  # follows the config symlinks
    _copy_results(run_dir, staged / "results")
    return staged


def _copy_results(run_dir: Path, results_dir: Path) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    folder = RunFolder(run_dir)
    for name in NOTEBOOKS:
        source = folder.notebook(name)
        if not source.exists():
            raise PipelineError(f"{source} is missing: the run is incomplete, nothing was published")
        notebook = _tidy_for_book(json.loads(source.read_text()))
        text = _scrub(json.dumps(notebook, indent=1, ensure_ascii=False), run_dir)
        (results_dir / f"{name}.ipynb").write_text(text + "\n")
    comparison = folder.metrics("comparison")
    (results_dir / "comparison.json").unlink(missing_ok=True)  # never keep another run's numbers
    if comparison.exists():  # the Table 1 numbers the published pages were made from
        shutil.copyfile(comparison, results_dir / "comparison.json")
    summary = read_json(folder.card)
    summary["notebook_seconds"] = read_json(folder.timings, {})
    summary["training_seconds"] = folder.status()["training_seconds"]
    write_json(results_dir / "run.json", summary)


# TensorFlow's C++ start-up log (absl): CUDA probing, CPU features, oneDNN notes. It goes
# to stderr at import whatever TF_CPP_MIN_LOG_LEVEL says and tells a reader nothing.
_NATIVE_LOG = re.compile(
    r"^([IWEF]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\]|WARNING: All log messages before absl|"
    r"To enable the following instructions|$)"
)


def _tidy_for_book(notebook: dict) -> dict:
    """Make an executed notebook fit to publish.

    * papermill's injected-parameters cell is folded into the parameters cell: the run's
      values replace the defaults there, comments kept, and the injected cell goes. A
      student who opens the published notebook (in Colab) and edits a parameter then gets
      what they edited, not a later cell that silently sets it back.
    * stderr outputs made only of native (C++) log lines are removed.
    """
    cells = notebook.get("cells", [])
    injected = next((c for c in cells if "injected-parameters" in c.get("metadata", {}).get("tags", [])), None)
    parameters = next((c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if injected is not None:
        if parameters is not None:
            parameters["source"] = _merge_parameters("".join(parameters["source"]), "".join(injected["source"]))
        cells.remove(injected)
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                text = "".join(output.get("text", ""))
                if all(_NATIVE_LOG.match(line) for line in text.splitlines()):
                    continue
            kept.append(output)
        cell["outputs"] = kept
    return notebook


def _merge_parameters(defaults: str, injected: str) -> str:
    """The parameters cell with the injected assignments' values in place of the defaults."""
    import ast

    values = {}
    for node in ast.parse(injected).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = ast.get_source_segment(injected, node.value)
    lines = defaults.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"^(\w+)\s*=\s*(.*?)(\s+#.*)?$", line)
        if match and match.group(1) in values:
            lines[i] = f"{match.group(1)} = {values.pop(match.group(1))}{match.group(3) or ''}"
    lines += [f"{name} = {value}" for name, value in values.items()]
    return "\n".join(lines)


def _scrub(text: str, run_dir: Path) -> str:
    """Take this machine's paths out of an executed notebook (papermill metadata, logs)."""
    replacements = {str(run_dir): ".", str(REPO): "<repo>", str(Path.home()): "~", sys.prefix: "<python>"}
    for old, new in sorted(replacements.items(), key=lambda kv: -len(kv[0])):
        if len(Path(old).parts) < 3:  # "/" or "/app" would also match text that is not a path
            continue
        escaped = re.escape(json.dumps(old)[1:-1])
        text = re.sub(escaped + r"(?=[/\\\"'\s:]|$)", new, text)
    return re.sub(r"/(?:tmp|work)/[^\s\"']*", "<path>", text)


def _rank(summary: dict) -> tuple[int, int]:
    """Real data beats synthetic; then full beats cpu beats smoke."""
    return (0 if summary.get("synthetic", True) else 1, {"smoke": 0, "cpu": 1, "full": 2}.get(summary.get("profile"), 0))


def publish(run_dir: Path, book_dir: Path | None = None, force: bool = False) -> Path:
    """Copy a finished run's notebooks into ``book/results``, if it beats the published one."""
    book_dir = Path(book_dir or REPO / "book")
    run_dir = Path(run_dir).resolve()
    new = read_json(RunFolder(run_dir).card)
    current_path = book_dir / PUBLISHED_RUN
    if current_path.exists() and not force:
        current = json.loads(current_path.read_text())
        if _rank(new) <= _rank(current):
            raise PipelineError(
                f"not published: the book already shows a {current['profile']} run on {current['data']}, "
                f"which this {new['profile']} run on {new['data']} does not beat (use --force to replace it)"
            )
    staging = Path(tempfile.mkdtemp(dir=book_dir, prefix=".results-"))
    try:  # swap the whole folder at once: the book never holds half of two runs
        _copy_results(run_dir, staging)
        old = book_dir / "results"
        backup = Path(tempfile.mkdtemp(dir=book_dir, prefix=".results-old-")) / "results"
        if old.exists():
            old.rename(backup)
        staging.rename(old)
        shutil.rmtree(backup.parent, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return book_dir / "results"
