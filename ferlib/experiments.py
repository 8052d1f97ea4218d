"""The report's experiments as a few calls, so each notebook stays a page of narrative.

A :class:`Run` ties one run directory to its data, split, profile and seed. The notebooks
pass results to each other through that directory:

``run.json``                        what the run is (written by every notebook)
``cnn/phase1/``, ``vit/phase1/``    trained models and histories (02, 03)
``vit_tuning/<config>/``            each tuning-story configuration (03)
``<model>/phase2/``                 hard samples and the two phase-2 steps (04)
``metrics/*.json``                  scores with provenance (read by 05 and the book)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from .data import FER2013, load_data
from .evaluate import (
    REPORT_CORRECT_COUNTS,
    confusion_frame,
    describe_run,
    evaluate_model,
    load_results,
    per_class_metrics,
    predict_labels,
    provenance,
    save_results,
    table1,
)
from .models import VIT_TUNING_STORY, ViTConfig, build_cnn, build_vit, count_params
from .phase2 import Phase2Result, run_phase2
from .splits import Split, make_split, split_arrays, subsample
from .train import TrainConfig, TrainResult, set_seed, train_model


@dataclass(frozen=True)
class Profile:
    """How big a run is. ``smoke`` checks the pipeline on a CPU; ``full`` is the report."""

    subset: float  # fraction of each part of the split
    epochs: int  # phase 1, and the augmentation step of phase 2
    hard_epochs: int  # the hard-sample step of phase 2 (report: 20)
    tuning_epochs: int  # each configuration of the ViT tuning story
    synthetic_per_class: int = 300  # images per class when data="synthetic"


PROFILES = {
    "smoke": Profile(subset=0.03, epochs=2, hard_epochs=1, tuning_epochs=1, synthetic_per_class=120),
    # A CPU-sized run (under an hour on 2 cores): real learning curves, not the report's scale.
    "cpu": Profile(subset=0.3, epochs=10, hard_epochs=2, tuning_epochs=1, synthetic_per_class=300),
    "full": Profile(subset=1.0, epochs=100, hard_epochs=20, tuning_epochs=100, synthetic_per_class=600),
}


@dataclass
class Run:
    data: FER2013
    split: Split
    parts: dict[str, tuple[np.ndarray, np.ndarray]]
    profile_name: str
    profile: Profile
    seed: int
    run_dir: Path
    started: datetime

    def path(self, *parts: str) -> Path:
        return self.run_dir.joinpath(*parts)

    def train_config(self, epochs: int | None = None) -> TrainConfig:
        return TrainConfig(epochs=epochs or self.profile.epochs)

    def provenance(self, **extra) -> dict:
        return provenance(self.data, self.split, self.profile_name, self.seed, self.started, **extra)

    def describe(self) -> str:
        return describe_run(self.provenance())

    def banner(self) -> str:
        """Markdown for the top of a results page: which run made it, and any caveat."""
        lines = [f"**Run:** {self.describe()}"]
        if self.data.is_synthetic:
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
        return save_results(self.path("metrics", f"{name}.json"), results, self.provenance())

    def load_metrics(self, name: str) -> dict:
        path = self.path("metrics", f"{name}.json")
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run the notebook that makes {name!r} first (same run_dir)")
        return load_results(path)


def prepare_run(
    data: str = "auto",
    profile: str = "smoke",
    subset: float | None = None,
    epochs: int | None = None,
    seed: int = 42,
    split: str = "report",
    run_dir: str | Path = "runs/latest",
) -> Run:
    """Load the data, make the split and the arrays, and seed everything, for one notebook."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
    settings = PROFILES[profile]
    settings = replace(settings, subset=subset or settings.subset, epochs=epochs or settings.epochs)
    set_seed(seed)
    dataset = load_data(data, synthetic_per_class=settings.synthetic_per_class, seed=seed)
    chosen = make_split(split, dataset.labels, dataset.usage, seed=seed)
    if settings.subset < 1 and not dataset.is_synthetic:  # the synthetic set is already sized per profile
        chosen = subsample(chosen, dataset.labels, settings.subset, seed=seed)
    run = Run(dataset, chosen, split_arrays(dataset.images, dataset.labels, chosen), profile, settings, seed,
              Path(run_dir), datetime.now(timezone.utc))
    run.run_dir.mkdir(parents=True, exist_ok=True)
    (run.run_dir / "run.json").write_text(json.dumps({**run.provenance(), "settings": asdict(settings)}, indent=2))
    return run


def _build(kind: str, vit_config: ViTConfig | None = None) -> keras.Model:
    return build_cnn() if kind == "cnn" else build_vit(vit_config)


