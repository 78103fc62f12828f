import numpy as np
import pytest

keras = pytest.importorskip("keras")

from stemtf.models import (  # noqa: E402
    CountsToStabilized,
    CropToMatch,
    DenoisingBlock,
    DepthToSpace,
    DownsampleBlock,
    InputBlock,
    OutputBlock,
    PadToMultiple,
    RDUNet,
    SpaceToDepth,
    StabilizedToCounts,
    UpsampleBlock,
    rdunet_param_count,
    stabilize,
    unstabilize,
)
from stemtf.models.testing import check_layer, check_model  # noqa: E402

RNG = np.random.default_rng(0)


def _img(*shape):
    return RNG.normal(size=shape).astype("float32")


@pytest.mark.parametrize(
    "layer, inputs",
    [
        (InputBlock(6), _img(2, 8, 8, 1)),
        (DenoisingBlock(6), _img(2, 8, 8, 6)),
        (DenoisingBlock(6, inner_filters=4), _img(1, 5, 7, 6)),
        (DownsampleBlock(8), _img(2, 8, 8, 4)),
        (UpsampleBlock(4), [_img(2, 4, 4, 8), _img(2, 8, 8, 4)]),
        (OutputBlock(4, 1), _img(2, 8, 8, 4)),
        (CountsToStabilized(0.1), np.abs(_img(2, 6, 6, 1)) * 50),
        (StabilizedToCounts(0.1), _img(2, 6, 6, 1)),
        (PadToMultiple(4), _img(2, 5, 7, 1)),
        (CropToMatch(), [_img(2, 8, 8, 3), _img(2, 5, 7, 1)]),
        (SpaceToDepth(2), _img(2, 6, 8, 3)),
        (DepthToSpace(2), _img(2, 3, 4, 12)),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, keras.layers.Layer) else "",
)
def test_layer_roundtrips(layer, inputs, tmp_path):
    check_layer(layer, inputs, tmp_path)


def test_prelu_matches_pytorch_defaults():
    layer = DenoisingBlock(4)
    layer(_img(1, 4, 4, 4))
    for act in layer.acts:
        alpha = keras.ops.convert_to_numpy(act.alpha)
        assert alpha.shape == (1, 1, act.alpha.shape[-1])
        np.testing.assert_allclose(alpha, 0.25)


@pytest.mark.parametrize("width", [16, 32, 64])
def test_param_count_matches_closed_form(width):
    # the paper's figures: 2.6 M / 10.4 M / 41.6 M
    assert RDUNet(width=width, levels=4).count_params() == rdunet_param_count(width)


def test_official_param_count_arithmetic():
    assert rdunet_param_count(128, levels=4, channels=1, blocks=2) == 166_370_562


@pytest.mark.slow
def test_official_param_count_built():
    assert RDUNet(width=128, levels=4, channels=1).count_params() == 166_370_562


def test_stabilize_inverse_is_exact():
    counts = np.concatenate([np.zeros(3), RNG.poisson(30.0, 100), [4095.0]]).astype("float32")
    back = keras.ops.convert_to_numpy(unstabilize(stabilize(counts, 0.1), 0.1))
    np.testing.assert_allclose(back, counts, rtol=1e-5, atol=1e-3)
    assert float(keras.ops.convert_to_numpy(stabilize(np.float32(0.0), 0.1))) == pytest.approx(0.0)


def test_model_roundtrip_any_size_and_counts_io(tmp_path):
    model = RDUNet(width=4, levels=3, blocks=1)
    x = RNG.poisson(5.0, size=(2, 13, 18, 1)).astype("float32")  # not a multiple of 4
    y = keras.ops.convert_to_numpy(model(x))
    assert y.shape == x.shape
    assert np.all(y >= 0)
    loaded = check_model(model, x, tmp_path)
    assert loaded.get_config() == model.get_config()
    y2 = keras.ops.convert_to_numpy(loaded(RNG.poisson(5.0, size=(3, 16, 16, 1)).astype("float32")))
    assert y2.shape == (3, 16, 16, 1)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="width"):
        RDUNet(width=0)
    with pytest.raises(ValueError, match="levels"):
        RDUNet(width=4, levels=1.5)


def test_space_to_depth_folds_blocks_into_channels_and_back():
    x = np.arange(2 * 4 * 6 * 3, dtype="float32").reshape(2, 4, 6, 3)
    y = keras.ops.convert_to_numpy(SpaceToDepth(2)(x))
    assert y.shape == (2, 2, 3, 12)
    # output pixel (i, j) holds the block x[2i:2i+2, 2j:2j+2, :], row-major (row, column, channel)
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(
                y[:, i, j], x[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].reshape(2, 12)
            )
    back = keras.ops.convert_to_numpy(DepthToSpace(2)(y))
    np.testing.assert_array_equal(back, x)
    with pytest.raises(ValueError, match="block"):
        SpaceToDepth(0)


@pytest.mark.parametrize("s2d", [2, 4])
def test_space_to_depth_model_any_size_and_param_count(s2d, tmp_path):
    model = RDUNet(width=4, levels=2, blocks=1, space_to_depth=s2d)
    assert model.size_multiple == 2 * s2d
    assert model.count_params() == rdunet_param_count(4, levels=2, blocks=1, space_to_depth=s2d)
    assert model.count_params() > RDUNet(width=4, levels=2, blocks=1).count_params()
    x = RNG.poisson(5.0, size=(2, 13, 18, 1)).astype("float32")  # not a multiple of 2 * s2d
    y = keras.ops.convert_to_numpy(model(x))
    assert y.shape == x.shape and np.all(y >= 0)
    loaded = check_model(model, x, tmp_path)
    assert loaded.get_config()["space_to_depth"] == s2d
