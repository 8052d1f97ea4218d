"""The small-image transformers (chapter "Why the ViT loses, tested"), their layers, and what
the book reads from them: attention rollout and Grad-CAM."""

from __future__ import annotations

import math
from dataclasses import asdict

import keras
import numpy as np
import pytest

from ferlib import features
from ferlib.models import build_model, count_multiply_adds, model_names, model_spec
from ferlib.models.fastcnn import FastCNNConfig, with_augmentation
from ferlib.models.layers import LocalitySelfAttention, ShiftedImages
from ferlib.models.transformers import TRANSFORMERS, TransformerConfig, build_transformer

IMAGES = np.random.default_rng(0).random((4, 48, 48, 1), dtype=np.float32)


@pytest.mark.parametrize("name", sorted(TRANSFORMERS))
def test_registered_transformers_build_train_and_reload(name, tmp_path):
    spec = model_spec(name)
    assert spec.family == "transformer" and not spec.in_report
    assert name in model_names(every=True) and name not in model_names()
    model = build_model(name)
    assert model.output.shape[-1] == 7 and model.get_layer("softmax").dtype_policy.name == "float32"
    # each name starts from its own defaults
    assert asdict(model_spec(name).config()) == asdict(TRANSFORMERS[name][1])
    model.compile("adam", "categorical_crossentropy")
    y = np.eye(7, dtype=np.float32)[np.arange(4) % 7]
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.fit(IMAGES, y, epochs=1, verbose=0)
    assert any(not np.allclose(a, w.numpy()) for a, w in zip(before, model.trainable_weights))
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again.predict(IMAGES, verbose=0), model.predict(IMAGES, verbose=0), atol=1e-6)


def test_config_refuses_what_cannot_be_built():
    with pytest.raises(ValueError, match="patch_size 5"):
        TransformerConfig(patch_size=5)
    with pytest.raises(ValueError, match="tokenizer"):
        TransformerConfig(tokenizer="pixels")
    with pytest.raises(ValueError, match="heads"):
        TransformerConfig(projection_dim=30, num_heads=4)


@pytest.mark.parametrize("tokenizer,expected", [("patches", 144), ("shifted-patches", 144), ("conv", 144),
                                                ("cnn-stem", 144)])
def test_each_tokenizer_gives_a_12_by_12_grid_of_tokens(tokenizer, expected):
    model = build_transformer(TransformerConfig(tokenizer=tokenizer, transformer_layers=1))
    assert model.get_layer("positions").output.shape[1:] == (expected, 64)


def test_patch_size_sets_the_number_of_tokens_and_the_cost():
    costs = {}
    for size in (2, 3, 4, 6):
        model = build_model("vit", config=model_spec("vit").config(patch_size=size))
        assert model.get_layer("patch_encoder").output.shape[1] == (48 // size) ** 2
        costs[size] = count_multiply_adds(model)
    assert costs[2] > costs[3] > costs[4] > costs[6]  # attention grows with the square of the tokens


def test_multiply_adds_count_the_locality_attention():
    plain = build_transformer(TransformerConfig(tokenizer="shifted-patches"))
    local = build_transformer(TransformerConfig(tokenizer="shifted-patches", locality_attention=True))
    assert count_multiply_adds(local) == count_multiply_adds(plain) > 0


def test_shifted_images_are_the_image_and_four_diagonal_shifts():
    image = np.arange(36, dtype=np.float32).reshape(1, 6, 6, 1)
    out = keras.ops.convert_to_numpy(ShiftedImages(1)(image))
    assert out.shape == (1, 6, 6, 5)
    np.testing.assert_array_equal(out[..., 0], image[..., 0])
    for channel in range(1, 5):
        copy = out[0, :, :, channel]
        # every copy is the image moved one pixel along both axes, zeros where it uncovers
        moved = [(dy, dx) for dy in (-1, 1) for dx in (-1, 1)
                 if np.array_equal(copy, np.roll(np.roll(np.pad(image[0, :, :, 0], 1), dy, 0), dx, 1)[1:-1, 1:-1])]
        assert len(moved) == 1
    assert len({out[0, :, :, c].tobytes() for c in range(1, 5)}) == 4


def test_locality_attention_never_attends_to_the_token_itself():
    layer = LocalitySelfAttention(num_heads=2, key_dim=4)
    x = np.random.default_rng(1).random((2, 9, 8), dtype=np.float32)
    _, scores = layer(x, x, return_attention_scores=True)
    scores = keras.ops.convert_to_numpy(scores)
    assert np.allclose(scores[..., np.arange(9), np.arange(9)], 0.0)
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-5)
    assert math.isclose(float(layer.temperature.numpy()), 2.0)  # sqrt(key_dim) to start
    layer.temperature.assign(0.01)  # a cold softmax: each query's weight goes to about one key
    _, cold = layer(x, x, return_attention_scores=True)
    assert keras.ops.convert_to_numpy(cold).max(-1).mean() > scores.max(-1).mean() + 0.3


