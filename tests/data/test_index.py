import tempfile
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_cxr.data import index_chest_xray

from ._files import touch

REAL_TRAIN = Path(__file__).resolve().parents[2].parent / "shared/data/chest_xray/train"


def splits_of(records):
    return {record.path.name: record.split for record in records}


def test_index_labels_patients_and_splits(tmp_path):
    touch(
        tmp_path,
        "train/NORMAL/IM-0001-0001.jpeg",
        "train/NORMAL/IM-0001-0002.jpeg",
        "train/PNEUMONIA/person1_bacteria_1.jpeg",
        "test/NORMAL/IM-0100-0001.jpeg",
        "test/PNEUMONIA/person100_virus_7.jpeg",
    )
    records = index_chest_xray(tmp_path, val_fraction=0)
    assert [(r.path.name, r.label, r.patient, r.split) for r in records] == [
        ("IM-0100-0001.jpeg", 0, "IM-0100", "test"),
        ("person100_virus_7.jpeg", 1, "person100", "test"),
        ("IM-0001-0001.jpeg", 0, "IM-0001", "train"),
        ("IM-0001-0002.jpeg", 0, "IM-0001", "train"),
        ("person1_bacteria_1.jpeg", 1, "person1", "train"),
    ]
    assert records[0].path == tmp_path / "test" / "NORMAL" / "IM-0100-0001.jpeg"


def test_three_class_labels_come_from_file_names(tmp_path):
    touch(
        tmp_path,
        "train/NORMAL/IM-0001-0001.jpeg",
        "train/PNEUMONIA/person1_bacteria_1.jpeg",
        "train/PNEUMONIA/person2_virus_2.jpeg",
        "train/PNEUMONIA/pneumonia_scan.jpeg",
    )
    with pytest.warns(UserWarning) as caught:
        records = index_chest_xray(tmp_path, label_mode="three_class", val_fraction=0)
    assert {r.path.name: r.label for r in records} == {
        "IM-0001-0001.jpeg": 0,
        "person1_bacteria_1.jpeg": 1,
        "person2_virus_2.jpeg": 2,
    }
    messages = " ".join(str(w.message) for w in caught)
    assert "pneumonia_scan.jpeg: three_class needs 'bacteria' or 'virus'" in messages


def test_official_val_is_merged_into_the_pool(tmp_path):
    touch(
        tmp_path,
        "train/NORMAL/IM-0001-0001.jpeg",
        "train/PNEUMONIA/person1_bacteria_1.jpeg",
        "val/NORMAL/IM-0050-0001.jpeg",
        "val/PNEUMONIA/person50_virus_9.jpeg",
    )
    records = index_chest_xray(tmp_path, val_fraction=0)
    assert set(splits_of(records).values()) == {"train"}
    assert len(records) == 4


def test_pool_images_of_test_patients_are_left_out(tmp_path):
    touch(
        tmp_path,
        "train/NORMAL/IM-0001-0001.jpeg",
        "train/PNEUMONIA/person5_bacteria_1.jpeg",
        "train/PNEUMONIA/person6_bacteria_2.jpeg",
        "test/NORMAL/IM-0002-0001.jpeg",
        "test/PNEUMONIA/person5_bacteria_3.jpeg",
    )
    with pytest.warns(UserWarning, match="person5_bacteria_1.jpeg: patient person5 also has test"):
        records = index_chest_xray(tmp_path, val_fraction=0)
    assert splits_of(records) == {
        "IM-0001-0001.jpeg": "train",
        "person6_bacteria_2.jpeg": "train",
        "IM-0002-0001.jpeg": "test",
        "person5_bacteria_3.jpeg": "test",
    }


