"""The transformer search with KerasTuner: its space, and a distributed search (a chief and two
workers) over the loopback address."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("keras_tuner")

from ferlib.recipes import tuning  # noqa: E402
from ferlib.models.transformers import TransformerConfig  # noqa: E402


def test_cluster_environment_names_the_chief_and_each_worker():
    assert tuning.cluster_environment("chief", port=8001) == {
        "KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "8001"}
    assert tuning.cluster_environment("worker", port=8001, address="10.0.0.5", worker=3)["KERASTUNER_TUNER_ID"] == "tuner3"
    with pytest.raises(ValueError, match="role"):
        tuning.cluster_environment("boss", port=1)


def test_a_draw_of_the_space_is_a_transformer_that_can_be_built():
    import keras_tuner as kt

    hp = kt.HyperParameters()
    config = tuning.config_from(hp)
    assert isinstance(config, TransformerConfig) and config.tokenizer == "patches"
    assert {name for name in tuning.SEARCH_SPACE} <= set(hp.values)
    assert all(hp.values[name] in values for name, values in tuning.SEARCH_SPACE.items())


def test_the_budget_skips_only_draws_that_cost_more_than_the_cap():
    import keras_tuner as kt

    from ferlib.models import build_model, build_transformer, count_multiply_adds

    report_vit = count_multiply_adds(build_model("vit", "as-built"))
    assert tuning.cost_limit() == tuning.COST_CAP * report_vit
    largest = build_transformer(TransformerConfig(tokenizer="patches", patch_size=3, transformer_layers=6,
                                                  num_heads=4, projection_dim=128))
    with pytest.raises(kt.errors.FailedTrialError, match="over the search's budget"):
        tuning.check_cost(largest)
    tuning.check_cost(build_transformer(TransformerConfig(tokenizer="patches", patch_size=4, transformer_layers=2,
                                                          num_heads=2, projection_dim=32)))  # within: no error
    assert "at most 4 times the report's ViT's multiply-adds" in tuning.budget_sentence(9, 0)
    assert tuning.budget_sentence(9, 3).endswith("at most 9 epochs; 3 draws over that cost were skipped.")


def test_skipped_trials_counts_only_the_budgets_failures(tmp_path):
    import json

    for number, (status, message) in enumerate([("FAILED", "over the search's budget: 60.0 M"),
                                                 ("FAILED", "out of memory"), ("COMPLETED", None)]):
        folder = tmp_path / tuning.PROJECT / f"trial_{number:04d}"
        folder.mkdir(parents=True)
        (folder / "trial.json").write_text(json.dumps({"status": status, "message": message}))
    assert tuning.skipped_trials(tmp_path) == 1


@pytest.mark.slow
def test_a_search_skips_the_draws_over_its_budget_and_trains_the_rest(tmp_path, monkeypatch):
    """With a cap a little above the smallest draws, Hyperband's first draws mostly fail: they
    are counted as skipped, trained by no one, and the search goes on to finish the others."""
    import numpy as np

    monkeypatch.setattr(tuning, "cost_limit", lambda: 5_000_000)
    rng = np.random.default_rng(0)
    arrays = {"train": (rng.random((64, 48, 48, 1), dtype=np.float32), rng.integers(0, 7, 64)),
              "val": (rng.random((32, 48, 48, 1), dtype=np.float32), rng.integers(0, 7, 32))}
    tuning.search(arrays, tmp_path, max_epochs=3, factor=3, batch_size=32, overwrite=True)
    trials, skipped = tuning.trials_frame(tmp_path), tuning.skipped_trials(tmp_path)
    assert skipped >= 1 and len(trials) >= 1
    assert sorted(tuning.trained_by(tmp_path)["alone"]) == sorted(trials["trial"])  # skipped ones trained by no one


def test_best_config_refuses_an_empty_search(tmp_path):
    with pytest.raises(FileNotFoundError, match="no finished trial"):
        tuning.best_config(tmp_path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_chief_and_two_workers_share_one_search(tmp_path):
    """`ferlib tune` in three processes on this machine, over the loopback address: the chief
    hands out the trials, both workers train some, and all see every finished trial."""
    port, folder = _free_port(), tmp_path / "search"
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "ferlib", "tune", "--data", "synthetic", "--folder", str(folder),
               "--port", str(port), "--max-epochs", "2", "--factor", "2"]
    processes = [subprocess.Popen(command + ["--role", "chief"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)]
    processes += [subprocess.Popen(command + ["--role", "worker", "--worker-id", str(i)], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in (0, 1)]
    outputs = []
    try:
        for process in processes:
            # generous: three processes share the CPU, and a loaded machine runs them far slower
            out, _ = process.communicate(timeout=1200)
            outputs.append(out)
            assert process.returncode == 0, out[-3000:]
    finally:
        for process in processes:
            process.kill()
    trials = tuning.trials_frame(folder)
    assert len(trials) >= 4 and trials["public_test"].between(0, 1).all()
    trained = tuning.trained_by(folder)
    assert set(trained) == {"tuner0", "tuner1"}, trained  # the chief trains nothing; both workers do
    assert all(trained.values())
    assert sorted(sum(trained.values(), [])) == sorted(trials["trial"])  # every trial trained once
    assert all(f"{len(trials)} finished trials" in out for out in outputs)
    assert isinstance(tuning.best_config(folder), TransformerConfig)
    assert Path(folder, tuning.PROJECT, "oracle.json").exists()


def test_the_search_note_names_the_best_trial_in_plain_english():
    import pandas as pd

    from ferlib.recipes.tuning import search_note

    trials = pd.DataFrame([
        {"transformer_layers": 1, "num_heads": 1, "projection_dim": 16, "patch_size": 4, "public_test": 0.30},
        {"transformer_layers": 2, "num_heads": 4, "projection_dim": 64, "patch_size": 3, "public_test": 0.25}])
    note = search_note(trials)
    assert "2 trials finished" in note and "1 layer, 1 head, width 16 and 4 x 4 patches" in note
    # one trial a side: no test can tell the widths apart
    assert "average 25.0% against 30.0% (a permutation test within each length, p = 1)" in note
    assert "could be chance" in note
    assert search_note(trials.iloc[1:]).startswith("Of the search over the ViT's sizes, 1 trial finished. "
                                                   "The best reaches 25.0% on PublicTest with "
                                                   "2 layers, 4 heads")
    assert "No trial" in search_note(trials.iloc[:0])


def test_the_search_note_compares_widths_only_at_equal_epochs_and_tests_stagnation():
    import numpy as np
    import pandas as pd

    from ferlib.recipes.tuning import search_note

    def trial(width, epochs, accuracy):
        return {"transformer_layers": 1, "num_heads": 1, "projection_dim": width, "patch_size": 4,
                "epochs": epochs, "public_test": accuracy}

    # Wide trials trained 1 epoch, narrow ones 9: pooled, the narrow ones would look better.
    # Within each length the wide ones win every time.
    trials = pd.DataFrame([trial(128, 9, 0.40), trial(64, 9, 0.39), trial(16, 9, 0.33), trial(32, 9, 0.32),
                           trial(128, 1, 0.27), trial(64, 1, 0.26), trial(16, 1, 0.25), trial(32, 1, 0.24),
                           trial(16, 9, 0.34), trial(32, 9, 0.35), trial(16, 1, 0.23), trial(32, 1, 0.22)])
    trials = trials.sort_values("public_test", ascending=False, ignore_index=True)
    # 1,000 faces, a quarter of them the most common emotion (Happy)
    labels = np.repeat([3, 0, 2, 4, 5, 6, 1], [250, 150, 150, 150, 150, 100, 50])
    note = search_note(trials, labels)
    assert "after 1 epoch and " in note and "after 9 epochs (a permutation test" in note
    assert "in this search the wider networks did better, the reverse of what the report found" in note
    # 26% and 27% of 1,000 faces do not beat 25% by chance; 39% and 40% do
    assert "Of the 4 configurations of width 64 or more, 2 beat always answering Happy (25.0% of PublicTest" in note
    assert note.endswith("every one trained for 9 epochs or more did.")
    reversed_widths = trials.assign(projection_dim=trials["projection_dim"].map({128: 16, 64: 32, 16: 128, 32: 64}))
    assert "in this search the narrower networks did better, as the report found" in search_note(reversed_widths)


def test_a_configuration_hyperband_trained_on_counts_once_at_its_longest_training():
    import pandas as pd

    from ferlib.recipes.tuning import search_note

    def trial(trial_id, width, epochs, accuracy, continues=""):
        return {"transformer_layers": 1, "num_heads": 1, "projection_dim": width, "patch_size": 4,
                "epochs": epochs, "public_test": accuracy, "trial": trial_id, "continues": continues}

    # 0003 is 0001 trained on: without it, the 1-epoch round holds one narrow trial and one
    # wide, so the wide trial's 1-epoch score leaves the comparison with it
    trials = pd.DataFrame([trial("0003", 128, 3, 0.33, continues="0001"), trial("0002", 16, 3, 0.30),
                           trial("0001", 128, 1, 0.27), trial("0000", 16, 1, 0.25), trial("0004", 32, 1, 0.24)])
    note = search_note(trials)
    assert "(each configuration once, at its longest training)" in note
    assert "average 33.0% against 30.0% after 3 epochs (a permutation test" in note
    assert "after 1 epoch" not in note
    # without the ids, every trial counts
    assert "after 1 epoch and" in search_note(trials.drop(columns=["trial", "continues"]))


def test_the_stratified_permutation_test_counts_relabellings_within_strata():
    import numpy as np
    import pytest

    from ferlib.evaluate import stratified_permutation_p_value

    # two strata of four, the group's two values the top two in each: 1 of 6 x 6 relabellings
    # is as extreme in each direction
    values = [4, 3, 2, 1, 40, 30, 20, 10]
    group = [True, True, False, False, True, True, False, False]
    strata = [0, 0, 0, 0, 1, 1, 1, 1]
    assert stratified_permutation_p_value(values, group, strata) == pytest.approx(2 / 36)
    # the same data sampled instead of enumerated gives about the same answer
    assert abs(stratified_permutation_p_value(values, group, strata, max_exact=1) - 2 / 36) < 0.01
    with pytest.raises(ValueError, match="both groups"):
        stratified_permutation_p_value(values, [True] * 4 + [False] * 4, strata)
    assert np.isclose(stratified_permutation_p_value([1, 1, 1, 1], group[:4], strata[:4]), 1.0)


def test_the_trials_table_shows_every_trial_grouped_by_epochs():
    import pandas as pd

    from ferlib.display import style_trials

    trials = pd.DataFrame([{"patch_size": 4, "transformer_layers": 1, "num_heads": 1, "projection_dim": w,
                            "epochs": e, "public_test": a, "trial": f"{i:04d}"}
                           for i, (w, e, a) in enumerate([(16, 1, 0.30), (128, 9, 0.39), (32, 3, 0.31),
                                                          (64, 9, 0.35)] * 4)])
    table = style_trials(trials.sort_values("public_test", ascending=False)).data
    assert len(table) == 16  # all of them, not the best ten
    assert list(table["epochs"]) == [9] * 8 + [3] * 4 + [1] * 4
    assert list(table["PublicTest"][:4]) == [0.39] * 4
