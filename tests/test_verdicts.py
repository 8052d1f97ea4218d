"""The interpreting sentences follow the numbers: a run too small to overfit never reads
"overfitting", and a full run that overfits does."""

import numpy as np
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


def _paired(first_right: int, second_right: int, n: int = 5742):
    """A paired test of two models on n faces, `first_right` faces only the first gets right
    and `second_right` only the second."""
    from ferlib.evaluate import paired_test

    first, second = np.zeros(n, bool), np.zeros(n, bool)
    first[:first_right] = True
    second[first_right:first_right + second_right] = True
    return paired_test("first", first, "second", second, images="test")


def test_the_ranking_is_read_through_its_paired_test():
    beyond = ranking_verdict(0.630, 0.383, _paired(1700, 300))
    assert beyond.startswith("The CNN beats the ViT") and "exact McNemar test p < 0.001" in beyond
    assert "beyond chance" in beyond and "1,700 test faces only the CNN" in beyond
    # 1.5 points apart, but 60 faces against 46: not beyond chance, so no ranking
    within = ranking_verdict(0.630, 0.615, _paired(60, 46))
    assert "a difference of 1.5 points that is not beyond chance" in within and "beats" not in within
    assert "this run does not rank them" in within
    # Two collapsed models (both always answer one emotion) agree on every face: still read
    # through the test, which has nothing to weigh.
    same = ranking_verdict(0.25, 0.25, _paired(0, 0))
    assert "right on exactly the same test faces" in same and "exact McNemar test finds no difference (p = 1)" in same
    assert "beats" not in same


def test_phase2_change_within_chance_is_called_none():
    noisy = phase2_verdict("CNN", 0.88, 0.630, 0.80, 0.636, _paired(200, 166))
    assert "changes test accuracy by +0.6 points, not beyond chance" in noisy and "not the pattern" in noisy
    assert "training accuracy, measured after training, falls" in noisy
    real = phase2_verdict("CNN", 0.88, 0.610, 0.80, 0.636, _paired(300, 150))
    assert "raises test accuracy by 2.6 points" in real and real.endswith("the pattern the report saw.")


def test_phase2_sentence_follows_the_direction_of_each_change():
    report = phase2_verdict("CNN", 0.9832, 0.6289, 0.8042, 0.6472)
    assert "raises test accuracy by 1.8 points" in report and "falls" in report
    assert report.endswith("the direction the report saw, though this run did not test the change face by face.")
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
    assert "does not show that split" in other and "none of the 5 configurations beats always answering" in other
    assert "2 points or more." in other
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


def test_class_weight_sentence_reads_no_effect_into_changes_within_chance():
    from ferlib.evaluate import paired_test

    plain = {"accuracy": 0.62, "macro-F1": 0.55, "Disgust recall": 0.30}
    weighted = {"accuracy": 0.60, "macro-F1": 0.57, "Disgust recall": 0.55}
    few = np.zeros(20, bool)
    noise = {"Disgust recall": paired_test("plain", few, "weighted", np.r_[np.ones(3, bool), few[3:]]),
             "accuracy": paired_test("plain", np.r_[np.ones(2, bool), few[2:]], "weighted", few)}
    text = class_weight_verdict(plain, weighted, 5, "full", tests=noise)
    assert "3 disgusted faces are right only with the weights and 0 only without" in text
    assert "beyond chance" in text and "traded" not in text
    clear = {"Disgust recall": paired_test("plain", np.zeros(40, bool), "weighted", np.ones(40, bool)),
             "accuracy": noise["accuracy"]}
    assert "traded some accuracy" in class_weight_verdict(plain, weighted, 5, "full", tests=clear)


def test_cluster_sentence_compares_with_random_groups():
    assert "no better than random" in cluster_verdict(0.01, 0.26, 0.25)
    assert "to a degree" in cluster_verdict(0.30, 0.55, 0.25)
    assert "follow the emotions closely" in cluster_verdict(0.70, 0.85, 0.25)



def _readings(train_accuracy, leader, chosen=None, p_value=None, seeds=None):
    import pandas as pd

    from ferlib.recipes.readings import Readings

    table = pd.DataFrame({"reading": ["as-built", "dense-batchnorm"], "epochs": [5, 5],
                          "log_train_accuracy": train_accuracy})
    seeds = pd.DataFrame(seeds or [], columns=["reading", "seed", "log_train_accuracy"])
    return Readings("cnn", table, {}, chosen or "as-built", leader, seeds, p_value)


