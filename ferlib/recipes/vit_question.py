"""The chapter "Why the ViT loses, tested": the report's explanation put to experiments.

The report says its CNN beats its ViT because of the CNN's inductive biases (locality,
translation equivariance, efficiency with little data) and because 4 x 4 patches are too coarse
for 48 x 48 faces. Each *contender* below changes one thing about the report's ViT, so that its
accuracy says which of those claims hold:

* the report's ViT trained the report's way, and the same network with the fast recipe's
  training (is it the network, or how it was trained?);
* patch sizes 2, 3, 4 and 6 (are the patches too coarse?);
* transformers given locality back: Shifted Patch Tokenization with Locality Self-Attention,
  a convolutional tokenizer with sequence pooling (CCT), and the CNN's first blocks as a stem;
* the fast CNN, for the CNN side.

All train on the standard protocol (Training; PublicTest to choose; PrivateTest scored once) for
the same CPU time: before a training starts, a few of its steps are timed on the machine, and
its epochs are the budget divided by the time of one epoch (:func:`budget_epochs`), written to
the run's folder so that a resumed run keeps them. The training seconds actually spent are
measured and reported beside the accuracy.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from ..evaluate import (PairedTest, interval, labels_from_text, labels_text, one_hot, paired_test,
                        predict_with_tta)
from ..files import read_json, write_json
from ..models import build_model, count_multiply_adds, count_params, display_name, load_model, model_spec
from ..models.fastcnn import with_augmentation
from ..models.vit import ViTConfig
from ..provenance import device_name, git_commit
from ..train import TrainConfig, compile_model, set_seed, train_model
from .fast import RECIPE, FastRecipe, compile_fast, train_fast
from .run import choose_precision

FOLDER = "vit-question"
#: Training seconds each contender gets, per profile; and the seeds each one trains.
BUDGET_SECONDS = {"smoke": 30, "cpu": 120, "full": 15 * 60}
SEEDS = {"smoke": (0,), "cpu": (0,), "full": (0, 1)}
#: The contenders the smoke profile trains (one of each kind, so that every table, figure and
#: test of the page has something to show in minutes); the other profiles train them all.
SMOKE_CONTENDERS = ("report-vit", "vit-fast", "cct", "fastcnn")

#: The fast recipe as transformers train: AdamW (SGD at the CNN's learning rate does not suit
#: them) and the crop as a translation, so that the 48 x 48 face reaches the fixed token grid
#: at inference. Everything else (label smoothing, warm-up and cosine, weight average, flips,
#: erasing, flip TTA) as the fast CNN's.
TRANSFORMER_RECIPE = replace(RECIPE, optimizer="adamw", learning_rate=1e-3, weight_decay=0.05,
                             network=replace(RECIPE.network, crop_style="translate"))


@dataclass(frozen=True)
class Contender:
    """One network and its training, and the question its score answers."""

    name: str  # its folder, its row
    label: str  # how the book writes it
    model: str  # a registered model
    question: str  # which of the report's claims it tests
    config: object = None  # the model's sizes; None: its registered default
    training: str = "fast"  # "fast": train_fast with `recipe`; "report": Adam, batch 64, the report's callbacks
    recipe: FastRecipe = TRANSFORMER_RECIPE

    @property
    def family(self) -> str:
        return model_spec(self.model).family


CONTENDERS: tuple[Contender, ...] = (
    Contender("report-vit", "the report's ViT, trained the report's way", "vit", "the baseline", training="report"),
    Contender("vit-fast", "the report's ViT, fast recipe", "vit", "network or training?"),
    *(Contender(f"vit-patch{size}", f"the report's ViT, {size} x {size} patches, fast recipe", "vit",
                "are 4 x 4 patches too coarse?", config=ViTConfig(patch_size=size))
      for size in (2, 3, 6)),
    Contender("vit-spt", "ViT with SPT and LSA", "vit-spt", "locality in tokens and attention"),
    Contender("cct", "Compact Convolutional Transformer", "cct", "a convolutional tokenizer"),
    Contender("hybrid", "CNN stem + transformer", "hybrid", "CNN blocks as the tokenizer"),
    Contender("fastcnn", "fast CNN", "fastcnn", "the CNN at the same budget", recipe=RECIPE),
)


def contender(name: str) -> Contender:
    for c in CONTENDERS:
        if c.name == name:
            return c
    raise ValueError(f"no contender {name!r}; the chapter has {', '.join(c.name for c in CONTENDERS)}")


def _network(c: Contender, precision: str) -> keras.Model:
    """The contender's network as it trains (behind the recipe's augmentation when the fast
    recipe trains a network that has none of its own)."""
    model = build_model(c.model, config=c.config, precision=precision)
    if c.training == "fast" and c.model != "fastcnn":
        model = with_augmentation(model, c.recipe.network)
    return model


def _compiled(c: Contender, steps_per_epoch: int) -> tuple[keras.Model, int, str]:
    """The contender's network, compiled as it trains, with its batch size and precision."""
    if c.training == "report":
        precision = "float32"  # the report pages train the ViT in float32 (its measured choice)
        return compile_model(build_model(c.model, config=c.config)), TrainConfig().batch_size, precision
    precision = choose_precision(c.model) if c.recipe.precision == "auto" else c.recipe.precision
    return compile_fast(_network(c, precision), c.recipe, steps_per_epoch), c.recipe.batch_size, precision


