"""Tests for keras_cxr.data.labels: class labels read from Kermany folder and file names."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keras_cxr.data import CLASS_NAMES, kermany_label


@pytest.mark.parametrize(
    ("path", "binary", "three_class"),
    [
        ("NORMAL/IM-0115-0001.jpeg", 0, 0),
        ("chest_xray/train/NORMAL/NORMAL2-IM-1427-0001.jpeg", 0, 0),
        ("PNEUMONIA/person1_bacteria_1.jpeg", 1, 1),
        ("PNEUMONIA/person1_virus_6.jpeg", 1, 2),
        ("test/pneumonia/PERSON447_VIRUS_921_1.JPEG", 1, 2),
        (r"C:\data\PNEUMONIA\person1000_bacteria_2931.jpeg", 1, 1),
    ],
)
def test_kermany_names(path, binary, three_class):
    assert kermany_label(path) == binary
    assert kermany_label(path, "categorical") == binary
    assert kermany_label(path, "three_class") == three_class
    assert CLASS_NAMES["three_class"][three_class] in {"NORMAL", "BACTERIAL", "VIRAL"}


def test_class_folder_can_be_given():
    assert kermany_label("person1_virus_6.jpeg", "three_class", class_folder="pneumonia") == 2


@pytest.mark.parametrize("name", ["pneumonia_scan.jpeg", "person1_bacteria_virus_2.jpeg"])
def test_pneumonia_without_one_cause_is_refused(name):
    assert kermany_label(f"PNEUMONIA/{name}") == 1  # binary labels need no cause
    with pytest.raises(ValueError, match="Cannot tell bacterial from viral") as error:
        kermany_label(f"PNEUMONIA/{name}", "three_class")
    assert repr(name) in str(error.value) and "labels='binary'" in str(error.value)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match=r"argument `labels`.*'five_class'"):
        kermany_label("NORMAL/IM-0001-0001.jpeg", "five_class")
    with pytest.raises(ValueError, match=r"argument `path`.*NORMAL or PNEUMONIA folder"):
        kermany_label("COVID/IM-0001-0001.jpeg")


_PATIENT = st.integers(1, 9999)
_IMAGE = st.integers(1, 9999)
_CASE = st.sampled_from(["", "upper", "title"])


def _spell(text: str, case: str) -> str:
    return text.upper() if case == "upper" else text.title() if case == "title" else text


@given(
    kind=st.sampled_from(["bacteria", "virus"]),
    patient=_PATIENT,
    images=st.lists(_IMAGE, min_size=1, max_size=2),
    case=_CASE,
    split=st.sampled_from(["train", "val", "test"]),
    extension=st.sampled_from([".jpeg", ".jpg", ".png", ".dcm"]),
)
def test_generated_pneumonia_names(kind, patient, images, case, split, extension):
    stem = f"person{patient}_{kind}_" + "_".join(map(str, images))
    path = f"root/{split}/{_spell('PNEUMONIA', case)}/{_spell(stem, case)}{extension}"
    expected = {"bacteria": 1, "virus": 2}[kind]
    assert kermany_label(path, "three_class") == expected
    assert kermany_label(path, "binary") == 1


@given(
    prefix=st.sampled_from(["IM", "NORMAL2-IM"]),
    patient=_PATIENT,
    image=_IMAGE,
    case=_CASE,
    labels=st.sampled_from(sorted(CLASS_NAMES)),
)
def test_generated_normal_names(prefix, patient, image, case, labels):
    path = f"train/{_spell('normal', case)}/{prefix}-{patient:04d}-{image:04d}.jpeg"
    assert kermany_label(path, labels) == 0
