"""The sentences that interpret a run's results, made from its numbers.

A results page or a chapter that says "the CNN overfits" must say it because the run's
numbers show it, and say something else when they do not. Each function here takes the
numbers and returns one sentence; the notebooks glue the sentences for the chapters, so a
smoke run and a full run never print the same claim when their numbers disagree with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A train-test gap above this many points is called overfitting.
OVERFIT_GAP = 0.10
#: A model this close to always answering the most common emotion has not learned much.
LEARNED_MARGIN = 0.05
#: A tuning configuration "learns" in its few epochs when its validation accuracy beats the
#: majority class by this much (a softer bar than LEARNED_MARGIN: it trains a few epochs only).
TUNING_MARGIN = 0.02


def _points(a: float, b: float) -> float:
    """`a` - `b` in percentage points, as the two read when printed to 0.1%: a sentence that
    shows 63.0% and 38.3% says 24.7 points, even where the unrounded gap is 24.75."""
    return round(100 * a, 1) - round(100 * b, 1) + 0.0  # + 0.0: no "-0.0"


def too_small(profile: str) -> str:
    """What a run smaller than the report's can and cannot show ("" for the full profile)."""
    if profile == "full":
        return ""
    return (f"This is a {profile} run, smaller than the report's (fewer images, fewer epochs): its numbers show "
            "that the pipeline works, not how well either model can do.")


def fit_verdict(model: str, train_acc: float, test_acc: float, baseline: float) -> str:
    """Does the model overfit, fit, or barely learn? From its train and test accuracy."""
    gap = train_acc - test_acc
    if test_acc < baseline + LEARNED_MARGIN and train_acc < baseline + LEARNED_MARGIN:
        return (f"The {model} is still close to always answering the most common emotion ({baseline:.1%}): "
                f"{train_acc:.1%} on its training images and {test_acc:.1%} on the test images. It has not trained "
                "long enough to fit or to overfit.")
    if gap > OVERFIT_GAP:
        return (f"The {model} fits its training images far better than new ones ({train_acc:.1%} against "
                f"{test_acc:.1%}): a gap of {100 * gap:.1f} points, the overfitting that phase 2 sets out to reduce.")
    return (f"The {model}'s training and test accuracy are {100 * abs(gap):.1f} points apart ({train_acc:.1%} and "
            f"{test_acc:.1%}): it does not overfit; if anything it has not fitted its training images yet.")


def ranking_verdict(cnn_test: float, vit_test: float) -> str:
    """Which model wins on the test images, and by how much."""
    from .report import REPORT_TABLE1

    gap = cnn_test - vit_test
    if abs(gap) < 0.01:
        report_gap = REPORT_TABLE1["cnn"]["phase2 test accuracy"] - REPORT_TABLE1["vit"]["phase2 test accuracy"]
        return (f"The two models end level on the test images ({cnn_test:.1%} and {vit_test:.1%}), unlike in the "
                f"report, where the CNN won by {100 * report_gap:.0f} points.")
    leader, other = ("CNN", "ViT") if gap > 0 else ("ViT", "CNN")
    agreement = "as in the report" if gap > 0 else "the opposite of the report's finding"
    return (f"The {leader} beats the {other} on the test images by {100 * abs(gap):.1f} points "
            f"({max(cnn_test, vit_test):.1%} against {min(cnn_test, vit_test):.1%}), {agreement}.")


def phase2_verdict(model: str, p1_train: float, p1_test: float, p2_train: float, p2_test: float) -> str:
    """What phase 2 did to the model's training and test accuracy (the report: test up ~2
    points, training down)."""
    test_change, train_change = p2_test - p1_test, p2_train - p1_train
    test_words = (f"raises test accuracy by {100 * test_change:.1f} points" if test_change > 0.005 else
                  f"lowers test accuracy by {100 * -test_change:.1f} points" if test_change < -0.005 else
                  "leaves test accuracy where it was")
    train_words = ("while training accuracy falls" if train_change < -0.005 else
                   "and training accuracy rises too" if train_change > 0.005 else
                   "with training accuracy unchanged")
    as_report = test_change > 0.005 and train_change < -0.005
    return (f"For the {model}, phase 2 {test_words} ({p1_test:.1%} to {p2_test:.1%}), {train_words} "
            f"({p1_train:.1%} to {p2_train:.1%}): " + ("the pattern the report saw." if as_report else
                                                      "not the pattern the report saw (test up, training down)."))


