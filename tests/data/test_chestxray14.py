"""read_chestxray14 on hand-written CSVs: labels, nested folders, DICOM, and every bad row."""

from __future__ import annotations

import numpy as np
import pytest

import keras_cxr.data
from keras_cxr.data import LabelRowError, read_chestxray14
from tests.callbacks._files import write_dicom
from tests.data._files import gray_jpeg

HEADER = "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age\n"
FINDINGS = ("Cardiomegaly", "Effusion", "Nodule")


def write_tree(tmp_path, rows: str, names=("a.png", "b.png", "c.png")):
    images = tmp_path / "images"
    for number, name in enumerate(names):
        gray_jpeg(
            images / f"images_00{number % 2 + 1}" / "images" / name,
            value=40 + number,
            size=(40, 40),
        )
    csv_path = tmp_path / "Data_Entry_2017.csv"
    csv_path.write_text(HEADER + rows)
    return csv_path, images


def test_labels_patients_and_nested_folders(tmp_path):
    csv_path, images = write_tree(
        tmp_path,
        "a.png,Cardiomegaly|Effusion,0,7,60\nb.png,No Finding,1,7,61\nc.png,Nodule,0,9,40\n",
    )
    table = read_chestxray14(csv_path, images, findings=FINDINGS)
    np.testing.assert_array_equal(table.labels, [[1, 1, 0], [0, 0, 0], [0, 0, 1]])
    assert table.patients == ["7", "7", "9"]
    assert table.lines == [2, 3, 4]
    assert [path.name for path in table.paths] == ["a.png", "b.png", "c.png"]
    assert table.paths[1].parent.parent.name == "images_002"
    assert table.label_counts()["Effusion"] == {"positive": 1, "negative": 2, "ignored": 0}
    assert table.mask.all()


def test_default_findings_are_the_fourteen_and_unselected_ones_are_dropped(tmp_path):
    csv_path, images = write_tree(tmp_path, "a.png,Hernia|Nodule,0,1,5\n", names=("a.png",))
    full = read_chestxray14(csv_path, images)
    assert full.findings == keras_cxr.data.CHESTXRAY14_FINDINGS
    assert {full.findings[k] for k in np.flatnonzero(full.labels[0])} == {"Hernia", "Nodule"}
    only_nodule = read_chestxray14(csv_path, images, findings=("Nodule",))
    np.testing.assert_array_equal(only_nodule.labels, [[1]])


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("missing.png,Nodule,0,1,5", "image file 'missing.png' not found"),
        ("a.png,Pneumonitis,0,1,5", "unknown finding 'Pneumonitis'"),
        ("a.png,Nodule||Effusion,0,1,5", "malformed `Finding Labels`"),
        ("a.png,,0,1,5", "malformed `Finding Labels`"),
        ("a.png,No Finding|Nodule,0,1,5", "'No Finding' together with findings"),
        ("a.png,Nodule|Nodule,0,1,5", "a finding repeated"),
        ("a.png,Nodule,0,,5", "blank `Patient ID`"),
        ("a.png,Nodule,0,1", "4 fields where the header has 5"),
    ],
)
def test_a_bad_row_is_reported_with_its_line_number(tmp_path, row, reason):
    csv_path, images = write_tree(tmp_path, f"b.png,Nodule,0,2,5\n{row}\n")
    with pytest.raises(LabelRowError, match=rf"line 3: .*{reason}") as caught:
        read_chestxray14(csv_path, images, findings=FINDINGS)
    assert [line for line, _ in caught.value.problems] == [3]


def test_line_numbers_count_physical_lines_and_repeated_images(tmp_path):
    rows = '"a.png",Nodule,0,"1\n",5\nb.png,Effusion,0,2,5\n\na.png,Nodule,0,3,5\n'
    csv_path, images = write_tree(tmp_path, rows)
    with pytest.raises(LabelRowError, match=r"line 6: image 'a.png' is already on line 2"):
        read_chestxray14(csv_path, images, findings=FINDINGS)


def test_non_strict_skips_bad_rows_with_a_warning(tmp_path):
    csv_path, images = write_tree(tmp_path, "a.png,Nodule,0,1,5\nz.png,Nodule,0,2,5\n")
    with pytest.warns(UserWarning, match=r"(?s)Skipped 1 bad rows.*line 3: image file 'z.png'"):
        table = read_chestxray14(csv_path, images, findings=FINDINGS, strict=False)
    assert len(table) == 1
    assert table.skipped == [(3, "image file 'z.png' not found in the image folder")]


def test_an_image_in_two_folders_is_ambiguous(tmp_path):
    csv_path, images = write_tree(tmp_path, "a.png,Nodule,0,1,5\n", names=("a.png", "a.png"))
    with pytest.raises(LabelRowError, match=r"line 2: image file 'a.png' is in two folders"):
        read_chestxray14(csv_path, images, findings=FINDINGS)


def test_missing_column_and_missing_paths(tmp_path):
    csv_path, images = write_tree(tmp_path, "")
    with pytest.raises(FileNotFoundError, match=r"image folder .* does not exist"):
        read_chestxray14(csv_path, tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"No label CSV"):
        read_chestxray14(tmp_path / "nope.csv", images)
    csv_path.write_text("Image Index,Labels,Patient ID\n")
    with pytest.raises(ValueError, match=r"no column 'Finding Labels'"):
        read_chestxray14(csv_path, images)
    with pytest.raises(ValueError, match=r"argument `findings`"):
        read_chestxray14(csv_path, images, findings=("Nodule", "Nodule"))


def test_dicom_images_are_read_where_given(tmp_path):
    csv_path, images = write_tree(tmp_path, "a.png,Nodule,0,1,5\nd.dcm,Effusion,0,2,5\n")
    pixels = np.tile(np.arange(0, 4096, 64, dtype=np.uint16), (64, 1))
    (images / "images_003").mkdir()
    write_dicom(images / "images_003" / "d.dcm", pixels)
    table = read_chestxray14(csv_path, images, findings=FINDINGS)
    batch = table.read_images(32, color_mode="grayscale")
    assert batch.shape == (2, 32, 32, 1)
    # A horizontal ramp: the DICOM decodes dark on the left, bright on the right.
    assert batch[1, :, 0, 0].mean() < 20 and batch[1, :, -1, 0].mean() > 235
    assert abs(int(batch[0].mean()) - 40) <= 1
