"""The verdicts of the reproduction's pages (1 to 5): the data's release, how each model
fits, the readings and the precision, the tuning, phase 2, and the comparison with the
report's Table 1."""

from __future__ import annotations

from ._shared import LEARNED_MARGIN, LEVEL, OVERFIT_GAP, TUNING_MARGIN, listed, p_text, points, too_small


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


def fit_verdict(model: str, train_acc: float, test_acc: float, baseline: float) -> str:
    """Does the model overfit, fit, or barely learn? From its train and test accuracy."""
    gap = points(train_acc, test_acc)
    if test_acc < baseline + LEARNED_MARGIN and train_acc < baseline + LEARNED_MARGIN:
        return (f"The {model} is still close to always answering the most common emotion ({baseline:.1%}): "
                f"{train_acc:.1%} on its training images and {test_acc:.1%} on the test images. It has not trained "
                "long enough to fit or to overfit.")
    if gap > 100 * OVERFIT_GAP:
        return (f"The {model} fits its training images far better than new ones ({train_acc:.1%} against "
                f"{test_acc:.1%}): a gap of {gap:.1f} points, the overfitting that phase 2 sets out to reduce.")
    return (f"The {model}'s training and test accuracy are {abs(gap):.1f} points apart ({train_acc:.1%} and "
            f"{test_acc:.1%}): it does not overfit; if anything it has not fitted its training images yet.")


def _face_by_face(test, first: str, second: str) -> str:
    """The discordant faces of a paired test and its p-value, as a clause."""
    if test.only_first + test.only_second == 0:
        # No face separates them, so the exact McNemar test has nothing to weigh: p = 1.
        return (f"{first} and {second} are right on exactly the same test faces, so the exact McNemar test "
                f"finds no difference ({p_text(test.p_value)})")
    return (f"{test.only_first:,} test faces only {first} gets right and {test.only_second:,} only {second}, "
            f"exact McNemar test {p_text(test.p_value)}")


def ranking_verdict(cnn_test: float, vit_test: float, test=None) -> str:
    """Which model wins on the test images, and by how much; with `test` (the
    :class:`~ferlib.evaluate.PairedTest` of the CNN against the ViT on the same faces), a
    difference the test cannot tell from chance is not called a win, whatever its size."""
    from ..report import REPORT_TABLE1

    gap = points(cnn_test, vit_test)
    report_gap = points(REPORT_TABLE1["cnn"]["phase2 test accuracy"], REPORT_TABLE1["vit"]["phase2 test accuracy"])
    if test is None and abs(gap) < 1:
        return (f"The two models end level on the test images ({cnn_test:.1%} and {vit_test:.1%}), unlike in the "
                f"report, where the CNN won by {report_gap:.0f} points.")
    if test is not None and test.p_value >= LEVEL:
        return (f"On the test images the CNN scores {cnn_test:.1%} and the ViT {vit_test:.1%}, a difference of "
                f"{abs(gap):.1f} points that is not beyond chance ({_face_by_face(test, 'the CNN', 'the ViT')}): "
                f"this run does not rank them, where the report's CNN won by {report_gap:.0f} points.")
    leader, other = ("CNN", "ViT") if gap > 0 else ("ViT", "CNN")
    agreement = "as in the report" if gap > 0 else "the opposite of the report's finding"
    tested = "" if test is None else f"; {_face_by_face(test, 'the CNN', 'the ViT')}, beyond chance"
    return (f"The {leader} beats the {other} on the test images by {abs(gap):.1f} points "
            f"({max(cnn_test, vit_test):.1%} against {min(cnn_test, vit_test):.1%}{tested}), {agreement}.")