def hard_sample_verdict(model: str, scores: dict, n_hard: int, n_train: int) -> str:
    """What each phase-2 step did to the model's test accuracy; `scores` is
    :attr:`~ferlib.recipes.phase2.Phase2Result.scores` (step -> part -> accuracy/loss)."""
    before, hard, after = (scores[step]["test"]["accuracy"] for step in
                           ("phase 1", "after hard samples", "after augmentation"))
    step1 = (f"Trained on its {n_hard:,} hard samples alone ({n_hard / n_train:.0%} of its training images), the "
             f"{model} goes from {before:.1%} to {hard:.1%} on the test images")
    if hard < before - 0.05:
        step1 += ": it forgets much of what phase 1 taught it"
    step2 = f"; the augmentation round on the whole training set then takes it to {after:.1%}"
    if after > before + 0.005:
        step2 += f", {100 * (after - before):.1f} points above phase 1."
    elif after < before - 0.005:
        step2 += f", {100 * (before - after):.1f} points below phase 1."
    else:
        step2 += ", where phase 1 ended."
    return step1 + step2


def attention_verdict(ratio_max: float, ratio_min: float, hottest: tuple[int, int] | None = None,
                      grid: int | None = None) -> str:
    """Whether the ViT's attention singles out regions, from the most and least attended
    patch's share relative to an even share; with the `hottest` patch's (row, column) on a
    `grid` x `grid` map, whether it lies on the image's border or inside it."""
    spread = (f"The most attended patch gets {ratio_max:.2f} times an even share and the least {ratio_min:.2f} times: ")
    if ratio_max - ratio_min < 0.2:
        return spread + "attention is close to even over the face; this ViT does not single out regions much."
    sentence = spread + "the last block favours some patches over others."
    if hottest is not None and grid is not None:
        row, col = hottest
        edge = min(row, col, grid - 1 - row, grid - 1 - col)
        where = ("on the image's outermost ring of patches, the border around the face" if edge == 0 else
                 "one patch in from the border" if edge == 1 else "inside the image, where the face is")
        sentence += f" The hottest patch (row {row + 1}, column {col + 1} of {grid}) lies {where}."
    return sentence


def activation_verdict(first_relative: float, last_relative: float) -> str:
    """Whether the ViT's last block varies more across its dimensions than its first, from
    the two blocks' spreads divided by their mean absolute activation (scale removed)."""
    change = last_relative / first_relative - 1 if first_relative else float("nan")
    if abs(change) < 0.1:
        return (f"The scale-free spreads are within 10% of each other ({first_relative:.2f} and {last_relative:.2f}): "
                "this ViT's last block does not make its dimensions more varied than its first, against the report's "
                "expectation.")
    if change > 0:
        return (f"The scale-free spread grows by {change:.0%} from the first block to the last: the last block's "
                "dimensions differ more from one another, as the report expected.")
    return (f"The scale-free spread shrinks by {-change:.0%} from the first block to the last: the last block's "
            "dimensions are more alike than the first's, the opposite of the report's expectation.")


def dispute_verdict(row) -> str:
    """What share of one model's hard samples FER+ disputes, against the rest of the training
    faces (a row of :func:`~ferlib.recipes.beyond.hard_sample_disputes`)."""
    share, rest, p = row["disputed among them"], row["disputed among the other training faces"], row["Fisher p"]
    start = (f"Of the {row['model']}'s {row['hard samples']:,} hard samples with a FER+ label, {share:.0%} carry a "
             f"FER2013 label that the FER+ majority disputes, against {rest:.0%} of the other training faces")
    if p != p:  # NaN: one group is empty
        return start + "."
    if p < 0.05:
        return (start + f" (Fisher's exact test, p = {p:.2g}): the hard samples are richer in disputed labels, so "
                "part of what phase 2 fine-tunes on is label noise rather than hard faces.")
    return start + f" (Fisher's exact test, p = {p:.2g}): no richer in disputed labels than the rest."


def schedule_verdict(model: str, history) -> str:
    """When the learning rate fell in a phase-1 training (its history), beside the report's."""
    from ..train import learning_rate_drops
    from .report import REPORT_SCHEDULES

    drops = learning_rate_drops(history)
    times = {1: "once", 2: "twice"}.get(len(drops), f"{len(drops)} times")
    ours = ("never lowered" if not drops else
            f"lowered {times}, at the start of epoch{'s' if len(drops) > 1 else ''} {_listed(drops)} (the training "
            f"ran {len(history)} epochs), to {history['learning_rate'].iloc[-1]:.6f} in the end")
    return (f"On plateaus of the validation loss the {model}'s learning rate was {ours}; in the report it "
            f"was lowered {REPORT_SCHEDULES[model.lower()]}.")


def _listed(numbers) -> str:
    """1, 2 and 3."""
    words = [str(n) for n in numbers]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def tuning_learned(val_accuracies: dict[str, float], majority: float) -> dict[str, bool]:
    """Which tuning configurations learned: validation accuracy above the majority class by
    :data:`TUNING_MARGIN`."""
    return {name: accuracy > majority + TUNING_MARGIN for name, accuracy in val_accuracies.items()}


