"""What a results page asks of the library: glue that the chapters can format."""


def test_glue_hands_numpy_scalars_to_myst_nb_as_python_numbers(monkeypatch):
    import numpy as np
    import myst_nb

    from ferlib.recipes.pages import glue

    seen = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=False: seen.setdefault(name, value))
    glue("recall", np.float64(0.25))
    glue("count", np.int64(3))
    glue("sentence", "The CNN wins.")
    assert seen == {"recall": 0.25, "count": 3, "sentence": "The CNN wins."}
    assert type(seen["recall"]) is float and type(seen["count"]) is int


def test_with_baselines_adds_majority_and_chance_rows_per_part():
    import pytest

    import pandas as pd
    from types import SimpleNamespace

    import numpy as np

    from ferlib.display import GUESS, majority_label
    from ferlib.recipes.pages import with_baselines

    majority = {"train": 0.25, "val": 0.26, "test": 0.27}
    train_labels = np.array([3, 3, 3, 4, 0])  # Happy (3) is the most common training emotion
    run = SimpleNamespace(baselines=lambda part: {"majority class": majority[part], "chance": 1 / 7},
                          arrays={"train": (None, train_labels)})
    MAJORITY = majority_label(train_labels)
    assert MAJORITY == "always Happy"
    steps = pd.DataFrame({"train accuracy": [0.9], "test accuracy": [0.6], "loss": [1.0]}, index=["phase 1"])
    table = with_baselines(steps, run)
    assert list(table.index) == ["phase 1", MAJORITY, GUESS]
    assert table.loc[MAJORITY, "train accuracy"] == 0.25 and table.loc[MAJORITY, "test accuracy"] == 0.27
    assert table.loc[GUESS, "test accuracy"] == pytest.approx(1 / 7)
    assert pd.isna(table.loc[MAJORITY, "loss"])
    models = with_baselines(pd.DataFrame({"CNN": [0.6], "ViT": [0.4]}), run, part="test", columns=["CNN"])
    assert models.loc[MAJORITY, "CNN"] == 0.27 and pd.isna(models.loc[MAJORITY, "ViT"])
    tuning = with_baselines(pd.DataFrame({"config": ["4x4x16"], "val_accuracy": [0.3]}), run, label="config")
    assert list(tuning["config"]) == ["4x4x16", MAJORITY, GUESS] and tuning["val_accuracy"].iloc[1] == 0.26
    by_part = with_baselines(pd.DataFrame({"train": {"accuracy": 0.9}, "test": {"accuracy": 0.6}}), run)
    assert by_part.loc[MAJORITY, "train"] == 0.25 and by_part.loc[MAJORITY, "test"] == 0.27
    readings = with_baselines(pd.DataFrame({"reading": ["as-built"], "train_accuracy": [0.5], "val_accuracy": [0.4],
                                            "best_val_accuracy": [0.45], "epochs": [5]}), run, label="reading")
    assert list(readings["best_val_accuracy"].iloc[1:]) == [0.26, pytest.approx(1 / 7)]  # "best" val: the val part
    assert readings["train_accuracy"].iloc[1] == 0.25 and pd.isna(readings["epochs"].iloc[1])


def test_the_majority_row_names_the_runs_own_majority_emotion():
    import numpy as np
    import pandas as pd
    from types import SimpleNamespace

    from ferlib.display import majority_label
    from ferlib.recipes.pages import with_baselines

    train = np.array([4, 4, 3, 0])  # Sad (4) is the most common, not Happy
    assert majority_label(train) == "always Sad"
    run = SimpleNamespace(baselines=lambda part: {"majority class": 0.5, "chance": 1 / 7}, arrays={"train": (None, train)})
    table = with_baselines(pd.DataFrame({"test accuracy": [0.6]}, index=["model"]), run)
    assert "always Sad" in table.index and "always Happy" not in table.index


def test_style_table_puts_an_interval_beside_each_measured_accuracy():
    import pandas as pd

    from ferlib.display import GUESS, style_table
    from ferlib.evaluate import interval

    frame = pd.DataFrame({"config": ["L4-H4-D16", "always Happy", GUESS],
                          "test_accuracy": [0.40, 0.25, 1 / 7]})
    shown = style_table(frame, intervals={"test_accuracy": 5742}).data
    assert list(shown.columns) == ["configuration", "test", "test 95%"]
    low, high = interval(0.40, 5742)
    assert shown["test 95%"].iloc[0] == f"{100 * low:.1f}–{high:.1%}"
    assert 0.38 < low < 0.40 < high < 0.42  # about ±1.3 points on 5,742 faces
    assert list(shown["test 95%"].iloc[1:]) == ["", ""]  # the baselines are references, not measurements
