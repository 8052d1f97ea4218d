"""Publishing a run: its executed notebooks, tidied and scrubbed, become the book's
``results/`` pages, and the book is built from them.

:func:`publish` refuses to replace a better published run (full beats smoke, FER2013 beats
synthetic) unless forced, and swaps ``book/results`` as one folder, so the book never holds
half of two runs; a run that has not executed the standalone pages (8 and 9, each on a long
run of its own) keeps the published ones. :func:`publish_page` replaces one standalone page,
:func:`bank` keeps an unfinished run's numbers in git, and :func:`stage_book` makes a copy of
the book for one run folder.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

from ..files import atomic_write, read_json, write_json, write_text
from ..notebooks import NOTEBOOKS
from ..runfolder import RunFolder
from ..runstatus import run_status, trainings
from .pipeline import REPO, PipelineError

PUBLISHED_RUN = "results/run.json"
#: The run's metrics the book publishes beside its pages, for scripts to read: Table 1's
#: numbers (page 5) and the fast recipe's against the literature (page 8).
PUBLISHED_METRICS = ("comparison", "comparison_tests", "closing_the_gap", "vit_question")


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


def _copy_page(folder: RunFolder, name: str, results_dir: Path) -> None:
    """One executed page of `folder`, tidied and scrubbed, as ``results_dir/name.ipynb``."""
    source = folder.notebook(name)
    if not source.exists():
        raise PipelineError(f"{source} is missing: the run is incomplete, nothing was published")
    executed = json.loads(source.read_text())
    failed = [cell.get("execution_count") for cell in executed.get("cells", [])
              if any(output.get("output_type") == "error" for output in cell.get("outputs", []))]
    if failed or executed.get("metadata", {}).get("papermill", {}).get("exception"):
        where = f"cell [{failed[0]}] raised an error" if failed else "papermill recorded an exception"
        raise PipelineError(f"{source}: {where} when it ran, so it was not published; fix the page and "
                            "execute it again")
    notebook = _tidy_for_book(executed)
    write_text(results_dir / f"{name}.ipynb", _scrub(json.dumps(notebook, indent=1, ensure_ascii=False),
                                                     folder.root) + "\n")


def _copy_results(run_dir: Path, results_dir: Path, published: Path | None = None) -> None:
    """`run_dir`'s pages, metrics and histories into `results_dir`; the standalone pages it did
    not execute come from the `published` results (:func:`_carry_standalone_pages`)."""
    from ..recipes.report import training_logs  # imports TensorFlow: only when publishing

    results_dir.mkdir(parents=True, exist_ok=True)
    folder = RunFolder(run_dir)
    carried = _carried_pages(folder, published)
    for name in NOTEBOOKS:
        if name not in carried:
            _copy_page(folder, name, results_dir)
    for name in PUBLISHED_METRICS:
        (results_dir / f"{name}.json").unlink(missing_ok=True)  # never keep another run's numbers
        if folder.metrics(name).exists():
            shutil.copyfile(folder.metrics(name), results_dir / f"{name}.json")
    summary = read_json(folder.card)
    summary["notebook_seconds"] = read_json(folder.timings, {})
    summary["notebook_cpu"] = read_json(folder.cpu_times, {})
    summary["trainings"] = training_logs(folder)
    summary["training_seconds"] = run_status(folder)["training_seconds"]
    if carried:
        _carry_standalone_pages(carried, published, results_dir, summary)
    if published is not None:  # unfinished runs' records stay, whatever run is published
        for record in sorted(p for p in (published / BANKED).glob("**/*") if p.is_file()):
            _copy_file(record, results_dir / record.relative_to(published))
    write_json(results_dir / "run.json", summary)
    _copy_histories(run_dir, results_dir)
    comparison = read_json(results_dir / "comparison.json", {})
    write_text(results_dir / "reproduction.md", reproduction_page(summary, comparison.get("results", {}),
                                                                     comparison.get("baselines")))


_RUN_CARD_KEYS = {"profile", "data", "split", "seed", "keras_version", "backend", "device", "commit", "started", "finished"}


def reproduction_page(summary: dict, results: dict, baselines: dict | None = None) -> str:
    """The book's reproduction page, written from a run's card and its comparison numbers:
    the report's Table 1 beside the run's (and the run's `baselines`: name -> test
    accuracy), the trainings log against log, then the wall and CPU time of every notebook."""
    from ..display import table1_markdown, training_logs_markdown
    from ..provenance import describe_run
    from ..recipes.report import REPORT_TABLE1, REPORT_TRAININGS, table1
    from ..recipes.verdicts import FLAG

    if _RUN_CARD_KEYS <= set(summary):
        from ..models import display_name

        precision = summary.get("precision")
        if "display_names" not in summary and isinstance(precision, dict):  # a card written before cards named them
            summary = {**summary, "display_names": {model: display_name(model) for model in precision}}
        run = describe_run(summary)
    else:
        run = summary.get("profile", "?") + " profile"
    lines = ["# Reproduction: the report's numbers and this run's", "", f"**Run:** {run}", "",
             "The report's Table 1 beside the published run. *Difference* is ours minus the report's, in "
             "percentage points for accuracies; a mark (⚠) flags a difference larger than 3 points. The report "
             "took its training and validation accuracies from the last epoch of its training logs (dropout on, "
             "augmented images in phase 2), so ours in those rows come from our logs too; the rows in italics "
             "measure our models after training (dropout off, unaltered images, the best epoch's weights), "
             "which the report does not give.", ""]
    report_models = list(REPORT_TABLE1)  # the reproduction compares the report's two networks
    logs = summary.get("trainings", {})
    lines += table1_markdown(table1({m: results[m] for m in report_models if m in results}, logs), report_models,
                             baselines or {}, FLAG)
    lines += training_logs_markdown(summary.get("trainings", {}), REPORT_TRAININGS)
    if rewritten := summary.get("sentences_rewritten"):
        lines += ["", f"The conclusion's sentences about this run were reworded on {rewritten['date']} by a later "
                      f"version of the book's code (commit `{rewritten['commit']}`); the numbers they are made from "
                      "are this run's, unchanged."]
    lines += _cost_section(summary)
    return "\n".join(lines)


def _cost_section(summary: dict) -> list[str]:
    """What the run cost: each notebook's wall and CPU time, and what of it is measured."""
    from ..display import duration

    seconds = summary.get("notebook_seconds", {})
    cpu = summary.get("notebook_cpu", {})

    def cpu_cell(name: str) -> str:
        if name not in cpu:
            return "–"
        # a part counted of a notebook killed and resumed would read as its cost: the caveats give it
        return duration(cpu[name]["seconds"]) if cpu[name]["complete"] else "partly measured"

    lines = ["", "## What it cost", "",
             f"Wall time of each notebook on {summary.get('device', 'this machine')}, summed over the sessions "
             "the run took (a notebook that was interrupted and resumed counts every attempt), and the CPU "
             "time (user + system, all cores) its kernel used:", "",
             "| Notebook | wall time | CPU time |", "|---|---:|---:|"]
    lines += [f"| {name} | {duration(value)} | {cpu_cell(name)} |" for name, value in seconds.items()]
    measured = [name for name in seconds if name in cpu]
    unmeasured = [name for name in seconds if name not in cpu]
    partial = [name for name in measured if not cpu[name]["complete"]]
    total_cpu = "–"
    if measured:
        total_cpu = ("≥ " if unmeasured or partial else "") + duration(sum(cpu[n]["seconds"] for n in measured))
    lines += [f"| **all notebooks** | **{duration(sum(seconds.values()))}** | **{total_cpu}** |", ""]
    if summary.get("training_seconds"):
        lines += [f"Of that wall time, training the models took {duration(summary['training_seconds'])} (the sum of "
                  "every training's epochs, resumed sessions included).", ""]
    for name, other in summary.get("other_profiles", {}).items():
        lines += [f"{name} is published from a run at the {other['profile']} profile, which took "
                  f"{duration(other['seconds'])}; it is not part of this run and not in the totals.", ""]
    for name, run in summary.get("long_runs", {}).items():
        lines += [f"{name} was executed after its long run, which had trained {run['trainings']} networks "
                  f"for {duration(run['seconds'])} at the {run['profile']} profile; that time is not in the "
                  "totals above.", ""]
    return lines + _cpu_caveats(seconds, cpu, measured, unmeasured, partial)


