"""The report's two architectures (section III): layers, shapes and parameter counts.

The parameter counts are checked twice: against the numbers the book prints, and against
the same numbers derived here from the layer formulas, so that a change of architecture
cannot hide behind an updated constant.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from keras import layers

from ferlib.display import describe_params
from ferlib.models import (
    INPUT_SHAPE,
    VIT_TUNING_STORY,
    Patches,
    PatchEncoder,
    ViTConfig,
    build_cnn,
    build_model,
    build_vit,
    count_params,
    model_summary,
)

CNN_FILTERS = (64, 128, 256, 512)
CNN_DENSE = (512, 256, 64)
CNN_TOTAL, CNN_TRAINABLE = 4_061_703, 4_059_783
VIT_DEFAULT_TOTAL = 24_487
# (layers, heads, projection dim) -> parameters, in the order of the report's 5.2
TUNING_STORY_PARAMS = [
    ((6, 6, 128), 2_794_247),
    ((6, 6, 64), 708_999),
    ((4, 4, 64), 343_687),
    ((4, 4, 32), 89_927),
    ((4, 4, 16), 24_487),
]


# --------------------------------------------------------------------------- formulas


def cnn_param_formula(filters=CNN_FILTERS, dense=CNN_DENSE, size=48, channels=1, classes=7) -> tuple[int, int]:
    """(total, trainable) of: [3x3 conv + BN + 2x2 pool] per filter count, flatten, dense, softmax."""
    total = trainable = 0
    c_in = channels
    for f in filters:
        conv = (3 * 3 * c_in + 1) * f  # kernel + bias
        bn = 4 * f  # gamma, beta (trained) + moving mean, moving variance (not trained)
        total += conv + bn
        trainable += conv + 2 * f
        c_in = f
        size //= 2
    n_in = size * size * c_in
    for units in (*dense, classes):
        total += (n_in + 1) * units
        trainable += (n_in + 1) * units
        n_in = units
    return total, trainable


def vit_param_formula(layers_: int, heads: int, d: int, patch=4, size=48, classes=7, mlp_ratio=2) -> int:
    """Parameters of the ViT: patch projection + position embedding, pre-norm blocks, head."""
    n_patches = (size // patch) ** 2
    patch_values = patch * patch
    encoder = (patch_values + 1) * d + n_patches * d
    attention = 3 * (d * heads * d + heads * d) + (heads * d * d + d)  # q, k, v (key_dim = d) + output
    mlp = (d + 1) * mlp_ratio * d + (mlp_ratio * d + 1) * d
    norms = 2 * (2 * d)
    block = attention + mlp + norms
    head = 2 * d + (d + 1) * classes  # final LayerNorm + softmax Dense
    return encoder + layers_ * block + head


def test_formulas_give_the_books_numbers():
    # the formulas themselves, against the numbers the book prints
    assert cnn_param_formula() == (CNN_TOTAL, CNN_TRAINABLE)
    for (n_layers, heads, d), expected in TUNING_STORY_PARAMS:
        assert vit_param_formula(n_layers, heads, d) == expected


# --------------------------------------------------------------------------- CNN


def test_cnn_input_and_softmax_output(cnn):
    assert tuple(cnn.input.shape) == (None, 48, 48, 1)
    assert tuple(cnn.output.shape) == (None, 7)
    assert cnn.layers[-1].activation is keras.activations.softmax
    x = np.random.default_rng(0).random((5, 48, 48, 1), dtype=np.float32)
    p = cnn.predict(x, verbose=0)
    assert p.shape == (5, 7)
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_cnn_layer_sequence(cnn):
    """conv(3x3) -> BN -> ReLU -> MaxPool -> Dropout(0.3), four times; then Dense+Dropout x3."""
    seq = [layer for layer in cnn.layers if not isinstance(layer, layers.InputLayer)]
    expected = []
    for i, f in enumerate(CNN_FILTERS, start=1):
        expected += [("Conv2D", f"conv{i}"), ("FusedBatchNormalization", f"bn{i}"), ("Activation", f"relu{i}"),
                     ("MaxPooling2D", f"pool{i}"), ("Dropout", f"drop{i}")]
    expected.append(("Flatten", "flatten"))
    for i, _ in enumerate(CNN_DENSE, start=1):
        expected += [("Dense", f"dense{i}"), ("Dropout", f"dense_drop{i}")]
    expected.append(("Dense", "softmax"))
    assert [(type(layer).__name__, layer.name) for layer in seq] == expected

    for i, f in enumerate(CNN_FILTERS, start=1):
        conv = cnn.get_layer(f"conv{i}")
        assert conv.filters == f
        assert tuple(conv.kernel_size) == (3, 3)
        assert cnn.get_layer(f"relu{i}").activation is keras.activations.relu
        assert tuple(cnn.get_layer(f"pool{i}").pool_size) == (2, 2)
        assert cnn.get_layer(f"drop{i}").rate == pytest.approx(0.3)
    for i, units in enumerate(CNN_DENSE, start=1):
        dense = cnn.get_layer(f"dense{i}")
        assert dense.units == units
        assert dense.activation is keras.activations.relu
        assert cnn.get_layer(f"dense_drop{i}").rate == pytest.approx(0.3)
    assert cnn.get_layer("softmax").units == 7


def test_cnn_feature_map_shapes(cnn):
    # 'same' padding and 2x2 pooling: 48 -> 24 -> 12 -> 6 -> 3
    assert tuple(cnn.get_layer("conv1").output.shape) == (None, 48, 48, 64)
    assert tuple(cnn.get_layer("pool4").output.shape) == (None, 3, 3, 512)
    assert tuple(cnn.get_layer("flatten").output.shape) == (None, 3 * 3 * 512)


def test_cnn_parameter_count(cnn):
    counts = count_params(cnn)
    assert counts == {"trainable": CNN_TRAINABLE, "non_trainable": CNN_TOTAL - CNN_TRAINABLE, "total": CNN_TOTAL}
    assert (counts["total"], counts["trainable"]) == cnn_param_formula()
    assert cnn.count_params() == CNN_TOTAL
    assert describe_params(cnn).startswith(f"**{CNN_TOTAL:,} parameters**, {CNN_TOTAL - CNN_TRAINABLE:,} of them")


def test_small_cnn_follows_the_formula():
    filters, dense = (8, 16, 16, 16), (16, 16, 16)
    counts = count_params(build_cnn(filters=filters, dense_units=dense))
    assert (counts["total"], counts["trainable"]) == cnn_param_formula(filters, dense)


# --------------------------------------------------------------------------- ViT


def test_vit_patches_and_encoding(vit):
    assert tuple(vit.input.shape) == (None, 48, 48, 1)
    assert tuple(vit.get_layer("patches").output.shape) == (None, 144, 16)
    assert tuple(vit.get_layer("patch_encoder").output.shape) == (None, 144, 16)
    assert isinstance(vit.get_layer("patches"), Patches)
    assert isinstance(vit.get_layer("patch_encoder"), PatchEncoder)


def test_patches_layer_cuts_4x4_squares():
    """Patch k is the k-th 4x4 square in row-major order, flattened row by row."""
    image = np.arange(48 * 48, dtype=np.float32).reshape(1, 48, 48, 1)
    out = keras.ops.convert_to_numpy(Patches(4)(image))
    assert out.shape == (1, 144, 16)
    np.testing.assert_array_equal(out[0, 0], image[0, :4, :4, 0].ravel())
    np.testing.assert_array_equal(out[0, 1], image[0, :4, 4:8, 0].ravel())
    np.testing.assert_array_equal(out[0, 12], image[0, 4:8, :4, 0].ravel())
    np.testing.assert_array_equal(out[0, 143], image[0, 44:, 44:, 0].ravel())


def test_vit_default_structure(vit):
    cfg = ViTConfig()
    assert (cfg.projection_dim, cfg.num_heads, cfg.transformer_layers, cfg.patch_size) == (16, 4, 4, 4)
    names = [layer.name for layer in vit.layers]
    blocks = [n for n in names if n.startswith("block")]
    assert blocks == ["block1", "block2", "block3", "block4"]
    for name in blocks:
        assert tuple(vit.get_layer(name).output.shape) == (None, 144, 16)
    attention = [layer for layer in vit.layers if isinstance(layer, layers.MultiHeadAttention)]
    assert len(attention) == 4
    assert all(layer.num_heads == 4 for layer in attention)
    # the head: global average pooling over the patches, dropout, 7-way softmax
    gap = [layer for layer in vit.layers if isinstance(layer, layers.GlobalAveragePooling1D)]
    assert len(gap) == 1
    assert tuple(gap[0].output.shape) == (None, 16)
    tail = vit.layers[-2:]
    assert isinstance(tail[0], layers.Dropout)
    assert isinstance(tail[1], layers.Dense)
    assert tail[1].units == 7
    assert tail[1].activation is keras.activations.softmax
    assert names.index(gap[0].name) < names.index(tail[0].name)


def test_vit_parameter_count_and_softmax(vit):
    assert count_params(vit) == {"trainable": VIT_DEFAULT_TOTAL, "non_trainable": 0, "total": VIT_DEFAULT_TOTAL}
    assert vit_param_formula(4, 4, 16) == VIT_DEFAULT_TOTAL
    p = vit.predict(np.random.default_rng(1).random((3, 48, 48, 1), dtype=np.float32), verbose=0)
    assert p.shape == (3, 7)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_tuning_story_order_and_parameters():
    story = [(c.transformer_layers, c.num_heads, c.projection_dim) for c in VIT_TUNING_STORY]
    assert story == [sizes for sizes, _ in TUNING_STORY_PARAMS]
    assert VIT_TUNING_STORY[-1] == ViTConfig()  # the final model is the default
    for config, (sizes, expected) in zip(VIT_TUNING_STORY, TUNING_STORY_PARAMS):
        model = build_vit(config)  # one call per configuration
        assert model.count_params() == expected == vit_param_formula(*sizes), config.label
        n_layers, heads, d = sizes
        attention = [layer for layer in model.layers if isinstance(layer, layers.MultiHeadAttention)]
        assert len(attention) == n_layers and {layer.num_heads for layer in attention} == {heads}
        assert tuple(model.get_layer("patch_encoder").output.shape) == (None, 144, d)
        assert f"{n_layers} layers" in config.label and f"dim {d}" in config.label


def test_build_vit_keyword_overrides():
    model = build_vit(projection_dim=8, num_heads=2, transformer_layers=1)
    assert model.count_params() == vit_param_formula(1, 2, 8)
    assert [layer.name for layer in model.layers if layer.name.startswith("block")] == ["block1"]
    # keywords override a given config
    assert build_vit(VIT_TUNING_STORY[0], projection_dim=8).count_params() == vit_param_formula(6, 6, 8)


def test_model_summary_contains_total_params(cnn, vit):
    from ferlib.models import model_table

    text = model_summary(cnn)
    assert "4,061,703" in text
    assert "conv4" in text
    assert "24,487" in model_summary(vit)
    table = model_table(cnn)
    assert list(table.columns) == ["layer", "type", "output shape", "parameters"]
    assert table["parameters"].sum() == 4_061_703
    assert table.set_index("layer").loc["pool4", "output shape"] == "3 x 3 x 512"


def test_build_model_by_name_and_reading():
    from ferlib.models import CNN_READINGS, READING_NOTES, READINGS, VIT_READINGS

    assert build_model("cnn").name == "cnn" and build_model("cnn").count_params() == 4_061_703
    vit = build_model("vit", vit_config=ViTConfig(projection_dim=8, num_heads=2, transformer_layers=1))
    assert vit.name == "vit"
    assert vit.count_params() == vit_param_formula(1, 2, 8)
    assert build_model("cnn", "dense-batchnorm").get_layer("dense_bn1") is not None
    assert build_model("vit", "split-heads").get_layer("attention1")._key_dim == 16 // 4
    assert build_model("vit").get_layer("attention1")._key_dim == 16
    # every reading builds, is described, and the readings differ from each other
    for model, readings in READINGS.items():
        assert set(readings) == set(READING_NOTES[model]) and "as-built" in readings
        configs = [build_model(model, r).get_config() for r in readings]
        assert len({json.dumps(c, sort_keys=True, default=str) for c in configs}) == len(configs), model
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet")
    with pytest.raises(ValueError, match="unknown cnn reading"):
        build_model("cnn", "dense-dropout")


def test_input_shape_constant():
    assert INPUT_SHAPE == (48, 48, 1)


def test_vit_save_and_reload_gives_same_predictions(tmp_path):
    model = build_vit(projection_dim=8, num_heads=2, transformer_layers=2)
    x = np.random.default_rng(2).random((4, 48, 48, 1), dtype=np.float32)
    before = model.predict(x, verbose=0)
    path = tmp_path / "vit.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.get_layer("patches"), Patches)
    assert isinstance(loaded.get_layer("patch_encoder"), PatchEncoder)
    assert loaded.get_layer("patches").patch_size == 4
    assert loaded.get_layer("patch_encoder").num_patches == 144
    assert loaded.count_params() == model.count_params()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), before, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- precision


def test_mixed_bfloat16_policy_is_applied_and_outputs_stay_float32(tmp_path):
    import ferlib.recipes.run as experiments
    from ferlib.evaluate import evaluate_model, predict_labels
    from ferlib.files import save_model
    from ferlib.models import build_model
    from ferlib.train import compile_model, model_precision

    x = np.random.default_rng(0).random((8, 48, 48, 1), dtype=np.float32)
    y = np.arange(8) % 7
    for name in ("cnn", "vit"):
        model = compile_model(build_model(name, precision="mixed_bfloat16"))
        assert model_precision(model) == "mixed_bfloat16"
        computing = [layer for layer in model.layers if layer.weights and layer.name != "softmax"]
        assert computing and all(layer.compute_dtype == "bfloat16" for layer in computing), name
        assert all(w.dtype == "float32" for w in model.weights if "seed" not in w.path)  # weights stay float32
        assert model.get_layer("softmax").compute_dtype == "float32"
        probabilities = model.predict(x, verbose=0)
        assert probabilities.dtype == np.float32
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
        scores = evaluate_model(model, {"test": (x, y)})["test"]
        assert isinstance(scores["accuracy"], float) and isinstance(scores["loss"], float)
        assert predict_labels(model, x).shape == (8,)
        path = save_model(model, tmp_path / f"{name}.keras")
        assert model_precision(keras.saving.load_model(path)) == "mixed_bfloat16"
    assert model_precision(build_model("cnn")) == "float32"


def test_precision_is_chosen_per_model_and_machine(monkeypatch):
    import ferlib.recipes.run as experiments

    monkeypatch.setattr(experiments, "supports_bfloat16", lambda: True)
    assert experiments.choose_precision("cnn") == "mixed_bfloat16"
    assert experiments.choose_precision("vit") == "float32"  # measured slower in bfloat16
    monkeypatch.setattr(experiments, "supports_bfloat16", lambda: False)
    assert experiments.choose_precision("cnn") == "float32"


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("shape", [(8, 6, 6, 5), (16, 5)])
def test_fused_batchnorm_computes_what_keras_batchnorm_computes(precision, shape):
    """Same outputs, input and weight gradients, and moving statistics as Keras's layer, in
    training and in inference, for conv (4-D) and dense (2-D) inputs."""
    import tensorflow as tf

    from ferlib.models import FusedBatchNormalization

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(1.5, 2.0, shape).astype(np.float32))
    reference = layers.BatchNormalization(dtype=precision, momentum=0.5)
    fused = FusedBatchNormalization(dtype=precision, momentum=0.5)
    for layer in (reference, fused):
        layer.build(shape)
    fused.gamma.assign(rng.uniform(0.5, 1.5, shape[-1]).astype(np.float32))
    fused.beta.assign(rng.normal(0.0, 0.5, shape[-1]).astype(np.float32))
    reference.set_weights(fused.get_weights())

    def step(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(tf.cast(y, "float32") * tf.range(1.0, 1.0 + shape[-1]) / shape[-1]) \
                + tf.reduce_sum(tf.cast(y, "float32") ** 2)
        grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
        return y, grads

    tol = {"float32": dict(rtol=1e-4, atol=1e-4), "mixed_bfloat16": dict(rtol=2e-2, atol=3e-2)}[precision]
    y_ref, g_ref = step(reference)
    y_fused, g_fused = step(fused)
    assert y_fused.dtype == y_ref.dtype
    np.testing.assert_allclose(np.float32(y_fused), np.float32(y_ref), **tol)
    for a, b in zip(g_fused, g_ref):
        np.testing.assert_allclose(np.float32(a), np.float32(b), rtol=tol["rtol"], atol=tol["atol"] * 10)
    np.testing.assert_allclose(fused.moving_mean, reference.moving_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fused.moving_variance, reference.moving_variance, rtol=1e-5, atol=1e-6)
    assert not np.allclose(reference.moving_variance, 1.0)  # the update happened
    np.testing.assert_allclose(np.float32(fused(x, training=False)), np.float32(reference(x, training=False)), **tol)


def test_fused_batchnorm_survives_saving(tmp_path):
    from ferlib.models import FusedBatchNormalization, load_model

    model = build_cnn(dense_batchnorm=True)
    path = tmp_path / "cnn.keras"
    model.save(path)
    loaded = load_model(path)
    assert isinstance(loaded.get_layer("bn1"), FusedBatchNormalization)
    x = np.random.default_rng(1).random((3, 48, 48, 1), dtype=np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_multiply_adds_counts_convolutions_dense_layers_and_attention():
    from ferlib.models import count_multiply_adds

    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Conv2D(2, 3, padding="same")(inputs)  # 4*4 positions x 2 filters x 9 taps
    x = keras.layers.Dense(5)(x)  # applied at 16 positions: 16 x 2 x 5
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(x))  # 80 inputs x 3
    assert count_multiply_adds(keras.Model(inputs, outputs)) == 16 * 2 * 9 + 16 * 2 * 5 + 80 * 3
    # attention: projections (q, k, v), scores, weighted sum and output for 144 tokens of 16 dims
    vit = build_vit()
    split = build_vit(ViTConfig(split_heads=True))
    tokens, d, heads = 144, 16, 4
    attention = lambda key: 3 * tokens * d * heads * key + 2 * heads * tokens * tokens * key + tokens * heads * key * d
    assert count_multiply_adds(vit) - count_multiply_adds(split) == 4 * (attention(16) - attention(4))


def test_the_books_sentences_about_model_size_hold():
    """The architecture chapter compares the two as-built models' sizes in words (the
    conclusion glues the published run's own counts)."""
    from pathlib import Path

    book = Path(__file__).resolve().parents[1] / "book"
    cnn, vit = build_cnn(), build_vit()
    ratio = cnn.count_params() / vit.count_params()
    text = " ".join((book / "architecture.md").read_text().split())
    assert f"about {round(ratio)} times fewer" in text  # the as-built layouts; the conclusion glues the run's