def test_reading_sentence_keeps_the_as_built_network_unless_the_lead_beats_the_noise():
    one_seed = reading_verdict(_readings([0.349, 0.494], "dense-batchnorm"))
    assert "**dense-batchnorm**" in one_seed and "49.4%" in one_seed and "34.9%" in one_seed
    assert "One seed cannot tell" in one_seed and "trains the as-built network" in one_seed
    seeds = [("as-built", s, a) for s, a in ((0, 0.349), (1, 0.35), (2, 0.351))] + \
            [("dense-batchnorm", s, a) for s, a in ((0, 0.494), (1, 0.49), (2, 0.5))]
    beaten = reading_verdict(_readings([0.349, 0.494], "dense-batchnorm", "dense-batchnorm", 0.001, seeds))
    assert "over 3 seeds it averages 49.5%" in beaten and "p = 0.001" in beaten and beaten.endswith("so phase 1 trains it.")
    noise = reading_verdict(_readings([0.349, 0.494], "dense-batchnorm", "as-built", 0.3, seeds))
    assert "not beyond the noise between seeds" in noise and "p = 0.3" in noise
    assert "against 34.9% for the as-built network)" in noise and "*as-built*" not in noise
    first = reading_verdict(_readings([0.494, 0.349], "as-built"))
    assert first.startswith("After 5 epochs the as-built network, **as-built**") and "against" not in first
    still = _readings([0.21, 0.24], "dense-batchnorm")  # both below always-Happy + 5 points
    assert "cannot be told apart" in reading_verdict(still, baseline=0.251)
    assert "beats always answering the most common training emotion (25.1%) by 5 points or more (best: " \
           "**dense-batchnorm**, 24.0%)" in reading_verdict(still, baseline=0.251)
    assert "cannot be told apart" not in reading_verdict(_readings([0.349, 0.494], "dense-batchnorm"), baseline=0.251)


def test_lead_p_value_needs_two_seeds_and_separates_a_real_lead():
    import pandas as pd

    from ferlib.recipes.readings import lead_p_value

    rows = lambda a, b: pd.DataFrame({"reading": ["x"] * len(a) + ["as-built"] * len(b), "log_train_accuracy": a + b})  # noqa: E731
    assert lead_p_value(rows([0.5], [0.3]), "x", "as-built") is None
    assert lead_p_value(rows([0.50, 0.51, 0.52], [0.30, 0.31, 0.29]), "x", "as-built") < 0.01
    assert lead_p_value(rows([0.32, 0.28, 0.31], [0.30, 0.31, 0.29]), "x", "as-built") > 0.05


def test_precision_sentence_follows_the_gaps():
    import types

    import pandas as pd

    history = pd.DataFrame({"accuracy": [0.3, 0.5], "val_accuracy": [0.3, 0.45]})
    check = types.SimpleNamespace(histories={"float32": history, "mixed_bfloat16": history}, precision="mixed_bfloat16",
                                  train_accuracy_gap=0.7, best_val_accuracy_gap=0.9, val_accuracy_swing=15.0)
    assert "does not change what this model learns" in precision_verdict(check)
    assert "does not change what this model learns" in precision_verdict(check, baseline=0.25)
    check.best_val_accuracy_gap = 4.0
    assert "with care" in precision_verdict(check)
    flat = pd.DataFrame({"accuracy": [0.22, 0.24], "val_accuracy": [0.25, 0.20]})  # at always-Happy's 25%
    check.histories = {"float32": flat, "mixed_bfloat16": flat}
    assert "cannot tell" in precision_verdict(check, baseline=0.251) and "does not change" not in precision_verdict(
        check, baseline=0.251)


def test_release_sentence_tells_the_two_releases_apart():
    import numpy as np

    from ferlib.fer2013 import FER2013, equalize_histogram

    rng = np.random.default_rng(0)
    dim = rng.integers(60, 140, size=(20, 48, 48)).astype(np.uint8)  # low-contrast photos
    def dataset(images, fmt):
        return FER2013(images, np.zeros(len(images), np.int64), np.array(["Training"] * len(images)),
                       "sha256:" + "0" * 64, f"/x/fer2013.{fmt}", fmt)
    csv = dataset(dim, "csv")
    folder = dataset(np.stack([equalize_histogram(im) for im in dim]), "folder")
    assert release_of(csv) == "the challenge CSV's own pixels"
    assert release_of(folder) == "the image-folder release (histogram-equalized)"
    assert "**the challenge CSV's own pixels**" in release_sentence(csv) and "fer2013.csv" in release_sentence(csv)