def _cpu_caveats(seconds: dict, cpu: dict, measured: list, unmeasured: list, partial: list) -> list[str]:
    """Where the CPU time is incomplete, why, and an estimate of the whole."""
    from ..display import duration

    lines = []
    if unmeasured:
        lines += [f"The CPU time of {', '.join(unmeasured)} was not recorded (the pipeline did not measure it yet when "
                  "they ran); it is at most the wall time times the number of cores.", ""]
    if partial:
        counted = ", ".join(f"{name} ({duration(cpu[name]['seconds'])} counted)" for name in partial)
        lines += [f"For {counted} the CPU time counts only the attempts whose kernel reported it: the run began "
                  "before ferlib recorded the CPU time of an attempt that is killed, so the table says "
                  "\"partly measured\".", ""]
    whole = [name for name in measured if cpu[name]["complete"]]
    if (unmeasured or partial) and whole:
        busy = sum(cpu[n]["seconds"] for n in whole) / sum(seconds[n] for n in whole)
        estimate = sum(cpu[n]["seconds"] if n in whole else max(cpu.get(n, {}).get("seconds", 0.0), busy * seconds[n])
                       for n in seconds)
        lines += [f"An estimate of the whole: the notebooks measured whole kept {busy:.1f} cores busy on average; "
                  f"if the others did the same, the run used about {duration(estimate)} of CPU time.", ""]
    return lines


