"""The verdicts of page 8, "Closing the gap": the fast recipe against its goal and the
literature, the best model's emotions, and the small ensemble."""

from __future__ import annotations

import numpy as np

from ...display import duration, signed
from ..fast import REPORT_NETWORK
from ._shared import LEVEL, p_text, points, too_small


def gap_verdict(seeds, goal: tuple[float, float], best_from_scratch: float, profile: str,
                as_here: tuple[str, float] | None = None) -> str:
    """What page 8's seeds table says about the chapter's goal (`goal`: minutes, accuracy)
    and about the best network trained from scratch (`best_from_scratch`), and, given
    `as_here` (its name and accuracy), the best one measured under the standard protocol."""
    if seeds is None or len(seeds) == 0:
        return "No fast-recipe training has finished yet; the long run (`benchmarks/fast_recipe.py`) trains them."
    sentences = [too_small(profile)] if profile != "full" else []
    minutes, target = goal
    for _, row in seeds.iterrows():
        spread = "" if row["private_test_sd"] != row["private_test_sd"] else f" ± {row['private_test_sd']:.1%}"
        n = len(row["seeds"])
        sentences.append(
            f"The recipe \"{row['recipe']}\" scores {row['private_test']:.1%}{spread} on PrivateTest "
            f"({'mean ± standard deviation over ' + str(n) + ' seeds' if n > 1 else 'one seed'}; the 95% interval "
            f"that the number of test faces allows, {row['private_test_low']:.1%} to {row['private_test_high']:.1%}), "
            f"{row['private_test_tta']:.1%} with flip averaging, after "
            f"{duration(row['train_seconds'])} of training.")
    recipe = seeds.iloc[0]  # the final recipe: the table's first row
    within = recipe["train_seconds"] <= minutes * 60
    low, high = recipe["private_test_low"], recipe["private_test_high"]
    sentences.append(f"The goal has two parts, {target:.0%} on PrivateTest and at most {minutes:.0f} minutes of "
                     f"training. \"{recipe['recipe']}\" trains in {duration(recipe['train_seconds'])}, "
                     + ("within the time." if within else f"{duration(recipe['train_seconds'] - minutes * 60)} "
                        "over it."))
    median = recipe.get("median_epoch_seconds", float("nan"))
    if median == median and recipe["train_seconds"] > 1.05 * median * recipe["epochs"]:
        sentences.append("That wall clock counts epochs slowed by something other than the training (other work that "
                         "shared the CPU, or, in the first runs, an input pipeline that idled between epochs); at its "
                         "median epoch, "
                         f"{median:.1f} s, the {recipe['epochs']} epochs take {duration(median * recipe['epochs'])}.")
    if high < target:
        sentences.append(f"Its accuracy is short of the {target:.0%} goal: even the interval's upper end, "
                         f"{high:.1%}, falls below it.")
    elif low >= target:
        sentences.append(f"Its accuracy reaches {target:.0%}: the interval's lower end is {low:.1%}."
                         + (f" So it reaches the {target:.0%} goal within {minutes:.0f} minutes." if within else ""))
    elif recipe["private_test"] < target:
        sentences.append(f"Its mean, {recipe['private_test']:.1%}, is below {target:.0%}, though the interval "
                         f"({low:.1%} to {high:.1%}) does not rule {target:.0%} out.")
    else:
        sentences.append(f"Its mean, {recipe['private_test']:.1%}, reaches {target:.0%}, though the interval "
                         f"({low:.1%} to {high:.1%}) does not rule out less.")
    best = seeds.loc[seeds["private_test"].idxmax()]
    sentences.append(f"The best recipe's mean, {best['private_test']:.1%}, stands "
                     f"{points(best_from_scratch, best['private_test']):.1f} percentage points below "
                     f"{best_from_scratch:.1%}, the best published network trained on FER2013 alone (measured "
                     "under another protocol: see the table of published numbers).")
    if as_here is not None:
        name, accuracy = as_here
        where = ("above the interval of that mean" if accuracy > best["private_test_high"] else
                 "below the interval of that mean" if accuracy < best["private_test_low"] else
                 "inside the interval of that mean")
        sentences.append(f"Measured as here, the best published network trained on FER2013 alone is {name}, "
                         f"{accuracy:.1%}: {abs(points(accuracy, best['private_test'])):.1f} points "
                         f"{'above' if accuracy >= best['private_test'] else 'below'} the best recipe's mean and "
                         f"{where}; with flip averaging that mean is {best['private_test_tta']:.1%}.")
    return " ".join(sentences)


