"""The model that ships inside the package: its file against its card, its accuracy on the real
PrivateTest, the export and load round trip, and ``ferlib predict`` without a run folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ferlib.files import sha256_of
from PIL import Image

from ferlib import shipped
from ferlib.files import DamagedFile, write_json
from ferlib.tooling.cli import main


def test_the_shipped_weights_are_the_file_their_card_describes():
    card = shipped.shipped_card()
    weights = shipped.FOLDER / shipped.WEIGHTS
    assert weights.stat().st_size <= shipped.MAX_BYTES == 4 * 2**20
    assert sha256_of(weights) == card["weights_sha256"]
    assert card["weights_bytes"] == weights.stat().st_size
    for field in ("protocol", "private_test", "private_test_tta", "public_test", "data_fingerprint", "recipe",
                  "seed", "commit", "chosen"):
        assert card[field] not in (None, ""), field
    assert "PrivateTest" in card["protocol"] and card["chosen"].startswith("the best PublicTest accuracy among seeds")
    assert card["data_fingerprint"].startswith("sha256:")
    text = (shipped.FOLDER / shipped.MODEL_CARD).read_text()
    assert f"{card['private_test']:.2%}" in text and card["weights_sha256"] in text


@pytest.mark.realdata
def test_the_shipped_model_scores_its_card_on_the_real_private_test(fer2013):
    from ferlib.recipes.fast import accuracy
    from ferlib.splits import official_split, split_arrays

    card = shipped.shipped_card()
    assert fer2013.fingerprint == card["data_fingerprint"], "the card was made on another copy of FER2013"
    arrays = split_arrays(fer2013.images, fer2013.labels, official_split(fer2013.usage))
    x, y = arrays["test"]
    model = shipped.load_shipped_model()
    right = int(round(accuracy(model, x, y, flip=False) * len(y)))
    # float32 sums in another order on another CPU may turn a face or two that sit on a boundary
    assert abs(right - card["private_test_correct"]) <= 2, (right, card["private_test_correct"])
    assert accuracy(model, x, y, flip=True) == pytest.approx(card["private_test_tta"], abs=3 / len(y))


def _tiny_card() -> dict:
    from dataclasses import asdict, replace

    from ferlib.models.fastcnn import FastCNNConfig
    from ferlib.recipes.fast import RECIPE

    recipe = replace(RECIPE, network=FastCNNConfig(widths=(8, 8, 8, 8)))
    return {"protocol": "test", "private_test": 0.5, "private_test_correct": 1, "private_test_faces": 2,
            "private_test_tta": 0.5, "public_test": 0.5, "chosen": "the best PublicTest accuracy among seeds 0",
            "data": "none", "data_fingerprint": "sha256:0", "seed": 0, "commit": "abc", "machine": "cpu",
            "train_seconds": 60.0, "precision": "float32", "parameters": 0,
            "recipe": json.loads(json.dumps(asdict(recipe)))}


def test_export_then_load_gives_the_same_answers_in_float16_and_refuses_a_changed_file(tmp_path):
    import keras

    from ferlib.models import build_model
    from ferlib.models.fastcnn import FastCNNConfig

    keras.utils.set_random_seed(0)
    model = build_model("fastcnn", config=FastCNNConfig(widths=(8, 8, 8, 8)))
    card = _tiny_card()
    tmp_path = tmp_path / "shipped"
    shipped.export_model(model, tmp_path, card)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([shipped.WEIGHTS, shipped.CARD, shipped.MODEL_CARD])
    x = np.random.default_rng(0).random((16, 48, 48, 1), dtype=np.float32)
    loaded = shipped.load_shipped_model(tmp_path)
    assert all(w.dtype == np.float32 for w in loaded.get_weights())
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=2e-3)
    weights = tmp_path / shipped.WEIGHTS
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(DamagedFile, match="SHA-256 differs"):
        shipped.load_shipped_model(tmp_path)


def test_predict_without_a_run_uses_the_shipped_model(tmp_path, capsys):
    skdata = pytest.importorskip("skimage.data")
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(skdata.astronaut()).save(photo, quality=95)
    assert main(["predict", str(photo), "--out", str(tmp_path / "out")]) == 0
    said = capsys.readouterr()
    assert "face 1 at" in said.out and said.err == ""
    assert (tmp_path / "out" / "astronaut.faces.png").exists()


def _run_folder(tmp_path: Path, profile: str, best_val: float, majority: float | None) -> Path:
    from ferlib.files import save_model
    from ferlib.models import build_cnn
    from ferlib.runfolder import RunFolder

    folder = RunFolder(tmp_path / profile)
    path = save_model(build_cnn(filters=(4, 4, 4, 4), dense_units=(8, 8, 8)), folder.final_model("cnn", "phase1"))
    (path.parent / "history.csv").write_text(f"epoch,val_accuracy\n0,{best_val - 0.01}\n1,{best_val}\n")
    card = {"profile": profile, "synthetic": False}
    if majority is not None:
        card["val_majority"] = majority
    write_json(folder.card, card)
    return folder.root


def test_a_model_that_has_not_learned_says_so(tmp_path, capsys):
    from ferlib.predict import not_learned_warning

    assert "smoke run" in not_learned_warning(_run_folder(tmp_path, "smoke", 0.60, 0.25))
    guessing = _run_folder(tmp_path, "cpu", 0.27, 0.25)
    assert "within 5% of always answering the most common emotion (25%)" in not_learned_warning(guessing)
    assert not_learned_warning(_run_folder(tmp_path, "full", 0.60, 0.25)) is None
    assert not_learned_warning(_run_folder(tmp_path, "older", 0.27, None)) is None  # a card before val_majority
    skdata = pytest.importorskip("skimage.data")
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(skdata.astronaut()).save(photo, quality=95)
    assert main(["predict", str(photo), "--run", str(guessing), "--out", str(tmp_path / "out")]) == 0
    assert "has not learned to recognise emotions" in capsys.readouterr().err


@pytest.mark.slow
def test_ship_trains_the_recipe_and_writes_a_model_that_loads(tmp_path):
    """`ferlib ship` from scratch, at smoke scale: one epoch on the synthetic faces."""
    from ferlib.recipes.ship import ship

    out = tmp_path / "shipped"
    card = ship("synthetic", seeds=(0, 1), epochs=1, root=tmp_path / "runs", out=out)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["fast-1ep-seed0", "fast-1ep-seed1"]
    assert card["seed"] in (0, 1) and card["recipe"]["epochs"] == 1 and card["data"].startswith("synthetic")
    assert card["private_test_correct"] == round(card["private_test"] * card["private_test_faces"])
    model = shipped.load_shipped_model(out)
    assert model.output_shape == (None, 7)
    assert shipped.shipped_card(out)["weights_sha256"] == sha256_of(out / shipped.WEIGHTS)