def time_per_image(c: Contender, x: np.ndarray, steps: int = 8) -> float:
    """Training seconds per image of `c` on this machine: `steps` batches timed after two of
    warm-up (which trace the step)."""
    keras.utils.set_random_seed(0)
    model, batch, _ = _compiled(c, steps + 2)
    rows = np.arange((steps + 2) * batch) % len(x)
    images, labels = x[rows], one_hot(np.arange(len(rows)) % 7)
    model.train_on_batch(images[:batch], labels[:batch])
    model.train_on_batch(images[batch:2 * batch], labels[batch:2 * batch])
    started = time.perf_counter()
    for i in range(2, steps + 2):
        model.train_on_batch(images[i * batch:(i + 1) * batch], labels[i * batch:(i + 1) * batch])
    return (time.perf_counter() - started) / (steps * batch)


def budget_epochs(c: Contender, arrays: dict, budget_seconds: float, folder: Path, *, max_epochs: int = 400,
                  measured: dict | None = None) -> dict:
    """How many epochs of `c` fit `budget_seconds` of training on this machine: measured once,
    then read back from ``folder/budget.json`` (a resumed run keeps its schedule). `measured`
    is the budget another seed of `c` measured (:func:`first_seed_budget`): a later seed
    trains the same epochs, whatever machine each ran on (a machine that computes bfloat16
    natively trains the fast CNN in it: each record names its machine and precision)."""
    path = Path(folder) / "budget.json"
    known = read_json(path)
    if known is not None and known.get("budget_seconds") == budget_seconds:
        return known
    if measured is not None:
        write_json(path, measured)
        return measured
    x = arrays["train"][0]
    seconds = time_per_image(c, x)
    fitting = math.floor(budget_seconds / (seconds * len(x)))
    # A network whose one epoch takes longer than the budget is flagged and not trained (see
    # train_contender): it cannot make one pass over the faces in the time the others get.
    epochs = int(min(max_epochs, max(1, fitting)))
    budget = {"budget_seconds": budget_seconds, "seconds_per_image": seconds, "epochs": epochs,
              "over_budget": fitting < 1, "machine": device_name(), "train_images": int(len(x))}
    write_json(path, budget)
    return budget


def first_seed_budget(root: Path, name: str, seed: int, budget_seconds: float) -> dict | None:
    """The budget that contender `name`'s lowest other seed measured for `budget_seconds`
    (marked with that seed), or None where no other seed has measured one."""
    for folder in sorted(Path(root).glob(f"{name}-seed*"), key=lambda p: int(p.name.rsplit("seed", 1)[1])):
        other = int(folder.name.rsplit("seed", 1)[1])
        known = read_json(folder / "budget.json")
        if other != seed and known is not None and known.get("budget_seconds") == budget_seconds:
            return {**known, "measured_on_seed": known.get("measured_on_seed", other)}
    return None