def tuning_verdict(val_accuracies: dict[str, float], epochs: int, majority: float) -> str:
    """Which ViT configurations learned (:func:`tuning_learned`; `val_accuracies` by
    ``ViTConfig.label``), against the report's story (:data:`~ferlib.recipes.report.REPORT_TUNING_LEARNED`)."""
    from .report import REPORT_TUNING_LEARNED

    learned = tuning_learned(val_accuracies, majority)
    which = "; ".join(n for n, ok in learned.items() if ok)
    same = all(learned.get(name) == ok for name, ok in REPORT_TUNING_LEARNED.items())
    count = sum(learned.values())
    return (f"After {epochs} epoch{'s' if epochs != 1 else ''}, {count} of the {len(learned)} configurations beat always "
            f"answering the most common emotion ({majority:.1%}) on the validation images by {100 * TUNING_MARGIN:.0f} "
            f"points or more ({which if count else 'none did'}). The report saw the 128- and 64-dimensional "
            "configurations stagnate and the 32- and 16-dimensional ones learn. "
            + ("This run shows the same split." if same else
               "This run does not show that split at this budget; read the table as what a few epochs show, "
               "not as the report's finding."))


def comparison_verdicts(results: dict, baseline: float, profile: str) -> dict[str, str]:
    """The comparison's interpreting sentences, by the names the conclusion glues.

    `results` is ``Comparison.results`` (model -> phase -> part -> accuracy/loss), `baseline`
    the majority-class accuracy on the test images, `profile` the run's profile.
    """
    acc = {(m, p, part): results[m][p][part]["accuracy"] for m in results for p in results[m] for part in results[m][p]}
    from ..models import display_name

    verdicts = {"verdict_caveat": too_small(profile) or "This is a full run, at the report's scale.",
                "verdict_ranking": ranking_verdict(acc["cnn", "phase2", "test"], acc["vit", "phase2", "test"])}
    for model in results:
        name = display_name(model)
        verdicts[f"verdict_{model}_fit"] = fit_verdict(name, acc[model, "phase1", "train"], acc[model, "phase1", "test"],
                                                       baseline)
        verdicts[f"verdict_{model}_phase2"] = phase2_verdict(
            name, acc[model, "phase1", "train"], acc[model, "phase1", "test"],
            acc[model, "phase2", "train"], acc[model, "phase2", "test"])
    return verdicts


#: A difference from the report's number larger than this (3 points) asks for a reason.
FLAG = 0.03


def difference_verdict(model: str, phase: str, ours: dict, report: dict, log: dict | None,
                       report_log: dict) -> str:
    """Where one model's phase differs from the report by more than :data:`FLAG`, and what the
    training logs say about it. `ours` and `report` map ``train``/``val``/``test`` to
    accuracy; `log` and `report_log` are the training's last epoch as its log tells it
    (``epochs``, ``best_epoch``, ``accuracy``, ``val_accuracy``; :data:`~ferlib.recipes.report.
    REPORT_TRAININGS` for the report)."""
    label = f"{model}, {'phase 1' if phase == 'phase1' else 'phase 2'}"
    words = {"train": "training", "val": "validation", "test": "test"}
    flagged = [part for part in ("train", "val", "test") if abs(ours[part] - report[part]) > FLAG]
    if not flagged:
        sentences = [f"{label}: training, validation and test accuracy are all within three points of the report's."]
    else:
        listed = ", ".join(f"{words[p]} {ours[p]:.1%} against {report[p]:.2%}" for p in flagged)
        sentences = [f"{label}: {listed}."]
    if log is not None:
        epochs = f"It trained {log['epochs']} epochs (best {log['best_epoch']}), the report's {report_log['epochs']}"
        gap = log["accuracy"] - report_log["accuracy"]
        if abs(gap) <= FLAG:
            sentences.append(f"{epochs}; log against log the last epochs agree ({log['accuracy']:.1%} training "
                             f"accuracy against {report_log['accuracy']:.2%}), so a training-accuracy gap above is "
                             "the measurement, not the network.")
        else:
            sentences.append(f"{epochs}; log against log its last epoch shows {log['accuracy']:.1%} training accuracy "
                             f"against the report's {report_log['accuracy']:.2%}: this network fits its training "
                             f"images {'less' if gap < 0 else 'more'} than the report's did.")
    return " ".join(sentences)


def difference_verdicts(results: dict, logs: dict) -> dict[str, str]:
    """:func:`difference_verdict` for both models and phases, by the names the conclusion
    glues (``difference_cnn_phase1`` ...); `results` as in :func:`comparison_verdicts`, `logs`
    as ``Comparison.logs``."""
    from .report import REPORT_TABLE1, REPORT_TRAININGS

    from ..models import display_name

    verdicts = {}
    for model in REPORT_TABLE1:  # the report's two networks: only they have its numbers
        name = display_name(model)
        for phase, stage in (("phase1", "phase1"), ("phase2", "augmentation")):
            ours = {part: results[model][phase][part]["accuracy"] for part in ("train", "val", "test")}
            report = {part: REPORT_TABLE1[model][f"{phase} {part} accuracy"] for part in ("train", "val", "test")}
            verdicts[f"difference_{model}_{phase}"] = difference_verdict(
                name, phase, ours, report, logs.get(f"{model} {stage}"), REPORT_TRAININGS[f"{model} {stage}"])
    return verdicts


