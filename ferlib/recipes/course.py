"""The course around each results page: how long the page takes at each profile (as
measured), and the exercises that close it.

An exercise is a change of the page's parameters and a question about what the rerun shows.
The parameters are data here, so a test can run every chapter's first exercise at the smoke
profile and the instructions cannot drift from what the notebooks accept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ..files import read_json, write_json

#: Measured wall time of every page, per profile and machine (``record_page_times`` writes it).
PAGE_TIMES = Path(__file__).with_name("page_times.json")

#: The profiles a reader can choose, in the order of their cost.
PROFILE_ORDER = ("smoke", "cpu", "full")

#: Where a page can run: a 2-core CPU (this project's machines) and a Colab GPU.
MACHINE_KINDS = ("2-core CPU", "Colab GPU")


@dataclass(frozen=True)
class Exercise:
    """One exercise: a title, the question, the page parameters to set and the profile it needs."""

    title: str
    question: str
    parameters: dict = field(default_factory=dict)
    profile: str = "cpu"


EXERCISES: dict[str, tuple[Exercise, ...]] = {
    "01_data": (
        Exercise("The challenge's own split",
                 "Rerun with the challenge's Training / PublicTest / PrivateTest parts. The sizes table "
                 "follows the run's split; the class-balance table keeps showing the report's. Add a cell "
                 "with `fl.class_distribution(run.dataset.labels, run.split)`: how far apart are Disgust's "
                 "shares in the three official parts, against the report's stratified split?",
                 {"split": "official"}, "smoke"),
        Exercise("Another seed",
                 "Split again from another seed. Which numbers on the page change, and why do the class "
                 "shares of the three parts hardly move?",
                 {"seed": 7}, "smoke"),
        Exercise("Synthetic faces",
                 "Run the page on the synthetic faces. Which sections still say something about FER2013, "
                 "and which only test the code?",
                 {"data": "synthetic"}, "smoke"),
    ),
    "02_cnn": (
        Exercise("No dropout",
                 "Train the CNN without dropout. How far apart do the training and validation curves "
                 "move, against a run of the page as it stands at the same profile, and at which epoch "
                 "does the validation accuracy peak?",
                 {"dropout": 0.0}),
        Exercise("A faster fall of the learning rate",
                 "Let ReduceLROnPlateau halve the rate instead of taking 10% off. How often does it fall, "
                 "and does the test accuracy change by more than another seed moves it (exercise 3)?",
                 {"lr_factor": 0.5}),
        Exercise("Another seed",
                 "Train from another seed, which also draws another split. How far does the test accuracy "
                 "move? Compare that with the 95% interval of a test accuracy (chapter 5): about ±1.25 "
                 "points on the full run's 5,742 test faces, wider on the cpu profile's smaller test part.",
                 {"seed": 7}),
    ),
    "03_vit_tuning": (
        Exercise("Larger patches",
                 "Cut the face into 6 × 6 patches: 64 of them instead of 144. How many weights does the "
                 "ViT lose or gain, how much faster is an epoch, and does it learn more?",
                 {"patch_size": 6}),
        Exercise("Less dropout before the softmax",
                 "The report's ViT underfits: its training accuracy stays low. Lower the last dropout from "
                 "0.5 to 0.1. Does the training accuracy rise, and the test accuracy with it?",
                 {"head_dropout": 0.1}),
        Exercise("Another seed",
                 "Rerun from another seed. Does the same reading lead after a few epochs, and is its lead "
                 "larger than the spread between seeds?",
                 {"seed": 7}),
    ),
    "04_phase2": (
        Exercise("Another seed",
                 "Rerun from another seed. How many hard samples does the CNN find, and does each step of "
                 "phase 2 raise or lower each model's test accuracy beyond chance (the paired tests)?",
                 {"seed": 7}),
        Exercise("A shorter augmentation step",
                 "Cap training at 5 epochs: `epochs` limits phase 1 and the augmentation step alike. "
                 "Which model loses more from the shorter trainings, and why would a network that "
                 "underfits lose less?",
                 {"epochs": 5}),
        Exercise("Which images are hard?",
                 "Look at the grid of hard samples. How many would you label differently yourself? The "
                 "FER+ section of chapter 7 measures how often ten annotators disagreed with FER2013.",
                 {}, "smoke"),
    ),
    "05_comparison": (
        Exercise("The challenge's split",
                 "Run chapters 2 to 5 on the challenge's own split. Does the CNN's lead over the ViT stay "
                 "larger than the interval, and is McNemar's test still far below 0.05?",
                 {"split": "official"}),
        Exercise("Another seed",
                 "Rerun chapters 2 to 5 from another seed. Which per-class recalls move by more than a few "
                 "points? Why are the rare classes the noisiest?",
                 {"seed": 7}),
        Exercise("Precision or recall?",
                 "From the per-class table, name the emotion each model over-predicts (precision well below "
                 "recall). What in the class balance of chapter 1 explains it?",
                 {}, "smoke"),
    ),
    "06_features": (
        Exercise("Another seed",
                 "Rerun from another seed. Does the ViT's hottest patch stay on the border of the image, "
                 "or does it move onto the face?",
                 {"seed": 7}),
        Exercise("Your own photo",
                 "Give the page a photo of your own (a path, a URL, or \"upload\" in Colab) and compare the "
                 "two models' answers face by face.",
                 {"photo": "upload"}, "smoke"),
        Exercise("A smaller face",
                 "Crop your photo so that the face is under 60 pixels wide and run it again. Which model's "
                 "answer changes more?",
                 {"photo": "my_small_face.jpg"}, "smoke"),
    ),
    "07_beyond": (
        Exercise("Class weights on two seeds",
                 "Run the page at the cpu profile, once as it stands and once more with another seed. Does "
                 "the class-weighted loss raise Disgust's recall beyond chance in both, and what does it "
                 "cost the other classes?",
                 {}, "cpu"),
        Exercise("Another seed",
                 "Rerun from another seed. Does test-time augmentation still help both models?",
                 {"seed": 7}),
        Exercise("FER+ and the hard samples",
                 "The page counts how many of chapter 4's hard samples carry a FER2013 label that the FER+ "
                 "majority disputes. Against the share of disputed labels among all training faces, are "
                 "the hard samples mostly hard, or mostly mislabelled?",
                 {}, "smoke"),
    ),
}


def page_times(page: str, times: dict | None = None) -> dict[tuple[str, str], dict | None]:
    """The measured wall time of `page` at each profile on each kind of machine:
    ``(profile, machine kind) -> {"seconds", "machine", "measured", "commit"}``, or None where
    it was not measured."""
    times = read_json(PAGE_TIMES, {}) if times is None else times
    found = {}
    for profile in PROFILE_ORDER:
        for kind in MACHINE_KINDS:
            found[(profile, kind)] = times.get(page, {}).get(profile, {}).get(kind)
    return found


def times_markdown(page: str, times: dict | None = None, *, standalone: bool = False) -> str:
    """A table of how long `page` takes at each profile, with what measured each time.
    `standalone`: the page trains and reads nothing of the other pages (pages 8 and 9)."""
    from ..display import duration  # here: the command line imports this module without Keras

    found = page_times(page, times)
    lines = ["| profile | " + " | ".join(MACHINE_KINDS) + " |", "|---|" + "---:|" * len(MACHINE_KINDS)]
    for profile in PROFILE_ORDER:
        cells = []
        for kind in MACHINE_KINDS:
            entry = found[(profile, kind)]
            if entry is None:
                cells.append("not measured yet")
            elif entry.get("long_run"):
                cells.append(f"{duration(entry['long_run']['seconds'])} of long run + {duration(entry['seconds'])}")
            else:
                cells.append(duration(entry["seconds"]))
        lines.append(f"| {profile} | " + " | ".join(cells) + " |")
    dates: dict[str, list[str]] = {}  # each machine once, with every date it measured on
    for machine, date in sorted({(e["machine"], e["measured"]) for e in found.values() if e}):
        dates.setdefault(machine, []).append(date)
    measured = [(machine, " and ".join(days)) for machine, days in dates.items()]
    where = "" if standalone else ", as one notebook of a whole run (earlier pages' trainings done before)"
    note = ("Measured on " + "; ".join(f"{m} ({d})" for m, d in measured) + where + "." if measured
            else "No time measured yet.")
    long_runs = [(profile, e["long_run"]) for (profile, _), e in found.items() if e and e.get("long_run")]
    for profile, run in long_runs:
        note += (f" At the {profile} profile the page reads the trainings of its long run, which had trained "
                 f"{run['trainings']} networks for {duration(run['seconds'])} when the page was executed; the "
                 "second time is the page's own.")
    alone = "" if standalone else " A page opened alone trains what earlier pages would have made."
    return "\n".join(lines) + "\n\n" + note + alone


def exercises_markdown(page: str, times: dict | None = None) -> str:
    """The page's exercises: each with the parameters to set, the profile and its measured time."""
    from ..display import duration

    found = page_times(page, times)
    lines = []
    for number, exercise in enumerate(EXERCISES[page], 1):
        settings = ", ".join(f"`{k} = {_literal(v)}`" for k, v in exercise.parameters.items())
        entry = found[(exercise.profile, MACHINE_KINDS[0])]
        cost = (f"about {duration(entry['seconds'])} on a 2-core CPU" if entry else "its time on a 2-core CPU is "
                "not measured yet")
        how = (f"Set {settings} in the parameters cell" if settings else "Use the page as it stands")
        title = exercise.title if exercise.title.endswith(("?", "!", ".")) else f"{exercise.title}."
        lines.append(f"{number}. **{title}** {exercise.question}  \n"
                     f"   {how}, with `profile = {_literal(exercise.profile)}` ({cost}), and run the notebook in a "
                     "fresh `run_dir`.")
    return "\n".join(lines)