def _against(accuracy: float, n: int, target: float) -> str:
    """How an accuracy on `n` faces stands against a `target`, its Wilson interval included."""
    from ...evaluate import interval

    low, high = interval(accuracy, n)
    span = f"95% interval {low:.1%} to {high:.1%}"
    if low >= target:
        return f"reaches {target:.1%} ({span})"
    if high < target:
        return f"is short of {target:.1%} ({span})"
    if accuracy >= target:
        return f"is above {target:.1%}, though its {span} does not rule out less"
    return f"is below {target:.1%}, though its {span} does not rule {target:.1%} out"


def best_goal_verdict(seeds, ensemble, goal: tuple[float, float, float], n_test: int) -> str:
    """What page 8 says of the chapter's second goal (`goal`: hours, the accuracy of one
    network, the accuracy with test-time augmentation or a small ensemble), from the longer
    recipes' rows of the seeds table (group ``longer``), the small ensemble (or None) and the
    number of PrivateTest faces `n_test`."""
    hours, one, more = goal
    sentences = [f"The second goal: {one:.1%} on PrivateTest with one network trained in a background run of "
                 f"at most about {hours:.0f} hours, and {more:.0%} with test-time augmentation or a small ensemble."]
    longer = seeds[seeds["group"] == "longer"] if seeds is not None and len(seeds) else []
    if not len(longer):
        sentences.append("No longer recipe has finished in this run yet.")
    for _, row in (longer.iterrows() if len(longer) else []):
        within = "within" if row["train_seconds"] <= hours * 3600 else "over"
        seeds_said = "one seed" if len(row["seeds"]) == 1 else f"the mean of {len(row['seeds'])} seeds"
        # the hours depend on the CPU (twice as long without AMX): the sentence names it
        machines = " and ".join(str(m).removeprefix("cpu: ") for m in row.get("machines") or [])
        on = f" on {machines}" if machines else ""
        sentences.append(f"\"{row['recipe']}\" trained for {duration(row['train_seconds'])}{on}, {within} the "
                         f"{hours:.0f} hours, and scores {row['private_test']:.1%} ({seeds_said}), which "
                         f"{_against(row['private_test'], n_test, one)}; with flip averaging it scores "
                         f"{row['private_test_tta']:.1%}, which {_against(row['private_test_tta'], n_test, more)}.")
    if ensemble is not None:
        sentences.append(f"The small ensemble, flip-averaged, scores {ensemble.private_test_tta:.1%}, which "
                         f"{_against(ensemble.private_test_tta, n_test, more)}.")
    return " ".join(sentences)


def per_class_verdict(model: str, per_class, confusion) -> str:
    """Which emotions `model` recognises best and worst (recall, on emotions with test faces),
    and the confusion it makes most often (`confusion`: counts, rows true, columns predicted)."""
    present = per_class[per_class["support"] > 0]
    if present.empty:
        return f"{model} has no test faces to be judged on."
    best, worst = present["recall"].idxmax(), present["recall"].idxmin()
    counts = confusion.to_numpy().astype(float).copy()
    np.fill_diagonal(counts, 0)
    true, predicted = np.unravel_index(int(counts.argmax()), counts.shape)
    sentence = (f"{model} recognises {best} best (recall {present.loc[best, 'recall']:.0%}) and {worst} worst "
                f"({present.loc[worst, 'recall']:.0%}).")
    if counts.max() > 0:
        sentence += (f" Its most frequent mistake is to call a {confusion.index[true]} face "
                     f"{confusion.columns[predicted]} ({int(counts.max())} faces).")
    return sentence


