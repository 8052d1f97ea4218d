"""The interpreting sentences follow the numbers: a run too small to overfit never reads
"overfitting", and a full run that overfits does."""

import pytest

from ferlib.recipes.verdicts import (
    attention_verdict,
    class_weight_verdict,
    cluster_verdict,
    comparison_verdicts,
    difference_verdicts,
    ferplus_verdict,
    fit_verdict,
    hard_sample_verdict,
    phase2_verdict,
    precision_verdict,
    reading_verdict,
    release_of,
    release_sentence,
    ranking_verdict,
    too_small,
    tuning_learned,
    tuning_verdict,
)

# Numbers like the published cpu run's (too small to train) and like the report's.
SMALL = {"cnn": {"phase1": {"train": 0.3235, "val": 0.3135, "test": 0.3273},
                 "phase2": {"train": 0.3367, "val": 0.3324, "test": 0.3349}},
         "vit": {"phase1": {"train": 0.2754, "val": 0.2772, "test": 0.2658},
                 "phase2": {"train": 0.2890, "val": 0.2859, "test": 0.2792}}}
REPORT = {"cnn": {"phase1": {"train": 0.9832, "val": 0.6202, "test": 0.6289},
                  "phase2": {"train": 0.8042, "val": 0.6652, "test": 0.6472}},
          "vit": {"phase1": {"train": 0.5202, "val": 0.3807, "test": 0.3962},
                  "phase2": {"train": 0.4295, "val": 0.4151, "test": 0.4187}}}


def _results(accuracies):
    return {m: {p: {part: {"accuracy": a, "loss": 1.0} for part, a in parts.items()} for p, parts in phases.items()}
            for m, phases in accuracies.items()}


def test_overfitting_is_said_only_when_train_and_test_are_far_apart():
    report = fit_verdict("CNN", 0.9832, 0.6289, baseline=0.25)
    assert "overfitting" in report and "35.4 points" in report
    small = fit_verdict("CNN", 0.3235, 0.3273, baseline=0.25)
    assert "overfitting" not in small and "does not overfit" in small
    untrained = fit_verdict("ViT", 0.26, 0.25, baseline=0.25)
    assert "not trained long enough" in untrained and "overfit" in untrained


def test_the_ranking_sentence_names_the_winner_and_whether_the_report_agrees():
    assert ranking_verdict(0.6472, 0.4187).startswith("The CNN beats the ViT")
    assert "as in the report" in ranking_verdict(0.6472, 0.4187)
    assert "by 22.8 points (64.7% against 41.9%)" in ranking_verdict(0.6472, 0.4187)
    assert "opposite of the report" in ranking_verdict(0.40, 0.45)
    assert "level" in ranking_verdict(0.400, 0.405)


def test_phase2_sentence_follows_the_direction_of_each_change():
    report = phase2_verdict("CNN", 0.9832, 0.6289, 0.8042, 0.6472)
    assert "raises test accuracy by 1.8 points" in report and "falls" in report
    assert report.endswith("the pattern the report saw.")
    worse = phase2_verdict("CNN", 0.50, 0.50, 0.55, 0.48)
    assert "lowers test accuracy" in worse and "not the pattern" in worse


def test_a_small_run_says_so_and_a_full_one_does_not():
    assert too_small("full") == ""
    for profile in ("smoke", "cpu"):
        assert f"This is a {profile} run" in too_small(profile)


def test_a_small_run_and_a_report_scale_run_never_share_an_interpreting_sentence():
    small = comparison_verdicts(_results(SMALL), baseline=0.25, profile="cpu")
    full = comparison_verdicts(_results(REPORT), baseline=0.25, profile="full")
    assert set(small) == set(full) == {"verdict_caveat", "verdict_ranking", "verdict_cnn_fit", "verdict_vit_fit",
                                       "verdict_cnn_phase2", "verdict_vit_phase2"}
    for key in small:
        assert small[key] != full[key], key
    assert "overfitting" in full["verdict_cnn_fit"] and "overfitting" not in small["verdict_cnn_fit"]
    assert "cpu run" in small["verdict_caveat"] and "full run" in full["verdict_caveat"]


@pytest.mark.parametrize("top, bottom, even", [(1.02, 0.98, True), (1.6, 0.5, False)])
def test_attention_is_called_even_only_when_it_is(top, bottom, even):
    sentence = attention_verdict(top, bottom)
    assert ("close to even" in sentence) is even
    assert f"{top:.2f} times" in sentence


