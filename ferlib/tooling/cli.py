"""The ``ferlib`` command line.

    ferlib run --profile smoke --data PATH               # notebooks, then a book built from the run
    ferlib run --profile full --background               # a long run in the background; again to resume
    ferlib status ~/.cache/ferlib/runs/full              # where a run stands
    ferlib run --profile full --reexecute --no-book      # re-execute finished notebooks (trainings reused)
    ferlib publish ~/.cache/ferlib/runs/full             # copy a run's notebooks into book/results
    ferlib publish RUN_DIR --page 08_closing_the_gap     # replace that one page (it stands alone)
    ferlib bank ~/.cache/ferlib/runs/full                # keep an unfinished run's metrics in git
    ferlib rewrite-sentences                             # the published comparison's sentences, from new code
    ferlib predict photo.jpg                             # emotions of the faces, by the model ferlib ships
    ferlib predict photo.jpg --run ~/.cache/ferlib/runs/full   # ... by a run's own model
    ferlib ship --data PATH                              # train the shipped model again, from scratch
    ferlib data --data PATH                              # a quick summary of the data

Runs live in ``~/.cache/ferlib/runs/<profile>`` unless ``--run-dir`` (or ``FERLIB_RUNS``)
says otherwise: outside the checkout, so a long run survives a fresh clone.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .pipeline import REPO, PipelineError, run_notebooks
from .publish import bank, build_book, publish, publish_page, rewrite_sentences, stage_book
from ..files import DamagedFile, read_json, write_text
from ..notebooks import NOTEBOOKS
from ..recipes.course import MACHINE_KINDS, PAGE_TIMES, record_page_times
from ..parameters import PageParameters, names as page_parameter_names, types as page_parameter_types
from ..runfolder import RunFolder, default_runs_dir
from ..runstatus import format_status, run_status, running_pid


def _say(message: str) -> None:
    print(message, flush=True)


def _error(message: str) -> int:
    """One line on stderr for the user (no traceback); the command's exit status."""
    print(f"ferlib: error: {message}", file=sys.stderr, flush=True)
    return 1


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"ferlib {version('ferlib')}"
    except PackageNotFoundError:  # run from a checkout without installing it
        return "ferlib (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ferlib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, summary: str, details: str = ""):
        # the summary is the line in `ferlib --help`; `ferlib NAME --help` shows it with the details
        return sub.add_parser(name, help=summary, description=f"{summary[0].upper()}{summary[1:]}.{details}")

    _add_run_arguments(command("run", "run the notebooks with papermill, then build the book from the run",
                               " Notebooks that finished in the run folder are skipped and finished trainings are "
                               "reused, so the same command resumes an interrupted run."))
    status = command("status", "where a run stands: notebook and training in progress, epochs, time",
                     " Reads the run folder only: it starts at once, without TensorFlow.")
    status.add_argument("run_dir", type=Path)
    pub = command("publish", "copy a finished run's notebooks into book/results",
                  " Needs a clone of the repository (the book lives there, not in an installed package); "
                  "refuses a run that does not beat the published one unless --force.")
    pub.add_argument("run_dir", type=Path)
    pub.add_argument("--force", action="store_true", help="replace the published run even if it is better")
    pub.add_argument("--page", help="publish only this page of the run (one that stands alone: 08_closing_the_gap)")
    banked = command("bank", "keep in git what an unfinished run has measured: metrics, histories, run card",
                     " Copies them, never weights, into book/results/banked/<run folder's name> (in a clone: "
                     "commit it), so a lost run folder costs its trainings, never its numbers.")
    banked.add_argument("run_dir", type=Path)
    command("rewrite-sentences", "write the published comparison's interpreting sentences again, from its numbers",
            " For when the code that words the conclusion's sentences changed after the published run: each "
            "sentence page 5 glued is replaced by what the current code writes from the same published numbers, "
            "and the run card and the reproduction page say which commit wrote them. Needs a clone.")
    _add_predict_arguments(command(
        "predict", "find the faces in photos and classify their emotions",
        " Uses the model that ships with ferlib, or with --run a run's own model. Writes an annotated "
        "copy of each photo and one table of every face's box and seven probabilities; for a video "
        "(.mp4, .avi, .mov, .mkv ...), a table of the sampled frames' faces, an annotated video and a "
        "plot of each emotion over time."))
    _add_ship_arguments(command(
        "ship", "train the model ferlib ships, and write it with its card",
        " Trains the final fast recipe (page 8) for each seed on FER2013's Training faces, keeps the "
        "best on PublicTest, and writes its float16 weights, its card and their checksum. Trainings "
        "finished in --root (the long run's folder) are reused."))
    times = command("times", "record a finished run's page times for the chapters' openings",
                    " Adds each notebook's wall time, at the run's profile and on the machine kind given, to "
                    "ferlib/recipes/page_times.json (in a clone: commit it). `ferlib publish` does this for "
                    "the published run.")
    times.add_argument("run_dir", type=Path)
    times.add_argument("--machine", choices=MACHINE_KINDS, default=MACHINE_KINDS[0],
                       help="the kind of machine the run ran on (default: %(default)s)")
    _add_tune_arguments(command(
        "tune", "search the transformers' sizes with KerasTuner, on one machine or several",
        " Hyperband over patch size, depth, heads and width (ferlib.recipes.tuning.SEARCH_SPACE), trained on "
        "FER2013's Training faces with the transformers' fast recipe and chosen on PublicTest. Across "
        "machines: start one --role chief and any number of --role worker (each its own --worker-id) "
        "with the chief's --address and --port, all on the same --folder or each on its own. The same "
        "command resumes a search."))
    data = command("data", "summarise the data set that --data finds",
                   " Counts per part and emotion, the report's split and the duplicates across it.")
    data.add_argument("--data", default="auto")
    return parser