def train_contender(c: Contender, arrays: dict, *, root: Path, seed: int, budget_seconds: float,
                    progress=None) -> dict:
    """Train contender `c` with `seed` for its budget (or read back its finished training) and
    return its record: accuracies, sizes, training seconds and provenance."""
    folder = Path(root) / f"{c.name}-seed{seed}"
    record_path = folder / "record.json"
    record = read_json(record_path)
    if record is not None and record.get("budget_seconds") == budget_seconds:
        return record
    folder.mkdir(parents=True, exist_ok=True)
    budget = budget_epochs(c, arrays, budget_seconds, folder, measured=first_seed_budget(root, c.name, seed, budget_seconds))
    if budget["over_budget"]:
        record = _untrained_record(c, seed, budget)
        write_json(record_path, record)
        return record
    x_test, y_test = arrays["test"]
    if c.training == "report":
        set_seed(seed)
        result = train_model(build_model(c.model, config=c.config), arrays["train"], arrays["val"],
                             folder / "training", TrainConfig(epochs=budget["epochs"]), seed=seed, verbose=0)
        model = result.model
        predicted = model.predict(x_test, batch_size=512, verbose=0).argmax(1)
        scores = {"private_test": float(np.mean(predicted == y_test)),
                  "private_test_tta": float(np.mean(predict_with_tta(model, x_test, shift=0).argmax(1) == y_test)),
                  "public_test": float(result.history["val_accuracy"].max()),
                  "epochs": int(result.epochs), "train_seconds": float(result.seconds), "precision": "float32"}
        network = model
    else:
        run = train_fast(arrays, replace(c.recipe, epochs=budget["epochs"]), folder=folder / "training", seed=seed,
                         model_name=c.model, config=c.config, progress=progress, keep_model=True)
        s = run.summary
        scores = {"private_test": s["private_test"], "private_test_tta": s["private_test_tta"],
                  "public_test": s["public_test"], "epochs": s["epochs"], "train_seconds": s["train_seconds"],
                  "precision": ",".join(s["precisions"])}
        # A training finished in an earlier session comes back without its model: read it from its folder.
        model = run.model if run.model is not None else load_model(folder / "training" / "model.keras")
        predicted = model.predict(x_test, batch_size=512, verbose=0).argmax(1)
        network = build_model(c.model, config=c.config)  # the bare network: its sizes, without augmentation
    record = {"name": c.name, "label": c.label, "model": c.model, "family": c.family, "question": c.question,
              "training": c.training, "seed": seed, **scores, "over_budget": bool(budget.get("over_budget", False)),
              "params": int(count_params(network)["total"]), "multiply_adds": int(count_multiply_adds(network)),
              "budget_seconds": budget_seconds, "budget": budget, "test_images": int(len(y_test)),
              "config": asdict(c.config) if c.config is not None else None,
              "machine": device_name(), "backend": keras.backend.backend(),
              "commit": git_commit(Path(__file__).resolve().parents[2])}
    # for the paired tests between contenders: one digit per face, in git with the record
    record["private_test_predictions"] = labels_text(predicted)
    write_json(record_path, record)
    return record


def _untrained_record(c: Contender, seed: int, budget: dict) -> dict:
    """The record of a contender whose one epoch takes longer than the budget: its measured
    cost and its sizes, and no accuracy (it is not trained)."""
    network = build_model(c.model, config=c.config)
    return {"name": c.name, "label": c.label, "model": c.model, "family": c.family, "question": c.question,
            "training": c.training, "seed": seed, "trained": False, "over_budget": True,
            "minutes_per_epoch": budget["seconds_per_image"] * budget["train_images"] / 60,
            "params": int(count_params(network)["total"]), "multiply_adds": int(count_multiply_adds(network)),
            "budget_seconds": budget["budget_seconds"], "budget": budget,
            "config": asdict(c.config) if c.config is not None else None,
            "machine": budget["machine"], "backend": keras.backend.backend(),
            "commit": git_commit(Path(__file__).resolve().parents[2])}


