"""Videos: sampled frames, their faces in a table, an annotated video and emotions over time,
on a short clip made from a real photo."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ferlib.fer2013 import EMOTIONS
from ferlib.predict import PhotoError
from ferlib.video import predict_video, sample_step

skdata = pytest.importorskip("skimage.data")
cv2 = pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """Two seconds at 10 frames per second: the astronaut's portrait drifting right, 2 pixels a frame."""
    path = tmp_path_factory.mktemp("video") / "astronaut.mp4"
    photo = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (512, 512))
    for frame in range(20):
        writer.write(np.roll(photo, 2 * frame, axis=1))
    writer.release()
    return path


@pytest.fixture(scope="module")
def model():
    import keras

    from ferlib.models import build_model
    from ferlib.models.fastcnn import FastCNNConfig

    keras.utils.set_random_seed(0)
    return build_model("fastcnn", config=FastCNNConfig(widths=(8, 8, 8, 8)))


def test_every_fifth_frame_is_classified_and_written_three_ways(clip, model, tmp_path):
    tmp_path = tmp_path / "out"
    result = predict_video(clip, model, tmp_path, every=5)
    assert result.times == pytest.approx([0.0, 0.5, 1.0, 1.5])
    assert [len(faces) for faces in result.faces] == [1, 1, 1, 1]
    rows = list(csv.DictReader(result.table.open()))
    assert [float(r["seconds"]) for r in rows] == [0.0, 0.5, 1.0, 1.5]
    assert [int(r["frame"]) for r in rows] == [0, 5, 10, 15]
    assert all(abs(sum(float(r[e]) for e in EMOTIONS) - 1) < 1e-3 for r in rows)
    xs = [int(r["x"]) for r in rows]
    assert xs == sorted(xs) and xs[-1] - xs[0] > 15  # the face drifts right, 10 pixels per sampled frame
    annotated = cv2.VideoCapture(str(result.video))
    assert int(annotated.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    annotated.release()
    assert result.plot.stat().st_size > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "astronaut.emotions.png", "astronaut.faces.csv", "astronaut.faces.mp4"]  # nothing half-written left


def test_the_rate_sets_the_step_and_bad_rates_are_refused():
    assert sample_step(30.0, None, None) == 15  # two frames a second by default
    assert sample_step(30.0, None, 10) == 3
    assert sample_step(30.0, 4, None) == 4
    assert sample_step(5.0, None, 10) == 1
    with pytest.raises(ValueError, match="positive"):
        sample_step(30.0, None, 0)


def test_a_file_that_is_not_a_video_is_one_line_that_names_it(tmp_path, model):
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video")
    with pytest.raises(PhotoError, match=r"notes\.mp4: not a video OpenCV can read"):
        predict_video(fake, model, tmp_path / "out")
    assert not any((tmp_path / "out").glob("*"))


def test_the_command_line_takes_a_video(clip, tmp_path, capsys):
    from ferlib.files import save_model
    from ferlib.models import build_cnn
    from ferlib.runfolder import RunFolder
    from ferlib.tooling.cli import main

    folder = RunFolder(tmp_path / "run")
    save_model(build_cnn(filters=(4, 4, 4, 4), dense_units=(8, 8, 8)), folder.final_model("cnn", "phase1"))
    assert main(["predict", str(clip), "--run", str(folder.root), "--out", str(tmp_path / "out"),
                 "--per-second", "5"]) == 0
    said = capsys.readouterr().out
    assert "10 frames sampled, 10 faces" in said and "astronaut.faces.mp4" in said
