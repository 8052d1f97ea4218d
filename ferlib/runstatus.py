"""Where a run stands, for ``ferlib status``: its background process, its trainings, the
training in progress, and the notebooks done."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from .files import read_json, read_json_lines
from .ledger import TimeLedger
from .notebooks import NOTEBOOKS
from .runfolder import RunFolder


def trainings(folder: RunFolder) -> list[dict]:
    """Every training folder of the run with its state (finished, or in progress): the pages'
    trainings and, with their planned epochs, the fast recipe's of the long runs."""
    rows = []
    for history in sorted(folder.root.glob("**/history.csv")):
        training = history.parent
        info = read_json(training / "train.json", {})
        state = "finished" if (training / "model.keras").exists() and info else "in progress"
        rows.append({"training": training.relative_to(folder.root).as_posix(), "state": state,
                     "epochs": info.get("epochs"), "seconds": info.get("seconds"), "planned_epochs": None})
    return rows + [_fast_training(folder, log.parent) for log in sorted(folder.root.glob("**/log.jsonl"))]


def _fast_training(folder: RunFolder, training: Path) -> dict:
    """A fast-recipe training (``log.jsonl``, one line per epoch; ``summary.json`` once it
    has finished), as a row of :func:`trainings`."""
    log, summary = read_json_lines(training / "log.jsonl"), read_json(training / "summary.json", {})
    planned = read_json(training / "signature.json", {}).get("recipe", {}).get("epochs")
    last = log[-1] if log else {}
    # the median of the last ten epochs: this machine's pace (a resume on another machine changes it)
    recent = [row["epoch_seconds"] for row in log[-10:] if row.get("epoch_seconds")]
    # PublicTest chooses the checkpoint (the standard protocol), so it is the progress to watch
    scored = [row for row in log if row.get("public") is not None]
    best = max(scored, key=lambda row: row["public"], default={})
    return {"training": training.relative_to(folder.root).as_posix(), "state": "finished" if summary else "in progress",
            "epochs": last.get("epoch", 0), "seconds": summary.get("train_seconds", last.get("train_seconds")),
            "planned_epochs": planned, "epoch_seconds": statistics.median(recent) if recent else None,
            "machine": last.get("machine"), "best_public": best.get("public"), "best_epoch": best.get("epoch")}

def running_pid(folder: RunFolder) -> int | None:
    """The pid of this run's background process, if it is alive."""
    return _live_pid(folder.pid_file)


def queue_pid(folder: RunFolder) -> int | None:
    """The pid of the long runs' queue working in this folder, if it is alive."""
    return _live_pid(folder.queue_pid_file)


def _live_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    stat = Path(f"/proc/{pid}/stat")  # a zombie has finished
    if stat.exists() and stat.read_text().split()[2] == "Z":
        return None
    return pid

def run_status(folder: RunFolder) -> dict:
    """What ``ferlib status`` shows, as values."""
    card = read_json(folder.card, {})
    progress = read_json(folder.progress, {})
    finished = TimeLedger(folder).finished_notebooks()
    found = trainings(folder)
    pid = running_pid(folder)
    current = None
    if progress and progress.get("state") == "training":
        epoch, epochs, per_epoch = progress.get("epoch") or 0, progress.get("epochs"), progress.get("epoch_seconds")
        current = {**progress,
                   "left_at_most_seconds": (epochs - epoch) * per_epoch if per_epoch and epochs else None,
                   "stale": pid is None,
                   "quiet_seconds": time.time() - progress["updated"] if progress.get("updated") else None}
    started = card.get("first_started_unix")
    return {
        "run_dir": str(folder.root), "profile": card.get("profile"), "data": card.get("data"),
        "running": pid is not None, "pid": pid, "queue_pid": queue_pid(folder),
        # a folder of long runs alone (page 8's or 9's, or a full run's folder that lost its
        # pages) has no run card and lists no pages
        "notebooks": {name: ("done" if name in finished else "pending") for name in NOTEBOOKS} if card else {},
        "notebook_seconds": finished, "current": current, "trainings": found,
        "training_seconds": sum(t["seconds"] or 0 for t in found if t["state"] == "finished"),
        "elapsed_seconds": time.time() - started if started else None,
    }


def format_status(status: dict) -> str:
    """``ferlib status`` as text."""
    if status["notebooks"]:
        lines = [f"run {status['run_dir']}: {status['profile'] or '?'} profile on {status['data'] or '?'}, "
                 + (f"running (pid {status['pid']})" if status["running"] else "not running")]
    else:
        lines = [f"{status['run_dir']}: long runs only (no run card, so no pages run here)"]
    queue = status.get("queue_pid")
    if queue is not None:
        lines.append(f"the long runs' queue is running (pid {queue})")
    elif any(t["state"] == "in progress" and t["planned_epochs"] for t in status["trainings"]):
        lines.append("the long runs' queue is not running: resume it with benchmarks/long_runs.py (README)")
    width = max(map(len, status["notebooks"]), default=0)
    for name, state in status["notebooks"].items():
        seconds = status["notebook_seconds"].get(name)
        lines.append(f"  {name:<{width}} {state}" + (f" in {_duration(seconds)}" if seconds is not None else ""))
    current = status["current"]
    if current:
        best = current.get("best_val_accuracy")
        lines.append(
            f"{'interrupted in' if current['stale'] else 'now'}: {current.get('notebook') or '?'}, training "
            f"{current['training']}, {current['epoch']} of at most {current['epochs']} epochs done"
            + (f", best val accuracy {best:.4f}" if best is not None else "")
            + (f", {_duration(current['epoch_seconds'])} per epoch" if current.get("epoch_seconds") else "")
        )
        quiet, per_epoch = current.get("quiet_seconds"), current.get("epoch_seconds") or 0
        if not current["stale"] and quiet is not None and quiet > max(2 * per_epoch, 300):
            # After a resume the notebook runs its earlier cells again (trainings reused) first.
            lines.append(f"  no epoch has ended for {_duration(quiet)}: the notebook may be running other cells")
        if current.get("left_at_most_seconds") is not None:
            lines.append(f"  this training: at most {_duration(current['left_at_most_seconds'])} left "
                         "(early stopping may end it sooner)")
    going = [t for t in status["trainings"] if t["state"] == "in progress" and t["planned_epochs"]]
    for t in going:  # the long runs' trainings, which keep no progress file of their own
        lines.append(f"long run, not finished: {t['training']}, {t['epochs']} of {t['planned_epochs']} epochs done"
                     + (f" in {_duration(t['seconds'])}" if t["seconds"] else ""))
        if t.get("epoch_seconds"):
            left = (t["planned_epochs"] - t["epochs"]) * t["epoch_seconds"]
            lines.append(f"  {_duration(t['epoch_seconds'])} per epoch lately"
                         + (f" on {t['machine']}" if t.get("machine") else "")
                         + f": about {_duration(left)} of training left at that pace")
        if t.get("best_public") is not None:
            lines.append(f"  best PublicTest so far: {t['best_public']:.1%} (epoch {t['best_epoch']})")
    finished = [t for t in status["trainings"] if t["state"] == "finished"]
    lines.append(f"trainings finished: {len(finished)} ({_duration(status['training_seconds'])} of training)")
    width = max((len(t["training"]) for t in finished), default=0)
    for t in finished:
        lines.append(f"  {t['training']:<{width}} {t['epochs']} epochs, {_duration(t['seconds'])}")
    if status["elapsed_seconds"] is not None:
        lines.append(f"since the run first started: {_duration(status['elapsed_seconds'])}")
    return "\n".join(lines)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
