"""Images decoded from bytes match the files `read_image` reads; bad bytes say why."""

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_cxr.data import (
    decode_image_bytes,
    header_pixels,
    read_dicom,
    read_image,
    sniff_format,
)

from ._files import jpeg_bomb, png_bomb, write_image
from .test_dicom import RAMP, dicom_dataset, save


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A colour PNG, a 16-bit gray PNG, a JPEG and a DICOM, each 40 × 48 pixels."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    ramp = np.tile(np.linspace(0, 65535, 48).astype(np.uint16), (40, 1))
    return {
        "png": write_image(folder / "a.png", rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)),
        "png16": write_image(folder / "b.png", ramp),
        "jpeg": write_image(folder / "c.jpeg", rng.integers(0, 256, (40, 48), dtype=np.uint8)),
        "dicom": save(dicom_dataset(np.tile(RAMP, (5, 6))), folder / "d.dcm"),
    }


@pytest.mark.parametrize("kind", ["png", "png16", "jpeg", "dicom"])
@pytest.mark.parametrize("color_mode", ["rgb", "grayscale"])
def test_bytes_decode_exactly_like_the_file(files, kind, color_mode):
    path = files[kind]
    data = path.read_bytes()
    expected = read_image(path, color_mode, image_size=(32, 32))
    decoded = decode_image_bytes(data, color_mode, image_size=(32, 32))
    assert decoded.dtype == np.uint8 and np.array_equal(decoded, expected)
    assert np.array_equal(decode_image_bytes(data, color_mode), read_image(path, color_mode))


def test_dicom_from_a_file_object_matches_the_path(files):
    from_path = read_dicom(files["dicom"])
    assert np.array_equal(read_dicom(io.BytesIO(files["dicom"].read_bytes())), from_path)


def test_format_is_sniffed_from_the_bytes_not_the_name(files, tmp_path):
    assert [sniff_format(files[k].read_bytes()) for k in ("png", "jpeg", "dicom")] == [
        "png",
        "jpeg",
        "dicom",
    ]
    misnamed = tmp_path / "scan.dcm"  # a PNG under a DICOM name
    misnamed.write_bytes(files["png"].read_bytes())
    assert sniff_format(misnamed.read_bytes()) == "png"
    assert np.array_equal(decode_image_bytes(misnamed.read_bytes()), read_image(files["png"]))


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_are_refused_with_a_value_error(data):
    if sniff_format(data) is None:
        with pytest.raises(ValueError, match=r"not a JPEG, PNG or DICOM|empty"):
            decode_image_bytes(data)


def test_header_sizes_and_bombs(files, tmp_path):
    assert header_pixels(files["png"].read_bytes()) == 40 * 48
    assert header_pixels(files["jpeg"].read_bytes()) == 40 * 48
    assert header_pixels(files["dicom"].read_bytes()) == 40 * 48
    assert header_pixels(b"not an image") is None
    bomb = png_bomb(tmp_path / "bomb.png", 40_000, 40_000).read_bytes()
    assert header_pixels(bomb) == 40_000 * 40_000
    bomb_reason = r"The PNG image: header claims 40000 × 40000 pixels.*decompression bomb"
    with pytest.raises(ValueError, match=bomb_reason):
        decode_image_bytes(bomb)
    with pytest.raises(ValueError, match="claims 65000 × 65000 pixels"):
        decode_image_bytes(jpeg_bomb(tmp_path / "bomb.jpeg").read_bytes())
    with pytest.raises(ValueError, match="claims 48 × 40 pixels, above the 1,000-pixel"):
        decode_image_bytes(files["dicom"].read_bytes(), max_pixels=1000)


def test_truncated_corrupt_small_and_empty_data(files):
    jpeg = files["jpeg"].read_bytes()
    with pytest.raises(ValueError, match="The JPEG data is truncated"):
        decode_image_bytes(jpeg[: len(jpeg) // 2])
    png = files["png"].read_bytes()
    with pytest.raises(ValueError, match="The PNG data is truncated"):
        decode_image_bytes(png[:-20])
    with pytest.raises(ValueError, match="The PNG header is corrupt"):
        decode_image_bytes(png[:20])
    with pytest.raises(ValueError, match="The image is 48×40 pixels; at least 64×64"):
        decode_image_bytes(png, min_side=64)
    with pytest.raises(ValueError, match="empty"):
        decode_image_bytes(b"")


def test_dicom_without_pixel_data_is_refused():
    buffer = io.BytesIO()
    dicom_dataset(None).save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    assert sniff_format(data) == "dicom" and header_pixels(data) is None
    with pytest.raises(ValueError, match=r"^The DICOM data has no pixel data"):
        decode_image_bytes(data)