def phase2_verdict(model: str, p1_train: float, p1_test: float, p2_train: float, p2_test: float,
                   test=None) -> str:
    """What phase 2 did to the model's test accuracy and to its training accuracy as measured
    after training (the report: test up ~2 points, training down). With `test` (the paired
    test of phase 2 against phase 1 on the same test faces), a test change that is not beyond
    chance is not read as a rise or a fall."""
    test_change, train_change = points(p2_test, p1_test), points(p2_train, p1_train)
    moved = abs(test_change) > 0.5 if test is None else test.p_value < LEVEL
    if test is not None and not moved:
        test_words = f"changes test accuracy by {test_change:+.1f} points, not beyond chance"
    else:
        test_words = (f"raises test accuracy by {test_change:.1f} points" if moved and test_change > 0 else
                      f"lowers test accuracy by {-test_change:.1f} points" if moved and test_change < 0 else
                      "leaves test accuracy where it was")
    tested = "" if test is None else f"; {_face_by_face(test, 'phase 2', 'phase 1')}"
    train_words = ("while its training accuracy, measured after training, falls" if train_change < -0.5 else
                   "and its training accuracy, measured after training, rises too" if train_change > 0.5 else
                   "with its training accuracy, measured after training, unchanged")
    as_report = moved and test_change > 0 and train_change < -0.5
    if as_report and test is None:
        pattern = "the direction the report saw, though this run did not test the change face by face."
    else:
        pattern = ("the pattern the report saw." if as_report else
                   "not the pattern the report saw (test up, training down).")
    return (f"For the {model}, phase 2 {test_words} ({p1_test:.1%} to {p2_test:.1%}{tested}), {train_words} "
            f"({p1_train:.1%} to {p2_train:.1%}): " + pattern)


def hard_sample_verdict(model: str, scores: dict, n_hard: int, n_train: int, tests: dict | None = None) -> str:
    """What each phase-2 step did to the model's test accuracy; `scores` is
    :attr:`~ferlib.recipes.phase2.Phase2Result.scores` (step -> part -> accuracy/loss) and
    `tests`, where given, :attr:`~ferlib.recipes.phase2.Phase2Result.tests`: then a change the
    paired test against phase 1 cannot tell from chance is called none."""
    before, hard, after = (scores[step]["test"]["accuracy"] for step in
                           ("phase 1", "after hard samples", "after augmentation"))
    tests = tests or {}
    step1 = (f"Trained on its {n_hard:,} hard samples alone ({n_hard / n_train:.0%} of its training images), the "
             f"{model} goes from {before:.1%} to {hard:.1%} on the test images")
    if (first := tests.get("after hard samples")) is not None and first.p_value >= LEVEL:
        step1 += f", a change not beyond chance (paired test against phase 1, {p_text(first.p_value)})"
    elif hard < before - 0.05:
        step1 += ": it forgets much of what phase 1 taught it"
    step2 = f"; the augmentation round on the whole training set then takes it to {after:.1%}"
    change = points(after, before)
    final = tests.get("phase 2")
    moved = abs(change) > 0.5 if final is None else final.p_value < LEVEL
    tested = "" if final is None else f" (paired test against phase 1, {p_text(final.p_value)})"
    if moved and change > 0:
        step2 += f", {change:.1f} points above phase 1{tested}."
    elif moved and change < 0:
        step2 += f", {-change:.1f} points below phase 1{tested}."
    elif final is not None and change:
        side = "above" if change > 0 else "below"
        step2 += f", {abs(change):.1f} points {side} phase 1, a difference not beyond chance{tested}."
    else:  # no change, or a small one without a paired test to weigh it ("tested" is empty then)
        step2 += f", where phase 1 ended{tested}."
    return step1 + step2


def schedule_verdict(model: str, history) -> str:
    """When the learning rate fell in a phase-1 training (its history), beside the report's."""
    from ...train import learning_rate_drops
    from ..report import REPORT_SCHEDULES

    drops = learning_rate_drops(history)
    times = {1: "once", 2: "twice"}.get(len(drops), f"{len(drops)} times")
    ours = ("never lowered" if not drops else
            f"lowered {times}, at the start of epoch{'s' if len(drops) > 1 else ''} {listed(drops)} (the training "
            f"ran {len(history)} epochs), to {history['learning_rate'].iloc[-1]:.6f} in the end")
    return (f"On plateaus of the validation loss the {model}'s learning rate was {ours}; in the report it "
            f"was lowered {REPORT_SCHEDULES[model.lower()]}.")


