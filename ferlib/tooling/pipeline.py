"""The papermill pipeline: run the notebooks of one run, in order, in its run folder.

A run folder (:class:`~ferlib.runfolder.RunFolder`) holds the executed notebooks and what
they saved (models, histories, metrics). Running the notebooks again on the same folder
skips the finished ones and resumes the interrupted one, whose trainings pick up at their
last complete epoch. Publishing a run into the book is :mod:`ferlib.tooling.publish`; the
command line is :mod:`ferlib.tooling.cli`.
"""

from __future__ import annotations

import os
import resource
import time
from contextlib import contextmanager
from pathlib import Path

from ..notebooks import NOTEBOOKS_DIR, notebook_names
from ..ledger import TimeLedger
from ..parameters import PageParameters
from ..runfolder import RunFolder

REPO = Path(__file__).resolve().parents[2]
#: Where the notebooks and the book live (pyproject.toml's project URL; tests keep the two equal).
REPOSITORY = "https://github.com/fer-course-book/cnn-vs-vit-fer2013"


class PipelineError(RuntimeError):
    """A notebook failed; the message names it and its failing cell."""


def _say(message: str) -> None:
    print(message, flush=True)


def run_notebooks(
    run_dir: Path,
    parameters: PageParameters | None = None,
    *,
    backend: str | None = None,
    only: list[str] | None = None,
    notebooks_dir: Path | None = None,
    timeout: int | None = None,
    resume: bool = True,
    **values,
) -> list[Path]:
    """Execute the notebooks in order with papermill into ``run_dir/notebooks``.

    Every notebook gets `parameters` (:class:`~ferlib.parameters.PageParameters`, with any
    field changed by keyword: ``run_notebooks(run_dir, profile="full", seed=7)``).

    Notebooks run with ``run_dir`` as their working directory and get ``run_dir="."``, so
    no machine path lands in an executed notebook. A path given as `data` reaches them
    through ``FER2013_PATH`` for the same reason. With `resume`, notebooks that already
    ran to the end in this folder are skipped. Raises PipelineError on the first failure.
    """
    parameters = (parameters or PageParameters()).with_values(**values)
    data = parameters.data
    notebooks_dir = Path(notebooks_dir or NOTEBOOKS_DIR)
    if not notebooks_dir.is_dir():
        raise PipelineError(
            f"no notebooks in {notebooks_dir}: they come with the repository, not with an installed ferlib. "
            f"Get them with `git clone {REPOSITORY}` and run `ferlib run --notebooks cnn-vs-vit-fer2013/notebooks`"
            " (or run from the clone)")
    pages = notebook_names(notebooks_dir)
    unknown = set(only or ()) - set(pages)
    if unknown:
        raise PipelineError(f"unknown notebook(s) {sorted(unknown)}; the notebooks are {', '.join(pages)}")
    names = [n for n in pages if not only or n in only]
    run_dir = Path(run_dir).resolve()
    kernel_env = {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}  # quieter TF start-up
    if data not in ("auto", "kaggle", "synthetic"):
        kernel_env["FER2013_PATH"] = str(Path(data).expanduser().resolve())
        parameters = parameters.with_values(data="auto")
    if backend:
        kernel_env["KERAS_BACKEND"] = backend
    (run_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    kernel_env["FERLIB_NOTEBOOK"] = ""
    with _environment(kernel_env):  # the kernels inherit these; the caller's environment is restored
        return _execute(names, notebooks_dir, run_dir, parameters.with_values(run_dir="."), timeout, resume)


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


def _kernel_cpu_seconds() -> float:
    """User + system CPU seconds of this process's finished children: papermill's kernels,
    which jupyter_client waits for when it shuts them down."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _execute(names, notebooks_dir, run_dir, page: PageParameters, timeout, resume) -> list[Path]:
    import papermill as pm

    folder = RunFolder(run_dir)
    ledger = TimeLedger(folder)
    # only what differs from the notebooks' own defaults, so the injected cell stays short
    defaults = PageParameters().as_dict()
    parameters = {k: v for k, v in page.as_dict().items() if v != defaults[k] or k in ("data", "profile", "seed", "split", "run_dir")}
    profile = page.profile
    finished = ledger.finished_notebooks() if resume else {}
    done = []
    for i, name in enumerate(names, start=1):
        output = folder.notebook(name)
        if name in finished:
            _say(f"[{i}/{len(names)}] {name}: finished earlier in this run folder ({finished[name]:.0f} s), skipped")
            done.append(output)
            continue
        _say(f"[{i}/{len(names)}] {name}: running ({profile} profile) ...")
        started, cpu_started = time.time(), _kernel_cpu_seconds()
        ledger.start_notebook(name)
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
        ledger.record_notebook(name, seconds, cpu_seconds=_kernel_cpu_seconds() - cpu_started)
        ledger.mark_finished()
        _say(f"[{i}/{len(names)}] {name}: done in {seconds:.0f} s")
        done.append(output)
    return done
