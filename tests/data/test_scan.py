import numpy as np
import pytest

from keras_cxr.data import MAX_IMAGE_PIXELS, scan_images

from ._files import gray_jpeg, jpeg_bomb, png_bomb, write_image


def reasons(paths, **kwargs):
    return {path.name: reason for path, reason in scan_images(paths, **kwargs)}


def test_good_jpeg_and_png_pass(tmp_path):
    good = [
        gray_jpeg(tmp_path / "a.jpeg"),
        write_image(tmp_path / "b.png", np.zeros((5, 5, 3), np.uint8)),
        write_image(tmp_path / "c.png", np.zeros((5, 5), np.uint16)),
        # A PNG saved with a .jpeg extension is still an image: the content decides.
        write_image(tmp_path / "d.png", np.zeros((5, 5), np.uint8)).rename(tmp_path / "d.jpeg"),
    ]
    assert scan_images(good) == []


def test_frame_header_after_large_metadata_is_found(tmp_path):
    # Two 60 KB APP segments (like big EXIF / ICC blocks) push the frame header past 64 KB.
    jpeg = gray_jpeg(tmp_path / "plain.jpeg").read_bytes()
    segment = b"\xff\xe2" + (60_002).to_bytes(2, "big") + b"\x00" * 60_000
    (tmp_path / "big.jpeg").write_bytes(jpeg[:2] + segment * 2 + jpeg[2:])
    assert scan_images([tmp_path / "big.jpeg"]) == []


def test_each_kind_of_bad_file_gets_its_reason(tmp_path):
    jpeg = gray_jpeg(tmp_path / "good.jpeg", size=(64, 64)).read_bytes()
    png = write_image(tmp_path / "good.png", np.arange(64 * 64).reshape(64, 64).astype(np.uint8))
    png_bytes = png.read_bytes()
    (tmp_path / "empty.jpeg").write_bytes(b"")
    (tmp_path / "text.jpeg").write_bytes(b"hello, I am a text file")
    (tmp_path / "half.jpeg").write_bytes(jpeg[: len(jpeg) // 2])
    (tmp_path / "half.png").write_bytes(png_bytes[: len(png_bytes) // 2])
    (tmp_path / "no_frame.jpeg").write_bytes(b"\xff\xd8\xff\xda\x00\x02" + b"\x00" * 20)
    broken = bytearray(png_bytes)
    start = broken.index(b"IDAT") + 8
    broken[start : start + 20] = b"\x00" * 20  # damages the compressed rows and their CRC
    (tmp_path / "corrupt.png").write_bytes(bytes(broken))
    found = reasons(sorted(tmp_path.iterdir()))
    assert found == {
        "empty.jpeg": "empty file (0 bytes)",
        "text.jpeg": "not a JPEG or PNG file (unrecognized header)",
        "half.jpeg": "truncated: the JPEG end marker is missing",
        "half.png": "truncated: the PNG end marker is missing",
        "no_frame.jpeg": "corrupt JPEG header (no image size)",
        "corrupt.png": "corrupt PNG data (OpenCV cannot decode it)",
    }


def test_decompression_bombs_are_refused_from_the_header(tmp_path):
    found = reasons([png_bomb(tmp_path / "bomb.png"), jpeg_bomb(tmp_path / "bomb.jpeg")])
    assert found["bomb.png"] == (
        "header claims 20000 × 20000 pixels, above the 100,000,000-pixel limit "
        "(possible decompression bomb)"
    )
    assert found["bomb.jpeg"].startswith("header claims 65000 × 65000 pixels")
    assert MAX_IMAGE_PIXELS == 10_000 * 10_000


def test_max_pixels_is_configurable(tmp_path):
    path = gray_jpeg(tmp_path / "a.jpeg", size=(100, 60))
    assert scan_images([path], max_pixels=6000) == []
    assert (
        "60 × 100 pixels, above the 5,999-pixel limit" in reasons([path], max_pixels=5999)["a.jpeg"]
    )


def test_results_keep_the_input_order(tmp_path):
    paths = [tmp_path / f"{i}.jpeg" for i in range(20)]
    for path in paths:
        path.write_bytes(b"")
    assert [path for path, _ in scan_images(paths, workers=4)] == paths


def test_missing_file_is_reported_not_raised(tmp_path):
    assert reasons([tmp_path / "gone.jpeg"])["gone.jpeg"].startswith("cannot be read")


@pytest.mark.parametrize("payload", [b"not dicom at all", b"\x00" * 200])
def test_unreadable_dicom_is_reported(tmp_path, payload):
    path = tmp_path / "a.dcm"
    path.write_bytes(payload)
    assert "is not a DICOM file" in reasons([path])["a.dcm"]