def _literal(value) -> str:
    """A parameter's value as the parameters cell writes it (strings in double quotes)."""
    return json.dumps(value) if isinstance(value, str) else repr(value)


def record_page_times(run_dir: str | Path, kind: str = MACHINE_KINDS[0], path: Path = PAGE_TIMES) -> dict:
    """Add a finished run's page times (its ``timings.json``, its card's profile, device and
    commit) to `path`, for pages that ran to the end; returns the updated table."""
    from ..runfolder import RunFolder

    folder = RunFolder(Path(run_dir))
    card = read_json(folder.card)
    if card is None:
        raise FileNotFoundError(f"{folder.card}: no run card; run the notebooks first (ferlib run)")
    timings = read_json(folder.timings, {})
    measured = (card.get("finished") or date.today().isoformat())[:10]
    return record_page_time(timings, card, measured, kind, path)


def record_page_time(seconds_by_page: dict[str, float], card: dict, measured: str, kind: str = MACHINE_KINDS[0],
                     path: Path = PAGE_TIMES, long_runs: dict | None = None) -> dict:
    """Add pages' wall times (``{page: seconds}``), measured on `measured` (a date) in the run
    that `card` describes (its profile, device and commit), to `path`; returns the table.
    `long_runs` gives, for a page executed after its long run, what that run trained
    (``{page: {"seconds", "trainings"}}``), which the openings add to the page's time."""
    times = read_json(path, {})
    for page, seconds in seconds_by_page.items():
        entry = {"seconds": round(float(seconds), 1), "machine": card.get("device", "?"), "measured": measured,
                 "commit": card.get("commit", "?")}
        if (long_runs or {}).get(page):
            entry["long_run"] = dict(long_runs[page])
        times.setdefault(page, {}).setdefault(card["profile"], {})[kind] = entry
    write_json(path, json.loads(json.dumps(times, sort_keys=True)))
    return times