def test_ferplus_sentence_names_the_overall_and_the_worst_emotion():
    import pandas as pd

    agreement = pd.DataFrame({"agree": [0.93, 0.14, 0.657]}, index=["Happy", "Fear", "all"])
    sentence = ferplus_verdict(agreement)
    assert "for 66% of the images" in sentence and "worst emotion is Fear (14%)" in sentence


def test_the_hard_sample_verdict_follows_each_steps_numbers():
    def scores(p1, hard, p2):
        return {"phase 1": {"test": {"accuracy": p1}}, "after hard samples": {"test": {"accuracy": hard}},
                "after augmentation": {"test": {"accuracy": p2}}}

    collapse = hard_sample_verdict("CNN", scores(0.62, 0.41, 0.61), 1080, 18373)
    assert "1,080 hard samples alone (6% of" in collapse and "61.0%" in collapse
    assert "forgets" in collapse and "1.0 points below phase 1" in collapse
    gentle = hard_sample_verdict("ViT", scores(0.36, 0.35, 0.38), 11000, 18373)
    assert "forgets" not in gentle and "2.0 points above phase 1" in gentle
    level = hard_sample_verdict("ViT", scores(0.36, 0.35, 0.362), 11000, 18373)
    assert "where phase 1 ended" in level
    # with the paired tests: a 1.5-point drop and a 2-point rise both within chance
    tested = hard_sample_verdict("ViT", scores(0.36, 0.345, 0.38), 11000, 18373,
                                 {"after hard samples": _paired(40, 50), "phase 2": _paired(70, 55)})
    assert "a change not beyond chance (paired test against phase 1, p = " in tested
    assert "2.0 points above phase 1, a difference not beyond chance" in tested
    assert "above phase 1 (paired" not in tested  # never a rise stated bare, as if it were beyond chance


def test_difference_verdicts_flag_only_what_differs_and_read_the_logs():
    def scores(train, val, test):
        return {"train": {"accuracy": train}, "val": {"accuracy": val}, "test": {"accuracy": test}}

    results = {"cnn": {"phase1": scores(0.941, 0.606, 0.619), "phase2": scores(0.80, 0.66, 0.65)},
               "vit": {"phase1": scores(0.40, 0.37, 0.36), "phase2": scores(0.43, 0.41, 0.42)}}
    slow = {"epochs": 42, "best_epoch": 32, "accuracy": 0.874, "val_accuracy": 0.57}
    verdicts = difference_verdicts(results, {"cnn phase1": slow})
    assert set(verdicts) == {f"difference_{m}_{p}" for m in ("cnn", "vit") for p in ("phase1", "phase2")}
    # like with like: the log's 87.4% and 57.0% against the report's logged 98.32% and 62.02%
    assert verdicts["difference_cnn_phase1"].startswith(
        "CNN, phase 1: training 87.4% (last epoch's log) against 98.32%, validation 57.0% (last epoch's log) "
        "against 62.02%.")
    assert verdicts["difference_cnn_phase1"].endswith("It trained 42 epochs (best 32), the report's 42.")
    assert "all within three points" in verdicts["difference_cnn_phase2"]
    assert "It trained" not in verdicts["difference_vit_phase2"]  # no log: measured numbers, nothing more
    assert verdicts["difference_vit_phase1"].startswith("ViT, phase 1: ")
    # a log as tight as the report's: the measured 94.1% is not flagged against the logged 98.32%
    same = difference_verdicts(results, {"cnn phase1": {**slow, "accuracy": 0.97, "val_accuracy": 0.60}})
    assert same["difference_cnn_phase1"].startswith("CNN, phase 1: training, validation and test accuracy are all")
    assert "98.32%" not in same["difference_cnn_phase1"]