def test_tuning_sentence_compares_with_the_reports_split():
    from ferlib.recipes.report import REPORT_TUNING_LEARNED

    names = list(REPORT_TUNING_LEARNED)
    as_report = {name: 0.40 if learned else 0.26 for name, learned in REPORT_TUNING_LEARNED.items()}
    assert "shows the same split" in tuning_verdict(as_report, 4, 0.25)
    other = tuning_verdict(dict.fromkeys(names, 0.26), 1, 0.25)  # 1 point above the majority: not learned
    assert "does not show that split" in other and "2 points or more: none." in other
    # the bar is the verdicts' own: 2 points above the majority class
    assert tuning_learned({"a": 0.2701, "b": 0.2699}, 0.25) == {"a": True, "b": False}


def test_class_weight_sentence_says_what_the_weights_did():
    plain = {"accuracy": 0.62, "macro-F1": 0.55, "Disgust recall": 0.30}
    traded = class_weight_verdict(plain, {"accuracy": 0.60, "macro-F1": 0.57, "Disgust recall": 0.55}, 5, "full")
    assert "traded some accuracy" in traded and "55%" in traded and "rises" in traded
    # recall up, accuracy and macro-F1 down (the full run's case): the trade did not pay
    lost = class_weight_verdict(plain, {"accuracy": 0.60, "macro-F1": 0.50, "Disgust recall": 0.55}, 5, "full")
    assert "falls" in lost and "does not pay off" in lost and "as the report hoped" not in lost
    nothing = class_weight_verdict(plain, {"accuracy": 0.62, "macro-F1": 0.55, "Disgust recall": 0.30}, 1, "smoke")
    assert "did not raise" in nothing and "so little training" in nothing and "barely moves" in nothing


def test_cluster_sentence_compares_with_random_groups():
    assert "no better than random" in cluster_verdict(0.01, 0.26, 0.25)
    assert "to a degree" in cluster_verdict(0.30, 0.55, 0.25)
    assert "follow the emotions closely" in cluster_verdict(0.70, 0.85, 0.25)



def _readings(train_accuracy, leader, chosen=None, p_value=None, seeds=None):
    import pandas as pd

    from ferlib.recipes.readings import Readings

    table = pd.DataFrame({"reading": ["as-built", "dense-batchnorm"], "epochs": [5, 5],
                          "train_accuracy": train_accuracy})
    seeds = pd.DataFrame(seeds or [], columns=["reading", "seed", "train_accuracy"])
    return Readings("cnn", table, {}, chosen or "as-built", leader, seeds, p_value)


def test_reading_sentence_keeps_the_as_built_network_unless_the_lead_beats_the_noise():
    one_seed = reading_verdict(_readings([0.349, 0.494], "dense-batchnorm"))
    assert "**dense-batchnorm**" in one_seed and "49.4%" in one_seed and "34.9%" in one_seed
    assert "One seed cannot tell" in one_seed and "trains the as-built network" in one_seed
    seeds = [("as-built", s, a) for s, a in ((0, 0.349), (1, 0.35), (2, 0.351))] + \
            [("dense-batchnorm", s, a) for s, a in ((0, 0.494), (1, 0.49), (2, 0.5))]
    beaten = reading_verdict(_readings([0.349, 0.494], "dense-batchnorm", "dense-batchnorm", 0.001, seeds))
    assert "over 3 seeds it averages 49.5%" in beaten and "p = 0.00" in beaten and beaten.endswith("so phase 1 trains it.")
    noise = reading_verdict(_readings([0.349, 0.494], "dense-batchnorm", "as-built", 0.3, seeds))
    assert "within the noise between seeds" in noise and "p = 0.30" in noise
    first = reading_verdict(_readings([0.494, 0.349], "as-built"))
    assert first.startswith("After 5 epochs the as-built network, **as-built**") and "against" not in first
    still = _readings([0.21, 0.24], "dense-batchnorm")  # both below always-Happy + 5 points
    assert "cannot be told apart" in reading_verdict(still, baseline=0.251)
    assert "cannot be told apart" not in reading_verdict(_readings([0.349, 0.494], "dense-batchnorm"), baseline=0.251)


def test_lead_p_value_needs_two_seeds_and_separates_a_real_lead():
    import pandas as pd

    from ferlib.recipes.readings import lead_p_value

    rows = lambda a, b: pd.DataFrame({"reading": ["x"] * len(a) + ["as-built"] * len(b), "train_accuracy": a + b})  # noqa: E731
    assert lead_p_value(rows([0.5], [0.3]), "x", "as-built") is None
    assert lead_p_value(rows([0.50, 0.51, 0.52], [0.30, 0.31, 0.29]), "x", "as-built") < 0.01
    assert lead_p_value(rows([0.32, 0.28, 0.31], [0.30, 0.31, 0.29]), "x", "as-built") > 0.05