def trained(records: list[dict]) -> list[dict]:
    """The records of trainings that ran (not those of contenders over the budget)."""
    return [r for r in records if r.get("trained", True)]


def over_budget(records: list[dict]) -> pd.DataFrame:
    """One row per contender whose one epoch takes longer than the budget: the minutes one
    epoch would take (as measured on its machine) and the budget's minutes."""
    rows = {r["name"]: {"name": r["name"], "contender": r["label"], "minutes per epoch": r["minutes_per_epoch"],
                        "budget minutes": r["budget_seconds"] / 60,
                        "machine": str(r["machine"]).removeprefix("cpu: ")}
            for r in records if not r.get("trained", True)}
    order = [c.name for c in CONTENDERS if c.name in rows]
    return pd.DataFrame([rows[name] for name in order],
                        columns=["name", "contender", "minutes per epoch", "budget minutes", "machine"])


def predictions(record: dict) -> np.ndarray | None:
    """A training's PrivateTest predictions, one emotion code per face (None when not kept)."""
    digits = record.get("private_test_predictions")
    return None if digits is None else labels_from_text(digits)


def trained_model(root: Path, name: str, seed: int) -> keras.Model:
    """A finished contender's trained network, without the augmentation the fast recipe puts
    in front of it (what Grad-CAM and attention rollout read)."""
    model = load_model(Path(root) / f"{name}-seed{seed}" / "training" / "model.keras")
    inner = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return inner[-1] if inner else model


def page_budget(profile: str, minutes: float | None = None) -> float:
    """Training seconds per contender: `minutes` when given, else the profile's."""
    return 60.0 * minutes if minutes is not None else float(BUDGET_SECONDS.get(profile, BUDGET_SECONDS["smoke"]))


def page_trainings(run, arrays: dict, *, train_missing: bool = True, budget_minutes: float | None = None,
                   progress=None) -> tuple[list[dict], list[str]]:
    """Every contender's trainings at the run's profile (its budget, or `budget_minutes`, and
    its seeds), under ``run_dir/vit-question``: the finished ones' records, and the names of the
    ones not trained (with `train_missing` False, a long run may still be training them)."""
    root = run.run_dir / FOLDER
    budget = page_budget(run.profile_name, budget_minutes)
    records, missing = [], []
    contenders = [c for c in CONTENDERS if run.profile_name != "smoke" or c.name in SMOKE_CONTENDERS]
    for seed in SEEDS.get(run.profile_name, (0,)):
        for c in contenders:
            known = read_json(root / f"{c.name}-seed{seed}" / "record.json")
            if known is not None and known.get("budget_seconds") == budget:
                records.append(known)
            elif train_missing:
                records.append(train_contender(c, arrays, root=root, seed=seed, budget_seconds=budget,
                                               progress=progress))
            else:
                missing.append(f"{c.name}-seed{seed}")
    return records, missing


def best_of(records: list[dict], family: str) -> str | None:
    """The contender of `family` with the best mean PublicTest accuracy (chosen on PublicTest,
    never on PrivateTest) among those trained (within the budget)."""
    frame = records_frame(records)
    if frame.empty:
        return None
    within = frame[frame["family"] == family]
    return None if within.empty else str(within.groupby("name", sort=False)["public_test"].mean().idxmax())


@dataclass
class SeedTests:
    """One pair of contenders' exact McNemar tests on PrivateTest, one per seed that both have
    trained, lowest seed first. Each seed's test pairs the two networks of that seed; a
    difference counts as beyond chance only where every seed's test puts it there."""

    seeds: tuple[int, ...]
    tests: tuple[PairedTest, ...]

    @property
    def p_value(self) -> float:
        """The least convincing seed's p-value: below a level only where every seed's is."""
        return max(t.p_value for t in self.tests)

    @property
    def only_first(self) -> int:
        """Faces only the first contender gets right, in the lowest seed."""
        return self.tests[0].only_first

    @property
    def only_second(self) -> int:
        return self.tests[0].only_second


