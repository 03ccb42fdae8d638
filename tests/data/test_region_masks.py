"""Box CSVs and PNG masks turned into region masks: by hand, by slicing, and refused input."""

from __future__ import annotations

import doctest

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_cxr.data import (
    box_csv,
    boxes_to_mask,
    find_mask_files,
    load_region_masks,
    read_box_csv,
)


def test_the_box_csv_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    globs = {"keras_cxr": __import__("keras_cxr")}
    assert doctest.testmod(box_csv, globs=globs).failed == 0


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 19), st.integers(0, 14), st.integers(1, 20), st.integers(1, 15),
)  # fmt: skip
def test_a_box_at_the_image_size_is_its_slice(x, y, width, height):
    expected = np.zeros((15, 20), bool)
    expected[y : y + height, x : x + width] = True  # clipped at the border, as the mask is
    np.testing.assert_array_equal(boxes_to_mask([(x, y, width, height)], (15, 20)), expected)


def test_boxes_scale_with_their_image():
    # A 1024-pixel RSNA image at 4 px: the box covers the left half of the top two rows.
    mask = boxes_to_mask([(0, 0, 512, 512), (900, 900, 10, 10)], (1024, 1024), (4, 4))
    assert mask.astype(int).tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_rsna_lines_with_extensions_and_dotted_names(tmp_path):
    path = tmp_path / "boxes.csv"
    path.write_text(
        "\ufeffPatientID,x,y,width,height,Target\n"
        "a.dcm,1,2,3,4,1\n\n1.2.840.5,,,,,0\nA.PNG,5,6,7,8,1\n"
    )
    assert read_box_csv(path) == {"a": [(1.0, 2.0, 3.0, 4.0)], "1.2.840.5": [],
                                  "A": [(5.0, 6.0, 7.0, 8.0)]}  # fmt: skip


def test_png_masks_are_resized_nearest_and_missing_ones_are_empty(tmp_path):
    (tmp_path / "scans").mkdir()
    (tmp_path / "masks" / "sub").mkdir(parents=True)
    for name in ("a", "b"):
        cv2.imwrite(str(tmp_path / "scans" / f"{name}.png"), np.zeros((40, 40), np.uint8))
    mask = np.zeros((40, 40), np.uint8)
    mask[:20, :10] = 1  # any non-zero value is inside
    cv2.imwrite(str(tmp_path / "masks" / "sub" / "a.png"), mask)
    files = find_mask_files(tmp_path / "masks")
    assert list(files) == ["a"]
    masks = load_region_masks(sorted((tmp_path / "scans").glob("*.png")), 4, mask_files=files)
    expected = np.zeros((2, 4, 4), bool)
    expected[0, :2, :1] = True
    np.testing.assert_array_equal(masks, expected)


def test_two_images_of_one_name_are_refused(tmp_path):
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        cv2.imwrite(str(tmp_path / folder / "a.png"), np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"Several images are named 'a' .* matched to images"):
        load_region_masks([tmp_path / "x" / "a.png", tmp_path / "y" / "a.png"], 8, boxes={})


def test_a_folder_without_png_masks_is_refused(tmp_path):
    (tmp_path / "a.jpeg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"No PNG mask in .*named after their images"):
        find_mask_files(tmp_path)