def ensemble_verdict(ensemble, final, y_test) -> str:
    """What page 8's small ensemble (``closing_gap.Ensemble``, or None) is and scores, with its
    interval, against the final model's answers (``closing_gap.FinalModel``) face by face
    (exact McNemar)."""
    from ...evaluate import interval, paired_test

    if ensemble is None:
        return ("Fewer than two of this run's trainings have kept their weights or their probabilities, so there "
                "is no ensemble to choose yet.")
    low, high = interval(ensemble.private_test, len(y_test))
    y_test = np.asarray(y_test)
    scores = (f"{ensemble.private_test:.1%} on PrivateTest (95% interval {low:.1%} to {high:.1%}), and "
              f"{ensemble.private_test_tta:.1%} with each network's probabilities averaged over the face and its "
              f"mirror ({ensemble.public_test:.1%} on PublicTest that way, the score the members were chosen on).")
    chosen = f"Chosen on PublicTest among the {ensemble.candidates} runs whose probabilities are kept"
    if len(ensemble.members) == 1:
        text = (f"{chosen}, no second network raised the PublicTest accuracy of the best one, "
                f"{ensemble.members[0]}, so the ensemble is that network alone: {scores}")
    else:
        text = (f"{chosen}, the ensemble averages {len(ensemble.members)} networks ({', '.join(ensemble.members)}; "
                f"{duration(ensemble.train_seconds)} of training together): {scores}")
    if final.answers is not None and ensemble.members != [final.name]:
        test = paired_test("ensemble", ensemble.answers == y_test, final.name, final.answers == y_test)
        verdict = "beyond chance" if test.p_value < LEVEL else "within noise"
        text += (f" Against the final model alone ({test.second_accuracy:.1%}, its plain answers): "
                 f"{test.only_first} faces only the ensemble gets right and {test.only_second} only the final model; "
                 f"exact McNemar {p_text(test.p_value)}, {verdict}.")
    return text



def ablation_verdict(ablation, not_trained, level: float = LEVEL) -> str:
    """What page 8's ablation table says: which finished changes differ from the recipe beyond
    chance in their paired test, how far the means moved, which planned changes
    (`not_trained`, their labels) the long run has still to train, and, once the report's
    network has trained under the recipe, what the network is worth."""
    if ablation is None or len(ablation) == 0:
        return ""
    pair = ablation["p_value"].fillna(1.0) < level
    seeds = (ablation["seeds_p_value"] if "seeds_p_value" in ablation else ablation["p_value"] * np.nan).fillna(1.0) < level
    differences = 100 * ablation["difference"]
    sentences = [f"{len(ablation)} of the plan's {len(ablation) + len(not_trained)} changes have finished; their "
                 f"means lie {signed(differences.min())} to {signed(differences.max())} points from the recipe's."]

    def rows(chosen) -> str:
        return ", ".join(f"{row.ablation} ({signed(100 * row.difference)} points)" for row in ablation[chosen].itertuples())

    if (pair & seeds).any():
        sentences.append(f"Beyond chance both over the seeds and in the paired test (p < {level:g} each): "
                         f"{rows(pair & seeds)}.")
    if (pair & ~seeds).any():
        sentences.append(f"Beyond chance in the paired test only: {rows(pair & ~seeds)}. Their two networks differ "
                         "by more than the test faces' noise, but the recipes' means do not differ by more than "
                         "the seeds' own spread, so this page does not claim them as effects.")
    if (seeds & ~pair).any():
        sentences.append(f"Beyond chance over the seeds only: {rows(seeds & ~pair)}.")
    if not (pair | seeds).any():
        sentences.append(f"None differs from the recipe beyond chance, over the seeds or in its paired test (every "
                         f"p ≥ {level:g}).")
    report = ablation[ablation["ablation"] == REPORT_NETWORK]
    if len(report):
        row = report.iloc[0]
        sentences.append(f"The report's CNN under this recipe scores {row['private_test']:.1%}, "
                         f"{signed(100 * row['difference'])} points from the fast CNN: that is what the network is "
                         "worth when the training is the same.")
    if not_trained:
        waits = (f"; the question of network against training waits for the row \"{REPORT_NETWORK}\""
                 if REPORT_NETWORK in not_trained else "")
        sentences.append(f"Not trained yet: {', '.join(not_trained)}. The long run trains them one after "
                         f"another{waits}.")
    return " ".join(sentences)
