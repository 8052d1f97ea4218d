"""The models on real photos: detection, cropping, probabilities, the command and bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ferlib.tooling.cli import main
from ferlib.data import EMOTIONS
from ferlib.files import save_model
from ferlib.models import build_cnn
from ferlib.predict import (
    MAX_SIDE,
    PhotoError,
    crop_face,
    detect_faces,
    load_run_model,
    plot_faces,
    predict_photo,
    read_photo,
)
from ferlib.runfolder import RunFolder

skimage_data = pytest.importorskip("skimage.data")

# Where the astronaut's face is in scikit-image's 512 x 512 photo (found by eye: hairline to
# chin, ear to ear).
ASTRONAUT_FACE = {"left": 160, "right": 290, "top": 50, "bottom": 180}


@pytest.fixture(scope="module")
def astronaut(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "astronaut.jpg"
    Image.fromarray(skimage_data.astronaut()).save(path, quality=95)
    return path


@pytest.fixture(scope="module")
def run_with_model(tmp_path_factory) -> Path:
    """A run folder holding an (untrained, small) phase-1 CNN where a run keeps it."""
    folder = RunFolder(tmp_path_factory.mktemp("run"))
    save_model(build_cnn(filters=(4, 4, 4, 4), dense_units=(8, 8, 8)), folder.final_model("cnn", "phase1"))
    return folder.root


def test_one_face_found_where_the_astronaut_is(astronaut):
    boxes = detect_faces(read_photo(astronaut))
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    cx, cy = x + w / 2, y + h / 2
    assert ASTRONAUT_FACE["left"] < cx < ASTRONAUT_FACE["right"] and ASTRONAUT_FACE["top"] < cy < ASTRONAUT_FACE["bottom"]
    assert 60 < w < 160 and 60 < h < 160


def test_a_face_becomes_a_48x48_grey_image(astronaut):
    photo = read_photo(astronaut)
    face = crop_face(photo, detect_faces(photo)[0])
    assert face.shape == (48, 48) and face.dtype == np.uint8
    assert 20 < face.mean() < 235 and face.std() > 10  # a real crop, not a blank


def test_probabilities_for_each_face(astronaut, run_with_model):
    model = load_run_model(run_with_model, "cnn")
    faces = predict_photo(astronaut, model)
    assert len(faces) == 1
    face = faces[0]
    assert list(face.probabilities) == list(EMOTIONS)
    assert sum(face.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert all(0 <= p <= 1 for p in face.probabilities.values())
    assert face.emotion == max(face.probabilities, key=face.probabilities.get)
    assert plot_faces(astronaut, faces).axes  # the annotated figure draws


def test_a_photo_with_no_face(tmp_path, run_with_model):
    path = tmp_path / "wall.png"
    Image.new("RGB", (320, 240), (120, 130, 140)).save(path)
    assert predict_photo(path, load_run_model(run_with_model)) == []


@pytest.mark.parametrize("content, message", [(b"", "is empty"), (b"just some text\n", "not an image"),
                                              (b"\xff\xd8\xff\xe0" + b"\x00" * 64, "image")])
def test_bad_files_get_a_clear_error(tmp_path, content, message):
    path = tmp_path / "photo.jpg"
    path.write_bytes(content)
    with pytest.raises(PhotoError, match=message) as err:
        read_photo(path)
    assert str(path) in str(err.value)


def test_a_huge_photo_is_shrunk_not_loaded_whole(tmp_path):
    path = tmp_path / "huge.jpg"
    Image.new("L", (9000, 6000), 128).save(path)
    photo = read_photo(path)
    assert max(photo.shape[:2]) <= MAX_SIDE and photo.shape[2] == 3
    assert photo.shape[1] / photo.shape[0] == pytest.approx(1.5, rel=0.02)  # the aspect ratio is kept


def test_a_run_folder_without_a_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such run folder"):
        load_run_model(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="run notebook 03_vit_tuning"):
        load_run_model(tmp_path, "vit")


def test_the_predict_command(astronaut, run_with_model, tmp_path, capsys):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    out = tmp_path / "out"
    code = main(["predict", str(astronaut), str(empty), "--run", str(run_with_model), "--out", str(out)])
    said = capsys.readouterr()
    assert code == 1  # one photo could not be read
    assert "face 1 at" in said.out and f"{empty}: the file is empty" in said.err
    assert (out / "astronaut.faces.png").stat().st_size > 10_000
    rows = list(csv.DictReader((out / "faces.csv").open()))
    assert len(rows) == 1 and rows[0]["photo"] == str(astronaut)
    assert sum(float(rows[0][e]) for e in EMOTIONS) == pytest.approx(1.0, abs=1e-3)
    assert main(["predict", str(astronaut), "--run", str(run_with_model), "--out", str(out), "--format", "json"]) == 0
    saved = json.loads((out / "faces.json").read_text())
    assert saved[str(astronaut)][0]["emotion"] in EMOTIONS
    assert main(["predict", str(astronaut), "--run", str(tmp_path / "nothing")]) == 1
    assert "no such run folder" in capsys.readouterr().err


def test_predict_checks_its_paths_before_loading_a_model(tmp_path, capsys, monkeypatch):
    import ferlib.predict

    monkeypatch.setattr(ferlib.predict, "load_run_model", lambda *a, **k: pytest.fail("loaded a model"))
    (tmp_path / "run").mkdir()
    assert main(["predict", str(tmp_path / "typo.jpg"), "--run", str(tmp_path / "run")]) == 1
    said = capsys.readouterr()
    assert said.err.strip() == f"ferlib: error: {tmp_path / 'typo.jpg'}: no such file" and said.out == ""


def test_a_missing_photo_among_others_is_named_and_the_others_are_read(astronaut, run_with_model, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["predict", str(tmp_path / "typo.jpg"), str(astronaut), str(tmp_path), "--run", str(run_with_model),
                 "--out", str(out)])
    said = capsys.readouterr()
    assert code == 1  # something was not read
    assert f"{tmp_path / 'typo.jpg'}: no such file" in said.err
    assert f"{tmp_path}: a folder, not a photo" in said.err
    assert f"{astronaut}: face 1" in said.out


def test_photos_with_the_same_name_keep_their_own_annotated_image(astronaut, run_with_model, tmp_path):
    from ferlib.predict import load_run_model, predict_files

    twin = tmp_path / "elsewhere" / astronaut.name
    twin.parent.mkdir()
    Image.open(astronaut).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(twin)
    png = tmp_path / "astronaut.png"
    Image.open(astronaut).save(png)
    done = predict_files([astronaut, twin, png], load_run_model(run_with_model, "cnn"), tmp_path / "out")
    written = list(done["images"].values())
    assert len(set(written)) == 3 and all(path.is_file() for path in written)


def test_predict_names_a_model_file_cut_short(astronaut, run_with_model, tmp_path, capsys):
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(run_with_model, damaged)
    for model in damaged.rglob("model.keras"):
        model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    assert main(["predict", str(astronaut), "--run", str(damaged), "--out", str(tmp_path / "out")]) == 1
    said = capsys.readouterr()
    assert said.err.count("\n") == 1 and "model.keras: not a readable Keras model" in said.err
    assert "Traceback" not in said.err


def _face_centre(photo: np.ndarray) -> tuple[float, float]:
    boxes = detect_faces(photo)
    assert len(boxes) == 1, f"found {len(boxes)} faces"
    x, y, w, h = boxes[0]
    return x + w / 2, y + h / 2


def test_a_phone_photo_stored_sideways_is_turned_by_its_exif_note(tmp_path):
    """Phones store a portrait photo as the sensor read it, turned, with an EXIF tag saying how
    to turn it back; undetected, the face lies on its side and the detector misses it."""
    sideways = np.rot90(skimage_data.astronaut(), k=1)  # as a phone held on its side stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: turn 90 degrees clockwise to display
    path = tmp_path / "phone.jpg"
    Image.fromarray(np.ascontiguousarray(sideways)).save(path, quality=95, exif=exif.tobytes())
    from ferlib.detector import face_detector

    if face_detector()[0] == "haar":  # OpenCV 4's cascade misses a face on its side (YuNet may not)
        assert detect_faces(np.ascontiguousarray(sideways)) == []
    photo = read_photo(path)
    assert photo.shape == (512, 512, 3)
    cx, cy = _face_centre(photo)
    assert ASTRONAUT_FACE["left"] < cx < ASTRONAUT_FACE["right"] and ASTRONAUT_FACE["top"] < cy < ASTRONAUT_FACE["bottom"]


def test_a_16_bit_png_keeps_its_grey_levels(tmp_path):
    grey = np.asarray(Image.fromarray(skimage_data.astronaut()).convert("L"), dtype=np.uint16) * 257
    path = tmp_path / "deep.png"
    Image.fromarray(grey).save(path)  # Pillow writes a 16-bit grey PNG (mode I;16)
    with Image.open(path) as stored:
        assert stored.mode.startswith("I")
    photo = read_photo(path)
    assert photo.dtype == np.uint8 and 100 < photo.mean() < 160  # not clipped to white
    _face_centre(photo)


def test_a_floating_point_tiff_in_0_to_1_keeps_its_grey_levels(tmp_path):
    grey = np.asarray(Image.fromarray(skimage_data.astronaut()).convert("L"), dtype=np.float32) / 255
    path = tmp_path / "float.tif"
    Image.fromarray(grey).save(path)  # mode F: 32-bit floats, as scientific software writes them
    photo = read_photo(path)
    assert photo.dtype == np.uint8 and 100 < photo.mean() < 160  # not black
    _face_centre(photo)


def test_an_image_past_the_pixel_limit_is_one_clear_line_and_no_warning(tmp_path, monkeypatch):
    import warnings

    import ferlib.predict

    path = tmp_path / "big.png"
    Image.new("L", (300, 300)).save(path)  # 90,000 pixels: between the limit and twice it
    monkeypatch.setattr(ferlib.predict, "MAX_PIXELS", 60_000)
    before = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a library warning would fail here
        with pytest.raises(PhotoError, match=r"big\.png: the image has more than 60,000 pixels"):
            read_photo(path)
    assert Image.MAX_IMAGE_PIXELS == before  # Pillow's limit is left as it was, for other images


def test_a_face_crop_is_classified_whole_with_cropped(astronaut, run_with_model, tmp_path, capsys):
    """FER2013's own images are faces that fill 48 x 48 pixels, too small for the detector:
    without --cropped the command says so and how to ask; with it the whole image is the face,
    and its probabilities are the model's on that image as it is."""
    from ferlib.fer2013 import as_model_input
    from ferlib.predict import faces_in_images

    pixels = read_photo(astronaut)
    grey = np.asarray(Image.fromarray(pixels).convert("L").crop((165, 55, 295, 185)).resize((48, 48)))
    crop = tmp_path / "crop.png"
    Image.fromarray(grey).save(crop)
    out = tmp_path / "out"
    assert main(["predict", str(crop), "--run", str(run_with_model), "--out", str(out)]) == 0
    assert f"{crop}: no face found (if the photo is a face crop already" in capsys.readouterr().out
    assert main(["predict", str(crop), "--run", str(run_with_model), "--out", str(out), "--cropped"]) == 0
    assert f"{crop}: face 1 at x=0 y=0 (48x48)" in capsys.readouterr().out
    model = load_run_model(run_with_model)
    [[face]] = faces_in_images([read_photo(crop)], model, cropped=True)
    expected = model.predict(as_model_input(grey[None]), verbose=0)[0]
    assert [face.probabilities[e] for e in EMOTIONS] == pytest.approx(expected.tolist(), abs=1e-6)