def _add_run_arguments(run: argparse.ArgumentParser) -> None:
    _add_page_parameters(run)
    run.add_argument("--run-dir", type=Path, default=None, help="default: ~/.cache/ferlib/runs/<profile> (or $FERLIB_RUNS/<profile>)")
    run.add_argument("--backend", choices=("tensorflow", "jax", "torch"), default=None, help="Keras backend (default: KERAS_BACKEND or tensorflow)")
    run.add_argument("--only", nargs="+", metavar="NOTEBOOK", help=f"run only these of {', '.join(NOTEBOOKS) or 'the pages'}")
    run.add_argument("--notebooks", type=Path, default=None, metavar="DIR",
                     help="the folder of the notebooks (default: the clone's notebooks/; an installed ferlib has none)")
    run.add_argument("--background", action="store_true",
                     help="detach and log to RUN_DIR/run.log; the same command resumes an interrupted run")
    run.add_argument("--reexecute", action="store_true",
                     help="execute every notebook again, finished ones included (finished trainings are reused)")
    run.add_argument("--refresh-code", action="store_true",
                     help="with --background: run the checkout's current code instead of the copy the run started with")
    run.add_argument("--no-book", action="store_true", help="skip the book build")
    run.add_argument("--publish", action="store_true", help="publish the run into book/ when it beats the published one")


def _add_predict_arguments(predict: argparse.ArgumentParser) -> None:
    predict.add_argument("photos", nargs="+", type=Path, metavar="PHOTO")
    predict.add_argument("--run", type=Path, default=None, metavar="RUN_DIR",
                         help="a run folder with trained models (default: the model ferlib ships)")
    predict.add_argument("--model", default="cnn", help="with --run: a registered model: cnn (default), vit, or one in FERLIB_MODELS")
    predict.add_argument("--out", type=Path, default=Path("."), help="folder for the annotated images and the table")
    predict.add_argument("--format", choices=("csv", "json"), default="csv", help="the photos' table")
    predict.add_argument("--cropped", action="store_true",
                         help="photos: each is one face already cropped (as FER2013's images are): classify the whole "
                              "photo, without looking for faces")
    predict.add_argument("--every", type=int, default=None, metavar="N", help="videos: keep every N-th frame")
    predict.add_argument("--per-second", type=float, default=None, metavar="R",
                         help="videos: keep about R frames per second (default 2)")


def _add_ship_arguments(ship: argparse.ArgumentParser) -> None:
    ship.add_argument("--data", default="auto")
    ship.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds to train and choose among")
    ship.add_argument("--epochs", type=int, default=None, help="instead of the recipe's 50 (fewer: a quicker, weaker model)")
    ship.add_argument("--root", type=Path, default=None,
                      help="folder of the trainings (default: the long run's, ~/.cache/ferlib/runs/full/closing-the-gap)")
    ship.add_argument("--out", type=Path, default=None, help="where to write the model (default: inside ferlib)")


def _add_tune_arguments(tune: argparse.ArgumentParser) -> None:
    tune.add_argument("--data", default="auto")
    tune.add_argument("--folder", type=Path, default=Path("~/.cache/ferlib/transformer-search"),
                      help="where the trials are kept (default: %(default)s)")
    tune.add_argument("--role", choices=("alone", "chief", "worker"), default="alone",
                      help="alone (default): search in this process; chief: hand out the trials; worker: train them")
    tune.add_argument("--address", default="127.0.0.1", help="the chief's address (default: %(default)s)")
    tune.add_argument("--port", type=int, default=8000, help="the chief's port (default: %(default)s)")
    tune.add_argument("--worker-id", type=int, default=0, help="with --role worker: this worker's number")
    tune.add_argument("--max-epochs", type=int, default=9, help="Hyperband's longest training (default: %(default)s)")
    tune.add_argument("--factor", type=int, default=3, help="Hyperband's reduction factor (default: %(default)s)")


