"""read_chexpert on hand-written CSVs: every uncertainty and blank policy, and bad rows."""

from __future__ import annotations

import numpy as np
import pytest

from keras_cxr.data import LabelRowError, read_chexpert
from tests.data._files import gray_jpeg

FINDINGS = ("Cardiomegaly", "Pleural Effusion", "Pneumothorax")
HEADER = "Path,Sex,Age,Frontal/Lateral,Cardiomegaly,Pleural Effusion,Pneumothorax\n"
ROWS = (
    "CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,F,60,Frontal,1.0,-1.0,\n"
    "CheXpert-v1.0-small/train/patient00001/study2/view1_frontal.jpg,F,61,Frontal,0.0,1,-1\n"
    "CheXpert-v1.0-small/train/patient00002/study1/view1_frontal.jpg,M,50,Frontal,,0,0.0\n"
)
NAN = np.nan
# What each policy makes of the three rows: -1 and blank entries differ, the rest do not.
EXPECTED = {
    ("u_ones", "negative"): [[1, 1, 0], [0, 1, 1], [0, 0, 0]],
    ("u_zeros", "negative"): [[1, 0, 0], [0, 1, 0], [0, 0, 0]],
    ("ignore", "negative"): [[1, NAN, 0], [0, 1, NAN], [0, 0, 0]],
    ("u_ones", "ignore"): [[1, 1, NAN], [0, 1, 1], [NAN, 0, 0]],
    ("ignore", "ignore"): [[1, NAN, NAN], [0, 1, NAN], [NAN, 0, 0]],
}


@pytest.fixture
def dataset(tmp_path):
    for line in ROWS.splitlines():
        gray_jpeg(tmp_path / line.split(",")[0])
    csv_path = tmp_path / "CheXpert-v1.0-small" / "train.csv"
    csv_path.write_text(HEADER + ROWS)
    return csv_path, tmp_path


@pytest.mark.parametrize(("uncertainty", "blank"), list(EXPECTED))
def test_every_policy_maps_uncertain_and_blank_labels(dataset, uncertainty, blank):
    csv_path, root = dataset
    table = read_chexpert(csv_path, root, uncertainty, FINDINGS, blank=blank)
    np.testing.assert_array_equal(table.labels, np.array(EXPECTED[uncertainty, blank]))
    np.testing.assert_array_equal(table.mask, ~np.isnan(EXPECTED[uncertainty, blank]))
    assert table.patients == ["patient00001", "patient00001", "patient00002"]
    assert table.findings == FINDINGS


def test_ignored_labels_are_counted(dataset):
    table = read_chexpert(*dataset, uncertainty="ignore", findings=FINDINGS)
    assert table.label_counts()["Pneumothorax"] == {"positive": 0, "negative": 2, "ignored": 1}


def test_root_may_be_the_data_set_folder_itself(dataset):
    csv_path, root = dataset
    table = read_chexpert(csv_path, root / "CheXpert-v1.0-small", findings=FINDINGS)
    assert all(path.is_file() for path in table.paths)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("CheXpert-v1.0-small/train/patient00009/study1/x.jpg,F,1,Frontal,1,0,0", "not found"),
        ("CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,F,1,F,2,0,0",
         "malformed label '2' for 'Cardiomegaly'"),
        ("CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,F,1,F,1,yes,0",
         "malformed label 'yes' for 'Pleural Effusion'"),
        ("../outside.jpg,F,1,Frontal,1,0,0", "must be a relative path inside the root"),
        ("CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg,F,1,1,0,0",
         "6 fields where the header has 7"),
    ],
)  # fmt: skip
def test_a_bad_row_is_reported_with_its_line_number(dataset, row, reason):
    csv_path, root = dataset
    csv_path.write_text(HEADER + ROWS + row + "\n")
    with pytest.raises(LabelRowError, match=rf"line 5: .*{reason}"):
        read_chexpert(csv_path, root, findings=FINDINGS)
    with pytest.warns(UserWarning, match=r"Skipped 1 bad rows"):
        table = read_chexpert(csv_path, root, findings=FINDINGS, strict=False)
    assert len(table) == 3 and table.skipped[0][0] == 5


def test_a_path_without_a_patient_folder_is_its_own_patient(tmp_path):
    gray_jpeg(tmp_path / "scans" / "one.jpg")
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("Path,Cardiomegaly\nscans/one.jpg,1\n")
    with pytest.warns(UserWarning, match=r"1 paths name no patientNNNNN folder"):
        table = read_chexpert(csv_path, tmp_path, findings=("Cardiomegaly",))
    assert table.patients == ["scans/one.jpg"]


def test_bad_arguments_are_named(dataset):
    csv_path, root = dataset
    with pytest.raises(ValueError, match=r"argument `uncertainty`.*'u_ones', 'u_zeros', 'ignore'"):
        read_chexpert(csv_path, root, uncertainty="u_half")
    with pytest.raises(ValueError, match=r"argument `blank`"):
        read_chexpert(csv_path, root, blank="zero")
    with pytest.raises(ValueError, match=r"no column 'Edema'"):
        read_chexpert(csv_path, root, findings=("Edema",))
    with pytest.raises(FileNotFoundError, match=r"CheXpert root"):
        read_chexpert(csv_path, root / "missing")