def tuning_learned(val_accuracies: dict[str, float], majority: float) -> dict[str, bool]:
    """Which tuning configurations learned: validation accuracy above the majority class by
    :data:`TUNING_MARGIN`."""
    return {name: accuracy > majority + TUNING_MARGIN for name, accuracy in val_accuracies.items()}


def _report_tuning_sentence() -> str:
    """What the report's tuning story saw, from :data:`~ferlib.recipes.report.REPORT_TUNING_LEARNED`:
    "The report saw the 128- and 64-dimensional configurations stagnate and the 32- and
    16-dimensional ones learn." """
    from ..report import REPORT_TUNING_LEARNED

    def sizes(learned: bool) -> str:
        dims = sorted({int(label.rsplit("dim ", 1)[1]) for label, ok in REPORT_TUNING_LEARNED.items() if ok == learned},
                      reverse=True)
        return listed([f"{d}-" for d in dims])

    return (f"The report saw the {sizes(False)}dimensional configurations stagnate and the {sizes(True)}dimensional "
            "ones learn.")


def tuning_verdict(val_accuracies: dict[str, float], epochs: int, majority: float) -> str:
    """Which ViT configurations learned (:func:`tuning_learned`; `val_accuracies` by
    ``ViTConfig.label``), against the report's story (:data:`~ferlib.recipes.report.REPORT_TUNING_LEARNED`)."""
    from ..report import REPORT_TUNING_LEARNED

    learned = tuning_learned(val_accuracies, majority)
    which = "; ".join(n for n, ok in learned.items() if ok)
    same = all(learned.get(name) == ok for name, ok in REPORT_TUNING_LEARNED.items())
    count = sum(learned.values())
    beat = (f"beat always answering the most common emotion ({majority:.1%}) on the validation images by "
            f"{100 * TUNING_MARGIN:.0f} points or more")
    opening = (f"none of the {len(learned)} configurations {beat.replace('beat ', 'beats ', 1)}" if not count else
               f"{count} of the {len(learned)} configurations {beat} ({which})")
    return (f"After {epochs} epoch{'s' if epochs != 1 else ''}, {opening}. {_report_tuning_sentence()} "
            + ("This run shows the same split." if same else
               "This run does not show that split at this budget; read the table as what a few epochs show, "
               "not as the report's finding."))