def seed_tests(records: list[dict], first: str, second: str, y_test: np.ndarray) -> SeedTests | None:
    """The exact McNemar tests between contenders `first` and `second`, seed by seed, on the
    seeds both have trained; None where they share none."""
    by_seed = {(r["name"], r["seed"]): predictions(r) for r in trained(records) if r["name"] in (first, second)}
    seeds = sorted(seed for name, seed in by_seed if name == first and (second, seed) in by_seed
                   and by_seed[first, seed] is not None and by_seed[second, seed] is not None)
    if not seeds:
        return None
    return SeedTests(tuple(seeds), tuple(
        paired_test(contender(first).label, by_seed[first, seed] == y_test,
                    contender(second).label, by_seed[second, seed] == y_test) for seed in seeds))


def cnn_against_transformer(records: list[dict], y_test: np.ndarray):
    """The exact McNemar tests between the best CNN and the best transformer (each chosen on
    PublicTest), seed by seed (:func:`seed_tests`); None where one is missing."""
    cnn, transformer = best_of(records, "cnn"), best_of(records, "transformer")
    if cnn is None or transformer is None:
        return None
    return seed_tests(records, cnn, transformer, y_test)


#: The contenders that give the ViT locality back, each set against the plain ViT trained with
#: the same recipe ("vit-fast"), so that the difference is the network's alone.
LOCALITY = ("vit-spt", "cct", "hybrid")


#: The other patch sizes, each set against the report's 4 x 4 under the same recipe ("vit-fast").
PATCHES = ("vit-patch2", "vit-patch3", "vit-patch6")


def _against_plain_vit(records: list[dict], names, y_test: np.ndarray, reference: str = "vit-fast") -> dict:
    tests = {name: seed_tests(records, name, reference, y_test) for name in names}
    return {name: test for name, test in tests.items() if test is not None}


def locality_tests(records: list[dict], y_test: np.ndarray) -> dict:
    """``{contender: paired test against "vit-fast"}`` for each of :data:`LOCALITY` that finished."""
    return _against_plain_vit(records, LOCALITY, y_test)


@dataclass
class QuestionTests:
    """Page 9's paired tests, each a :class:`SeedTests` (an exact McNemar test on PrivateTest
    for every seed both contenders trained). Every pair is fixed before the run (no pair is
    picked for its PrivateTest score)."""

    cnn_against_transformer: object = None  # the best CNN first, the best transformer second (PublicTest chooses)
    training: object = None  # the report's ViT: the fast recipe first, the report's training second
    locality: dict = field(default_factory=dict)  # contender -> its test against "vit-fast"
    patches: dict = field(default_factory=dict)  # other patch size -> its test against "vit-fast" (4 x 4)
    # contender -> its test against "report-vit": the report's ViT as the report trained it
    locality_against_report: dict = field(default_factory=dict)


def paired_tests(records: list[dict], y_test: np.ndarray) -> QuestionTests:
    """Every paired test the page's verdict quotes (those whose contenders have finished)."""
    return QuestionTests(cnn_against_transformer(records, y_test),
                         seed_tests(records, "vit-fast", "report-vit", y_test),
                         locality_tests(records, y_test), _against_plain_vit(records, PATCHES, y_test),
                         _against_plain_vit(records, LOCALITY, y_test, reference="report-vit"))


def records_frame(records: list[dict]) -> pd.DataFrame:
    """One row per training (contender and seed); contenders over the budget have none."""
    return pd.DataFrame(trained(records))


def _by_contender(records: list[dict]):
    """Each contender that has finished trainings, in the chapter's order, with their rows."""
    frame = records_frame(records)
    for c in CONTENDERS:
        mine = frame[frame["name"] == c.name] if len(frame) else frame
        if not mine.empty:
            yield c, mine