def train_phase1(run: Run, kind: str, vit_config: ViTConfig | None = None, verbose: int = 2) -> tuple[TrainResult, dict]:
    """Phase 1 of the report for ``"cnn"`` or ``"vit"``: train, evaluate, save metrics."""
    set_seed(run.seed)
    result = train_model(_build(kind, vit_config), run.parts["train"], run.parts["val"], run.path(kind, "phase1"),
                         run.train_config(), seed=run.seed, verbose=verbose)
    scores = evaluate_model(result.model, run.parts)
    run.save_metrics(f"{kind}_phase1", {"model": kind, "params": count_params(result.model), "epochs": result.epochs,
                                        "train_seconds": result.seconds, "scores": scores,
                                        "history": result.history.to_dict(orient="list")})
    return result, scores


def vit_tuning_story(run: Run, configs=VIT_TUNING_STORY, verbose: int = 2) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Train every configuration of the report's ViT tuning story (5.2) under one setting.

    Returns one row per configuration (sizes, parameters, epochs, accuracies, seconds) and
    each configuration's history.
    """
    rows, histories = [], {}
    for config in configs:
        set_seed(run.seed)
        name = f"L{config.transformer_layers}-H{config.num_heads}-D{config.projection_dim}"
        result = train_model(build_vit(config), run.parts["train"], run.parts["val"], run.path("vit_tuning", name),
                             run.train_config(run.profile.tuning_epochs), seed=run.seed, verbose=verbose)
        scores = evaluate_model(result.model, run.parts)
        histories[config.label] = result.history
        rows.append({"config": config.label, "layers": config.transformer_layers, "heads": config.num_heads,
                     "projection_dim": config.projection_dim, "params": count_params(result.model)["total"],
                     "epochs": result.epochs, "seconds": round(result.seconds, 1),
                     **{f"{part}_accuracy": s["accuracy"] for part, s in scores.items()},
                     **{f"{part}_loss": s["loss"] for part, s in scores.items()}})
    frame = pd.DataFrame(rows)
    run.save_metrics("vit_tuning", {"configurations": frame.to_dict(orient="records")})
    return frame, histories


def load_stage_model(run: Run, kind: str, stage: str = "phase1") -> keras.Model:
    """The model a notebook saved: stage ``phase1`` or ``phase2`` (after augmentation)."""
    path = run.path(kind, "phase1", "model.keras") if stage == "phase1" else run.path(kind, "phase2", "augmentation", "model.keras")
    if not path.exists():
        notebook = "02_cnn" if (kind, stage) == ("cnn", "phase1") else "03_vit_tuning" if stage == "phase1" else "04_overfitting_fix"
        raise FileNotFoundError(f"{path} is missing: run notebook {notebook} with the same run_dir first")
    return keras.saving.load_model(path)


def run_overfitting_fix(run: Run, kind: str, verbose: int = 2) -> Phase2Result:
    """Phase 2 of the report (5.3) on the phase-1 model of `kind`; saves its metrics."""
    set_seed(run.seed)
    model = load_stage_model(run, kind, "phase1")
    result = run_phase2(model, run.parts, run.path(kind, "phase2"), run.train_config(),
                        hard_epochs=run.profile.hard_epochs, seed=run.seed, verbose=verbose)
    run.save_metrics(f"{kind}_phase2", {"model": kind, "n_hard": len(result.hard_indices),
                                        "scores": result.scores,
                                        "histories": {k: h.to_dict(orient="list") for k, h in result.histories.items()}})
    return result


def compare_models(run: Run) -> dict:
    """Everything the comparison page shows, from what notebooks 02-04 saved.

    Table 1 (ours beside the report's), the test confusion matrices and per-class metrics
    of both final (phase-2) models.
    """
    results, confusion, per_class = {}, {}, {}
    x_test, y_test = run.parts["test"]
    for kind in ("cnn", "vit"):
        results[kind] = {"phase1": run.load_metrics(f"{kind}_phase1")["scores"],
                         "phase2": run.load_metrics(f"{kind}_phase2")["scores"]["after augmentation"]}
        predicted = predict_labels(load_stage_model(run, kind, "phase2"), x_test)
        confusion[kind.upper()] = confusion_frame(y_test, predicted)
        per_class[kind.upper()] = per_class_metrics(y_test, predicted)
    long = pd.concat(per_class, names=["model"]).reset_index()
    run.save_metrics("comparison", {"table1": table1(results), "results": results,
                                    "confusion": {k: v.values for k, v in confusion.items()},
                                    "per_class": long.to_dict(orient="records")})
    return {"table1": table1(results), "results": results, "confusion": confusion, "per_class": per_class,
            "per_class_long": long, "report_correct": REPORT_CORRECT_COUNTS}
