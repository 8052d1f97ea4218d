"""Every plot returns a Figure with the expected panels on small made-up inputs, and never shows it."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ferlib import plots  # noqa: E402
from ferlib.data import EMOTIONS  # noqa: E402

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def no_show_and_close(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("library code must not call plt.show()")

    monkeypatch.setattr(plt, "show", refuse)
    monkeypatch.setattr(Figure, "show", refuse)
    yield
    plt.close("all")


def _images(n, float_=False):
    images = RNG.integers(0, 256, size=(n, 48, 48), dtype=np.uint8)
    return (images[..., None] / 255.0).astype(np.float32) if float_ else images


def _history(n=6, lr=True):
    epochs = np.arange(1, n + 1)
    frame = pd.DataFrame(
        {
            "epoch": epochs,
            "loss": 2 / epochs,
            "accuracy": 1 - 1 / (epochs + 1),
            "val_loss": 2.2 / epochs,
            "val_accuracy": [0.3, 0.4, 0.5, 0.45, 0.44, 0.43][:n],
        }
    )
    if lr:
        frame["learning_rate"] = 1e-3 * 0.9 ** (epochs // 2)
    return frame


@pytest.mark.parametrize("float_", [False, True])
def test_plot_class_samples(float_):
    labels = np.repeat(np.arange(7), 3)
    labels = labels[labels != 1]  # a class with no images leaves its row empty, not an error
    fig = plots.plot_class_samples(_images(len(labels), float_), labels, per_class=4)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 7 * 4
    assert fig.axes[0].get_ylabel().startswith(EMOTIONS[0])


def test_plot_class_balance_frame_ignores_percent_columns():
    counts = pd.DataFrame({"train": np.arange(7) + 10, "val": np.arange(7) + 3, "test": np.arange(7) + 4}, index=list(EMOTIONS))
    counts["train %"] = 100 * counts["train"] / counts["train"].sum()
    fig = plots.plot_class_balance(counts)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.containers) == 3  # train, val, test; not the % column
    assert [t.get_text() for t in ax.get_xticklabels()] == list(EMOTIONS)


def test_plot_class_balance_dict():
    fig = plots.plot_class_balance({name: 10 * (i + 1) for i, name in enumerate(EMOTIONS)})
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    assert len(fig.axes[0].patches) == 7


def test_plot_augmentation_grid():
    original = _images(1)[0]
    fig = plots.plot_augmentation_grid(original, _images(8, float_=True))
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 9
    assert fig.axes[0].get_title() == "original"


@pytest.mark.parametrize("lr, panels", [(True, 3), (False, 2)])
def test_plot_training_curves(lr, panels):
    fig = plots.plot_training_curves(_history(lr=lr), title="CNN")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == panels
    assert fig._suptitle.get_text() == "CNN"


def test_plot_training_curves_several_runs():
    runs = {"step 1": _history(), "step 2": _history(4), "step 3": _history(5, lr=False)}
    fig = plots.plot_training_curves(runs)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    accuracy_ax = fig.axes[0]
    # two lines (train, validation) and one best-epoch marker per run
    assert len(accuracy_ax.lines) == 3 * len(runs)


def test_training_steps_in_sequence_follow_each_other_on_the_epoch_axis():
    # as history.csv holds them: epochs counted from 0
    runs = {"hard samples": _history(3).assign(epoch=range(3)), "augmentation": _history(4).assign(epoch=range(4))}
    fig = plots.plot_training_curves(runs, in_sequence=True)
    accuracy_ax = fig.axes[0]
    curves = [line for line in accuracy_ax.lines if len(line.get_xdata()) > 1 and line.get_linestyle() != ":"]
    firsts = sorted({tuple(np.asarray(line.get_xdata(), dtype=float)) for line in curves})
    assert firsts == [(1.0, 2.0, 3.0), (4.0, 5.0, 6.0, 7.0)]
    separators = [line for line in accuracy_ax.lines if line.get_linestyle() == ":"]
    assert [float(np.asarray(line.get_xdata())[0]) for line in separators] == [3.5]
    overlaid = plots.plot_training_curves(runs)
    xs = {tuple(np.asarray(line.get_xdata(), dtype=float)) for line in overlaid.axes[0].lines if len(line.get_xdata()) > 1}
    assert (1.0, 2.0, 3.0, 4.0) in xs and (4.0, 5.0, 6.0, 7.0) not in xs
    # a star only where early stopping restored the best epoch: the augmentation round, not the hard samples
    starred = plots.plot_training_curves(runs, in_sequence=True, best=["augmentation"]).axes[0]
    stars = [line for line in starred.lines if line.get_marker() == "*"]
    assert len(stars) == 1 and float(np.asarray(stars[0].get_xdata())[0]) >= 4.0


@pytest.mark.parametrize("normalize", [False, True])
def test_plot_confusion_matrices(normalize):
    matrices = {
        "CNN": RNG.integers(0, 50, (7, 7)),
        "ViT": pd.DataFrame(RNG.integers(0, 50, (7, 7)), index=list(EMOTIONS), columns=list(EMOTIONS)),
    }
    fig = plots.plot_confusion_matrices(matrices, normalize=normalize)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4  # two heatmaps and their colour bars
    ax = fig.axes[0]
    assert ax.get_xlabel() == "predicted emotion" and ax.get_ylabel() == "true emotion"
    assert [t.get_text() for t in ax.get_yticklabels()] == list(EMOTIONS)
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 49
    counts = matrices["CNN"]
    # every cell shows its count; normalised, also its share of the row
    assert texts[0].split("\n")[0] == f"{counts[0, 0]:,}"
    assert all(t.endswith("%") for t in texts) == normalize
    if normalize:
        assert texts[0].split("\n")[1] == f"{100 * counts[0, 0] / counts[0].sum():.0f}%"
    heatmaps = [a for a in fig.axes if a.get_ylabel() == "true emotion"]
    assert heatmaps[0].get_position().y0 > heatmaps[1].get_position().y0  # one above the other


def _per_class_frame():
    rows = []
    for model in ("CNN", "ViT"):
        for emotion in EMOTIONS:
            p, r = RNG.uniform(0, 1, 2)
            rows.append({"model": model, "emotion": emotion, "precision": p, "recall": r, "f1": 2 * p * r / (p + r), "correct": int(100 * r)})
    return pd.DataFrame(rows)


def test_plot_per_class():
    fig = plots.plot_per_class(_per_class_frame())
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    assert len(fig.axes[0].containers) == 2  # one bar group per model


def test_plot_per_class_several_metrics():
    fig = plots.plot_per_class(_per_class_frame(), metric=["recall", "correct"])
    assert len(fig.axes) == 2
    assert fig.axes[0].get_legend() is not None  # two models: the legend tells them apart
    fig.draw_without_rendering()
    # the lower panel's title stays clear of the upper panel's tick labels
    assert fig.axes[1].title.get_window_extent().y1 < min(t.get_window_extent().y0 for t in fig.axes[0].get_xticklabels())
    one = plots.plot_per_class(_per_class_frame().query("model == 'CNN'"), metric=["recall", "precision"])
    assert all(ax.get_legend() is None for ax in one.axes)  # one model: nothing to tell apart


@pytest.mark.parametrize("with_image, select", [(True, "active"), (False, "first")])
def test_plot_feature_maps(with_image, select):
    maps = {"conv1": RNG.random((48, 48, 64)), "conv4": RNG.random((6, 6, 512))}
    image = _images(1)[0] if with_image else None
    fig = plots.plot_feature_maps(maps, image=image, n_filters=5, select=select)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2 * 5 + with_image


def test_plot_feature_maps_active_picks_largest_channels():
    fmap = np.zeros((6, 6, 8))
    fmap[..., 6] = 3.0
    fmap[..., 2] = 1.0
    fig = plots.plot_feature_maps({"conv4": fmap}, n_filters=2)
    assert [ax.get_title() for ax in fig.axes] == ["channel 6", "channel 2"]


@pytest.mark.parametrize("dim, blocks", [(16, 2), (128, 3)])
def test_plot_activation_bars(dim, blocks):
    activations = {f"block{i + 1}": RNG.normal(size=dim) for i in range(blocks)}
    fig = plots.plot_activation_bars(activations)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == blocks
    assert len(fig.axes[0].patches) == dim


@pytest.mark.parametrize("per_head", [False, True])
def test_plot_attention(per_head):
    attention = RNG.random((4, 12, 12) if per_head else (12, 12))
    fig = plots.plot_attention(_images(1, float_=True)[0], attention / attention.sum())
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4  # image, attention, its colour bar, overlay


def test_nearly_uniform_attention_looks_nearly_flat():
    """Attention within 2% of uniform is drawn on a log scale around 1 x uniform that spans at
    least 1/1.05 to 1.05: its colours stay near the middle instead of filling the colour map."""
    attention = np.full((12, 12), 1 / 144) * (1 + 0.02 * RNG.uniform(-1, 1, (12, 12)))
    fig = plots.plot_attention(_images(1, float_=True)[0], attention)
    low, high = fig.axes[1].images[0].get_clim()
    assert high >= 1.05 and low * high == pytest.approx(1.0)
    assert "uniform" in fig.axes[1].get_title()


def test_a_peaked_attention_map_is_scaled_symmetrically_in_ratio_up_to_its_maximum():
    """The colour scale reaches the hottest patch above and its reciprocal below, on a log
    scale, with 1 (uniform) in the middle colour."""
    attention = np.full((12, 12), 1.0)
    attention[0, 5] = 100.0
    fig = plots.plot_attention(_images(1, float_=True)[0], attention)
    image = fig.axes[1].images[0]
    ratio = attention / attention.mean()
    assert image.get_clim() == pytest.approx((1 / ratio.max(), ratio.max()))
    assert image.norm(1.0) == pytest.approx(0.5)


def test_runs_of_one_epoch_are_drawn_with_markers():
    runs = {"a": pd.DataFrame({"epoch": [0], "accuracy": [0.3], "val_accuracy": [0.25], "loss": [1.9], "val_loss": [1.8]})}
    fig = plots.plot_training_curves(runs)
    assert all(line.get_marker() == "o" for line in fig.axes[0].lines[:2])


def test_plot_tuning_results():
    frame = pd.DataFrame(
        {
            "config": ["6 layers / 6 heads / dim 128", "4 layers / 4 heads / dim 16"],
            "train_accuracy": [0.3, 0.52],
            "val_accuracy": [0.25, 0.38],
            "test_accuracy": [0.26, 0.40],
            "params": [1_600_000, 21_000],
        }
    )
    fig = plots.plot_tuning_results(frame)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.containers) == 3
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert "1.6M params" in labels[0] and "21k params" in labels[1]
    with_baseline = plots.plot_tuning_results(frame, baseline=0.25).axes[0]
    assert [line.get_ydata()[0] for line in with_baseline.get_lines()] == [0.25]
    assert any("majority class 25.0%" in t.get_text() for t in with_baseline.texts)


def test_human_counts():
    assert plots._human(1_234_567) == "1.23M"
    assert plots._human(45_000) == "45k"
    assert plots._human(512) == "512"
    assert plots._human(999_999) == "1M"


def test_training_curves_draw_the_baseline():
    history = pd.DataFrame({"epoch": [0, 1, 2], "accuracy": [0.3, 0.4, 0.5], "val_accuracy": [0.3, 0.35, 0.4],
                            "loss": [1.9, 1.7, 1.5], "val_loss": [1.9, 1.8, 1.7]})
    for fig in (plots.plot_training_curves(history, baseline=0.25), plots.plot_training_curves({"a": history}, baseline=0.25)):
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert any("majority class 25.0%" in t for t in texts)


def test_architecture_diagrams_are_drawn_from_the_models(cnn, vit):
    fig = plots.plot_architecture(cnn)
    titles = [t.get_text() for t in fig.axes[0].texts if t.get_fontweight() == "bold"]
    assert titles == ["image", "conv block 1", "conv block 2", "conv block 3", "conv block 4", "flatten",
                      "dense 1", "dense 2", "dense 3", "softmax"]
    assert "4,061,703" in fig._suptitle.get_text()
    vit_titles = [t.get_text() for t in plots.plot_architecture(vit).axes[0].texts if t.get_fontweight() == "bold"]
    assert [t for t in vit_titles if t.startswith("transformer block")] == [f"transformer block {i}" for i in range(1, 5)]


def test_style_table_shortens_columns_and_formats_for_the_page():
    import pandas as pd

    frame = pd.DataFrame({"reading": ["as-built"], "params": [4061703], "seconds": [203.6],
                          "train_accuracy": [0.349], "best_val_accuracy": [0.357]})
    from ferlib.display import style_table

    html = style_table(frame).to_html()
    assert "best val" in html and "best_val_accuracy" not in html
    assert "4,061,703" in html and "204" in html and "203.6" not in html and "34.9%" in html


def test_curves_count_epochs_from_one_like_keras_and_train_json():
    """history.csv counts from 0; the best epoch in a figure must be the one train.json names."""
    history = pd.DataFrame({"epoch": [0, 1, 2], "accuracy": [0.3, 0.4, 0.5], "val_accuracy": [0.3, 0.45, 0.4],
                            "loss": [1.9, 1.7, 1.5], "val_loss": [1.9, 1.8, 1.7]})
    fig = plots.plot_training_curves(history)
    accuracy = next(ax for ax in fig.axes if ax.get_title() == "accuracy")
    assert list(accuracy.lines[0].get_xdata()) == [1, 2, 3]
    assert any("(epoch 2)" in t.get_text() for t in fig.legends[0].get_texts())
    runs = plots.plot_training_curves({"a": history})
    assert list(runs.axes[0].lines[0].get_xdata()) == [1, 2, 3]


def test_table1_as_a_page_shows_it_fits_the_column():
    import sys
    from pathlib import Path
    from types import SimpleNamespace

    from ferlib.display import style_table1
    from ferlib.recipes.pages import with_baselines
    from ferlib.recipes.report import table1

    sys.path.insert(0, str(Path(__file__).parent))
    from page_width import TABLE_WIDTH, table_widths

    scores = {part: {"accuracy": 0.6, "loss": 1.0} for part in ("train", "val", "test")}
    table = with_baselines(table1({"cnn": {"phase1": scores, "phase2": scores}}), SimpleNamespace(baselines=lambda p: {"majority class": 0.25, "chance": 1 / 7},
                                                                                        arrays={"train": (None, [3, 3, 0])}),
                           part="test", columns=["CNN ours", "VIT ours"])
    styled = style_table1(table)
    assert list(styled.data.columns) == [(m, w) for m in ("CNN", "ViT") for w in ("report", "ours", "Δ")]
    assert "phase 1 test" in styled.data.index and "always Happy" in styled.data.index
    html = styled.to_html()
    assert "62.89%" in html and "–" in html  # the report's number as it printed it; the empty ViT cells
    assert "60.0%" in html and "-2.9" in html  # ours in percent, the difference in points
    assert "0.9814" in html  # the loss in its own units
    assert "0.6289" not in html  # no accuracy as a fraction (the units of every other page)
    assert max(table_widths(html)) <= TABLE_WIDTH


def test_a_constant_learning_rate_is_said_in_the_title_not_drawn():
    import pandas as pd

    from ferlib.plots import plot_training_curves

    history = pd.DataFrame({"epoch": [0, 1, 2], "loss": [2.0, 1.8, 1.7], "accuracy": [0.3, 0.4, 0.45],
                            "val_loss": [1.9, 1.85, 1.8], "val_accuracy": [0.3, 0.35, 0.38],
                            "learning_rate": [1e-3, 1e-3, 1e-3]})
    fig = plot_training_curves(history, title="CNN")
    assert len(fig.axes) == 2 and fig._suptitle.get_text() == "CNN · learning rate 0.001 throughout"
    changing = plot_training_curves(history.assign(learning_rate=[1e-3, 1e-3, 5e-4]), title="CNN")
    assert len(changing.axes) == 3 and changing._suptitle.get_text() == "CNN"


def test_accuracies_with_intervals_and_the_reports_marks():
    ours = pd.DataFrame({"model": ["CNN", "CNN", "ViT", "ViT"], "phase": ["phase 1", "phase 2"] * 2,
                         "accuracy": [0.6, 0.62, 0.37, 0.38], "low": [0.59, 0.61, 0.36, 0.37],
                         "high": [0.61, 0.63, 0.38, 0.39]})
    report = {("CNN", "phase 1"): 0.6289, ("ViT", "phase 2"): 0.4187}
    fig = plots.plot_with_intervals(ours, report, {"majority class": 0.25})
    ax = fig.axes[0]
    assert len(ax.patches) == 4  # one bar per model and phase
    marks = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections if hasattr(c, "get_offsets")
                            and len(c.get_offsets()) == 2])
    assert np.isclose(np.nanmax(marks), 0.6289) and 0.4187 in np.round(marks, 4)
    assert any("interval" in t.get_text() for t in [ax.title])


def _contenders(*rows):
    """Page 9's records, one row per training: (name, family, PrivateTest, weights,
    multiply-adds, training seconds)."""
    import pandas as pd

    columns = ("name", "family", "private_test", "params", "multiply_adds", "train_seconds")
    return pd.DataFrame([dict(zip(columns, row)) for row in rows])


def test_accuracy_against_cost_draws_each_contender_and_the_majority_line_in_every_panel():
    from ferlib.plots import plot_accuracy_against_cost

    records = _contenders(("vit-fast", "transformer", 0.25, 24_487, 13_602_928, 700.0),
                          ("fastcnn", "cnn", 0.57, 1_176_359, 117_450_496, 790.0),
                          ("fastcnn", "cnn", 0.59, 1_176_359, 117_450_496, 800.0))
    fig = plot_accuracy_against_cost(records, baseline=("always Happy", 0.245))
    assert len(fig.axes) == 3
    for ax in fig.axes:
        dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert len(dashed) == 1 and dashed[0].get_ydata()[0] == 0.245
        assert {t.get_text() for t in ax.texts} == {"vit-fast", "fastcnn"}  # one label per contender
    # one legend, below the panels: inside one, its markers would read as points
    assert all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1
    assert "always Happy" in [t.get_text() for t in fig.legends[0].get_texts()]
    assert fig.axes[2].get_xlabel() == "training minutes"


def test_accuracy_against_cost_keeps_close_contenders_names_apart_and_inside_their_panel():
    from ferlib.plots import plot_accuracy_against_cost

    # two transformers a few tenths of a point and seconds apart, and a CNN at the far right
    records = _contenders(("vit-spt", "transformer", 0.338, 140_000, 30_000_000, 1_080.0),
                          ("report-vit", "transformer", 0.342, 24_000, 13_000_000, 1_100.0),
                          ("fastcnn", "cnn", 0.57, 1_176_359, 117_450_496, 1_400.0))
    fig = plot_accuracy_against_cost(records)
    fig.draw_without_rendering()
    minutes = fig.axes[2]
    boxes = {t.get_text(): t.get_window_extent() for t in minutes.texts}
    assert not boxes["vit-spt"].overlaps(boxes["report-vit"])
    panel = minutes.get_window_extent()
    assert all(panel.x0 <= box.x0 and box.x1 <= panel.x1 for box in boxes.values())


def test_where_models_look_writes_each_models_answer_under_its_map():
    from ferlib.plots import plot_where_models_look

    faces = np.random.default_rng(0).random((2, 48, 48))
    maps = {"the report's ViT, trained the report's way\nrollout": np.ones((2, 12, 12)),
            "fast CNN\nGrad-CAM": np.ones((2, 48, 48))}
    answers = {name: ["Happy", "Sad"] for name in maps}
    fig = plot_where_models_look(faces, maps, titles=["Happy", "Fear"], answers=answers)
    grid = np.array(fig.axes[:6]).reshape(2, 3)
    assert grid[0, 1].get_xlabel() == "says Happy" and grid[1, 2].get_xlabel() == "says Sad"
    assert grid[0, 1].xaxis.label.get_color() != grid[1, 1].xaxis.label.get_color()  # right, then wrong
    title = grid[0, 1].title
    assert len(title.get_text().split("\n")) == 3  # wrapped once, then the method on its own line
    fig.draw_without_rendering()
    assert title.get_window_extent().width <= 1.1 * grid[0, 1].get_window_extent().width  # fits its column


def test_accuracy_against_time_labels_every_reference_and_magnifies_the_band_around_the_goal():
    from ferlib.plots import plot_accuracy_against_time

    log = pd.DataFrame({"recipe": ["fast"] * 4 + ["first"] * 2, "run": ["a", "a", "b", "b", "c", "c"],
                        "train_seconds": [60, 1800, 60, 1900, 100, 1500],
                        "private": [0.17, 0.69, 0.17, 0.70, 0.17, 0.63]})
    references = {"humans": 0.65, "challenge winner": 0.712, "fer": 0.655}
    fig = plot_accuracy_against_time(log, references, target=(30, 0.70))
    main, inset = fig.axes[0], fig.axes[0].child_axes[0]
    labels = [t.get_text() for t in main.texts]
    assert all(any(name in label for label in labels) for name in references)  # each one named
    assert inset.get_ylim()[0] == pytest.approx(0.62) and inset.get_ylim()[1] == main.get_ylim()[1]
    assert len(inset.get_lines()) == 3 + len(references) + 1  # the runs, the references, the goal
    assert [t.get_text() for t in main.get_legend().get_texts()][:2] == ["fast (2 seeds, one line each)", "first"]
    assert main.get_xlabel() == "training minutes (wall clock)"
    without = plot_accuracy_against_time(log, references)
    assert not without.axes[0].child_axes  # no goal, no band to magnify