def class_weight_verdict(plain: dict, weighted: dict, epochs: int, profile: str, tests: dict | None = None,
                         level: float = 0.05) -> str:
    """What balanced class weights did, from the two fine-tunes' summaries (``accuracy``,
    ``macro-F1``, ``Disgust recall``) and, where given, their paired tests on the same faces
    (``tests["accuracy"]``, ``tests["Disgust recall"]``: plain first): when neither change is
    beyond chance (p < `level`), the run is not read as showing an effect."""
    change = weighted["macro-F1"] - plain["macro-F1"]
    trend = "rises" if change > 0.005 else "falls" if change < -0.005 else "barely moves"
    if weighted["Disgust recall"] > plain["Disgust recall"] and weighted["accuracy"] < plain["accuracy"]:
        if change < -0.005:  # macro-F1 weighs every emotion the same: it says whether the trade paid
            verdict = ("Weighting raised Disgust's recall, but the other emotions lost more than Disgust gained: by "
                       "macro-F1 the report's first idea does not pay off in this run.")
        else:
            verdict = "Weighting traded some accuracy on the common emotions for the rare ones, as the report hoped."
    elif weighted["Disgust recall"] > plain["Disgust recall"]:
        verdict = "Weighting helped the rare emotion without costing overall accuracy."
    else:
        verdict = ("Weighting did not raise Disgust's recall in this run; "
                   + ("with so little training the model may not have moved far enough to tell."
                      if profile != "full" else "the report's first idea does not pay off here."))
    facts = ""
    if tests is not None:
        disgust, overall = tests["Disgust recall"], tests["accuracy"]
        facts = (f" Face by face, {disgust.only_second} disgusted faces are right only with the weights and "
                 f"{disgust.only_first} only without (exact McNemar p = {disgust.p_value:.2g}); over all test faces, "
                 f"{overall.only_second} against {overall.only_first} (p = {overall.p_value:.2g}).")
        if disgust.p_value >= level and overall.p_value >= level:
            verdict = "Both changes are within chance, so this run cannot tell whether weighting helps."
    return (f"With balanced weights the CNN recalls {weighted['Disgust recall']:.0%} of the disgusted test faces, "
            f"against {plain['Disgust recall']:.0%} with the plain loss, after {epochs} epoch{'s' if epochs != 1 else ''} of fine-tuning. "
            f"Macro-F1, which weighs every emotion equally, {trend} from {plain['macro-F1']:.3f} to "
            f"{weighted['macro-F1']:.3f}, and overall accuracy goes from {plain['accuracy']:.1%} to "
            f"{weighted['accuracy']:.1%}.{facts} {verdict}")


def cluster_verdict(nmi: float, purity: float, random_purity: float) -> str:
    """How far k-means groups on the CNN's features follow the emotions."""
    if nmi < 0.02 or purity <= random_purity + 0.02:
        verdict = "The groups are no better than random ones: these features do not separate the emotions without labels."
    elif nmi < 0.5:
        verdict = ("The features carry the emotions to a degree, but the groups are far from the labels: clustering "
                   "alone would not replace the classifier.")
    else:
        verdict = "The groups follow the emotions closely: the features separate them well without labels."
    return (f"k-means reaches an NMI of {nmi:.2f} and a purity of {purity:.0%}, against {random_purity:.0%} purity "
            f"for random groups. {verdict}")


def tta_verdict(scores, level: float = 0.05) -> str:
    """What averaging over ten flipped and shifted views did to each model's accuracy (a
    :func:`~ferlib.recipes.beyond.tta_scores` frame: ``model``, ``test set``, ``plain``,
    ``flip + shifts`` and ``p``, the paired test of the two on the same images). A change
    counts as a gain or a loss only where the paired test puts it beyond chance (p < `level`)."""
    if scores.empty:
        return "This run has no test images to average over."
    clauses = []
    for model, rows in scores.groupby("model", sort=False):
        # the gain from the rounded figures, so the sentence adds up as printed
        changes = [f"from {r['plain']:.1%} to {r['flip + shifts']:.1%} on "
                   f"{'PrivateTest' if r['test set'] == 'PrivateTest' else 'the ' + r['test set']} "
                   f"({_points(r['flip + shifts'], r['plain']):+.1f} points, "
                   f"McNemar p = {r['p']:.2g})"
                   for _, r in rows.iterrows()]
        clauses.append(f"the {model} goes " + " and ".join(changes))
    gains = (scores["flip + shifts"] - scores["plain"]).to_numpy()
    real = (scores["p"] < level).to_numpy()
    if (real & (gains > 0)).all():
        verdict = "It helps every model on every test set beyond chance, for ten times the prediction cost."
    elif (real & (gains > 0)).any():
        verdict = ("It helps beyond chance in some cases only; the other changes are within chance, so this run "
                   "gives no general answer.")
    elif (real & (gains < 0)).any():
        verdict = "Where a change is beyond chance it is a loss: averaging does not help in this run."
    else:
        verdict = "Every change is within chance: this run shows no effect of averaging."
    return "With ten views averaged, " + "; ".join(clauses) + ". " + verdict