def _add_page_parameters(parser: argparse.ArgumentParser) -> None:
    """One option per page parameter (:class:`~ferlib.parameters.PageParameters`), with its
    default, its choices and its help text; ``run_dir`` is ``--run-dir``, set apart."""
    types = page_parameter_types()
    for spec in fields(PageParameters):
        if spec.name == "run_dir":
            continue
        kind = types[spec.name]
        parser.add_argument(f"--{spec.name.replace('_', '-')}", type=kind, default=spec.default,
                            choices=spec.metadata["choices"], help=spec.metadata["help"])


def _data_summary(data: str) -> str:
    from ..data import load_data
    from ..splits import duplicate_report, report_split

    dataset = load_data(data)
    split = report_split(dataset.labels, dataset.usage)
    lines = [f"{dataset.name}: {len(dataset):,} images from {dataset.source}", f"fingerprint {dataset.fingerprint}",
             f"usage: {dataset.usage_counts()}", f"training classes: {dataset.class_counts('Training')}",
             split.describe(), duplicate_report(dataset.images, dataset.labels, split).to_string()]
    return "\n".join(lines)


def snapshot_code(folder: RunFolder, refresh: bool = False) -> tuple[Path, str]:
    """The code a background run executes: a copy of the package, the notebooks and the
    book's sources in the run folder, taken when the run starts (or with `refresh`, e.g. to re-execute finished
    notebooks with the final code). Editing the checkout during a run that lasts days
    then neither crashes it nor changes it half-way. Returns the copy and its commit."""
    from ..files import commit_dir
    from ..provenance import git_commit

    target = folder.code
    if target.exists() and not refresh:
        return target, (target / "COMMIT").read_text().strip()
    commit = git_commit(REPO)
    tmp = target.with_name(".code-partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for part in ("ferlib", "notebooks", "book"):  # the book's sources: a finished run builds its own book
        shutil.copytree(REPO / part, tmp / part, ignore=shutil.ignore_patterns(
            "__pycache__", ".ipynb_checkpoints", "_build", "results", ".results-*"))
    for name in ("_config.yml", "_toc.yml"):  # book/ links to them
        shutil.copyfile(REPO / name, tmp / name)
    (tmp / "COMMIT").write_text(commit + "\n")
    commit_dir(tmp, target)
    return target, commit


def _start_background(argv: list[str], folder: RunFolder, refresh_code: bool) -> int:
    """Start this same command, without ``--background``, detached from the terminal."""
    pid = running_pid(folder)
    if pid is not None:
        _say(f"a run is already going on in {folder.root} (pid {pid}); its log is {folder.log}\n")
        _say(format_status(run_status(folder)))
        return 0
    folder.root.mkdir(parents=True, exist_ok=True)
    code, commit = snapshot_code(folder, refresh=refresh_code)
    command = [sys.executable, "-m", "ferlib", *[a for a in argv if a != "--background"]]
    if "--run-dir" not in argv:
        command += ["--run-dir", str(folder.root)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "FERLIB_COMMIT": commit,
           "PYTHONPATH": os.pathsep.join(p for p in (str(code), os.environ.get("PYTHONPATH", "")) if p)}
    with open(folder.log, "ab") as log:
        log.write(f"\n==== {' '.join(command)} (code of commit {commit})\n".encode())
        log.flush()
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True, env=env, cwd=folder.root)
    write_text(folder.pid_file, f"{child.pid}\n")
    _say(f"started in the background (pid {child.pid}): {folder.root}\n"
         f"  log:    {folder.log}\n  status: ferlib status {folder.root}\n"
         "The same command resumes the run if it is interrupted.")
    return 0