def reading_verdict(readings, baseline: float | None = None) -> str:
    """Which reading phase 1 trains and why (a ``Readings``): the leader from the run's seed,
    and, where it is not the as-built network, whether its lead survives the other seeds.
    With `baseline`, the accuracy of always answering the training part's most common emotion
    (what the training accuracies compare with), whether any reading has learned at all."""
    table = readings.table.set_index("reading")
    as_built = table.index[0]
    leader, first = table.loc[readings.leader], table.iloc[0]
    epochs = int(leader["epochs"])
    after = f"After {epochs} epoch{'s' if epochs > 1 else ''}"
    if baseline is not None and table["log_train_accuracy"].max() < baseline + LEARNED_MARGIN:
        return (f"{after} no reading beats always answering the most common training emotion ({baseline:.1%}) by "
                f"{100 * LEARNED_MARGIN:.0f} points or more (best: **{readings.leader}**, "
                f"{leader['log_train_accuracy']:.1%}): at this budget the readings cannot be told apart, so phase 1 "
                "trains the as-built network.")
    if readings.leader == as_built:
        return (f"{after} the as-built network, **{as_built}**, fits its training images best "
                f"({leader['log_train_accuracy']:.1%} training accuracy), so phase 1 trains it.")
    lead = (f"{after} the **{readings.leader}** reading fits its training images best ({leader['log_train_accuracy']:.1%} "
            f"training accuracy, against {first['log_train_accuracy']:.1%} for the {as_built} network)")
    if readings.p_value is None:
        return (lead + ". One seed cannot tell a lead of this size from the noise between seeds, so phase 1 trains "
                "the as-built network; the `cpu` and `full` profiles train both from more seeds to decide.")
    spread = readings.seeds.groupby("reading")["log_train_accuracy"].agg(["mean", "std", "count"])
    n = int(spread["count"].min())
    means = (f"over {n} seeds it averages {spread.loc[readings.leader, 'mean']:.1%} "
             f"(± {spread.loc[readings.leader, 'std']:.1%}) against {spread.loc[as_built, 'mean']:.1%} "
             f"(± {spread.loc[as_built, 'std']:.1%}), one-sided Welch test {p_text(readings.p_value)}")
    if readings.chosen == as_built:
        return (lead + f"; {means}. That is not beyond the noise between seeds, so phase 1 trains the as-built "
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


def comparison_verdicts(results: dict, baseline: float, profile: str, tests: dict | None = None) -> dict[str, str]:
    """The comparison's interpreting sentences, by the names the conclusion glues.

    `results` is ``Comparison.results`` (model -> phase -> part -> accuracy/loss), `baseline`
    the majority-class accuracy on the test images, `profile` the run's profile, and `tests`
    :meth:`~ferlib.recipes.comparison.ComparisonTests.by_name` (the paired tests on the same
    faces; where given, the ranking and phase 2 are read through them).
    """
    acc = {(m, p, part): results[m][p][part]["accuracy"] for m in results for p in results[m] for part in results[m][p]}
    from ...models import display_name

    tests = tests or {}
    verdicts = {"verdict_caveat": too_small(profile) or "This is a full run, at the report's scale.",
                "verdict_ranking": ranking_verdict(acc["cnn", "phase2", "test"], acc["vit", "phase2", "test"],
                                                   tests.get("CNN phase 2 vs ViT phase 2"))}
    for model in results:
        name = display_name(model)
        verdicts[f"verdict_{model}_fit"] = fit_verdict(name, acc[model, "phase1", "train"], acc[model, "phase1", "test"],
                                                       baseline)
        verdicts[f"verdict_{model}_phase2"] = phase2_verdict(
            name, acc[model, "phase1", "train"], acc[model, "phase1", "test"],
            acc[model, "phase2", "train"], acc[model, "phase2", "test"], tests.get(f"{name} phase 2 vs {name} phase 1"))
    return verdicts


#: A difference from the report's number larger than this (3 points) asks for a reason.
FLAG = 0.03


def difference_verdict(model: str, phase: str, ours: dict, report: dict, log: dict | None,
                       report_log: dict) -> str:
    """Where one model's phase differs from the report by more than :data:`FLAG`, like with
    like: training and validation accuracy from the last epoch of each training log (the
    report's kind), test accuracy as measured. `ours` and `report` map ``train``/``val``/
    ``test`` to accuracy (``ours`` measured after training: the train and val of `log`
    replace it where there is one); `log` and `report_log` are each training's last epoch as
    its log tells it (``epochs``, ``best_epoch``, ``accuracy``, ``val_accuracy``;
    :data:`~ferlib.recipes.report.REPORT_TRAININGS` for the report)."""
    label = f"{model}, {'phase 1' if phase == 'phase1' else 'phase 2'}"
    words = {"train": "training", "val": "validation", "test": "test"}
    kind = {"train": "", "val": "", "test": ""}
    if log is not None:
        ours = {**ours, "train": log["accuracy"], "val": log["val_accuracy"]}
        kind = {"train": " (last epoch's log)", "val": " (last epoch's log)", "test": ""}
    flagged = [part for part in ("train", "val", "test") if abs(points(ours[part], report[part])) > 100 * FLAG]
    if not flagged:
        sentences = [f"{label}: training, validation and test accuracy are all within three points of the report's."]
    else:
        differences = ", ".join(f"{words[p]} {ours[p]:.1%}{kind[p]} against {report[p]:.2%}" for p in flagged)
        sentences = [f"{label}: {differences}."]
    if log is not None:
        sentences.append(f"It trained {log['epochs']} epochs (best {log['best_epoch']}), the report's "
                         f"{report_log['epochs']}.")
    return " ".join(sentences)


def difference_verdicts(results: dict, logs: dict) -> dict[str, str]:
    """:func:`difference_verdict` for both models and phases, by the names the conclusion
    glues (``difference_cnn_phase1`` ...); `results` as in :func:`comparison_verdicts`, `logs`
    as ``Comparison.logs``."""
    from ..report import REPORT_TABLE1, REPORT_TRAININGS

    from ...models import display_name

    verdicts = {}
    for model in REPORT_TABLE1:  # the report's two networks: only they have its numbers
        name = display_name(model)
        for phase, stage in (("phase1", "phase1"), ("phase2", "augmentation")):
            ours = {part: results[model][phase][part]["accuracy"] for part in ("train", "val", "test")}
            report = {part: REPORT_TABLE1[model][f"{phase} {part} accuracy"] for part in ("train", "val", "test")}
            verdicts[f"difference_{model}_{phase}"] = difference_verdict(
                name, phase, ours, report, logs.get(f"{model} {stage}"), REPORT_TRAININGS[f"{model} {stage}"])
    return verdicts


def fit_story(results: dict, logs: dict) -> str:
    """What the phase-1 training logs and test accuracies say together, against the report's:
    whether the report's networks fitted their training images more tightly than this run's
    (last epoch's log against last epoch's log) and whether that bought them anything on the
    test images (within :data:`FLAG` or not). `results` and `logs` as in :func:`difference_verdicts`."""
    from ...models import display_name
    from ..report import REPORT_TABLE1, REPORT_TRAININGS

    fits, tests = {}, {}
    for model in REPORT_TABLE1:
        log = logs.get(f"{model} phase1")
        if log is None:
            return "This run has no phase-1 training log to set beside the report's."
        fits[model] = (log["accuracy"], REPORT_TRAININGS[f"{model} phase1"]["accuracy"])
        tests[model] = (results[model]["phase1"]["test"]["accuracy"], REPORT_TABLE1[model]["phase1 test accuracy"])
    def against(pairs: dict) -> str:  # "CNN: the report's 98.32%, ours 87.8%; ViT ..."
        return "; ".join(f"{display_name(m)}: the report's {theirs:.2%}, ours {ours:.1%}"
                         for m, (ours, theirs) in pairs.items())

    logged, tested = against(fits), against(tests)
    looser = all(points(ours, theirs) < -100 * FLAG for ours, theirs in fits.values())
    tighter = all(points(ours, theirs) > 100 * FLAG for ours, theirs in fits.values())
    level = all(abs(points(ours, theirs)) <= 100 * FLAG for ours, theirs in tests.values())
    if looser and level:
        return (f"Read together, the numbers tell one story: the report's networks fitted their training images "
                f"much more tightly than this run's (the last epoch's training accuracy in each log: {logged}), "
                f"and it bought them little on new faces (test accuracy after phase 1: {tested}, within three "
                "points each).")
    if looser or tighter:
        return (f"In their own training logs the report's networks fitted their training images "
                f"{'more' if looser else 'less'} tightly than this run's ({logged}), and their test accuracies "
                f"after phase 1 differ by more than three points too ({tested}).")
    return (f"The training logs show no common difference between the report's networks and this run's "
            f"(the last epoch's training accuracy: {logged}; test accuracy after phase 1: {tested}).")