def reading_verdict(readings, baseline: float | None = None) -> str:
    """Which reading phase 1 trains and why (a ``Readings``): the leader from the run's seed,
    and, where it is not the as-built network, whether its lead survives the other seeds.
    With the majority-class accuracy `baseline`, whether any reading has learned at all."""
    table = readings.table.set_index("reading")
    as_built = table.index[0]
    leader, first = table.loc[readings.leader], table.iloc[0]
    epochs = int(leader["epochs"])
    after = f"After {epochs} epoch{'s' if epochs > 1 else ''}"
    if baseline is not None and table["train_accuracy"].max() < baseline + LEARNED_MARGIN:
        return (f"{after} no reading fits its training images much better than always answering the most common "
                f"emotion ({baseline:.1%}; the best, **{readings.leader}**, {leader['train_accuracy']:.1%}): at this "
                f"budget the readings cannot be told apart, so phase 1 trains the as-built network, **{as_built}**.")
    if readings.leader == as_built:
        return (f"{after} the as-built network, **{as_built}**, fits its training images best "
                f"({leader['train_accuracy']:.1%} training accuracy), so phase 1 trains it.")
    lead = (f"{after} the **{readings.leader}** reading fits its training images best ({leader['train_accuracy']:.1%} "
            f"training accuracy, against {first['train_accuracy']:.1%} for the as-built network, *{as_built}*)")
    if readings.p_value is None:
        return (lead + ". One seed cannot tell a lead of this size from the noise between seeds, so phase 1 trains "
                "the as-built network; the `cpu` and `full` profiles train both from more seeds to decide.")
    spread = readings.seeds.groupby("reading")["train_accuracy"].agg(["mean", "std", "count"])
    n = int(spread["count"].min())
    means = (f"over {n} seeds it averages {spread.loc[readings.leader, 'mean']:.1%} "
             f"(± {spread.loc[readings.leader, 'std']:.1%}) against {spread.loc[as_built, 'mean']:.1%} "
             f"(± {spread.loc[as_built, 'std']:.1%}), one-sided Welch test p = {readings.p_value:.2f}")
    if readings.chosen == as_built:
        return (lead + f"; {means}. That is within the noise between seeds, so phase 1 trains the as-built "
                "network.")
    return lead + f"; {means}. The lead is larger than the noise between seeds, so phase 1 trains it."


def precision_verdict(check, baseline: float | None = None) -> str:
    """Whether training in the chosen precision learns what float32 learns (a
    ``PrecisionCheck``: both histories and the gaps between them, in points); with the
    majority-class accuracy `baseline`, whether either has learned enough to tell."""
    float32, other = check.histories["float32"], check.histories[check.precision]
    n = len(float32)
    sentence = (
        f"After {n} epoch{'s' if n > 1 else ''}, training accuracy is {float32['accuracy'].iloc[-1]:.1%} in "
        f"float32 and {other['accuracy'].iloc[-1]:.1%} in {check.precision} ({check.train_accuracy_gap:.1f} "
        f"points apart); the best validation accuracy is {float32['val_accuracy'].max():.1%} and "
        f"{other['val_accuracy'].max():.1%} ({check.best_val_accuracy_gap:.1f} points). The last epoch's "
        f"validation accuracy is {float32['val_accuracy'].iloc[-1]:.1%} and {other['val_accuracy'].iloc[-1]:.1%}")
    if n > 1:
        sentence += (f", a noisy measure here: in float32 alone it moves by up to {check.val_accuracy_swing:.0f} "
                     "points from one epoch to the next. ")
    else:
        sentence += ". "
    best = max(h["val_accuracy"].max() for h in check.histories.values())
    if baseline is not None and best < baseline + LEARNED_MARGIN:
        return sentence + ("Neither has learned much beyond always answering the most common emotion "
                           f"({baseline:.1%}) yet, so this budget cannot tell whether {check.precision} changes "
                           "what the model learns; the full profile's five epochs can.")
    if check.best_val_accuracy_gap <= 1.5 and check.train_accuracy_gap <= 1.5:
        return sentence + (f"Within 1.5 points on the steady measures: {check.precision} does not change what "
                           "this model learns, so the run uses it.")
    return sentence + (f"More than 1.5 points apart on the steady measures: treat the {check.precision} "
                       "numbers with care.")


