"""The verdicts of pages 6 and 7: what the features show, and what the report's future work
changed (class weights, test-time views, FER+)."""

from __future__ import annotations

from ._shared import p_text, points


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


def dispute_verdict(row) -> str:
    """What share of one model's hard samples FER+ disputes, against the rest of the training
    faces (a row of :func:`~ferlib.recipes.beyond.hard_sample_disputes`)."""
    share, rest, p = row["hard, disputed"], row["others, disputed"], row["Fisher p"]
    start = (f"Of the {row['model']}'s {row['hard samples']:,} hard samples with a FER+ label, {share:.0%} carry a "
             f"FER2013 label that the FER+ majority disputes, against {rest:.0%} of the other training faces")
    if p != p:  # NaN: one group is empty
        return start + "."
    if p < 0.05:
        return (start + f" (Fisher's exact test, {p_text(p)}): the hard samples are richer in disputed labels, so "
                "part of what phase 2 fine-tunes on is label noise rather than hard faces.")
    return start + f" (Fisher's exact test, {p_text(p)}): no richer in disputed labels than the rest."


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
            verdict = "Neither change is beyond chance, so this run cannot tell whether weighting helps."
    return (f"With balanced weights the CNN recalls {weighted['Disgust recall']:.0%} of the disgusted test faces, "
            f"against {plain['Disgust recall']:.0%} with the plain loss, after {epochs} epoch{'s' if epochs != 1 else ''} of fine-tuning. "
            f"Macro-F1, which weighs every emotion equally, {trend} from {plain['macro-F1']:.3f} to "
            f"{weighted['macro-F1']:.3f}, and overall accuracy goes from {plain['accuracy']:.1%} to "
            f"{weighted['accuracy']:.1%}.{facts} {verdict}")


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
                   f"({points(r['flip + shifts'], r['plain']):+.1f} points, "
                   f"McNemar p = {r['p']:.2g})"
                   for _, r in rows.iterrows()]
        clauses.append(f"the {model} goes " + " and ".join(changes))
    gains = (scores["flip + shifts"] - scores["plain"]).to_numpy()
    real = (scores["p"] < level).to_numpy()
    if (real & (gains > 0)).all():
        verdict = "It helps every model on every test set beyond chance, for ten times the prediction cost."
    elif (real & (gains > 0)).any():
        verdict = ("It helps beyond chance in some cases only; the other changes are not beyond chance, so this run "
                   "gives no general answer.")
    elif (real & (gains < 0)).any():
        verdict = "Where a change is beyond chance it is a loss: averaging does not help in this run."
    else:
        verdict = "No change is beyond chance: this run shows no effect of averaging."
    return "With ten views averaged, " + "; ".join(clauses) + ". " + verdict


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