def test_the_fit_story_follows_the_logs_and_the_test_accuracies():
    """The conclusion's reading of Table 1's differences: told only where every report network's
    log shows a tighter fit and the test accuracies stay within three points."""
    from ferlib.recipes.verdicts import fit_story

    def results(cnn_test, vit_test):
        return {"cnn": {"phase1": {"test": {"accuracy": cnn_test}}}, "vit": {"phase1": {"test": {"accuracy": vit_test}}}}

    def logs(cnn, vit):
        return {"cnn phase1": {"accuracy": cnn}, "vit phase1": {"accuracy": vit}}

    story = fit_story(results(0.630, 0.376), logs(0.878, 0.432))  # the first published run's numbers
    assert story.startswith("Read together, the numbers tell one story: the report's networks fitted")
    assert "CNN: the report's 98.32%, ours 87.8%; ViT: the report's 52.02%, ours 43.2%" in story
    assert "CNN: the report's 62.89%, ours 63.0%" in story
    apart = fit_story(results(0.55, 0.376), logs(0.878, 0.432))  # the CNN 7.9 points below on new faces
    assert "one story" not in apart and "differ by more than three points too" in apart
    mixed = fit_story(results(0.630, 0.376), logs(0.97, 0.432))  # the CNN's log as tight as the report's
    assert mixed.startswith("The training logs show no common difference")
    assert "no phase-1 training log" in fit_story(results(0.63, 0.38), {"cnn phase1": {"accuracy": 0.9}})


def test_tta_sentence_follows_each_models_change_and_its_paired_test():
    import pandas as pd

    from ferlib.recipes.verdicts import tta_verdict

    helps = pd.DataFrame([{"model": "CNN", "test set": "PrivateTest", "plain": 0.60, "flip + shifts": 0.62, "p": 0.001},
                          {"model": "ViT", "test set": "PrivateTest", "plain": 0.36, "flip + shifts": 0.37, "p": 0.03}])
    sentence = tta_verdict(helps)
    assert sentence.startswith("With ten views averaged, the CNN goes from 60.0% to 62.0% on PrivateTest "
                               "(+2.0 points, McNemar p = 0.001)")
    assert "the ViT goes from 36.0% to 37.0%" in sentence and "helps every model" in sentence
    # the same gains, one within chance: no general claim
    noisy = helps.assign(p=[0.001, 0.4])
    assert "in some cases only" in tta_verdict(noisy)
    # gains that no test supports are not called gains
    assert "No change is beyond chance" in tta_verdict(helps.assign(p=[0.2, 0.5]))
    assert "helps" not in tta_verdict(helps.assign(p=[0.2, 0.5]))
    loss = helps.assign(**{"flip + shifts": [0.58, 0.36]}, p=[0.01, 1.0])
    assert "(-2.0 points" in tta_verdict(loss) and "it is a loss" in tta_verdict(loss)
    assert "no test images" in tta_verdict(helps.iloc[0:0])


def test_schedule_sentence_names_the_epochs_the_learning_rate_fell():
    import pandas as pd

    from ferlib.recipes.verdicts import schedule_verdict
    from ferlib.train import learning_rate_drops

    rates = [1e-3] * 26 + [9e-4] * 5 + [8.1e-4] * 3  # the rate each epoch trained at, as the history logs it
    history = pd.DataFrame({"learning_rate": rates})
    assert learning_rate_drops(history) == [27, 32]
    sentence = schedule_verdict("CNN", history)
    assert "lowered twice, at the start of epochs 27 and 32 (the training ran 34 epochs), to 0.000810" in sentence
    assert "in the report it was lowered at epochs 25 and 31" in sentence
    flat = schedule_verdict("ViT", pd.DataFrame({"learning_rate": [1e-3] * 4}))
    assert "never lowered" in flat and "six times, to 0.00053144 by epoch 51" in flat


def test_attention_sentence_says_whether_the_hottest_patch_is_on_the_border():
    assert "outermost ring" in attention_verdict(1.6, 0.5, (0, 5), 12)
    assert "row 12, column 3 of 12" in attention_verdict(1.6, 0.5, (11, 2), 12)
    assert "one patch in from the border" in attention_verdict(1.6, 0.5, (1, 6), 12)
    assert "inside the image" in attention_verdict(1.6, 0.5, (6, 6), 12)
    assert "hottest" not in attention_verdict(1.02, 0.98, (6, 6), 12)  # even attention has no hot patch to place


def test_attention_colours_are_symmetric_in_ratio():
    import numpy as np

    from ferlib.plots import plot_attention

    attention = np.full((12, 12), 1 / 144)
    attention[0, 0], attention[5, 5] = 2 / 144, 0.5 / 144
    fig = plot_attention(np.zeros((48, 48)), attention)
    norm = fig.axes[1].images[0].norm
    assert np.isclose(norm(2.0) - 0.5,
                      0.5 - norm(0.5), atol=1e-6), "twice and half the even share sit equally far from the middle"
    assert np.isclose(norm(1.0), 0.5)