# TensorFlow's C++ start-up log (absl): CUDA probing, CPU features, oneDNN notes. It goes
# to stderr at import whatever TF_CPP_MIN_LOG_LEVEL says and tells a reader nothing.
# tf.function retracing notes (a new model was predicted on; nothing for a reader to do).
# TensorFlow's logger writes them to stderr or, in a kernel, to stdout.
_RETRACING = r"WARNING:tensorflow:\d+ out of the last \d+ calls to .* triggered tf.function retracing"
_NATIVE_LOG = re.compile(
    r"^([IWEF]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\]|WARNING: All log messages before absl|"
    r"To enable the following instructions|" + _RETRACING + "|$)"
)
_STDOUT_NOISE = re.compile("^" + _RETRACING)


def _tidy_for_book(notebook: dict) -> dict:
    """Make an executed notebook fit to publish.

    * papermill's injected-parameters cell goes, and the parameters cell keeps its defaults
      with the run's values written beside them as a comment (:func:`published_parameters`).
      A student who downloads the page's notebook runs something that takes minutes, not the
      published run's hours, and an edit to a parameter is not set back by a later cell.
    * native (C++) log lines on stderr, and TensorFlow's retracing notes on either stream,
      are removed (an output left empty goes).
    * consecutive outputs of one stream (a training's epoch lines) become one output.
    """
    cells = notebook.get("cells", [])
    injected = next((c for c in cells if "injected-parameters" in c.get("metadata", {}).get("tags", [])), None)
    parameters = next((c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if injected is not None:
        if parameters is not None:
            parameters["source"] = published_parameters("".join(parameters["source"]), "".join(injected["source"]))
        cells.remove(injected)
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") in ("stderr", "stdout"):
                noise = _NATIVE_LOG if output["name"] == "stderr" else _STDOUT_NOISE
                text = "".join(output.get("text", ""))
                kept_lines = [line for line in text.splitlines() if not noise.match(line)]
                if not kept_lines:
                    continue
                output["text"] = "\n".join(kept_lines) + "\n"
            previous = kept[-1] if kept else None
            if (previous is not None and output.get("output_type") == "stream" == previous.get("output_type")
                    and output.get("name") == previous.get("name")):
                # one box for a training's epoch lines, as Jupyter shows them live, not one box per line
                previous["text"] = "".join(previous.get("text", "")) + "".join(output.get("text", ""))
                continue
            kept.append(output)
        cell["outputs"] = kept
    return notebook


def published_parameters(defaults: str, run: str) -> str:
    """The parameters cell of a published page: its `defaults` as they are (a run started from
    them takes minutes), then a comment giving the values that the page's own run used where they
    differ. `run` holds that run's assignments (papermill's injected cell, or a parameters cell
    that already holds the run's values)."""
    import ast
    import textwrap

    def values(source: str) -> dict[str, str]:
        found = {}
        for node in ast.parse(source).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                found[node.targets[0].id] = ast.get_source_segment(source, node.value)
        return found

    kept = defaults.rstrip().split(f"\n# {_RUN_NOTE[:34]}")[0].splitlines()  # a note from an earlier publish goes
    default = values("\n".join(kept))
    differ = [f"{name} = {value}" for name, value in values(run).items() if default.get(name) != value]
    if not differ:
        return "\n".join(kept)
    note = textwrap.wrap(f"{_RUN_NOTE} {', '.join(differ)}.", 78)
    return "\n".join([*kept, *(f"# {line}" for line in note)])


# The comment under a published page's parameters: the defaults above, the page's run in it.
_RUN_NOTE = "The values above are the defaults: a run you start takes minutes. The run behind this page used"


def _scrub(text: str, run_dir: Path) -> str:
    """Take this machine's paths out of an executed notebook (papermill metadata, logs)."""
    replacements = {str(run_dir): ".", str(REPO): "<repo>", str(Path.home()): "~", sys.prefix: "<python>"}
    for old, new in sorted(replacements.items(), key=lambda kv: -len(kv[0])):
        if len(Path(old).parts) < 3:  # "/" or "/app" would also match text that is not a path
            continue
        escaped = re.escape(json.dumps(old)[1:-1])
        text = re.sub(escaped + r"(?=[/\\\"'\s:]|$)", new, text)
    # a path ends at a quote, a space or a backslash (JSON's escaped quote \" starts with one)
    return re.sub(r"/(?:tmp|work)/[^\s\"'\\]*", "<path>", text)


def _rank(summary: dict) -> tuple[int, int]:
    """Real data beats synthetic; then full beats cpu beats smoke."""
    return (0 if summary.get("synthetic", True) else 1, {"smoke": 0, "cpu": 1, "full": 2}.get(summary.get("profile"), 0))


def publish(run_dir: Path, book_dir: Path | None = None, force: bool = False) -> Path:
    """Copy a finished run's notebooks into ``book/results``, if it beats the published one
    or is the published run itself (executed again, say, from newer code)."""
    book_dir = Path(book_dir or REPO / "book")
    run_dir = Path(run_dir).resolve()
    new = read_json(RunFolder(run_dir).card)
    current_path = book_dir / PUBLISHED_RUN
    if current_path.exists() and not force:
        current = read_json(current_path)
        same_run = new.get("first_started_unix") is not None and all(
            current.get(key) == new.get(key) for key in ("first_started_unix", "data_fingerprint", "profile", "seed"))
        if _rank(new) <= _rank(current) and not same_run:
            raise PipelineError(
                f"not published: the book already shows a {current['profile']} run on {current['data']}, "
                f"which this {new['profile']} run on {new['data']} does not beat (use --force to replace it)"
            )
    staging = Path(tempfile.mkdtemp(dir=book_dir, prefix=".results-"))
    try:  # swap the whole folder at once: the book never holds half of two runs
        _copy_results(run_dir, staging, published=book_dir / "results")
        old = book_dir / "results"
        backup = Path(tempfile.mkdtemp(dir=book_dir, prefix=".results-old-")) / "results"
        if old.exists():
            old.rename(backup)
        staging.rename(old)
        shutil.rmtree(backup.parent, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if _is_repository_book(book_dir):  # its openings quote these times
        from ..recipes.course import record_page_times

        record_page_times(run_dir)
    return book_dir / "results"


def _is_repository_book(book_dir: Path) -> bool:
    """Whether `book_dir` is this repository's own book (whose chapters quote the page times),
    not a copy a test or a user publishes into."""
    return Path(book_dir).resolve() == (REPO / "book").resolve()


def publish_page(run_dir: Path, page: str, book_dir: Path | None = None, page_times: Path | None = None) -> Path:
    """Replace one page of ``book/results`` with `run_dir`'s execution of it, with the
    metrics that run wrote (:data:`PUBLISHED_METRICS`).

    For a page that stands on its own run: pages 8 and 9 train on the standard protocol and
    share no model or number with pages 1 to 7, so each can be executed, after its long run,
    without executing those again. A page that reads other pages' numbers is refused.

    The page's time goes into the run card and, for the repository's own book (or into
    `page_times` where given), into the chapters' table of page times, so the two agree.
    """
    if page not in NOTEBOOKS:
        raise PipelineError(f"no page {page!r}; the pages are {', '.join(NOTEBOOKS)}")
    if page not in STANDALONE_PAGES:
        raise PipelineError(f"{page} reads the numbers of other pages of its run: publish the whole run instead")
    book_dir = Path(book_dir or REPO / "book")
    folder = RunFolder(Path(run_dir).resolve())
    results = book_dir / "results"
    _copy_page(folder, page, results)
    if page_times is None and _is_repository_book(book_dir):
        from ..recipes.course import PAGE_TIMES

        page_times = PAGE_TIMES
    _record_page_time(folder, page, results, page_times)
    for name in PUBLISHED_METRICS:
        if folder.metrics(name).exists():
            write_text(results / f"{name}.json", folder.metrics(name).read_text())
    _copy_histories(folder.root, results)
    return results / f"{page}.ipynb"


def _record_page_time(folder: RunFolder, page: str, results_dir: Path, page_times: Path | None = None) -> None:
    """The published run card's notebook times with this page's own (kept apart, under
    ``other_profiles``, when the page's run has another profile than the published one), and
    the reproduction page written again from them."""
    summary = read_json(results_dir / "run.json")
    if summary is None:
        return
    # The page's time as the run recorded it (the first full execution; a later --reexecute
    # that only reads finished trainings is recorded apart), else papermill's of this execution.
    seconds = read_json(folder.timings, {}).get(page)
    if seconds is None:
        executed = json.loads(folder.notebook(page).read_text())
        seconds = executed.get("metadata", {}).get("papermill", {}).get("duration")
    if seconds is None:
        return
    card = read_json(folder.card, {})
    profile = card.get("profile")
    long_run = long_run_time(folder.root, STANDALONE_PAGES[page]) if page in STANDALONE_PAGES else None
    summary.setdefault("long_runs", {}).pop(page, None)
    if long_run is not None:
        summary["long_runs"][page] = {"profile": profile, **long_run}
    if profile != summary.get("profile"):
        # A page published from a run at another profile: its time is kept apart, so that it
        # neither passes for this run's nor counts in its totals.
        summary.get("notebook_seconds", {}).pop(page, None)
        summary.setdefault("other_profiles", {})[page] = {"profile": profile, "seconds": round(float(seconds), 1)}
    else:
        summary.get("other_profiles", {}).pop(page, None)
        summary.setdefault("notebook_seconds", {})[page] = round(float(seconds), 1)
        # the code this page ran, which a later publish of the other pages does not change
        commit = card.get("commit", summary.get("commit"))
        summary.setdefault("page_commits", {})[page] = commit
        if page_times is not None:  # the chapters' openings quote these times
            from ..recipes.course import record_page_time

            # the published card's profile (the openings and the card must agree), the machine
            # and the commit this page ran on
            machine = card.get("device", summary.get("device"))
            record_page_time({page: seconds}, {**summary, "device": machine, "commit": commit},
                             date.today().isoformat(), path=page_times,
                             long_runs={page: long_run} if long_run else None)
    write_json(results_dir / "run.json", summary)
    comparison = read_json(results_dir / "comparison.json", {})
    write_text(results_dir / "reproduction.md", reproduction_page(summary, comparison.get("results", {}),
                                                                     comparison.get("baselines")))


#: The pages that train and read nothing of the other pages (see :func:`publish_page`), each
#: with the folder of the run in which its long run trains.
STANDALONE_PAGES = {"08_closing_the_gap": "closing-the-gap", "09_vit_question": "vit-question"}
#: Folders of a run whose trainings' small records (each run's epoch log, summary, signature,
#: PrivateTest answers and the probabilities an ensemble averages) the book keeps in git, so that losing the run folder costs a
#: rerun, never the numbers or the paired tests: the long runs of pages 8 and 9.
PUBLISHED_HISTORIES = tuple(STANDALONE_PAGES.values())
#: Each standalone page's metrics among :data:`PUBLISHED_METRICS`.
STANDALONE_METRICS = {"08_closing_the_gap": "closing_the_gap", "09_vit_question": "vit_question"}
_HISTORY_FILES = ("log.jsonl", "summary.json", "signature.json", "record.json", "budget.json",
                  "predictions.json", "probabilities.json")


def _copy_file(source: Path, target: Path) -> None:
    atomic_write(target, lambda f: f.write(source.read_bytes()))  # as bytes: any record, text or not, comes back as it was


def _copy_histories(run_dir: Path, results_dir: Path) -> None:
    for folder in PUBLISHED_HISTORIES:
        for training in sorted(p for p in (run_dir / folder).glob("*") if p.is_dir()):
            for name in _HISTORY_FILES:
                if (training / name).exists():
                    _copy_file(training / name, results_dir / folder / training.name / name)



#: The file that marks a kept training of :data:`PUBLISHED_HISTORIES` as finished: a fast-recipe
#: run's summary, a page-9 training's record.
_FINISHED_FILES = ("summary.json", "record.json")


def restore_histories(run_dir: Path, book_dir: Path | None = None) -> list[str]:
    """Bring back into a run folder that lost them the finished trainings of pages 8 and 9
    whose records the book keeps (:func:`_copy_histories` in reverse), so that their long runs
    skip them instead of training them again. A training of which the run folder holds any
    record is left alone (it may be training again). An unfinished one is not restored: its
    weights and its resume state went with the folder, so it starts again from its first
    epoch, and its old epochs' log would read as the new run's. Returns the trainings
    restored, as ``folder/training``."""
    run_dir, results_dir = Path(run_dir), (book_dir or REPO / "book") / "results"
    restored = []
    for folder in PUBLISHED_HISTORIES:
        for kept in sorted(p for p in (results_dir / folder).glob("*") if p.is_dir()):
            finished = [name for name in _FINISHED_FILES if (kept / name).exists()]
            target = run_dir / folder / kept.name
            if not finished or any((target / name).exists() for name in _HISTORY_FILES):
                continue
            for name in _HISTORY_FILES:
                if (kept / name).exists():
                    _copy_file(kept / name, target / name)
            restored.append(f"{folder}/{kept.name}")
    return restored


#: Where :func:`bank` keeps an unfinished run's records, under ``book/results``.
BANKED = "banked"
#: A run's own small files :func:`bank` keeps: its card, its notebooks' times, its tally of CPU.
_RUN_FILES = ("run.json", "timings.json", "cpu.json")
#: A page training's small files :func:`bank` keeps beside its history.
_TRAINING_FILES = ("train.json", "signature.json")


def bank(run_dir: Path, book_dir: Path | None = None) -> Path:
    """Keep in git what a run has measured so far, before its pages are published: its card,
    its metrics (``metrics/*.json``, which the pages read back instead of training again), each
    page training's history as JSON lines (the repository holds no CSV files) with its
    ``train.json`` and ``signature.json``, and the long runs' records (:func:`_copy_histories`).
    Weights stay out. Returns ``book/results/banked/<run folder's name>``, which a lost run
    folder's metrics can be copied back from. The command line checks first that `run_dir`
    is a run folder."""
    import pandas as pd

    run_dir, results_dir = Path(run_dir), (book_dir or REPO / "book") / "results"
    banked = results_dir / BANKED / run_dir.name
    for name in _RUN_FILES:
        if (run_dir / name).exists():
            write_text(banked / name, (run_dir / name).read_text())
    for metrics in sorted((run_dir / "metrics").glob("*.json")):
        write_text(banked / "metrics" / metrics.name, metrics.read_text())
    for row in trainings(RunFolder(run_dir)):
        training = run_dir / row["training"]
        if not (training / "history.csv").exists():  # a fast-recipe training: _copy_histories keeps its log
            continue
        kept = banked / "trainings" / row["training"]
        try:
            epochs = pd.read_csv(training / "history.csv")
        except pd.errors.EmptyDataError:  # a training that has just started: no epoch yet
            continue
        write_text(kept / "history.jsonl", epochs.to_json(orient="records", lines=True))
        for name in _TRAINING_FILES:
            if (training / name).exists():
                write_text(kept / name, (training / name).read_text())
    _copy_histories(run_dir, results_dir)
    return banked


def _carried_pages(folder: RunFolder, published: Path | None) -> list[str]:
    """The standalone pages `folder`'s run did not execute, which the published book has: a
    run of pages 1 to 7 leaves pages 8 and 9, each published from its own long run, in place.
    A page that neither has is missing: nothing is published."""
    carried = []
    for page in NOTEBOOKS:
        if folder.notebook(page).exists():
            continue
        if page in STANDALONE_PAGES and published is not None and (published / f"{page}.ipynb").exists():
            carried.append(page)
        else:
            raise PipelineError(f"{folder.notebook(page)} is missing: the run is incomplete, nothing was published")
    return carried


def _carry_standalone_pages(pages: list[str], published: Path, results_dir: Path, summary: dict) -> None:
    """`pages` as `published` has them, into `results_dir`: each page, its metrics
    (:data:`STANDALONE_METRICS`), its long run's records, and its times in the run card
    `summary`. Records the run being published has of the same long run replace these
    afterwards (:func:`_copy_histories`)."""
    old = read_json(published / "run.json", {})
    for page in pages:
        write_text(results_dir / f"{page}.ipynb", (published / f"{page}.ipynb").read_text())
        metrics = published / f"{STANDALONE_METRICS[page]}.json"
        if metrics.exists():
            write_text(results_dir / metrics.name, metrics.read_text())
        for key in ("notebook_seconds", "notebook_cpu", "long_runs", "other_profiles", "page_commits"):
            if page in old.get(key, {}):
                summary.setdefault(key, {})[page] = old[key][page]
    for folder in [STANDALONE_PAGES[page] for page in pages]:
        for record in sorted(p for p in (published / folder).glob("**/*") if p.is_file()):
            _copy_file(record, results_dir / record.relative_to(published))


def long_run_time(run_dir: Path, folder: str) -> dict | None:
    """What the long run in ``run_dir/folder`` has trained so far: ``{"seconds", "trainings"}``,
    the training seconds summed over its finished trainings (each one's ``record.json`` or
    ``summary.json``); None where none has finished. Executing a standalone page afterwards
    takes minutes, so its time alone would hide the hours this cost."""
    seconds, trainings = 0.0, 0
    for training in sorted(p for p in (Path(run_dir) / folder).glob("*") if p.is_dir()):
        record = read_json(training / "record.json") or read_json(training / "summary.json")
        if record is not None and record.get("train_seconds") is not None:
            seconds, trainings = seconds + float(record["train_seconds"]), trainings + 1
    return {"seconds": round(seconds, 1), "trainings": trainings} if trainings else None


def rewrite_sentences(book_dir: Path | None = None, commit: str | None = None) -> list[str]:
    """Write the comparison page's interpreting sentences again, from the numbers it published.

    The sentences the conclusion quotes (``verdict_*``, ``difference_*``) are functions of the
    published run's numbers (``comparison.json``, ``comparison_tests.json`` where present, and
    the run card's training logs). When the code that writes them improves, a run that can no
    longer be executed again still gets the new sentences: each glued record that already
    exists is replaced, nothing else on the page changes, and the run card records which
    commit wrote them. Returns the names rewritten."""
    from ..provenance import git_commit

    commit = commit or git_commit(REPO)  # before writing: the rewrite itself would make the checkout dirty
    results = Path(book_dir or REPO / "book") / "results"
    page, card = results / "05_comparison.ipynb", results / "run.json"
    if not page.exists():
        raise PipelineError(f"{results} holds no published comparison page (05_comparison.ipynb): publish a run first")
    sentences = published_sentences(results)
    comparison, summary = read_json(results / "comparison.json"), read_json(card)
    notebook = json.loads(page.read_text())
    rewritten = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook", {})
            if scrap.get("name") in sentences:
                output["data"][scrap["mime_prefix"] + "text/plain"] = repr(sentences[scrap["name"]])
                rewritten.append(scrap["name"])
    write_text(page, json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    summary["sentences_rewritten"] = {"commit": commit, "date": date.today().isoformat(),
                                      "page": page.name, "names": sorted(rewritten)}
    write_json(card, summary)
    write_text(results / "reproduction.md", reproduction_page(summary, comparison["results"],
                                                              comparison.get("baselines")))
    return rewritten


def published_sentences(results: Path) -> dict[str, str]:
    """The sentences page 5 glues (``verdict_*``, ``difference_*``) as the current code writes
    them from a published run's numbers in `results`: ``comparison.json``, the run card's
    training logs and, where the run has them, its paired tests (``comparison_tests.json``)."""
    from ..recipes.comparison import load_comparison_tests
    from ..recipes.verdicts import comparison_verdicts, difference_verdicts

    comparison, summary = read_json(results / "comparison.json", None), read_json(results / "run.json", None)
    if comparison is None or summary is None:
        raise PipelineError(f"{results} holds no published comparison (comparison.json and run.json): publish a "
                            "run first")
    tests_path = results / "comparison_tests.json"
    tests = load_comparison_tests(read_json(tests_path)) if tests_path.exists() else None
    sentences = comparison_verdicts(comparison["results"], comparison["baselines"]["majority class"],
                                    summary["profile"], tests)
    return sentences | difference_verdicts(comparison["results"], summary.get("trainings", {}))
