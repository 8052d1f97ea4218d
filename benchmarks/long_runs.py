"""The book's long runs, one after another, started and resumed by one command:

    nohup python benchmarks/long_runs.py --data PATH [--run-dir ~/.cache/ferlib/runs/full] \
        >> ~/.cache/ferlib/runs/full/long-runs.log 2>&1 &

A session ends every process it started, and no run of these fits in one session, so each
step resumes where the last session stopped and is skipped once done. A run folder that was
lost gets back first the finished trainings of pages 8 and 9 whose records git keeps
(``ferlib.tooling.publish.restore_histories``), so only what was unfinished trains again.

1. ``pages``: pages 1 to 7 at the full profile (``ferlib run --only 01_data ... 07_beyond
   --no-book``): finished notebooks are skipped, the interrupted one runs again from the top
   and its trainings go on from their last complete epoch. A run of it already going on (started
   by hand with ``--background``) is waited for. Where the run folder holds no run but the book
   publishes all seven pages from a full run, the step has nothing to resume and says so
   (rerunning them is days of CPU: ``ferlib run --profile full`` by hand).
2. ``page8-plan``: the fast recipe's plan (``benchmarks/fast_recipe.py``: the ablation's runs
   and the long "best" training), each run resuming from its last epoch.
3. ``page9-weights``: the models page 9 explains with Grad-CAM and attention rollout (seed 0
   of the best CNN, the report's ViT and the best transformer on PublicTest). The page's
   trainings are read from their records; their weights are not in git, so a contender whose
   ``model.keras`` is missing trains again for its budget (the epochs in its ``budget.json``),
   and its new record replaces the old.
4. ``vit-search``: page 9's KerasTuner search over the transformer's sizes (``ferlib tune``,
   Hyperband with the page's settings, in the folder the page reads); KerasTuner takes it up
   again from its last finished trial.

Page 8's plan comes before page 9's steps because page 9 is published whole, and only a
re-execution of it needs their weights and search again.

``--only STEP`` runs the steps named. Publishing stays a person's job: ``ferlib publish``
changes the repository, which a background job must not do.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STEPS = ("pages", "page8-plan", "page9-weights", "vit-search")
PAGES = ("01_data", "02_cnn", "03_vit_tuning", "04_phase2", "05_comparison", "06_features", "07_beyond")


def say(message: str) -> None:
    print(f"== long runs: {message}", flush=True)


def run(command: list[str]) -> None:
    say(" ".join(command))
    subprocess.run(command, check=True, cwd=REPO)


def pages(run_dir: Path, data: str, poll_seconds: float = 300) -> None:
    from ferlib.files import read_json
    from ferlib.runfolder import RunFolder
    from ferlib.runstatus import running_pid

    book = REPO / "book" / "results"
    published = read_json(book / "run.json", {})
    if (not (run_dir / "run.json").exists() and published.get("profile") == "full"
            and all((book / f"{page}.ipynb").exists() for page in PAGES)):
        say(f"{run_dir} holds no run, and the book publishes pages 1 to 7 from a full run: nothing to resume")
        return
    # a run started by hand (`ferlib run --background`) goes on: wait for it, then resume what is left
    if (pid := running_pid(RunFolder(run_dir))) is not None:
        say(f"waiting for the run in progress in {run_dir} (pid {pid})")
        while running_pid(RunFolder(run_dir)) is not None:
            time.sleep(poll_seconds)
    run([sys.executable, "-m", "ferlib", "run", "--profile", "full", "--data", data, "--run-dir", str(run_dir),
         "--no-book", "--only", *PAGES])


def page9_weights(run_dir: Path, data: str) -> None:
    from ferlib.files import read_json
    from ferlib.recipes.vit_question import FOLDER, best_of

    root = run_dir / FOLDER
    records = [read_json(path) for path in sorted(root.glob("*-seed0/record.json"))]
    explained = dict.fromkeys(name for name in (best_of(records, "cnn"), "report-vit", best_of(records, "transformer"))
                              if name is not None)
    for name in explained:
        training = root / f"{name}-seed0"
        if (training / "training" / "model.keras").exists():
            say(f"{training.name} has its weights")
            continue
        # its weights were lost, or its training was interrupted before it saved them: the
        # record (git's copy, or the run's own) would make the training skip, so it goes
        (training / "record.json").unlink(missing_ok=True)
        run([sys.executable, "benchmarks/vit_question.py", "--root", str(root), "--only", name, "--seeds", "0",
             "--data", data])


def vit_search(run_dir: Path, data: str) -> None:
    # the folder and Hyperband's settings page 9 searches with at the full profile
    run([sys.executable, "-m", "ferlib", "tune", "--data", data, "--folder", str(run_dir / "transformer-search"),
         "--max-epochs", "9", "--factor", "3"])


def page8_plan(run_dir: Path, data: str) -> None:
    run([sys.executable, "benchmarks/fast_recipe.py", "--root", str(run_dir / "closing-the-gap"), "--data", data])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="FER2013 source, as for `ferlib run --data`")
    parser.add_argument("--run-dir", type=Path, default=Path("~/.cache/ferlib/runs/full"), help="the full run's folder")
    parser.add_argument("--only", nargs="+", choices=STEPS, help="run only these steps, in the usual order")
    args = parser.parse_args()
    run_dir = args.run_dir.expanduser()
    from ferlib.files import write_text
    from ferlib.runfolder import RunFolder
    from ferlib.runstatus import queue_pid

    # two queues in one folder would train the same runs at once, each over the other's files
    folder = RunFolder(run_dir)
    if (pid := queue_pid(folder)) is not None and pid != os.getpid():
        say(f"a queue is already running in {run_dir} (pid {pid}); `ferlib status {run_dir}` says where it stands")
        return 1
    write_text(folder.queue_pid_file, f"{os.getpid()}\n")
    try:
        run_steps(run_dir, args.data, args.only)
    finally:
        folder.queue_pid_file.unlink(missing_ok=True)
    return 0


def run_steps(run_dir: Path, data: str, only: list[str] | None) -> None:
    from ferlib.tooling.publish import restore_histories

    if restored := restore_histories(run_dir):
        say(f"restored from git the records of {len(restored)} finished trainings: {', '.join(restored)}")
    steps = {"pages": pages, "page8-plan": page8_plan, "page9-weights": page9_weights, "vit-search": vit_search}
    for step in STEPS:
        if only is None or step in only:
            say(f"step {step}")
            steps[step](run_dir, data)
    say("every step is done")


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    sys.exit(main())
