"""A run of the results pages: its profile, its precision per model, and :class:`Run`, which
ties one run folder (:class:`~ferlib.runfolder.RunFolder`) to its data, split, seed and
settings. The notebooks pass results to each other through that folder: 02 and 03 train
phase 1, 04 phase 2, 05 and 06 read what they saved.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import keras
import numpy as np

from ..augment import augments_in_step
from ..data import FER2013, load_data
from ..distribution import batch_per_device, use_devices
from ..display import epoch_lines
from ..evaluate import CHANCE, majority_baseline
from ..files import read_json, write_json
from ..models import display_name, model_names, model_spec
from ..parameters import PageParameters
from ..provenance import describe_run, load_results, provenance, save_results, supports_bfloat16, supports_float16
from ..runfolder import RunFolder
from ..splits import Split, make_split, split_arrays, subsample
from ..train import TrainConfig, TrainResult, set_seed, train_model


@dataclass(frozen=True)
class Profile:
    """How big a run is. ``smoke`` checks the pipeline on a CPU; ``full`` is the report."""

    subset: float  # fraction of each part of the split
    epochs: int  # phase 1, and the augmentation step of phase 2
    hard_epochs: int  # the hard-sample step of phase 2 (report: 20)
    tuning_epochs: int  # each configuration of the ViT tuning story
    reading_epochs: int  # each reading of an architecture
    reading_seeds: int = 1  # seeds for the leading reading and the as-built one, when they differ
    synthetic_per_class: int = 300  # images per class when data="synthetic" (smoke: a pipeline check, kept small)
    beyond_epochs: int = 1  # each fine-tuning of the future-work experiments (07)


PROFILES = {
    "smoke": Profile(subset=0.03, epochs=2, hard_epochs=1, tuning_epochs=1, reading_epochs=1, synthetic_per_class=40,
                     beyond_epochs=1),
    # A CPU-sized run (under two hours on 2 cores): real learning curves, not the report's scale.
    "cpu": Profile(subset=0.3, epochs=10, hard_epochs=2, tuning_epochs=1, reading_epochs=2, reading_seeds=2,
                   synthetic_per_class=300, beyond_epochs=2),
    # The report's recipe on the whole split. The readings and the tuning story train a few
    # epochs each, the same for every candidate, so that they fit a CPU.
    "full": Profile(subset=1.0, epochs=100, hard_epochs=20, tuning_epochs=4, reading_epochs=5, reading_seeds=3,
                    synthetic_per_class=600, beyond_epochs=5),
}


def choose_precision(model: str) -> str:
    """The dtype policy a model trains in on this machine.

    For a model whose registration prefers reduced precision (:attr:`ModelSpec.bfloat16`):
    ``mixed_bfloat16`` where the device computes bfloat16 natively (an AVX-512 BF16 or AMX CPU, a
    GPU of compute capability 8 or newer), else ``mixed_float16`` where a GPU has tensor cores
    for float16 (a T4, Colab's free GPU; the optimizer then scales the loss,
    :func:`~ferlib.train.compile_model`), else float32. Measured on a 2-core AVX-512 BF16 CPU
    (``benchmarks/bench_precision.py``): the CNN, with its fused batch normalisation, trains its
    full-split epochs clearly faster under ``mixed_bfloat16`` and learns at the same pace; the
    small ViT is slower in bfloat16, so it stays in float32.
    """
    if not model_spec(model).bfloat16:
        return "float32"
    if supports_bfloat16():
        return "mixed_bfloat16"
    return "mixed_float16" if supports_float16() else "float32"


@dataclass
class Run:
    dataset: FER2013  # the loaded data set
    split: Split
    arrays: dict[str, tuple[np.ndarray, np.ndarray]]  # part -> (images in [0, 1], labels)
    profile_name: str
    profile: Profile
    seed: int
    folder: RunFolder
    precision: dict[str, str]  # model -> Keras dtype policy
    started: datetime
    parameters: PageParameters = field(default_factory=PageParameters)  # what the page was run with
    augment_in_step: bool = False  # augment inside the compiled training step (see ferlib.augment)

    @property
    def run_dir(self) -> Path:
        return self.folder.root

    def train_config(self, epochs: int | None = None, **changes) -> TrainConfig:
        """The report's training settings with this run's epochs and batch size. The report's
        recipe says nothing of other batch sizes, so Adam keeps its learning rate at any."""
        if self.parameters.batch_size is not None:
            changes = {"batch_size": self.parameters.batch_size, **changes}
        return TrainConfig(epochs=epochs or self.profile.epochs, **changes)

    def train(self, model: keras.Model, folder: Path, config: TrainConfig | None = None, *,
              arrays: tuple[np.ndarray, np.ndarray] | None = None, augment: bool = False,
              class_weight: dict[int, float] | None = None, verbose: int = 2,
              report_callbacks_shown: list | None = None, seed: int | None = None) -> TrainResult:
        """Train on this run's training images (or `arrays`), resumably, reporting progress;
        ``verbose=2`` prints one short line per epoch (:func:`~ferlib.display.epoch_lines`).
        `seed` (default: the run's) orders and augments the batches."""
        config = config or self.train_config()
        verbose, lines = epoch_lines(verbose, config.epochs)
        return train_model(model, arrays or self.arrays["train"], self.arrays["val"], folder, config,
                           augment=augment, seed=self.seed if seed is None else seed, verbose=verbose, progress=self.folder.progress,
                           label=folder.relative_to(self.run_dir).as_posix(), class_weight=class_weight,
                           callbacks=lines, report_callbacks_shown=report_callbacks_shown,
                           augment_in_step=self.augment_in_step)

    def baseline(self, part: str = "val") -> float:
        """Accuracy on `part` of always answering the most common training emotion."""
        return majority_baseline(self.arrays["train"][1], self.arrays[part][1])

    def baselines(self, part: str = "test") -> dict[str, float]:
        """Both baselines on `part`: ``"majority class"`` (:meth:`baseline`) and ``"chance"``."""
        return {"majority class": self.baseline(part), "chance": CHANCE}

    def provenance(self, **extra) -> dict:
        card = read_json(self.folder.card, {})
        started = datetime.fromisoformat(card["started"]) if card.get("started") else self.started
        return provenance(self.dataset, self.split, self.profile_name, self.seed, started, precision=self.precision,
                          display_names={model: display_name(model) for model in self.precision}, **extra)

    def describe(self, precision_note: str | None = None) -> str:
        """One line naming the run; `precision_note` replaces the run's dtype policies (for a
        page whose networks each train in their own)."""
        prov = self.provenance()
        return describe_run({**prov, "precision": precision_note} if precision_note else prov)

    def banner(self, precision_note: str | None = None) -> str:
        """Markdown for the top of a results page: which run made it, and any caveat."""
        lines = [f"**Run:** {self.describe(precision_note)}"]
        if self.dataset.is_synthetic:
            lines.append("**Synthetic data:** these numbers come from generated faces, not FER2013; "
                         "they check the pipeline and say nothing about emotion recognition.")
        if self.profile_name == "smoke":
            lines.append(f"**Smoke profile:** a {self.profile.subset:.0%} subset and {self.profile.epochs} "
                         "epoch(s) to check the pipeline end to end; accuracies are not meaningful. "
                         "The `full` profile reproduces the report.")
        elif self.profile_name != "full":
            lines.append(f"**{self.profile_name} profile:** a {self.profile.subset:.0%} subset and at most "
                         f"{self.profile.epochs} epochs, sized for a CPU: real training, but not the report's "
                         "scale. The `full` profile reproduces the report.")
        return "\n>\n".join(f"> {line}" for line in lines)  # a quote block stands out in Jupyter and the book

    def save_metrics(self, name: str, results: dict) -> Path:
        return save_results(self.folder.metrics(name), results, self.provenance())

    def load_metrics(self, name: str) -> dict:
        path = self.folder.metrics(name)
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run the notebook that makes {name!r} first (same run_dir)")
        return load_results(path)


def prepare_run(parameters: PageParameters | None = None, **values) -> Run:
    """Load the data, make the split and the arrays, and seed everything, for one notebook.

    `parameters` (default: :class:`~ferlib.parameters.PageParameters`'s defaults), with any
    of its fields changed by keyword (``prepare_run(data="synthetic", profile="smoke")``).
    Writes the run card (``run.json``); a card that is already there keeps the date the run
    first started, so a run resumed over several sessions shows when it began and ended, and
    the precision each model trains in (:func:`choose_precision` decides it on the machine
    where the run starts).
    """
    p = (parameters or PageParameters()).with_values(**values)
    if p.profile not in PROFILES:
        raise ValueError(f"unknown profile {p.profile!r}; use one of {', '.join(PROFILES)}")
    settings = PROFILES[p.profile]
    settings = replace(settings, subset=p.subset or settings.subset, epochs=p.epochs or settings.epochs)
    set_seed(p.seed)
    devices = use_devices(p.devices)
    if p.batch_size is not None:
        if p.batch_size < 1:
            raise ValueError(f"batch_size = {p.batch_size}: give a positive number, or None for the recipe's")
        batch_per_device(p.batch_size, devices)  # refuses a batch that does not split over the devices
    in_step = augments_in_step(p.augment_on)
    dataset = load_data(p.data, synthetic_per_class=settings.synthetic_per_class, seed=p.seed)
    chosen = make_split(p.split, dataset.labels, dataset.usage, seed=p.seed)
    if settings.subset < 1 and not dataset.is_synthetic:  # the synthetic set is already sized per profile
        chosen = subsample(chosen, dataset.labels, settings.subset, seed=p.seed)
    folder = RunFolder(Path(p.run_dir))
    folder.root.mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc)
    card = read_json(folder.card, {})
    same_run = card.get("profile") == p.profile and card.get("seed") == p.seed and card.get("data_fingerprint") == dataset.fingerprint
    started = datetime.fromisoformat(card["started"]) if same_run and card.get("started") else now
    # A run keeps the precision it started in: a training's signature includes its precision, so
    # a run resumed on another machine (one with bfloat16, say) would otherwise train its
    # finished networks again.
    kept = card.get("precision") if same_run and isinstance(card.get("precision"), dict) else {}
    precision = {model: kept.get(model) or choose_precision(model) for model in model_names()}
    run = Run(dataset, chosen, split_arrays(dataset.images, dataset.labels, chosen), p.profile, settings, p.seed, folder,
              precision, started, p, in_step)
    first = card.get("first_started_unix") if same_run else None
    write_json(folder.card, {**run.provenance(), "settings": asdict(settings), "devices": devices,
                             "batch_size": run.train_config().batch_size,
                             "augment_on": "device" if in_step else "host",
                             "first_started_unix": first or now.timestamp(),
                             # what a model must beat to have learned (ferlib predict warns below it)
                             "val_majority": run.baseline("val")})
    return run
