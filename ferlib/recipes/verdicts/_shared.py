"""What every page's verdicts share: the thresholds that decide a claim, and how a
sentence writes a difference or a list."""

from __future__ import annotations

#: A train-test gap above this many points is called overfitting.
OVERFIT_GAP = 0.10
#: A model this close to always answering the most common emotion has not learned much.
LEARNED_MARGIN = 0.05
#: A tuning configuration "learns" in its few epochs when its validation accuracy beats the
#: majority class by this much (a softer bar than LEARNED_MARGIN: it trains a few epochs only).
TUNING_MARGIN = 0.02
#: A paired test's p-value below this puts a difference beyond chance.
LEVEL = 0.05


def points(a: float, b: float) -> float:
    """`a` - `b` in percentage points, as the two read when printed to 0.1%: a sentence that
    shows 63.0% and 38.3% says 24.7 points, even where the unrounded gap is 24.75."""
    return round(100 * a, 1) - round(100 * b, 1) + 0.0  # + 0.0: no "-0.0"


def too_small(profile: str) -> str:
    """What a run smaller than the report's can and cannot show ("" for the full profile)."""
    if profile == "full":
        return ""
    return (f"This is a {profile} run, smaller than the report's (fewer images, fewer epochs): its numbers show "
            "that the pipeline works, not how well either model can do.")


def listed(numbers) -> str:
    """1, 2 and 3."""
    words = [str(n) for n in numbers]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def p_text(p_value: float) -> str:
    """How a sentence writes a p-value: "p = 0.03", or "p < 0.001" where more digits say nothing."""
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.2g}"