def _predict(args) -> int:
    # Checked before the model loads (seconds, with TensorFlow): a mistyped path answers at once.
    missing = [photo for photo in args.photos if not photo.exists()]
    for photo in missing:
        _error(f"{photo}: no such file")
    run_dir = args.run.expanduser() if args.run else None
    if run_dir is not None and not run_dir.is_dir():
        return _error(f"{run_dir}: no such run folder (give --run a folder that `ferlib run` trained)")
    if len(missing) == len(args.photos):
        return 1
    from ..predict import predict_files
    from ..video import is_video

    # The others are still read: one mistyped name among many does not cost the rest.
    found = [p for p in args.photos if p not in missing]
    photos = [p for p in found if not is_video(p)]
    if args.cropped and len(photos) < len(found):
        _say("--cropped applies to photos; the faces of each video frame are still looked for")
    try:
        model, label = _predictor(run_dir, args.model)
        failed = any([_predict_video(video, model, label, args) for video in found if is_video(video)]) or bool(missing)
        if not photos:
            return int(failed)
        done = predict_files(photos, model, args.out, args.format, label=label, cropped=args.cropped)
    except (FileNotFoundError, ValueError) as err:
        return _error(str(err))
    for photo, faces in done["faces"].items():
        if not faces:
            _say(f"{photo}: no face found (if the photo is a face crop already, as FER2013's images are, "
                 "add --cropped to classify it whole)")
        for i, face in enumerate(faces, start=1):
            _say(f"{photo}: face {i} at x={face.box[0]} y={face.box[1]} ({face.box[2]}x{face.box[3]}): "
                 f"{face.emotion} {face.probabilities[face.emotion]:.0%}")
        _say(f"  annotated: {done['images'][photo]}")
    for photo, problem in done["problems"].items():
        _error(problem)
    if done["table"] is not None:
        _say(f"table: {done['table']}")
    return 1 if done["problems"] or failed else 0


def _predict_video(path: Path, model, label: str, args) -> bool:
    """One video's faces, sampled; True where it could not be read (said in one line)."""
    from ..predict import PhotoError
    from ..video import predict_video

    try:
        result = predict_video(path, model, args.out, every=args.every, per_second=args.per_second, label=label)
    except PhotoError as err:
        _error(str(err))
        return True
    faces = sum(len(f) for f in result.faces)
    _say(f"{path}: {len(result.times)} frames sampled, {faces} faces\n  table: {result.table}\n"
         f"  annotated video: {result.video}\n  emotions over time: {result.plot}")
    return False


def _predictor(run_dir: Path | None, model: str):
    """The network `predict` uses and its name on the annotated photos: the shipped model, or a
    run's (with a warning on stderr when that one has not learned)."""
    if run_dir is None:
        from ..shipped import load_shipped_model, shipped_card

        card = shipped_card()
        return load_shipped_model(), f"ferlib's model ({card['private_test']:.0%} on FER2013's PrivateTest)"
    from ..models import display_name
    from ..predict import load_run_model, not_learned_warning

    network = load_run_model(run_dir, model)
    warning = not_learned_warning(run_dir, model)
    if warning:
        print(f"ferlib: {warning}", file=sys.stderr, flush=True)
    return network, display_name(model)


def _tune(args) -> int:
    from ..data import load_data
    from ..recipes import tuning
    from ..splits import standard_protocol_arrays

    if args.role != "alone":
        os.environ.update(tuning.cluster_environment(args.role, port=args.port, address=args.address,
                                                     worker=args.worker_id))
    dataset = load_data(args.data)
    arrays = standard_protocol_arrays(dataset)
    folder = args.folder.expanduser()
    tuning.search(arrays, folder, max_epochs=args.max_epochs, factor=args.factor)
    trials = tuning.trials_frame(folder)
    _say(f"{args.role}: {len(trials)} finished trials in {folder}"
         + (f"\n{trials.head(10).to_string(index=False)}" if len(trials) else ""))
    return 0