def summary_table(records: list[dict]) -> pd.DataFrame:
    """One row per contender, in the chapter's order: the mean PrivateTest accuracy over its
    seeds with a 95% interval on the test faces (as wide for two seeds as for one: they score
    the same faces), the seeds' spread, flip TTA, weights,
    multiply-adds, epochs, training minutes and the precisions its seeds trained in."""
    rows = []
    for c, mine in _by_contender(records):
        mean = float(mine["private_test"].mean())
        # on the test faces: the seeds score the same faces, so more seeds do not narrow it
        low, high = interval(mean, int(mine["test_images"].iloc[0]))
        rows.append({"name": c.name, "contender": c.label, "family": c.family, "question": c.question, "seeds": len(mine),
                     "PublicTest": float(mine["public_test"].mean()), "PrivateTest": mean, "interval low": low, "interval high": high,
                     "seed spread": float(mine["private_test"].std(ddof=1)) if len(mine) > 1 else np.nan,
                     "flip TTA": float(mine["private_test_tta"].mean()),
                     "weights": int(mine["params"].iloc[0]), "multiply-adds": int(mine["multiply_adds"].iloc[0]),
                     "epochs": int(mine["epochs"].iloc[0]), "minutes": float(mine["train_seconds"].mean() / 60),
                     "budget minutes": float(mine["budget_seconds"].iloc[0] / 60),
                     "machine": _machines(mine["machine"]), "budget machine": _budget_machines(mine),
                     # a seed resumed or trained on a CPU without bfloat16 trains in float32
                     "precisions": sorted({p for p in mine.get("precision", pd.Series(dtype=object)) if isinstance(p, str)})})
    return pd.DataFrame(rows)


def _machines(names) -> str:
    return " and ".join(sorted({str(name).removeprefix("cpu: ") for name in names}))


def _budget_machines(rows: pd.DataFrame) -> str:
    """Where a contender's budget (its epochs) was measured: a seed trained later on another
    machine keeps the epochs the first one measured."""
    budgets = rows["budget"] if "budget" in rows else [None] * len(rows)
    return _machines(b.get("machine", m) if isinstance(b, dict) else m for b, m in zip(budgets, rows["machine"]))


def write_question_json(run, records: list[dict], missing: list[str], vit_speedup: dict | None) -> dict:
    """``vit_question.json`` in the run's metrics folder (publishing copies it into the book)."""
    out = {**question_json(records, vit_speedup), "not_yet_trained": list(missing),
           "over_budget": over_budget(records).to_dict(orient="records"),
           "budget_seconds": sorted({r["budget_seconds"] for r in records}), "provenance": run.provenance()}
    write_json(run.folder.metrics("vit_question"), out)
    return out


def question_json(records: list[dict], vit_speedup: dict | None) -> dict:
    """``book/results/vit_question.json``: one entry per contender (name, family, mean
    PrivateTest, weights, multiply-adds, mean training seconds, and each seed's own numbers),
    and the report's ViT's training speed now against before, as measured by
    ``benchmarks/bench_vit.py`` in one run."""
    models = []
    for c, mine in _by_contender(records):
        models.append({"name": c.name, "label": c.label, "model": display_name(c.model), "family": c.family,
                       "private_test": float(mine["private_test"].mean()), "params": int(mine["params"].iloc[0]),
                       "multiply_adds": int(mine["multiply_adds"].iloc[0]),
                       "train_seconds": float(mine["train_seconds"].mean()),
                       "seeds": [{"seed": int(r.seed), "private_test": float(r.private_test),
                                  "private_test_tta": float(r.private_test_tta), "public_test": float(r.public_test),
                                  "train_seconds": float(r.train_seconds), "epochs": int(r.epochs)}
                                 for r in mine.itertuples()]})
    return {"models": models, "vit_speedup": vit_speedup}