def release_of(dataset) -> str:
    """Which kind of pixels a loaded data set holds: the challenge CSV's own, the
    image-folder release's equalized ones, or synthetic faces (from its pixel statistics)."""
    if dataset.is_synthetic:
        return "synthetic faces"
    if dataset.pixel_summary()["looks_equalized"]:
        return "the image-folder release (histogram-equalized)"
    return "the challenge CSV's own pixels"


def release_sentence(dataset) -> str:
    """What the run read, and what its grey levels say about which release it is."""
    pixels = dataset.pixel_summary()
    return (f"This run read **{dataset.source.split('/')[-1]}** ({dataset.format}, fingerprint "
            f"`{dataset.fingerprint[:23]}…`). Mean grey level {pixels['mean']:.1f}, standard deviation "
            f"{pixels['std']:.1f}; the average image has a spread of {pixels['per_image_std']:.1f} grey levels, "
            f"and {pixels['full_range_share']:.0%} of the images span the full 0..255 range. That is "
            f"**{release_of(dataset)}**: an equalized copy has nearly every image spanning the full range.")


def ferplus_verdict(agreement) -> str:
    """How often FER2013's label matches the FER+ majority (``agree`` per emotion and
    ``all``), and what that means for the accuracy a model can reach on FER2013's labels."""
    overall = agreement.loc["all", "agree"]
    worst = agreement.drop("all")["agree"].idxmin()
    return (f"FER2013's label matches the FER+ majority for {overall:.0%} of the images that have one; the "
            f"worst emotion is {worst} ({agreement.loc[worst, 'agree']:.0%}). Scored against FER2013's labels, a "
            f"model that saw exactly what the ten annotators see would score about {overall:.0%}; a model that "
            "scores more must side with FER2013's label against the annotators on some faces, so part of what it "
            "learned is FER2013's labelling habits rather than the emotion people see.")


def _duration(seconds: float) -> str:
    """"45 seconds", "17 minutes"."""
    return f"{seconds:.0f} seconds" if seconds < 90 else f"{seconds / 60:.0f} minutes"


def gap_verdict(seeds, goal: tuple[float, float], best_from_scratch: float, profile: str) -> str:
    """What page 8's seeds table says about the chapter's goal (`goal`: minutes, accuracy)
    and about the best network trained from scratch (`best_from_scratch`)."""
    if seeds is None or len(seeds) == 0:
        return "No fast-recipe training has finished yet; the long run (`benchmarks/fast_recipe.py`) trains them."
    sentences = [too_small(profile)] if profile != "full" else []
    minutes, target = goal
    for _, row in seeds.iterrows():
        spread = "" if row["private_test_sd"] != row["private_test_sd"] else f" ± {row['private_test_sd']:.1%}"
        n = len(row["seeds"])
        sentences.append(
            f"The recipe \"{row['recipe']}\" scores {row['private_test']:.1%}{spread} on PrivateTest "
            f"({'mean over ' + str(n) + ' seeds' if n > 1 else 'one seed'}; 95% interval {row['private_test_low']:.1%} "
            f"to {row['private_test_high']:.1%}), {row['private_test_tta']:.1%} with flip averaging, after "
            f"{_duration(row['train_seconds'])} of training.")
    recipe = seeds.iloc[0]  # the final recipe: the table's first row
    within = recipe["train_seconds"] <= minutes * 60
    low, high = recipe["private_test_low"], recipe["private_test_high"]
    sentences.append(f"The goal has two parts, {target:.0%} on PrivateTest and at most {minutes:.0f} minutes of "
                     f"training. \"{recipe['recipe']}\" trains in {_duration(recipe['train_seconds'])}, "
                     + ("within the time." if within else f"{_duration(recipe['train_seconds'] - minutes * 60)} "
                        "over it."))
    median = recipe.get("median_epoch_seconds", float("nan"))
    if median == median and recipe["train_seconds"] > 1.05 * median * recipe["epochs"]:
        sentences.append(f"That wall clock counts epochs that shared the CPU with other work; at its median epoch, "
                         f"{median:.1f} s, the {recipe['epochs']} epochs take {_duration(median * recipe['epochs'])}.")
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
    best = seeds["private_test"].max()
    sentences.append(f"The best of them stands {_points(best_from_scratch, best):.1f} percentage points below "
                     f"{best_from_scratch:.1%}, the best published network trained on FER2013 alone (measured "
                     "under another protocol).")
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


#: What a part of page 9's verdict says when the run has not trained what it needs.
NOT_MEASURED = "This run has not trained the contenders this comparison needs."


def _chance(test) -> str:
    return f"exact McNemar p = {test.p_value:.2g}, {'beyond' if test.p_value < 0.05 else 'within'} chance"


