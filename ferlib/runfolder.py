"""The run folder: where one run keeps everything, and what of it is finished.

A run is one execution of the notebooks at one profile. Its folder holds::

    run.json                    the run card: data, split, profile, seed, precision, device, dates
    run.log, run.pid            the background run's log and process (``ferlib run --background``)
    long-runs.pid               the long runs' queue's process (``benchmarks/long_runs.py``)
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
:class:`RunFolder` is the only place that knows these names. The time ledger
(:mod:`ferlib.ledger`) and a run's status (:mod:`ferlib.runstatus`) read and write them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PHASE2_STEPS = ("hard_samples", "augmentation")


def default_runs_dir() -> Path:
    """Where runs live unless told otherwise: ``$FERLIB_RUNS`` or ``~/.cache/ferlib/runs``.

    Outside the checkout on purpose: a long run survives a fresh clone, and nothing of it
    can be committed by accident.
    """
    if os.environ.get("FERLIB_RUNS"):
        return Path(os.environ["FERLIB_RUNS"]).expanduser()
    from .data.sources import cache_dir  # the one cache root: FERLIB_CACHE, else XDG_CACHE_HOME or ~/.cache

    return cache_dir() / "runs"


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
    def queue_pid_file(self) -> Path:
        return self.root / "long-runs.pid"

    def holds_long_runs(self) -> bool:
        """Whether a long run (page 8's or 9's trainings, each with its ``log.jsonl``) trains
        or trained here: a folder that holds them is a run folder even without a run card."""
        return next(self.root.glob("**/log.jsonl"), None) is not None

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
    def phase1(self, model: str, variant: str = "") -> Path:
        """A model's phase 1; `variant` (``"~dropout=0.1"``) names an exercise's changed one."""
        return self.root / model / f"phase1{variant}"

    def phase2(self, model: str, step: str | None = None) -> Path:
        if step is not None and step not in PHASE2_STEPS:
            raise ValueError(f"unknown phase-2 step {step!r}; use one of {PHASE2_STEPS}")
        folder = self.root / model / "phase2"
        return folder / step if step else folder

    def hard_indices(self, model: str) -> Path:
        return self.phase2(model) / "hard_indices.npy"

    def reading(self, model: str, reading: str, precision: str | None = None, seed: int | None = None) -> Path:
        """A reading's training; `precision` names a copy trained in another precision, `seed`
        one trained from another seed than the run's."""
        name = f"{reading}@{precision}" if precision else reading
        return self.root / "readings" / model / (f"{name}-seed{seed}" if seed is not None else name)

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
