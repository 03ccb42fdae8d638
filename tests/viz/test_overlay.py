import cv2
import numpy as np
import pytest

from keras_cxr.viz import colorize, overlay, to_uint8_rgb


def test_jet_is_red_for_high_and_blue_for_low():
    colours = colorize(np.array([[[0.0, 1.0]]], np.float32))[0, 0]
    low, high = colours[0], colours[1]
    assert low[2] > 100 and low[0] < 50  # blue
    assert high[0] > 100 and high[2] < 50  # red


def test_overlay_blends_on_the_original_image():
    images = np.full((1, 4, 4, 1), 100, np.uint8)
    heat = np.ones((1, 4, 4), np.float32)
    jet_top = cv2.cvtColor(
        cv2.applyColorMap(np.array([[255]], np.uint8), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB
    )[0, 0]
    expected = np.rint(0.6 * 100 + 0.4 * jet_top.astype(np.float32)).astype(np.uint8)
    out = overlay(images, heat, alpha=0.4)
    assert out.dtype == np.uint8 and out.shape == (1, 4, 4, 3)
    np.testing.assert_array_equal(out[0, 0, 0], expected)


def test_overlay_resizes_heatmaps_and_accepts_float_images():
    out = overlay(np.zeros((2, 8, 8, 3), np.float32), np.zeros((2, 2, 2)), alpha=0.0)
    assert out.shape == (2, 8, 8, 3) and out.max() == 0


def test_float_images_in_unit_range_are_scaled():
    assert to_uint8_rgb(np.ones((1, 2, 2, 1), np.float32)).max() == 255
    assert to_uint8_rgb(np.full((1, 2, 2, 3), 300.0)).max() == 255


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 1.5}, r"argument `alpha`. Expected a float in \[0, 1\]. Received: alpha=1.5"),
        ({"colormap": "rainbow"}, "argument `colormap`"),
    ],
)
def test_overlay_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        overlay(np.zeros((1, 4, 4, 3)), np.zeros((1, 4, 4)), **kwargs)


def test_overlay_batch_mismatch():
    with pytest.raises(ValueError, match=r"argument `heatmaps`.*\(2, height, width\)"):
        overlay(np.zeros((2, 4, 4, 3)), np.zeros((1, 4, 4)))


def test_to_uint8_rgb_refuses_other_shapes():
    with pytest.raises(
        ValueError, match=r"argument `images`.*Received: images.shape=\(1, 4, 4, 2\)"
    ):
        to_uint8_rgb(np.zeros((1, 4, 4, 2)))