def check_same_network(model: keras.Model, name: str) -> None:
    """Raise AssertionError unless `model` (a page's Keras code) is, layer for layer, the
    registered network `name` that the contenders train."""
    from ..models import network_differences

    differences = network_differences(model, build_model(name))
    assert not differences, f"the page's network is not ferlib's {name!r}:\n" + "\n".join(differences)


#: Where ``benchmarks/bench_vit.py --json`` leaves its figures in a clone of the repository.
SPEEDUP_FILE = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "bench_vit.json"
STEP_PARTS_FILE = SPEEDUP_FILE.with_name("vit_step_parts.json")


def vit_speedup(path: Path = SPEEDUP_FILE) -> dict | None:
    """The report's ViT's training speed as the report's pages train it against the fastest
    option that trains the same network the same way, batches of 64 included
    (``benchmarks/bench_vit.py``, one run), and, apart, the fastest with larger batches (the
    same network, but fewer steps per epoch: another training). None where the benchmark's
    file is absent (an installed package has no benchmarks)."""
    bench = read_json(path)
    if bench is None:
        return None
    parts = read_json(path.with_name(STEP_PARTS_FILE.name))  # where the step's time goes, when measured
    options = {row["option"]: row for row in bench["options"]}
    before = options["as trained"]["images_per_second"]
    same = [row for row in bench["options"] if row.get("same_network", True) and row["option"] != "as trained"]
    alike = [row for row in same if row.get("batch_size", bench["batch_size"]) == bench["batch_size"]]
    best = max(alike, key=lambda row: row["images_per_second"]) if alike else options["as trained"]
    larger = [row for row in same if row.get("batch_size", bench["batch_size"]) > bench["batch_size"]]
    batch = max(larger, key=lambda row: row["images_per_second"]) if larger else None
    return {"before": before, "after": best["images_per_second"], "how": best["option"],
            "speedup": best["images_per_second"] / before, "machine": bench["machine"], "options": bench["options"],
            "peak": bench.get("matmul_peak_flops"), "batch_size": bench["batch_size"],
            "larger_batch": None if batch is None else {"how": batch["option"], "batch_size": batch["batch_size"],
                                                        "images_per_second": batch["images_per_second"],
                                                        "speedup": batch["images_per_second"] / before},
            "step_parts": parts}


def speed_table(speed: dict) -> pd.DataFrame:
    """The benchmark's options (:func:`vit_speedup`) as the page shows them."""
    table = pd.DataFrame(speed["options"])
    if "batch_size" not in table:  # a benchmark file from before the batch options: all at its one batch
        table["batch_size"] = speed.get("batch_size", 64)
    table = table[["option", "backend", "batch_size", "images_per_second", "speedup"]]
    return table.rename(columns={"batch_size": "batch", "images_per_second": "faces/s", "speedup": "against as trained"})


def speed_note(speed: dict) -> str:
    """What the benchmark measured, in words: the fastest option that trains the same network
    the same way, the fastest with larger batches, and the options slower than the report's
    pages' own way."""
    faster = speed["speedup"] >= 1
    slower = [row["option"] for row in speed["options"]
              if row["speedup"] < 0.95 and (faster or row["option"] != speed["how"])]
    machine = speed["machine"].removeprefix("cpu: ")
    note = (f"On the benchmark's machine ({machine}), the report's ViT trains at {speed['before']:.0f} faces per "
            f"second as the report's pages train it; ")
    if faster:
        note += (f"the fastest option that trains the same network in the same batches, {speed['how']}, reaches "
                 f"{speed['after']:.0f} ({speed['speedup']:.2f} times as many).")
    else:
        note += (f"no other way of training the same network in the same batches was faster: the closest, "
                 f"{speed['how']}, reaches {speed['after']:.0f} ({speed['speedup']:.2f} times as many).")
    batch = speed.get("larger_batch")
    if batch:
        note += (f" With batches of {batch['batch_size']} ({batch['how']}) it reaches {batch['images_per_second']:.0f} "
                 f"({batch['speedup']:.2f} times as many), but that is another training: fewer, larger steps per "
                 "epoch.")
    if slower:
        # semicolons: an option's name may hold a comma ("JAX, batch 256")
        note += f" Slower than the pages' own way on this CPU: {'; '.join(slower)}."
    as_trained = next(row for row in speed["options"] if row["option"] == "as trained")
    if speed.get("peak") and as_trained.get("flop_per_second"):
        note += (f" As trained, the step computes {as_trained['flop_per_second'] / 1e9:.1f} GFLOP/s, "
                 f"{as_trained['flop_per_second'] / speed['peak']:.0%} of the {speed['peak'] / 1e9:.0f} GFLOP/s the "
                 "same run measured for this CPU's float32 matrix products: the time goes to the many small "
                 "operations of a small network, not to arithmetic.")
    return note