@dataclass
class QuestionVerdict:
    """Page 9's verdict in parts, so that the conclusion can quote each claim's test where it
    discusses that claim: `gap` (best transformer against best CNN, and the goal), `training`
    (the report's ViT under the fast recipe), `locality` (SPT/LSA, CCT, hybrid) and `patches`.
    `preface` says what limits the run (its profile, networks over the budget). A part is ""
    where the run lacks the contenders it needs."""

    preface: str = ""
    gap: str = ""
    training: str = ""
    locality: str = ""
    patches: str = ""

    @property
    def text(self) -> str:
        parts = [self.preface, self.gap, self.training, self.locality, self.patches]
        text = " ".join(part for part in parts if part)
        return text or "No contender has finished training yet; the long run (`benchmarks/vit_question.py`) trains them."

    def glue_values(self) -> dict[str, str]:
        """``verdict_vit_question`` (the whole) and ``vit_question_<part>`` for each part."""
        values = {"verdict_vit_question": self.text}
        for part in ("gap", "training", "locality", "patches"):
            values[f"vit_question_{part}"] = " ".join(s for s in (self.preface, getattr(self, part)) if s) \
                if getattr(self, part) else NOT_MEASURED
        return values


def _gap_sentences(summary, test, goal_points: float) -> str:
    cnns, transformers = summary[summary["family"] == "cnn"], summary[summary["family"] == "transformer"]
    if not (len(cnns) and len(transformers)):
        return ""
    cnn, transformer = cnns.loc[cnns["PublicTest"].idxmax()], transformers.loc[transformers["PublicTest"].idxmax()]
    gap = _points(cnn["PrivateTest"], transformer["PrivateTest"])
    where = f" on {cnn['machine']}" if "machine" in summary else ""
    budget = f" ({_budget(cnn['budget minutes'])} of training each{where})" if "budget minutes" in summary else ""
    sentences = [f"At the same training budget{budget} the best transformer on PublicTest, {transformer['contender']}, scores "
                 f"{transformer['PrivateTest']:.1%} on PrivateTest and the best CNN, {cnn['contender']}, "
                 f"{cnn['PrivateTest']:.1%}: the transformer stands {abs(gap):.1f} points "
                 f"{'below' if gap > 0 else 'above'} the CNN."]
    if test is not None:
        sentences.append(f"Face by face (the first seed of the two chosen on PublicTest), {test.only_first} faces only "
                         f"the CNN gets right and {test.only_second} only the transformer; {_chance(test)}.")
    sentences.append(f"The chapter's goal, a transformer within {goal_points:.0f} points of the best CNN, is "
                     f"{'met' if gap <= goal_points else 'not met'}.")
    if gap > goal_points and "epochs" in summary:
        sentences.append(_epochs_reason(int(cnn["epochs"]), int(transformer["epochs"])))
    return " ".join(sentences)


def _epochs_reason(cnn_epochs: int, transformer_epochs: int) -> str:
    """Whether the budget's epochs explain a CNN's lead: not where the transformer had as many."""
    if transformer_epochs >= cnn_epochs:
        both = f"Both trained {cnn_epochs} epochs" if transformer_epochs == cnn_epochs else (
            f"The transformer trained {transformer_epochs} epochs and the CNN {cnn_epochs}")
        return (f"{both}, so the gap is not the budget buying the CNN more passes over the faces: the CNN learns "
                "more from each pass.")
    return (f"The budget bought the CNN {cnn_epochs} epochs and the transformer {transformer_epochs}, so part of "
            "the gap is the transformer's cost per face.")


def _epochs(rows, name: str) -> str:
    """"3 epochs; " where the summary counts them: what the budget bought that network."""
    if "epochs" not in rows:
        return ""
    n = int(rows.loc[name, "epochs"])
    return f"{n} epoch{'s' if n != 1 else ''}; "


def _score_and_epochs(rows, name: str) -> str:
    """"24.9%, 3 epochs" (the epochs where the summary counts them): a reference's figures."""
    return f"{rows.loc[name, 'PrivateTest']:.1%}" + (f", {_epochs(rows, name)[:-2]}" if "epochs" in rows else "")


def _against_plain(rows, tests: dict, label, reference: str = "vit-fast") -> list[str]:
    plain = rows.loc[reference, "PrivateTest"]
    return [f"{label(name)} {_points(rows.loc[name, 'PrivateTest'], plain):+.1f} points ({_epochs(rows, name)}{_chance(t)})"
            for name, t in tests.items() if name in rows.index]


def _no_better_than_majority(rows, name: str, majority: float | None) -> bool:
    """Whether contender `name`'s 95% interval holds the majority-class accuracy."""
    if majority is None or "interval low" not in rows:
        return False
    return bool(rows.loc[name, "interval low"] <= majority <= rows.loc[name, "interval high"])