def test_translate_crop_leaves_the_face_at_inference():
    """Networks with a fixed token grid need the 48 x 48 face at inference: the translate
    crop passes it through, the zero-pad crop (the published fast CNN's) would pad it."""
    model = with_augmentation(build_model("vit"), FastCNNConfig(crop_style="translate"))
    assert model.predict(IMAGES, verbose=0).shape == (4, 7)
    crop = model.get_layer("crop")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(crop(IMAGES, training=False)), IMAGES)
    moved = keras.ops.convert_to_numpy(crop(IMAGES, training=True))
    padded = np.pad(IMAGES, ((0, 0), (4, 4), (4, 4), (0, 0)))
    for i in range(4):  # each training image is a whole-pixel crop of the padded face
        assert any(np.allclose(moved[i], padded[i, 4 - dy:52 - dy, 4 - dx:52 - dx])
                   for dy in range(-4, 5) for dx in range(-4, 5))
    with pytest.raises(ValueError, match="crop_style"):
        with_augmentation(build_model("vit"), FastCNNConfig(crop_style="mirror"))


@pytest.mark.parametrize("name", ["vit", *sorted(TRANSFORMERS)])
def test_attention_rollout_is_a_distribution_over_the_token_grid(name):
    rollout = features.attention_rollout(build_model(name), IMAGES)
    assert rollout.shape == (4, 12, 12)
    np.testing.assert_allclose(rollout.sum(axis=(1, 2)), 1.0, atol=1e-9)
    assert (rollout >= 0).all()


def test_attention_rollout_reduces_to_the_attention_map_for_one_block_without_residual():
    model = build_model("vit", config=model_spec("vit").config(transformer_layers=1))
    image = IMAGES[:1]
    rollout = features.attention_rollout(model, image, residual=0.0)[0]
    np.testing.assert_allclose(rollout, features.vit_attention_map(model, image), atol=1e-6)
    # all residual: the identity, every token its own share
    np.testing.assert_allclose(features.attention_rollout(model, image, residual=1.0)[0], 1 / 144, atol=1e-12)


def test_attention_rollout_refuses_a_network_without_attention():
    with pytest.raises(ValueError, match="no attention layers"):
        features.attention_rollout(build_model("cnn"), IMAGES)


def test_grad_cam_finds_the_pixels_that_decide_the_class():
    """A small CNN learns that a bright square in the top-left corner means class 1; its
    Grad-CAM for class 1 must put most of its mass in that corner."""
    rng = np.random.default_rng(0)
    x = rng.random((512, 48, 48, 1), dtype=np.float32) * 0.3
    y = rng.integers(0, 2, 512)
    x[y == 1, 4:16, 4:16] = 1.0
    keras.utils.set_random_seed(0)
    inputs = keras.Input((48, 48, 1))
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(inputs)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_b")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(h))
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] > 0.95
    cam = features.grad_cam(model, x[y == 1][:8], "conv_b", classes=np.ones(8, int))
    assert cam.shape == (8, 48, 48) and np.isclose(cam.max(), 1.0)
    corner = cam[:, :20, :20].sum() / cam.sum()
    assert corner > 0.5, f"only {corner:.0%} of the Grad-CAM mass on the square"


def test_grad_cam_on_the_report_cnn_defaults_to_the_predicted_class():
    model = build_model("cnn")
    cam = features.grad_cam(model, IMAGES, "relu4")
    assert cam.shape == (4, 48, 48)
    assert ((cam >= 0) & (cam <= 1)).all()


def test_grad_cam_of_a_network_that_pads_the_face_at_inference_stays_on_the_face():
    """The published fast CNN pads the 48 x 48 face to 56 x 56 at inference (its zero-pad crop),
    so its last map covers the padded image: the Grad-CAM must be cut back to the face, not
    stretched over it (the bright square must stay in its corner)."""
    rng = np.random.default_rng(0)
    x = rng.random((512, 48, 48, 1), dtype=np.float32) * 0.3
    y = rng.integers(0, 2, 512)
    x[y == 1, 4:16, 4:16] = 1.0
    keras.utils.set_random_seed(0)
    model = build_model("fastcnn", config=FastCNNConfig(widths=(8, 16), flip=False, erasing=0.0,
                                                        batchnorm_momentum=0.8))  # settles in few steps
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] > 0.95
    assert model.get_layer("s1relu1").output.shape[1] == 24  # declared; it computes 28 x 28 at inference
    cam = features.grad_cam(model, x[y == 1][:8], "s1relu1", classes=np.ones(8, int))
    assert cam.shape == (8, 48, 48)
    mean = cam.mean(axis=0)
    rows, cols = np.mgrid[:48, :48]
    centre = np.array([(mean * rows).sum(), (mean * cols).sum()]) / mean.sum()
    # the square's centre is (9.5, 9.5); stretching the padded map over the face moves it to about (12, 12)
    assert np.hypot(*(centre - 9.5)) < 2.0, f"Grad-CAM centred at {centre}, the square at (9.5, 9.5)"