def step_parts_table(parts: dict) -> pd.DataFrame:
    """Where a training step of the report's ViT spends its time
    (``benchmarks/vit_step_parts.py``): milliseconds per batch and share of the step."""
    step = parts["seconds"]["step"]
    return pd.DataFrame([{"part": name, "ms per batch": 1000 * seconds, "of the step": seconds / step}
                         for name, seconds in parts["seconds"].items()])


def step_parts_note(parts: dict) -> str:
    """Why no option trains the report's ViT five times faster, from where its step's time
    goes: the attention core's share, what its dropout and its two products take, and the
    ceiling that share puts on any speed-up of the other layers."""
    seconds, step = parts["seconds"], parts["seconds"]["step"]
    core, plain, products = (seconds[k] for k in ("attention core", "attention core, no dropout", "attention products"))
    megabytes = parts["attention_weights_bytes"] / 1e6
    ms = lambda value: f"{1000 * value:.0f} ms"  # noqa: E731
    machine = parts.get("machine", "the benchmark's machine").removeprefix("cpu: ")
    return (f"On {machine}, of the {ms(step)} a batch of {parts['batch_size']} takes, the attention core of the "
            f"{parts['blocks']} blocks takes {ms(core)} ({core / step:.0%}): the dropout on the attention weights "
            f"accounts for {ms(core - plain)} of it, and the two products alone (the scores and the weighted sum, "
            f"forward and backward) take {ms(products)}"
            + (", about as long as the whole core without its dropout: what the softmax adds is within "
               "the timings' own noise" if products >= 0.9 * plain else "")
            + ". Those products compute at "
            f"{parts['product_flop_per_second'] / 1e9:.0f} GFLOP/s, "
            f"{parts['product_flop_per_second'] / parts['matmul_peak_flops']:.0%} of the matrix-multiply peak "
            f"measured in the same run: they are many small products over {parts['key_dim']}-number vectors, and "
            f"the weights they write and read take {megabytes:.0f} MB per block. Even if every other layer and "
            f"the optimizer cost nothing, the step would be only {parts['ceiling_speedup']:.2f} times as fast. "
            "Training it five times as fast, the speed-up page 9 sought, needs a faster attention itself, one "
            "that never writes its weights out (a fused kernel); "
            # plain text: the conclusion quotes this sentence with {glue:text}, which shows no Markdown
            "Keras calls its fused ops.dot_product_attention only for attention without dropout, which is "
            "another network.")


def sample_faces(y_test: np.ndarray, n: int = 200, seed: int = 0) -> np.ndarray:
    """Indices of `n` PrivateTest faces drawn at random (seeded, so every model and every run
    sees the same faces), sorted: the faces the maps' border shares are measured and tested on."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(len(y_test), size=min(n, len(y_test)), replace=False))


def example_faces(y_test: np.ndarray, per_emotion: int = 1, emotions=(0, 3, 4, 5, 6)) -> np.ndarray:
    """Indices of the first `per_emotion` PrivateTest faces of each of `emotions` (the figure
    of where the models look shows the same faces for every model)."""
    return np.concatenate([np.flatnonzero(y_test == e)[:per_emotion] for e in emotions])
