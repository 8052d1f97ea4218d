"""The run folder: where one run keeps everything, and what of it is finished.

A run is one execution of the notebooks at one profile. Its folder holds::

    run.json                    the run card: data, split, profile, seed, precision, device, dates
    run.log, run.pid            the background run's log and process (``ferlib run --background``)
    code/                       the package and notebooks that background run executes, and their COMMIT
    progress.json               the training in progress: epoch n of N, best so far (``ferlib status``)
    timings.json                wall time of each finished notebook
    cpu.json                    CPU time (user + system) of each finished notebook's kernel
    notebooks/<name>.ipynb      the executed notebooks
    readings/<model>/<reading>/ the architecture readings (02, 03); ``<reading>@float32/``
                                the chosen one again in float32 (the precision check, 02)
    cnn/phase1/, vit/phase1/    the phase-1 trainings (02, 03)
    vit_tuning/<config>/        the ViT tuning story (03)
    <model>/phase2/             hard_indices.npy, hard_samples/, augmentation/ (04)
    beyond/<experiment>/        the trainings of the future-work experiments (07)
    metrics/<name>.json         scores with provenance (read by 05 and the book)

and every training folder (``cnn/phase1/`` ...) holds ``history.csv``, ``checkpoints/``
while it trains, then ``model.keras`` and ``train.json`` (see :mod:`ferlib.train`).
:class:`RunFolder` is the only place that knows these names.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from .files import read_json, write_json

NOTEBOOKS = ("01_data", "02_cnn", "03_vit_tuning", "04_phase2", "05_comparison", "06_features", "07_beyond")
PHASE2_STEPS = ("hard_samples", "augmentation")


def default_runs_dir() -> Path:
    """Where runs live unless told otherwise: ``$FERLIB_RUNS`` or ``~/.cache/ferlib/runs``.

    Outside the checkout on purpose: a long run survives a fresh clone, and nothing of it
    can be committed by accident.
    """
    if os.environ.get("FERLIB_RUNS"):
        return Path(os.environ["FERLIB_RUNS"]).expanduser()
    base = os.environ.get("FERLIB_CACHE") or Path.home() / ".cache" / "ferlib"
    return Path(base).expanduser() / "runs"


@dataclass(frozen=True)
class RunFolder:
    """The layout of one run's folder (see the module docstring)."""

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    # ------------------------------------------------------------------ files of the run
    @property
    def card(self) -> Path:
        return self.root / "run.json"

    @property
    def log(self) -> Path:
        return self.root / "run.log"

    @property
    def pid_file(self) -> Path:
        return self.root / "run.pid"

    @property
    def code(self) -> Path:
        """The copy of the package and notebooks a background run executes (``COMMIT`` inside)."""
        return self.root / "code"

    @property
    def progress(self) -> Path:
        return self.root / "progress.json"

    @property
    def timings(self) -> Path:
        return self.root / "timings.json"

    @property
    def cpu_times(self) -> Path:
        return self.root / "cpu.json"

    @property
    def attempts(self) -> Path:
        """Time spent in notebooks that were interrupted (a session's end), per notebook."""
        return self.root / "attempts.json"

    def notebook(self, name: str) -> Path:
        return self.root / "notebooks" / f"{name}.ipynb"

    def metrics(self, name: str) -> Path:
        return self.root / "metrics" / f"{name}.json"

    # ------------------------------------------------------------------ trainings
    def phase1(self, model: str) -> Path:
        return self.root / model / "phase1"

    def phase2(self, model: str, step: str | None = None) -> Path:
        if step is not None and step not in PHASE2_STEPS:
            raise ValueError(f"unknown phase-2 step {step!r}; use one of {PHASE2_STEPS}")
        folder = self.root / model / "phase2"
        return folder / step if step else folder

    def hard_indices(self, model: str) -> Path:
        return self.phase2(model) / "hard_indices.npy"

    def reading(self, model: str, reading: str, precision: str | None = None) -> Path:
        """A reading's training; `precision` names a copy trained in another precision."""
        return self.root / "readings" / model / (f"{reading}@{precision}" if precision else reading)

    def tuning(self, config_name: str) -> Path:
        return self.root / "vit_tuning" / config_name

    def beyond(self, name: str) -> Path:
        """A training of the "beyond the report" experiments (07)."""
        return self.root / "beyond" / name

    def final_model(self, model: str, stage: str = "phase2") -> Path:
        """The saved model of a stage: ``phase1`` or ``phase2`` (after the augmentation round)."""
        if stage == "phase1":
            return self.phase1(model) / "model.keras"
        if stage == "phase2":
            return self.phase2(model, "augmentation") / "model.keras"
        raise ValueError(f"unknown stage {stage!r}; use 'phase1' or 'phase2'")

    # ------------------------------------------------------------------ what is finished
    def finished_notebooks(self) -> dict[str, float]:
        """Notebooks that ran to the end, with their wall seconds."""
        timings = read_json(self.timings, {})
        # A notebook still marked running was killed, perhaps while being executed again.
        running = (read_json(self.attempts, {}).get("running") or {}).get("name")
        return {name: seconds for name, seconds in timings.items() if self.notebook(name).exists() and name != running}

    def start_notebook(self, name: str) -> None:
        """Note that `name` starts now; an earlier start that never finished was killed, and
        its wall and CPU time (up to the last training progress it wrote) are kept."""
        attempts = read_json(self.attempts, {})
        running = attempts.pop("running", None)
        if running:
            killed = running["name"]
            progress = read_json(self.progress, {})
            heartbeat = max(progress.get("updated", 0), running["started"])
            attempts.setdefault("interrupted_seconds", {})
            attempts["interrupted_seconds"][killed] = (
                attempts["interrupted_seconds"].get(killed, 0.0) + heartbeat - running["started"])
            # Like the wall time, the CPU time counts up to the attempt's last progress report
            # (none: nothing counted); a report without it came from an older ferlib.
            if progress.get("updated", 0) >= running["started"]:
                if "cpu_seconds" in progress:
                    cpu = attempts.setdefault("interrupted_cpu_seconds", {})
                    cpu[killed] = cpu.get(killed, 0.0) + progress["cpu_seconds"]
                elif killed not in attempts.setdefault("unmeasured_cpu", []):
                    attempts["unmeasured_cpu"].append(killed)
        attempts["running"] = {"name": name, "started": time.time()}
        write_json(self.attempts, attempts)

    def record_notebook(self, name: str, seconds: float, cpu_seconds: float | None = None) -> None:
        """`name` ran to the end in `seconds` of wall time (`cpu_seconds` of its kernel's CPU
        time); wall time lost in interrupted attempts is added.

        A notebook executed again in the same folder (``--reexecute``: its trainings reused)
        keeps the times of the pass that trained; the new pass's time goes to
        ``attempts.json`` (``reexecuted_seconds``), so the book reports what training cost.
        The CPU time of an interrupted attempt is the one its kernel's last progress report
        gives; where that report lacks it (an older ferlib), ``cpu.json`` says the count is
        incomplete (``complete``: false).
        """
        attempts = read_json(self.attempts, {})
        earlier = attempts.get("interrupted_seconds", {}).pop(name, 0.0)
        earlier_cpu = attempts.get("interrupted_cpu_seconds", {}).pop(name, 0.0)
        unmeasured = name in attempts.get("unmeasured_cpu", [])
        if unmeasured:
            attempts["unmeasured_cpu"].remove(name)
        attempts.pop("running", None)
        timings = read_json(self.timings, {})
        if name in timings:
            attempts.setdefault("reexecuted_seconds", {})[name] = round(seconds + earlier, 1)
        else:
            timings[name] = round(seconds + earlier, 1)
            if cpu_seconds is not None:
                cpu = read_json(self.cpu_times, {})
                cpu[name] = {"seconds": round(cpu_seconds + earlier_cpu, 1), "complete": not unmeasured}
                write_json(self.cpu_times, cpu)
        write_json(self.attempts, attempts)
        write_json(self.timings, timings)

    def mark_finished(self) -> None:
        """Stamp the run card with now as the time the run's latest notebook finished."""
        from datetime import datetime, timezone

        card = read_json(self.card)
        if card is not None:
            write_json(self.card, {**card, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")})

    def forget_notebooks(self) -> None:
        """Mark every notebook as not run (to re-execute them; trainings are kept and reused)."""
        self.timings.unlink(missing_ok=True)

    def trainings(self) -> list[dict]:
        """Every training folder of the run with its state: finished, in progress or started."""
        rows = []
        for history in sorted(self.root.glob("**/history.csv")):
            folder = history.parent
            info = read_json(folder / "train.json", {})
            state = "finished" if (folder / "model.keras").exists() and info else "in progress"
            rows.append({"training": folder.relative_to(self.root).as_posix(), "state": state,
                         "epochs": info.get("epochs"), "seconds": info.get("seconds")})
        return rows

    def running_pid(self) -> int | None:
        """The pid of this run's background process, if it is alive."""
        try:
            pid = int(self.pid_file.read_text().strip())
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

    def status(self) -> dict:
        """What ``ferlib status`` shows, as values."""
        card = read_json(self.card, {})
        progress = read_json(self.progress, {})
        finished = self.finished_notebooks()
        trainings = self.trainings()
        pid = self.running_pid()
        current = None
        if progress and progress.get("state") == "training":
            epoch, epochs, per_epoch = progress.get("epoch") or 0, progress.get("epochs"), progress.get("epoch_seconds")
            current = {**progress,
                       "left_at_most_seconds": (epochs - epoch) * per_epoch if per_epoch and epochs else None,
                       "stale": pid is None,
                       "quiet_seconds": time.time() - progress["updated"] if progress.get("updated") else None}
        started = card.get("first_started_unix")
        return {
            "run_dir": str(self.root), "profile": card.get("profile"), "data": card.get("data"),
            "running": pid is not None, "pid": pid,
            "notebooks": {name: ("done" if name in finished else "pending") for name in NOTEBOOKS},
            "notebook_seconds": finished, "current": current, "trainings": trainings,
            "training_seconds": sum(t["seconds"] or 0 for t in trainings if t["state"] == "finished"),
            "elapsed_seconds": time.time() - started if started else None,
        }


def format_status(status: dict) -> str:
    """``ferlib status`` as text."""
    lines = [f"run {status['run_dir']}: {status['profile'] or '?'} profile on {status['data'] or '?'}, "
             + (f"running (pid {status['pid']})" if status["running"] else "not running")]
    for name, state in status["notebooks"].items():
        seconds = status["notebook_seconds"].get(name)
        lines.append(f"  {name:<15} {state}" + (f" in {_duration(seconds)}" if seconds is not None else ""))
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
    finished = [t for t in status["trainings"] if t["state"] == "finished"]
    lines.append(f"trainings finished: {len(finished)} ({_duration(status['training_seconds'])} of training)")
    for t in finished:
        lines.append(f"  {t['training']:<36} {t['epochs']} epochs, {_duration(t['seconds'])}")
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
