import numpy as np
import pytest
from PIL import Image

from keras_cxr.data import read_image

from ._files import gray_jpeg, write_image

# A lossless RGB colour and its BT.601 gray value: 0.299 * 200 + 0.587 * 100 + 0.114 * 50.
RGB = (200, 100, 50)
GRAY = round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)


def bgr(size=(6, 8)):
    return np.broadcast_to(np.array(RGB[::-1], np.uint8), (*size, 3)).copy()


def test_grayscale_jpeg_becomes_three_equal_channels(tmp_path):
    image = read_image(gray_jpeg(tmp_path / "a.jpeg", value=100, size=(24, 32)))
    assert image.shape == (24, 32, 3) and image.dtype == np.uint8
    assert np.all(image == 100)


def test_rgb_png_keeps_colours_in_rgb_order(tmp_path):
    path = write_image(tmp_path / "a.png", bgr())
    assert np.all(read_image(path) == RGB)
    gray = read_image(path, color_mode="grayscale")
    assert gray.shape == (6, 8, 1) and np.all(gray == GRAY)


def test_rgba_png_drops_alpha(tmp_path):
    rgba = np.dstack([bgr(), np.zeros((6, 8), np.uint8)])  # fully transparent
    path = write_image(tmp_path / "a.png", rgba)
    assert read_image(path).shape == (6, 8, 3)
    assert np.all(read_image(path) == RGB)


def test_sixteen_bit_png_is_scaled_to_eight_bits(tmp_path):
    values = np.array([[0, 257 * 100, 32768, 65535]], np.uint16)
    path = write_image(tmp_path / "a.png", values)
    # 32768 / 257 = 127.5 -> 128 when rounded half up.
    assert read_image(path, "grayscale")[..., 0].tolist() == [[0, 100, 128, 255]]
    colour = write_image(tmp_path / "b.png", np.dstack([values] * 3))
    assert read_image(colour)[0, :, 0].tolist() == [0, 100, 128, 255]


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path):
    path = tmp_path / "cmyk.jpeg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path, quality=95)  # pure red
    assert Image.open(path).mode == "CMYK"
    image = read_image(path).astype(int)
    assert image.shape == (16, 16, 3)
    assert np.abs(image - [255, 0, 0]).max() <= 3


def test_palette_png_is_expanded(tmp_path):
    path = tmp_path / "palette.png"
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, *RGB] + [0] * 762)
    palette.save(path)
    assert np.all(read_image(path) == RGB)


def test_image_size_resizes_height_then_width(tmp_path):
    path = gray_jpeg(tmp_path / "a.jpeg", value=90, size=(40, 60))
    assert read_image(path, image_size=(20, 30)).shape == (20, 30, 3)
    enlarged = read_image(path, "grayscale", image_size=(50, 70))
    assert enlarged.shape == (50, 70, 1) and np.all(enlarged == 90)


def test_area_interpolation_averages_when_shrinking(tmp_path):
    stripes = np.zeros((4, 4), np.uint8)
    stripes[:, 1::2] = 200
    path = write_image(tmp_path / "a.png", stripes)
    assert np.all(read_image(path, "grayscale", image_size=(2, 2)) == 100)


def test_undecodable_file_raises_a_clear_error(tmp_path):
    path = tmp_path / "a.jpeg"
    path.write_bytes(b"this is not an image")
    with pytest.raises(ValueError, match=r"Cannot decode .*a.jpeg.*not a readable JPEG or PNG"):
        read_image(path)


def test_bad_arguments_are_rejected(tmp_path):
    path = gray_jpeg(tmp_path / "a.jpeg")
    with pytest.raises(ValueError, match=r"argument `color_mode`. Expected one of"):
        read_image(path, color_mode="hsv")
    with pytest.raises(ValueError, match=r"Received: image_size=\(0, 3\)"):
        read_image(path, image_size=(0, 3))
