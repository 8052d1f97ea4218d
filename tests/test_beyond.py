"""The science behind notebook 07: FER+ labels, clustering, test-time augmentation, baselines."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ferlib.clustering import cluster_features, map_2d, purity
from ferlib.data import FER2013, FER2013Error, FER2013NotFound
from ferlib.evaluate import CHANCE, majority_baseline, majority_class, predict_with_tta
from ferlib.data.ferplus import COLUMNS, agreement, check_aligned, find_ferplus, load_ferplus, read_ferplus

HEADER = "Usage,Image name," + ",".join(COLUMNS)


def _ferplus(tmp_path, rows: list[str], name: str = "fer2013new.csv"):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def test_ferplus_majority_follows_the_votes(tmp_path):
    path = _ferplus(tmp_path, [
        "Training,a.png,0,8,1,0,1,0,0,0,0,0",  # happiness -> Happy (3)
        "Training,b.png,4,0,0,0,4,0,0,2,0,0",  # a tie -> none
        "PublicTest,c.png,1,0,0,0,0,0,0,6,3,0",  # contempt -> none
        "PrivateTest,,0,0,0,0,0,0,0,0,0,10",  # no image name: unusable -> none
        "Training,e.png,0,0,0,0,0,0,9,0,0,1",  # fear -> Fear (2)
        "Training,f.png,0,0,0,0,0,0,0,0,0,0",  # no votes -> none
    ])
    ferplus = read_ferplus(path)
    assert ferplus.majority().tolist() == [3, -1, -1, -1, 2, -1]
    assert ferplus.usable.tolist() == [True, True, True, False, True, True]


def test_agreement_per_emotion():
    fer2013 = np.array([3, 3, 2, 2, 0])
    ferplus = np.array([3, 5, 2, -1, -1])
    table = agreement(fer2013, ferplus)
    assert table.loc["Happy", "agree"] == 0.5 and table.loc["Happy", "images"] == 2
    assert table.loc["Fear", "agree"] == 1.0 and table.loc["Fear", "images"] == 1
    assert np.isnan(table.loc["Angry", "agree"])  # its one image has no FER+ label
    assert table.loc["all", "agree"] == pytest.approx(2 / 3)


def test_bad_ferplus_rows_and_misaligned_files(tmp_path):
    path = _ferplus(tmp_path, ["Training,a.png,0,8,1,0,1,0,0,0,0,0", "Training,b.png,0,x,1,0,1,0,0,0,0,0"])
    with pytest.raises(FER2013Error, match=r"fer2013new\.csv, row 3"):
        read_ferplus(path)
    (tmp_path / "short.csv").write_text("Usage,neutral\nTraining,1\n")
    with pytest.raises(FER2013Error, match="missing column"):
        read_ferplus(tmp_path / "short.csv")
    ferplus = read_ferplus(_ferplus(tmp_path, ["Training,a.png,0,8,1,0,1,0,0,0,0,0"], "one.csv"))
    data = FER2013(np.zeros((2, 48, 48), np.uint8), np.array([0, 1]), np.array(["Training", "Training"]), "x", "x", "csv")
    with pytest.raises(FER2013Error, match="does not line up"):
        check_aligned(ferplus, data)


def test_ferplus_is_found_by_its_documented_means(tmp_path, monkeypatch):
    path = _ferplus(tmp_path, ["Training,a.png,0,8,1,0,1,0,0,0,0,0"])
    monkeypatch.delenv("FERPLUS_PATH", raising=False)
    monkeypatch.setenv("FER2013_PATH", str(tmp_path / "fer2013.csv.gz"))  # FER+ beside FER2013
    assert find_ferplus() == path
    monkeypatch.delenv("FER2013_PATH")
    monkeypatch.setenv("FERPLUS_PATH", str(tmp_path))
    assert find_ferplus() == path
    monkeypatch.setenv("FERPLUS_PATH", str(tmp_path / "nope.csv"))
    with pytest.raises(FER2013NotFound, match="nope.csv"):
        find_ferplus()
    monkeypatch.delenv("FERPLUS_PATH")
    monkeypatch.setenv("FERLIB_NO_DOWNLOAD", "1")
    with pytest.raises(FER2013NotFound, match="download"):
        load_ferplus()


@pytest.mark.realdata
def test_real_ferplus_agrees_with_fer2013_two_times_in_three(fer2013, ferplus_csv, monkeypatch):
    monkeypatch.setenv("FERPLUS_PATH", str(ferplus_csv))
    ferplus = load_ferplus()
    check_aligned(ferplus, fer2013)
    assert (~ferplus.usable).sum() == 173  # the data README's count of unusable images
    table = agreement(fer2013.labels, ferplus.majority())
    assert 0.6 < table.loc["all", "agree"] < 0.72
    assert table.drop("all")["agree"].idxmin() == "Fear"
    assert table.loc["Happy", "agree"] > 0.9


# --------------------------------------------------------------------------- clustering


def test_purity():
    labels = np.array([0, 0, 0, 1, 1, 2])
    assert purity(labels, labels) == 1.0
    assert purity(labels, np.zeros(6, int)) == pytest.approx(3 / 6)


def test_clusters_recover_separated_groups_and_random_ones_do_not():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(7), 40)
    features = rng.normal(size=(280, 16)) * 0.3 + np.eye(7, 16)[labels] * 8
    assignments, scores = cluster_features(features, labels, seed=0)
    assert scores.loc["k-means", "NMI"] > 0.95 and scores.loc["agglomerative (Ward)", "purity"] > 0.95
    assert scores.loc["random assignment", "NMI"] < 0.1
    assert set(assignments) == {"k-means", "agglomerative (Ward)", "random assignment"}
    assert map_2d(features, method="pca").shape == (280, 2)
    assert map_2d(features).shape == (280, 2)


def test_map_2d_survives_identical_features():
    """A barely trained CNN can give every image the same features (all ReLUs off): t-SNE's
    quad tree then crashed the kernel. Duplicates share one point; one point maps to the origin."""
    same = np.zeros((172, 64), np.float32)
    assert np.array_equal(map_2d(same), np.zeros((172, 2)))
    rng = np.random.default_rng(0)
    few = np.repeat(rng.normal(size=(20, 8)), 5, axis=0)  # 20 distinct rows, each five times
    points = map_2d(few)
    assert points.shape == (100, 2) and np.isfinite(points).all()
    assert np.array_equal(points[0], points[1]) and not np.array_equal(points[0], points[5])


# --------------------------------------------------------------------------- TTA, baselines


def test_tta_averages_probabilities_over_views():
    inputs = keras.Input((48, 48, 1))
    # a model that looks only at the left half: a mirrored view gives other answers
    left = keras.layers.Lambda(lambda x: x[:, :, :24, :])(inputs)
    outputs = keras.layers.Dense(7, activation="softmax")(keras.layers.Flatten()(left))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(1).random((5, 48, 48, 1), dtype=np.float32)
    plain = model.predict(x, verbose=0)
    flipped = model.predict(x[:, :, ::-1], verbose=0)
    two = predict_with_tta(model, x, shift=0)
    np.testing.assert_allclose(two, (plain + flipped) / 2, rtol=1e-5)
    ten = predict_with_tta(model, x, shift=2)
    assert ten.shape == (5, 7) and ten.dtype == np.float32
    np.testing.assert_allclose(ten.sum(axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(ten, two)  # the shifted views count
    # the fast recipe's scoring gets both from two passes, to the bit
    from ferlib.evaluate import predict_flip_pair

    pair = predict_flip_pair(model, x, batch_size=512)
    assert np.array_equal(pair[0], model.predict(x, batch_size=512, verbose=0))
    assert np.array_equal(pair[1], predict_with_tta(model, x, shift=0, batch_size=512))
    assert not np.array_equal(pair[0], pair[1])


def test_seeds_p_value_weighs_the_seeds_spread():
    from ferlib.evaluate import seeds_p_value

    assert seeds_p_value([0.690, 0.692], [0.640, 0.642, 0.641]) < 0.01  # far apart, seeds agree
    assert seeds_p_value([0.69, 0.70], [0.68, 0.71, 0.695]) > 0.5  # within the spread
    assert np.isnan(seeds_p_value([0.69], [0.68, 0.70]))  # one seed has no spread


def test_baselines():
    assert majority_baseline(np.array([3, 3, 3, 1]), np.array([3, 0, 3, 3])) == 0.75
    assert majority_class([6, 6, 2]) == 6  # the last emotion counts too
    assert majority_class([5, 1, 1, 5]) == 1  # a tie goes to the lower index, as argmax does
    assert CHANCE == pytest.approx(1 / 7)


def test_literature_table_puts_the_run_among_the_records_and_baselines():
    import pandas as pd
    from types import SimpleNamespace

    from ferlib.recipes.beyond import LITERATURE, literature_table

    usage = np.array(["Training"] * 6 + ["PrivateTest"] * 4)
    labels = np.array([3, 3, 3, 0, 1, 2, 3, 0, 0, 5])
    dataset = SimpleNamespace(usage=usage, labels=labels, images=np.zeros((10, 48, 48), np.uint8))
    run = SimpleNamespace(profile_name="full", dataset=dataset, arrays={"train": (None, labels[:6])})
    tta = pd.DataFrame([{"model": "CNN", "test set": "PrivateTest", "plain": 0.61, "flip + shifts": 0.63},
                        {"model": "CNN", "test set": "run's test images", "plain": 0.9, "flip + shifts": 0.9}])
    table = literature_table(run, tta)
    assert list(table["accuracy"]) == sorted(table["accuracy"], reverse=True)
    ours = table.set_index("model")["accuracy"]
    assert ours["This book's CNN"] == 0.61 and ours["This book's CNN, ten views averaged"] == 0.63
    assert ours["Always Happy"] == 0.25  # one Happy face among four PrivateTest faces
    assert ours["Guessing among seven"] == pytest.approx(1 / 7)
    assert 0.9 not in set(table["accuracy"]), "the run's own test part is not PrivateTest"
    assert len(table) == len(LITERATURE) + 4
    assert all(r.paper.startswith("https://") for r in LITERATURE)


def test_cluster_disagreements_pick_faces_against_their_clusters_majority_from_every_cluster():
    import pandas as pd

    from ferlib.recipes.beyond import ClusterResult, cluster_disagreements, cluster_majorities

    #            cluster 0: mostly Happy (3)   cluster 1: mostly Sad (4)   cluster 2: all Angry (0)
    labels = np.array([3, 3, 3, 0, 1, 2, 4, 4, 4, 6, 5, 0, 0, 0])
    clusters = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2])
    result = ClusterResult(labels, {"k-means": clusters}, pd.DataFrame(), np.zeros((14, 2)), np.arange(14))
    assert cluster_majorities(result) == {0: 3, 1: 4, 2: 0}
    odd = cluster_disagreements(result, n=4)
    assert list(odd) == [3, 4, 9, 10]  # two from each cluster that has any, none from the pure one
    assert all(labels[i] != cluster_majorities(result)[clusters[i]] for i in odd)
    assert len(cluster_disagreements(result, n=2)) == 2


def test_tta_baselines_give_each_test_set_its_own_majority():
    import pandas as pd
    from types import SimpleNamespace

    from ferlib.recipes.beyond import tta_baselines
    from ferlib.display import GUESS

    MAJORITY = "always Happy"  # Happy (3) is the toy's most common training emotion
    usage = np.array(["Training"] * 6 + ["PrivateTest"] * 4)
    labels = np.array([3, 3, 3, 0, 1, 2, 3, 0, 0, 5])
    dataset = SimpleNamespace(usage=usage, labels=labels, images=np.zeros((10, 48, 48), np.uint8))
    run = SimpleNamespace(profile_name="full", dataset=dataset, arrays={"train": (None, labels[:6]), "test": (None, np.array([3, 3, 0]))})
    tta = pd.DataFrame([{"model": "CNN", "test set": s, "images": 3, "plain": 0.5, "flip": 0.5, "flip + shifts": 0.5}
                        for s in ("run's test images", "PrivateTest")])
    rows = tta_baselines(run, tta).set_index(["model", "test set"])
    assert list(rows.columns) == ["images", "plain", "flip", "flip + shifts"]
    assert rows.loc[(MAJORITY, "run's test images"), "plain"] == pytest.approx(2 / 3)
    assert rows.loc[(MAJORITY, "PrivateTest"), "flip + shifts"] == 0.25  # one Happy face among four
    assert rows.loc[(MAJORITY, "PrivateTest"), "images"] == 4
    assert rows.loc[(GUESS, "PrivateTest"), "flip"] == pytest.approx(1 / 7)


def test_the_literature_table_links_its_sources_and_marks_this_run():
    import pandas as pd

    from ferlib.display import style_literature_table

    records = pd.DataFrame([{"model": "VGG", "accuracy": 0.7328, "source": "https://arxiv.org/abs/2105.03588",
                             "this run": False},
                            {"model": "This book's CNN", "accuracy": 0.61, "source": "this run", "this run": True}])
    html = style_literature_table(records).to_html()
    assert '<a href="https://arxiv.org/abs/2105.03588">arXiv</a>' in html and "73.3%" in html
    assert "#T_{0}_row1_col0, #T_{0}_row1_col1, #T_{0}_row1_col2 {{\n  font-weight: bold".format(
        html.split('<table id="T_')[1].split('"')[0]) in html  # this run's row, every visible cell
    assert "row0_col0," not in html
    assert "this run</th>" not in html  # the marker column is hidden


def test_a_smoke_run_scores_its_share_of_private_test(fer2013_csv, tmp_path):
    """Ten views of all 3,589 faces per model were most of a smoke run's time on a CPU."""
    from dataclasses import replace

    from ferlib.recipes.beyond import private_test
    from ferlib.recipes.run import prepare_run

    run = prepare_run(data=str(fer2013_csv), profile="smoke", run_dir=tmp_path)
    x, y = private_test(run)
    assert len(y) == len(x) == round(run.profile.subset * 3589)
    assert np.array_equal(private_test(run)[1], y)  # the same faces every time: drawn with the run's seed
    everything = replace(run, profile_name="cpu")
    assert len(private_test(everything)[1]) == 3589