def test_unknown_names_warn_once_and_are_one_patient_each(tmp_path):
    touch(
        tmp_path,
        "train/NORMAL/scan_1.png",
        "train/NORMAL/scan_2.png",
        "train/PNEUMONIA/scan_1.png",
        "test/NORMAL/scan_1.png",
        "test/PNEUMONIA/scan_9.png",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = index_chest_xray(tmp_path, val_fraction=0)
    assert len(caught) == 1
    assert "5 file names encode no patient" in str(caught[0].message)
    # The same file name in train/ and test/ is not taken for the same patient.
    assert len({r.patient for r in records}) == 5
    assert len(records) == 5


def test_folder_names_match_in_any_case(tmp_path):
    touch(tmp_path, "Train/normal/IM-0001-0001.jpeg", "TRAIN_NOTES/x.jpeg")
    touch(tmp_path, "Train/Pneumonia/person1_virus_1.JPG")
    records = index_chest_xray(tmp_path, val_fraction=0)
    assert {(r.path.name, r.split, r.label) for r in records} == {
        ("IM-0001-0001.jpeg", "train", 0),
        ("person1_virus_1.JPG", "train", 1),
    }


def test_class_folders_differing_only_by_case_are_an_error(tmp_path):
    touch(tmp_path, "train/NORMAL/IM-0001-0001.jpeg", "train/normal/IM-0002-0001.jpeg")
    touch(tmp_path, "train/PNEUMONIA/person1_virus_1.jpeg")
    with pytest.raises(ValueError, match=r"NORMAL.* and .*normal.* differ only by case"):
        index_chest_xray(tmp_path)


def test_missing_class_folder_names_the_path(tmp_path):
    touch(tmp_path, "train/NORMAL/IM-0001-0001.jpeg")
    expected = str(tmp_path / "train" / "PNEUMONIA")
    with pytest.raises(FileNotFoundError, match=f"Class folder '{expected}' is missing"):
        index_chest_xray(tmp_path)


def test_empty_class_folder_names_the_path(tmp_path):
    touch(tmp_path, "train/NORMAL/IM-0001-0001.jpeg", "train/PNEUMONIA/.DS_Store")
    expected = str(tmp_path / "train" / "PNEUMONIA")
    with pytest.raises(ValueError, match=f"Class folder '{expected}' holds no image file"):
        index_chest_xray(tmp_path)


def test_clutter_is_ignored(tmp_path):
    touch(
        tmp_path,
        ".DS_Store",
        "train/.DS_Store",
        "train/NORMAL/IM-0001-0001.jpeg",
        "train/NORMAL/._IM-0001-0001.jpeg",
        "train/NORMAL/Thumbs.db",
        "train/NORMAL/desktop.ini",
        "train/NORMAL/notes.txt",
        "train/NORMAL/.ipynb_checkpoints/IM-0001-0001-checkpoint.jpeg",
        "train/PNEUMONIA/person1_virus_1.jpeg",
        "__MACOSX/train/NORMAL/._IM-0001-0001.jpeg",
    )
    records = index_chest_xray(tmp_path, val_fraction=0)
    assert sorted(r.path.name for r in records) == ["IM-0001-0001.jpeg", "person1_virus_1.jpeg"]


def test_missing_root_and_missing_splits_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"does not exist. Pass the folder that contains"):
        index_chest_xray(tmp_path / "nowhere")
    touch(tmp_path, "chest_xray/train/NORMAL/IM-0001-0001.jpeg")
    with pytest.raises(
        ValueError, match=r"No train/, val/ or test/ folder .* Did you mean .*chest_xray"
    ):
        index_chest_xray(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label_mode": "multi"}, "argument `label_mode`. Expected one of"),
        ({"val_fraction": 1.0}, r"argument `val_fraction`. Expected a float in \[0, 1\)"),
        ({"val_fraction": "0.1"}, "Received: val_fraction='0.1'"),
    ],
)
def test_bad_arguments_are_rejected(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        index_chest_xray(tmp_path, **kwargs)


def test_split_is_deterministic_for_a_seed(tmp_path):
    names = [f"train/NORMAL/IM-{p:04d}-0001.jpeg" for p in range(40)]
    names += [f"train/PNEUMONIA/person{p}_bacteria_{p}.jpeg" for p in range(40)]
    touch(tmp_path, *names)
    first = splits_of(index_chest_xray(tmp_path, val_fraction=0.25, seed=3))
    assert first == splits_of(index_chest_xray(tmp_path, val_fraction=0.25, seed=3))
    assert first != splits_of(index_chest_xray(tmp_path, val_fraction=0.25, seed=4))
    # Stratified: 10 of the 40 images of each class go to validation.
    val_classes = Counter(name.split("-")[0][:3] for name, s in first.items() if s == "val")
    assert val_classes == {"IM": 10, "per": 10}


file_names = st.one_of(
    st.builds(lambda p, k: f"person{p}_bacteria_{k}.jpeg", st.integers(0, 15), st.integers(0, 99)),
    st.builds(lambda p, k: f"person{p}_virus_{k}.jpeg", st.integers(0, 15), st.integers(0, 99)),
    st.builds(lambda p, k: f"IM-{p:04d}-{k:04d}.jpeg", st.integers(0, 15), st.integers(0, 9)),
    st.builds(lambda p, k: f"NORMAL2-IM-{p:04d}-{k:04d}.png", st.integers(0, 9), st.integers(0, 9)),
    st.builds(lambda k: f"img_{k}.png", st.integers(0, 20)),
)
file_lists = st.lists(
    st.tuples(
        st.sampled_from(["train", "val", "test"]),
        st.sampled_from(["NORMAL", "PNEUMONIA"]),
        file_names,
    ),
    min_size=1,
    max_size=60,
    unique=True,
)


@settings(max_examples=60, deadline=None)
@given(files=file_lists, fraction=st.floats(0, 0.9), seed=st.integers(0, 1000))
def test_no_patient_is_in_two_splits(files, fraction, seed):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        touch(root, *(f"{split}/{cls}/{name}" for split, cls, name in files))
        for split in {split for split, _, _ in files}:  # every present split needs both classes
            touch(root, f"{split}/NORMAL/IM-9999-0001.jpeg", f"{split}/PNEUMONIA/IM-9999-0002.jpeg")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            records = index_chest_xray(root, val_fraction=fraction, seed=seed)
        on_disk = {path for path in root.rglob("*") if path.is_file()}

    splits_of_patient = defaultdict(set)
    for record in records:
        splits_of_patient[record.patient].add(record.split)
    assert all(len(splits) == 1 for splits in splits_of_patient.values())
    assert len({r.path for r in records}) == len(records)
    assert {r.path for r in records} <= on_disk
    # test/ is kept whole; only pool images of test patients may be left out.
    assert {r.path for r in records if r.split == "test"} == {
        p for p in on_disk if p.parts[-3] == "test"
    }
    for record in records:
        assert record.label == (record.path.parent.name == "PNEUMONIA")
        assert record.split in ("train", "val", "test")


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_TRAIN.is_dir(), reason="../shared/data/chest_xray/train is absent")
def test_real_train_split_counts_and_patient_split():
    records = index_chest_xray(REAL_TRAIN.parent, val_fraction=0.1, seed=0)
    files = Counter(record.label for record in records)
    assert files == {0: 1341, 1: 3875}
    patients = {label: {r.patient for r in records if r.label == label} for label in (0, 1)}
    assert (len(patients[0]), len(patients[1])) == (1211, 1635)
    assert all(record.split in ("train", "val") for record in records)
    side = defaultdict(set)
    for record in records:
        side[record.patient].add(record.split)
    assert all(len(splits) == 1 for splits in side.values())
    val = Counter(record.label for record in records if record.split == "val")
    assert val == {0: round(0.1 * 1341), 1: pytest.approx(round(0.1 * 3875), abs=3)}
    three = Counter(r.label for r in index_chest_xray(REAL_TRAIN.parent, label_mode="three_class"))
    assert three == {0: 1341, 1: 2530, 2: 1345}
