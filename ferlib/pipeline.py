"""The papermill pipeline: run the six notebooks in order, build the book, publish a run.

    ferlib run --profile smoke --data PATH          # notebooks -> runs/smoke, book -> runs/smoke/book
    ferlib run --profile full --backend jax --data PATH --run-dir runs/full --publish
    ferlib publish runs/full                         # copy a run's notebooks into book/results
    ferlib data --data PATH                          # a quick summary of the data

A run directory holds the executed notebooks (``notebooks/``), what they saved (models,
histories, metrics) and a book built from that run (``book/_build/html``). The book in the
repository's ``book/`` changes only through ``publish``, which refuses to replace a better
published run (full beats smoke, FER2013 beats synthetic) unless forced.
"""

from __future__ import annotations

import argparse
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

NOTEBOOKS = ("01_data", "02_cnn", "03_vit_tuning", "04_overfitting_fix", "05_comparison", "06_features")
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
) -> list[Path]:
    """Execute the notebooks in order with papermill into ``run_dir/notebooks``.

    Notebooks run with ``run_dir`` as their working directory and get ``run_dir="."``, so
    no machine path lands in an executed notebook. A path given as `data` reaches them
    through ``FER2013_PATH`` for the same reason. Raises PipelineError on the first failure.
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
    with _environment(kernel_env):  # the kernels inherit these; the caller's environment is restored
        return _execute(names, notebooks_dir, run_dir, profile, data, seed, split, extra_parameters, timeout)


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


def _execute(names, notebooks_dir, run_dir, profile, data, seed, split, extra_parameters, timeout) -> list[Path]:
    import papermill as pm

    out_dir = run_dir / "notebooks"
    parameters = {"data": data, "profile": profile, "seed": seed, "split": split, "run_dir": ".", **(extra_parameters or {})}
    done = []
    for i, name in enumerate(names, start=1):
        _say(f"[{i}/{len(names)}] {name}: running ({profile} profile) ...")
        started = time.time()
        output = out_dir / f"{name}.ipynb"
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
        _record_timing(run_dir, name, seconds)
        _say(f"[{i}/{len(names)}] {name}: done in {seconds:.0f} s")
        done.append(output)
    return done


def _record_timing(run_dir: Path, name: str, seconds: float) -> None:
    path = run_dir / "timings.json"
    timings = json.loads(path.read_text()) if path.exists() else {}
    timings[name] = round(seconds, 1)
    path.write_text(json.dumps(timings, indent=2))


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
    for name in NOTEBOOKS:
        source = run_dir / "notebooks" / f"{name}.ipynb"
        if not source.exists():
            raise PipelineError(f"{source} is missing: the run is incomplete, nothing was published")
        notebook = _tidy_for_book(json.loads(source.read_text()))
        text = _scrub(json.dumps(notebook, indent=1, ensure_ascii=False), run_dir)
        (results_dir / f"{name}.ipynb").write_text(text + "\n")
    comparison = run_dir / "metrics" / "comparison.json"
    (results_dir / "comparison.json").unlink(missing_ok=True)  # never keep another run's numbers
    if comparison.exists():  # the Table 1 numbers the published pages were made from
        shutil.copyfile(comparison, results_dir / "comparison.json")
    summary = json.loads((run_dir / "run.json").read_text())
    timings = run_dir / "timings.json"
    summary["notebook_seconds"] = json.loads(timings.read_text()) if timings.exists() else {}
    (results_dir / "run.json").write_text(json.dumps(summary, indent=2))


# TensorFlow's C++ start-up log (absl): CUDA probing, CPU features, oneDNN notes. It goes
# to stderr at import whatever TF_CPP_MIN_LOG_LEVEL says and tells a reader nothing.
_NATIVE_LOG = re.compile(
    r"^([IWEF]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\]|WARNING: All log messages before absl|"
    r"To enable the following instructions|$)"
)


def _tidy_for_book(notebook: dict) -> dict:
    """Remove stderr outputs made only of native (C++) log lines; keep every other output.

    Also collapses papermill's injected-parameters cell in the book, like the parameters
    cell it overrides.
    """
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "injected-parameters" in tags and "hide-input" not in tags:
            tags.append("hide-input")
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                text = "".join(output.get("text", ""))
                if all(_NATIVE_LOG.match(line) for line in text.splitlines()):
                    continue
            kept.append(output)
        cell["outputs"] = kept
    return notebook


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
    new = json.loads((run_dir / "run.json").read_text())
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


# --------------------------------------------------------------------------- command line


def _data_summary(data: str) -> str:
    from .data import load_data
    from .splits import duplicate_report, report_split

    dataset = load_data(data)
    split = report_split(dataset.labels, dataset.usage)
    lines = [f"{dataset.name}: {len(dataset):,} images from {dataset.source}", f"fingerprint {dataset.fingerprint}",
             f"usage: {dataset.usage_counts()}", f"training classes: {dataset.class_counts('Training')}",
             split.describe(), duplicate_report(dataset.images, dataset.labels, split).to_string()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ferlib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the notebooks with papermill, then build the book from the run")
    run.add_argument("--profile", choices=("smoke", "cpu", "full"), default="smoke")
    run.add_argument("--data", default="auto", help="a FER2013 path, 'kaggle', 'synthetic' or 'auto' (FER2013_PATH, cache, else Kaggle)")
    run.add_argument("--run-dir", type=Path, default=None, help="default: runs/<profile>")
    run.add_argument("--seed", type=int, default=42)
    run.add_argument("--split", choices=("report", "official"), default="report")
    run.add_argument("--backend", choices=("tensorflow", "jax", "torch"), default=None, help="Keras backend (default: KERAS_BACKEND or tensorflow)")
    run.add_argument("--only", nargs="+", metavar="NOTEBOOK", help=f"run only these of {', '.join(NOTEBOOKS)}")
    run.add_argument("--epochs", type=int, default=None, help="override the profile's phase-1 epochs")
    run.add_argument("--no-book", action="store_true", help="skip the book build")
    run.add_argument("--publish", action="store_true", help="publish the run into book/ when it beats the published one")
    pub = sub.add_parser("publish", help="copy a finished run's notebooks into book/results")
    pub.add_argument("run_dir", type=Path)
    pub.add_argument("--force", action="store_true", help="replace the published run even if it is better")
    data = sub.add_parser("data", help="summarise the data set that --data finds")
    data.add_argument("--data", default="auto")
    args = parser.parse_args(argv)

    try:
        if args.command == "data":
            _say(_data_summary(args.data))
            return 0
        if args.command == "publish":
            _say(f"published {args.run_dir} into {publish(args.run_dir, force=args.force)}")
            return 0
        run_dir = (args.run_dir or Path("runs") / args.profile).resolve()
        if args.data == "auto":
            from .data import FER2013NotFound, find_fer2013

            try:
                found = find_fer2013()
            except FER2013NotFound:
                found = None
            if found is None:
                _say("No FER2013 found (set FER2013_PATH or --data): running on the SYNTHETIC stand-in data.")
                args.data = "synthetic"
        extra = {"epochs": args.epochs} if args.epochs else {}
        run_notebooks(run_dir, args.profile, args.data, args.seed, args.split, args.backend, args.only, extra_parameters=extra)
        if not args.no_book and not args.only:
            _say("building the book from this run ...")
            html = build_book(stage_book(run_dir))
            _say(f"book: {html / 'index.html'}")
        if args.publish:
            _say(f"published into {publish(run_dir)}")
        return 0
    except Exception as err:  # one clear line for the user, non-zero exit
        from .data import FER2013Error, FER2013NotFound

        if isinstance(err, (PipelineError, FER2013Error, FER2013NotFound)):
            _say(f"ferlib: error: {err}")
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
