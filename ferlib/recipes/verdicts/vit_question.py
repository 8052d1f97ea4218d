"""The verdict of page 9, "Why the ViT loses, tested", in parts the conclusion quotes one
by one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...display import duration
from ._shared import listed, p_text, points, too_small


#: What a part of page 9's verdict says when the run has not trained what it needs.
NOT_MEASURED = "This run has not trained the contenders this comparison needs."


def _chance(test, level: float = 0.05) -> str:
    """"exact McNemar p = 0.0044, beyond chance"; for a test per seed (a ``SeedTests``), each
    seed's p-value (as ``p_text`` writes it), and "beyond chance" only where every seed's test puts the difference there."""
    tests = getattr(test, "tests", (test,))
    if len(tests) == 1:
        return f"exact McNemar {p_text(tests[0].p_value)}, {'beyond' if tests[0].p_value < level else 'not beyond'} chance"
    beyond = [seed for seed, t in zip(test.seeds, tests) if t.p_value < level]
    where = ("beyond chance in every seed" if len(beyond) == len(tests) else
             "not beyond chance in any seed" if not beyond else
             f"beyond chance in seed{'s' if len(beyond) > 1 else ''} {listed(beyond)} only")
    # one p_text for all seeds where each is below its floor: "p < 0.001 and < 0.001" says nothing more
    values = (p_text(max(t.p_value for t in tests)) if all(t.p_value < 0.001 for t in tests) else
              "p = " + listed([p_text(t.p_value).removeprefix("p = ").removeprefix("p ") for t in tests]))
    return f"exact McNemar {values} in seeds {listed(test.seeds)}, {where}"


@dataclass
class QuestionVerdict:
    """Page 9's verdict in parts, so that the conclusion can quote each claim's test where it
    discusses that claim: `gap` (best transformer against best CNN, and the goal), `training`
    (the report's ViT under the fast recipe), `locality` (SPT/LSA, CCT, hybrid) and `patches`.
    `caveat` says what limits every part (a run smaller than the full profile) and
    `over_budget` which patch sizes were measured and not trained (it qualifies the patches).
    A part is "" where the run lacks the contenders it needs."""

    caveat: str = ""
    over_budget: str = ""
    gap: str = ""
    training: str = ""
    locality: str = ""
    patches: str = ""

    def _paragraphs(self) -> list[str]:
        parts = [" ".join(s for s in (self.caveat, self.over_budget) if s), self.gap, self.training, self.locality,
                 self.patches]
        return [part for part in parts if part] or [
            "No contender has finished training yet; the long run (`benchmarks/vit_question.py`) trains them."]

    @property
    def text(self) -> str:
        return " ".join(self._paragraphs())

    @property
    def markdown(self) -> str:
        """:attr:`text` with a paragraph for each part, for the page."""
        return "\n\n".join(self._paragraphs())

    def glue_values(self) -> dict[str, str]:
        """``verdict_vit_question`` (the whole) and ``vit_question_<part>`` for each part, each with
        the caveat it needs, so that a chapter quoting one part quotes no other's."""
        values = {"verdict_vit_question": self.text}
        for part in ("gap", "training", "locality", "patches"):
            own = (self.caveat, self.over_budget if part == "patches" else "", getattr(self, part))
            values[f"vit_question_{part}"] = " ".join(s for s in own if s) if getattr(self, part) else NOT_MEASURED
        return values


def _gap_sentences(summary, test, goal_points: float) -> str:
    cnns, transformers = summary[summary["family"] == "cnn"], summary[summary["family"] == "transformer"]
    if not (len(cnns) and len(transformers)):
        return ""
    cnn, transformer = cnns.loc[cnns["PublicTest"].idxmax()], transformers.loc[transformers["PublicTest"].idxmax()]
    gap = points(cnn["PrivateTest"], transformer["PrivateTest"])
    # the budget is epochs, measured once per contender: name the machine that measured them
    machine = cnn.get("budget machine", cnn.get("machine"))
    # the machine's own brackets ("(2 cores)") would nest in the budget's: commas instead
    where = f" as timed on {machine}" if isinstance(machine, str) and machine else ""
    budget = (f", {_budget(cnn['budget minutes'])} of training converted to epochs{where},"
              if "budget minutes" in summary else "")
    sentences = [f"At the same training budget{budget} the best transformer on PublicTest, {transformer['contender']}, scores "
                 f"{transformer['PrivateTest']:.1%} on PrivateTest and the best CNN, {cnn['contender']}, "
                 f"{cnn['PrivateTest']:.1%}: the transformer stands {abs(gap):.1f} points "
                 f"{'below' if gap > 0 else 'above'} the CNN."]
    if test is not None:
        seed = f"seed {test.seeds[0]}" if hasattr(test, "seeds") else "the first seed"
        sentences.append(f"Face by face ({seed} of the two chosen on PublicTest), {test.only_first} faces only "
                         f"the CNN gets right and {test.only_second} only the transformer; {_chance(test)}.")
    sentences.append(f"Page 9's goal, a transformer within {goal_points:.0f} points of the best CNN, is "
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
    return [f"{label(name)} {points(rows.loc[name, 'PrivateTest'], plain):+.1f} points ({_epochs(rows, name)}{_chance(t)})"
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
    return duration(60 * float(minutes))


def _over_budget_sentence(over) -> str:
    """Which contenders were measured and not trained, with the minutes one epoch would take."""
    if over is None or len(over) == 0:
        return ""
    first = over.iloc[0]
    costs = [f"{name} would take {minutes:.0f} minutes" if i == 0 else f"one of {name} {minutes:.0f} minutes"
             for i, (name, minutes) in enumerate(zip(over["name"], over["minutes per epoch"]))]
    one = len(over) == 1
    return (f"On {first['machine']}, one epoch of {listed(costs)}, longer than the budget of "
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
    verdict = QuestionVerdict(caveat=too_small(profile), over_budget=_over_budget_sentence(over))
    verdict.gap = _gap_sentences(summary, getattr(tests, "cnn_against_transformer", None), goal_points)
    rows = summary.set_index("name")
    if {"report-vit", "vit-fast"} <= set(rows.index):
        before, after = rows.loc["report-vit", "PrivateTest"], rows.loc["vit-fast", "PrivateTest"]
        change = points(after, before)
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


def map_border_verdict(shares: dict, level: float = 0.05) -> str:
    """What the maps of page 9 show, from :func:`~ferlib.features.border_shares` of each model's
    maps: name -> (each face's share on the outer ring, an even map's share). Each model's
    shares are tested against the even map's with the Wilcoxon signed-rank test over the faces;
    only a difference beyond chance is put into words. (A single share per model, as
    :func:`~ferlib.features.border_share` gives, is described and not tested.)"""
    from scipy.stats import wilcoxon

    if not shares:
        return ""
    even = next(iter(shares.values()))[1]
    per_face = {name: np.atleast_1d(np.asarray(values, float)) for name, (values, _) in shares.items()}
    faces = min(len(values) for values in per_face.values())
    parts = "; ".join(f"{name}, {values.mean():.0%}" for name, values in per_face.items())
    where = f"Over {faces} PrivateTest faces, each" if faces > 1 else "On these faces, each"
    sentence = (f"{where} map puts this share of its weight on the image's outer ring, a band a sixth of the "
                f"side wide that covers {even:.0%} of the image and holds mostly hair, background and border "
                f"(an even map would put {even:.0%} there): {parts}.")
    if faces < 6:  # too few faces for the signed-rank test to reach any usual level
        return sentence + " These are too few faces to test the shares against an even map's."
    groups: dict[str, list[tuple[str, float]]] = {}  # each finding: the maps it holds for, with their p
    for name, values in per_face.items():
        p_value = float(wilcoxon(values - even).pvalue) if np.any(values != even) else 1.0
        finding = ("not told apart from an even map" if p_value >= level else
                   "more from the border" if values.mean() > even else "less from the border, more from the face")
        groups.setdefault(finding, []).append((name, p_value))
    findings = []
    for finding, members in groups.items():
        texts = [p_text(p) for _, p in members]
        ps = f"{texts[0]} each" if len(texts) > 1 and len(set(texts)) == 1 else ", ".join(texts)
        one = len(members) == 1
        subject = f"all {len(members)} maps" if not one and len(members) == len(per_face) else \
            listed([name for name, _ in members])
        verb = ("is" if one else "are") if finding.startswith("not") else ("draws" if one else "draw")
        findings.append(f"{subject} {verb} {finding} ({ps})")
    text = "; ".join(findings)
    return sentence + f" Against an even map (a Wilcoxon signed-rank test over the faces), {text}."
