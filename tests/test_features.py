"""Shapes and basic properties of the feature views, on untrained models."""

import numpy as np
import pytest

from ferlib.features import as_model_input, cnn_feature_maps, vit_attention_map, vit_block_activations, vit_blocks
from ferlib.models import build_cnn, build_vit


@pytest.fixture(scope="module")
def small_vit():
    return build_vit(projection_dim=32, transformer_layers=2)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(3, 48, 48), dtype=np.uint8)


@pytest.mark.parametrize(
    "shape, dtype, n",
    [((48, 48), np.uint8, 1), ((48, 48, 1), np.float32, 1), ((5, 48, 48), np.uint8, 5), ((5, 48, 48, 1), np.float32, 5)],
)
def test_as_model_input_shapes_and_scale(shape, dtype, n):
    x = np.full(shape, 255 if dtype == np.uint8 else 1.0, dtype)
    out = as_model_input(x)
    assert out.shape == (n, 48, 48, 1)
    assert out.dtype == np.float32
    assert out.max() == pytest.approx(1.0)


def test_cnn_feature_maps_shapes(cnn, images):
    maps = cnn_feature_maps(cnn, images[0])
    assert list(maps) == ["conv1", "conv4"]
    assert maps["conv1"].shape == (48, 48, 64)
    assert maps["conv4"].shape == (6, 6, 512)
    # read after the ReLU by default
    assert maps["conv1"].min() >= 0


def test_cnn_feature_maps_raw_conv_and_float_input(cnn, images):
    image = images[0][..., None].astype(np.float32) / 255
    raw = cnn_feature_maps(cnn, image, layers=("conv2", "pool1"), after_relu=False)
    assert raw["conv2"].shape == (24, 24, 128)
    assert raw["pool1"].shape == (24, 24, 64)
    # uint8 and the same image scaled to [0, 1] give the same maps
    np.testing.assert_allclose(
        cnn_feature_maps(cnn, images[0])["conv1"], cnn_feature_maps(cnn, image)["conv1"], rtol=1e-5, atol=1e-5
    )


def test_cnn_feature_maps_differ_between_images(cnn, images):
    a = cnn_feature_maps(cnn, images[0])["conv1"]
    b = cnn_feature_maps(cnn, images[1])["conv1"]
    assert not np.allclose(a, b)


def test_cnn_feature_maps_one_image_only(cnn, images):
    with pytest.raises(ValueError, match="one image"):
        cnn_feature_maps(cnn, images)


def test_vit_blocks(vit, small_vit):
    assert vit_blocks(vit) == ["block1", "block2", "block3", "block4"]
    assert vit_blocks(small_vit) == ["block1", "block2"]


def test_vit_block_activations_default_vit(vit, images):
    acts = vit_block_activations(vit, images)
    assert list(acts) == ["block1", "block4"]
    assert all(a.shape == (16,) for a in acts.values())
    assert all(np.isfinite(a).all() for a in acts.values())


def test_vit_block_activations_small_vit(small_vit, images):
    acts = vit_block_activations(small_vit, images[0])
    assert list(acts) == ["block1", "block2"]
    assert all(a.shape == (32,) for a in acts.values())
    # blocks by number, and the average over images is the mean of per-image averages
    per_image = [vit_block_activations(small_vit, im, blocks=[2])["block2"] for im in images]
    together = vit_block_activations(small_vit, images, blocks=[2])["block2"]
    np.testing.assert_allclose(together, np.mean(per_image, axis=0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model_name", ["vit", "small_vit"])
def test_vit_attention_map_is_a_distribution(model_name, images, request):
    model = request.getfixturevalue(model_name)
    att = vit_attention_map(model, images[0])
    assert att.shape == (12, 12)
    assert att.min() >= 0
    assert att.sum() == pytest.approx(1.0, abs=1e-5)


def test_vit_attention_map_per_head_and_block(vit, images):
    heads = vit_attention_map(vit, images[0], block=1, average_heads=False)
    assert heads.shape == (4, 12, 12)
    np.testing.assert_allclose(heads.sum(axis=(1, 2)), 1.0, atol=1e-5)
    np.testing.assert_allclose(heads.mean(axis=0), vit_attention_map(vit, images[0], block="block1"), atol=1e-6)