def _ship(args) -> int:
    from ..recipes.ship import ship
    from ..shipped import FOLDER

    card = ship(args.data, seeds=tuple(args.seeds), epochs=args.epochs, root=args.root, out=args.out or FOLDER)
    _say(f"shipped seed {card['seed']} ({card['chosen']}): PrivateTest {card['private_test']:.2%}, "
         f"{card['private_test_tta']:.2%} with flip averaging, into {args.out or FOLDER}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    try:
        if args.command == "data":
            _say(_data_summary(args.data))
            return 0
        if args.command == "predict":
            return _predict(args)
        if args.command == "ship":
            return _ship(args)
        if args.command == "tune":
            return _tune(args)
        if args.command == "status":
            return _status(args.run_dir.expanduser())
        if args.command == "times":
            record_page_times(args.run_dir.expanduser(), args.machine)
            _say(f"recorded the page times of {args.run_dir} ({args.machine}) in {PAGE_TIMES}")
            return 0
        if args.command == "rewrite-sentences":
            _say(f"rewrote {len(rewrite_sentences())} sentences of {REPO / 'book' / 'results' / '05_comparison.ipynb'}")
            return 0
        if args.command in ("publish", "bank"):
            # a folder of long runs alone has measured something to bank, but no pages to publish
            _check_publishable(args.run_dir, long_runs_alone=args.command == "bank")
        if args.command == "bank":
            _say(f"banked what {args.run_dir} has measured in {bank(args.run_dir.expanduser())}; commit it")
            return 0
        if args.command == "publish" and args.page:
            _say(f"published {args.page} of {args.run_dir} into {publish_page(args.run_dir, args.page)}")
            return 0
        if args.command == "publish":
            _say(f"published {args.run_dir} into {publish(args.run_dir, force=args.force)}")
            return 0
        return _run(args, argv)
    except BrokenPipeError:  # `ferlib status RUN | head`: the reader left, which is not an error to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit would fail too
        return 1
    except Exception as err:  # one clear line for the user, non-zero exit
        from ..data import FER2013Error, FER2013NotFound
        from ..detector import DetectorUnavailable

        if isinstance(err, (PipelineError, FER2013Error, FER2013NotFound, DamagedFile, DetectorUnavailable)):
            return _error(str(err))
        raise
    finally:
        if args.command == "run" and not args.background:
            _forget_pid(args)


def _status(run_dir: Path) -> int:
    folder = RunFolder(run_dir)
    if not folder.card.exists() and not folder.holds_long_runs():
        return _error(f"{folder.root} is not a run folder (it has no run.json, and no long run's log.jsonl)")
    _say(format_status(run_status(folder)))
    return 0


def _check_publishable(run_dir: Path, long_runs_alone: bool = False) -> None:
    """Refuse, in one line, a run folder that does not exist or has no readable run card
    (with `long_runs_alone`, no card is needed where long runs train), and an installed
    package with no book to publish into."""
    folder = RunFolder(run_dir.expanduser())
    if not folder.root.is_dir():
        raise PipelineError(f"{folder.root}: no such run folder")
    if not folder.card.exists() and not (long_runs_alone and folder.holds_long_runs()):
        raise PipelineError(f"{folder.root} is not a run folder (it has no run.json)")
    if folder.card.exists():
        read_json(folder.card)  # a damaged card: DamagedFile, naming it
    if not (REPO / "_toc.yml").exists():
        raise PipelineError(f"no book to publish into: {REPO} is an installed package, not a clone of the "
                            "repository; publish from a clone (git clone, then pip install -e .)")


def _run(args, argv: list[str]) -> int:
    """``ferlib run``: the notebooks in a run folder, then the book from that run."""
    folder = RunFolder((args.run_dir or default_runs_dir() / args.profile).expanduser().resolve())
    if args.background:
        return _start_background(argv, folder, refresh_code=args.reexecute or args.refresh_code)
    _claim(folder)
    data = args.data
    if data == "auto" and _no_fer2013_here():
        _say("No FER2013 found (set FER2013_PATH or --data): running on the SYNTHETIC stand-in data.")
        data = "synthetic"
    parameters = PageParameters(**{name: getattr(args, name) for name in page_parameter_names() if name != "run_dir"})
    elsewhere = {"notebooks_dir": args.notebooks} if args.notebooks else {}  # else the clone's
    run_notebooks(folder.root, parameters.with_values(data=data), backend=args.backend, only=args.only,
                  resume=not args.reexecute, **elsewhere)
    if not args.no_book and not args.only:
        _say("building the book from this run ...")
        html = build_book(stage_book(folder.root))
        _say(f"book: {html / 'index.html'}")
    if args.publish:
        _say(f"published into {publish(folder.root)}")
    return 0


def _claim(folder: RunFolder) -> None:
    """Record this process as the folder's run, so that ``ferlib status`` says "running" for a
    run in the foreground too; refuse when another live process already runs it."""
    pid = running_pid(folder)
    if pid is not None and pid != os.getpid():
        raise PipelineError(f"a run is already going on in {folder.root} (pid {pid}); its log is {folder.log}")
    folder.root.mkdir(parents=True, exist_ok=True)
    write_text(folder.pid_file, f"{os.getpid()}\n")


def _no_fer2013_here() -> bool:
    """No local FER2013 (a download would be left): the command line then runs on synthetic data."""
    from ..data import FER2013NotFound, find_fer2013

    try:
        return find_fer2013() is None
    except FER2013NotFound:
        return True


def _forget_pid(args) -> None:
    """A foreground run that ends (or fails) is no longer the folder's running process."""
    folder = RunFolder((args.run_dir or default_runs_dir() / args.profile).expanduser().resolve())
    try:
        if int(folder.pid_file.read_text()) == os.getpid():
            folder.pid_file.unlink()
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