def _locality_sentences(rows, tests, majority: float | None) -> str:
    """Each locality contender against the plain ViT with the same recipe and, since that one
    may have learned next to nothing in the budget, against the report's ViT as the report trained it."""
    label = lambda name: rows.loc[name, "contender"]  # noqa: E731
    parts = _against_plain(rows, getattr(tests, "locality", None) or {}, label)
    if not parts:
        return ""
    text = (f"Given locality back, against the plain ViT with the same recipe ({_score_and_epochs(rows, 'vit-fast')}): "
            + "; ".join(parts) + ".")
    if _no_better_than_majority(rows, "vit-fast", majority):
        text += (f" That plain ViT is no better than always answering the most common emotion ({majority:.1%} "
                 "lies in its interval): these gains measure what the recipe could not teach it without locality "
                 "in this budget, not a better transformer than the report's.")
    against_report = _against_plain(rows, getattr(tests, "locality_against_report", None) or {}, label, "report-vit")
    if against_report and "report-vit" in rows.index:
        text += (f" Against the report's ViT trained the report's way ({_score_and_epochs(rows, 'report-vit')}): "
                 + "; ".join(against_report) + ".")
    return text


def _budget(minutes: float) -> str:
    """A budget as the book writes a time: "15 min", or "30 s" for a smoke run's."""
    from ..display import duration

    return duration(60 * float(minutes))


def _over_budget_sentence(over) -> str:
    """Which contenders were measured and not trained, with the minutes one epoch would take."""
    if over is None or len(over) == 0:
        return ""
    first = over.iloc[0]
    costs = [f"{name} would take {minutes:.0f} minutes" if i == 0 else f"one of {name} {minutes:.0f}"
             for i, (name, minutes) in enumerate(zip(over["name"], over["minutes per epoch"]))]
    listed = costs[0] if len(costs) == 1 else ", ".join(costs[:-1]) + " and " + costs[-1]
    one = len(over) == 1
    return (f"On {first['machine']}, one epoch of {listed}, longer than the budget of "
            f"{_budget(first['budget minutes'])}, so {'it is' if one else 'they are'} measured, not trained, and "
            f"{'stays' if one else 'stay'} out of this comparison.")


def vit_question_verdict(summary, tests=None, profile: str = "full", goal_points: float = 2.0,
                         over=None, majority: float | None = None) -> QuestionVerdict:
    """What page 9's contenders say about the report's explanation: whether a transformer comes
    within `goal_points` of the best CNN at the same budget, what the fast recipe's training
    alone changes for the report's ViT, what giving it locality back changes, and what other
    patch sizes change, each difference with its paired test from `tests`
    (``vit_question.paired_tests``; None: no tests). `summary` is ``vit_question.summary_table``'s;
    `over` is ``vit_question.over_budget``'s (the contenders measured and not trained);
    `majority` the accuracy of always answering the most common training emotion."""
    if summary is None or len(summary) == 0:
        return QuestionVerdict()
    verdict = QuestionVerdict(preface=" ".join(s for s in (too_small(profile), _over_budget_sentence(over)) if s))
    verdict.gap = _gap_sentences(summary, getattr(tests, "cnn_against_transformer", None), goal_points)
    rows = summary.set_index("name")
    if {"report-vit", "vit-fast"} <= set(rows.index):
        before, after = rows.loc["report-vit", "PrivateTest"], rows.loc["vit-fast", "PrivateTest"]
        change = _points(after, before)
        moves = f"gains {change:.1f} points" if change > 0 else f"loses {-change:.1f} points" if change < 0 else \
            "keeps its accuracy"
        verdict.training = (f"Trained with the fast recipe instead of the report's, the same ViT {moves} "
                            f"({before:.1%} to {after:.1%}")
        test = getattr(tests, "training", None)
        verdict.training += f"; {_chance(test)})." if test is not None else ")."
        if "epochs" in rows:  # the fast recipe's augmentation makes each epoch dearer
            verdict.training += (f" The budget bought the report's training {int(rows.loc['report-vit', 'epochs'])} "
                                 f"epochs and the fast recipe's {int(rows.loc['vit-fast', 'epochs'])}.")
        if _no_better_than_majority(rows, "vit-fast", majority):
            verdict.training += (f" With the fast recipe it is no better than always answering the most common "
                                 f"emotion ({majority:.1%} lies in its interval).")
    if "vit-fast" in rows.index:
        verdict.locality = _locality_sentences(rows, tests, majority)
        size = {name: name.removeprefix("vit-patch") for name in rows.index if name.startswith("vit-patch")}
        parts = _against_plain(rows, getattr(tests, "patches", None) or {}, lambda name: f"{size[name]} x {size[name]}")
        if parts:
            verdict.patches = (f"Against 4 x 4 patches with the same recipe and budget ({_score_and_epochs(rows, 'vit-fast')}): "
                               + "; ".join(parts) + ".")
    return verdict