def test_tuning_sentence_counts_the_configurations_that_learned():
    from ferlib.recipes.report import REPORT_TUNING_LEARNED

    names = list(REPORT_TUNING_LEARNED)
    sentence = tuning_verdict({name: 0.40 if i >= 3 else 0.26 for i, name in enumerate(names)}, 4, 0.25)
    assert sentence.startswith("After 4 epochs, 2 of the 5 configurations beat always answering")
    assert "(4 layers / 4 heads / dim 32; 4 layers / 4 heads / dim 16)" in sentence
    assert tuning_verdict(dict.fromkeys(names, 0.25), 1, 0.25).startswith("After 1 epoch, none of the 5 configurations beats")


@pytest.mark.parametrize("first, last, words", [(0.50, 0.52, "within 10%"), (0.50, 0.80, "grows by 60%"),
                                                (0.50, 0.30, "shrinks by 40%")])
def test_activation_sentence_follows_the_scale_free_spreads(first, last, words):
    from ferlib.recipes.verdicts import activation_verdict

    assert words in activation_verdict(first, last)


def test_dispute_sentence_follows_fishers_test():
    from ferlib.recipes.verdicts import dispute_verdict

    row = {"model": "CNN", "hard samples": 6000, "hard, disputed": 0.45,
           "others, disputed": 0.20, "Fisher p": 1e-40}
    assert "45%" in dispute_verdict(row) and "richer in disputed labels" in dispute_verdict(row)
    assert "no richer" in dispute_verdict({**row, "Fisher p": 0.4})
    # a p-value that underflows to 0 is not written as "p = 0"
    underflow = dispute_verdict({**row, "Fisher p": 0.0})
    assert "p < 0.001" in underflow and "p = 0)" not in underflow
    assert dispute_verdict({**row, "Fisher p": float("nan")}).endswith("training faces.")


def test_a_gap_in_points_is_the_difference_of_the_percentages_the_sentence_shows():
    from ferlib.recipes.verdicts import points

    # 63.02% - 38.26% = 24.76 unrounded, but a sentence shows 63.0% and 38.3%
    assert f"{points(0.6302, 0.3826):.1f}" == "24.7"
    assert f"{points(0.3826, 0.6302):+.1f}" == "-24.7" and f"{points(0.5, 0.5):+.1f}" == "+0.0"


def test_the_maps_border_share_and_its_sentence():
    from ferlib.features import border_share
    from ferlib.recipes.verdicts import map_border_verdict

    even = np.ones((3, 12, 12))
    share, area = border_share(even)
    assert share == pytest.approx(area) and area == pytest.approx(1 - (8 / 12) ** 2)
    rim = np.zeros((2, 48, 48))
    rim[:, :4, :] = 1.0  # all weight in the top rows
    middle = np.zeros((2, 48, 48))
    middle[:, 20:28, 20:28] = 1.0
    assert border_share(rim)[0] == 1.0 and border_share(middle)[0] == 0.0
    # one mean share per model: described, not tested
    sentence = map_border_verdict({"fast CNN": border_share(middle), "ViT": border_share(rim)})
    assert "fast CNN, 0%; ViT, 100%." in sentence and "too few faces to test" in sentence
    assert "draws" not in sentence


def test_the_maps_sentence_tests_each_models_faces_against_an_even_map():
    from ferlib.features import border_shares
    from ferlib.recipes.verdicts import map_border_verdict

    rng = np.random.default_rng(0)
    faces = 40
    rim = rng.random((faces, 12, 12))
    rim[:, 2:10, 2:10] *= 0.2  # most weight on the ring
    middle = rng.random((faces, 12, 12))
    middle[:, 2:10, 2:10] *= 3.0
    even = rng.random((faces, 12, 12))  # no place favoured: the shares scatter around the even one
    shares, area = border_shares(middle)
    assert shares.shape == (faces,) and area == pytest.approx(1 - (8 / 12) ** 2)
    sentence = map_border_verdict({"fast CNN": border_shares(middle), "ViT": border_shares(rim),
                                   "CCT": border_shares(even)})
    assert sentence.startswith(f"Over {faces} PrivateTest faces, each map")
    assert "fast CNN draws less from the border, more from the face (p < 0.001)" in sentence
    assert "ViT draws more from the border (p < 0.001)" in sentence
    assert "CCT is not told apart from an even map (p = " in sentence
    # one finding for every map: said once
    alike = map_border_verdict({"fast CNN": border_shares(middle), "hybrid": border_shares(middle)})
    assert alike.endswith("all 2 maps draw less from the border, more from the face (p < 0.001 each).")
