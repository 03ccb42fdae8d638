import shutil
import warnings
from collections import Counter, defaultdict

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_cxr.data import ChestXRay, load_chest_xray, read_image

from ._files import gray_jpeg, jpeg_bomb, png_bomb, tree_digest, write_image

SIZE = (32, 32)


def load(root, **kwargs) -> ChestXRay:
    kwargs.setdefault("image_size", SIZE)
    return load_chest_xray(root, **kwargs)


def collect(dataset):
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in dataset])
    return np.concatenate(images), np.concatenate(labels)


def test_binary_splits_shapes_and_ranges(phantom_root):
    data = load(phantom_root, batch_size=8)
    assert data.class_names == ("NORMAL", "PNEUMONIA")
    for split in ("train", "val", "test"):
        images, labels = collect(getattr(data, split))
        records = [r for r in data.index if r.split == split]
        assert images.shape == (len(records), *SIZE, 3) and images.dtype == np.float32
        assert labels.shape == (len(records), 1) and labels.dtype == np.float32
        assert images.min() >= 0 and images.max() <= 255 and images.max() > 100
        assert sorted(labels.ravel()) == sorted(float(r.label) for r in records)
    assert len(data.index) == 48 + 8 + 16
    assert data.skipped == []


def test_test_images_are_the_files_read_back_in_index_order(phantom_root):
    data = load(phantom_root, batch_size=5)
    images, labels = collect(data.test)
    records = [r for r in data.index if r.split == "test"]
    expected = np.stack([read_image(r.path, "rgb", SIZE) for r in records]).astype(np.float32)
    np.testing.assert_array_equal(images, expected)
    np.testing.assert_array_equal(labels.ravel(), [r.label for r in records])


def test_no_patient_in_two_splits_and_official_val_merged(phantom_root):
    data = load(phantom_root, val_fraction=0.25)
    splits = defaultdict(set)
    for record in data.index:
        splits[record.patient].add(record.split)
    assert all(len(s) == 1 for s in splits.values())
    from_val_folder = [r for r in data.index if r.path.parts[-3] == "val"]
    assert len(from_val_folder) == 8
    assert {r.split for r in from_val_folder} <= {"train", "val"}
    assert Counter(r.split for r in data.index)["val"] == pytest.approx(0.25 * 56, abs=3)


def test_class_weight_is_balanced_on_the_train_split(tmp_path):
    from keras_cxr.data.synthetic import write_chest_xray

    root = write_chest_xray(tmp_path / "cxr", n_train=40, n_test=0, image_size=32, prevalence=0.75)
    data = load(root, val_fraction=0.2)
    counts = Counter(r.label for r in data.index if r.split == "train")
    n = sum(counts.values())
    assert data.class_weight == pytest.approx({0: n / (2 * counts[0]), 1: n / (2 * counts[1])})
    assert data.class_weight[0] > 1 > data.class_weight[1]
    assert data.test is None


@pytest.mark.parametrize(
    ("label_mode", "label_shape", "dtype", "names"),
    [
        ("categorical", (2,), np.float32, ("NORMAL", "PNEUMONIA")),
        ("three_class", (), np.int32, ("NORMAL", "BACTERIAL", "VIRAL")),
    ],
)
def test_other_label_modes(phantom_root, label_mode, label_shape, dtype, names):
    data = load(phantom_root, label_mode=label_mode, color_mode="grayscale", val_fraction=0)
    assert data.val is None and data.class_names == names
    images, labels = collect(data.test)
    assert images.shape[1:] == (*SIZE, 1)
    assert labels.shape[1:] == label_shape and labels.dtype == dtype
    records = [r for r in data.index if r.split == "test"]
    as_index = labels.argmax(axis=1) if label_mode == "categorical" else labels
    np.testing.assert_array_equal(as_index, [r.label for r in records])
    if label_mode == "three_class":
        expected = [
            1 if "bacteria" in r.path.name else 2 if "virus" in r.path.name else 0 for r in records
        ]
        np.testing.assert_array_equal(labels, expected)
        assert {r.label for r in data.index} == {0, 1, 2}


@pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")
def test_binary_labels_fit_a_sigmoid_model(phantom_root):
    data = load(phantom_root, batch_size=16)
    model = keras.Sequential(
        [
            keras.Input((*SIZE, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(2, 3),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(
        data.train, validation_data=data.val, class_weight=data.class_weight, epochs=1, verbose=0
    )
    assert np.isfinite(history.history["loss"][0]) and np.isfinite(history.history["val_loss"][0])


def test_train_is_reshuffled_each_epoch_and_unshuffled_on_request(phantom_root):
    data = load(phantom_root, batch_size=64, val_fraction=0)
    first, second = (collect(data.train)[0] for _ in range(2))
    assert not np.array_equal(first, second)
    assert sorted(image.tobytes() for image in first) == sorted(i.tobytes() for i in second)
    ordered = load(phantom_root, val_fraction=0, shuffle=False)
    records = [r for r in ordered.index if r.split == "train"]
    np.testing.assert_array_equal(
        collect(ordered.train)[0][0], read_image(records[0].path, "rgb", SIZE)
    )


def test_augmentation_only_touches_training_batches(phantom_root):
    plain = load(phantom_root, shuffle=False, cache=False)
    augmented = load(phantom_root, shuffle=False, cache=False, augment=True)
    train_plain, train_aug = collect(plain.train)[0], collect(augmented.train)[0]
    assert train_aug.shape == train_plain.shape
    assert not np.allclose(train_aug, train_plain)
    assert train_aug.min() >= 0 and train_aug.max() <= 255
    np.testing.assert_array_equal(collect(plain.test)[0], collect(augmented.test)[0])
    np.testing.assert_array_equal(collect(plain.val)[0], collect(augmented.val)[0])


def test_file_cache_goes_where_asked(phantom_root, tmp_path):
    before = tree_digest(phantom_root)
    data = load(phantom_root, cache=str(tmp_path / "cache"))
    collect(data.test)
    assert any(path.name.startswith("cache_test") for path in tmp_path.iterdir())
    assert tree_digest(phantom_root) == before


def test_bad_files_are_skipped_with_one_warning_and_nothing_is_modified(phantom_root, tmp_path):
    root = tmp_path / "cxr"
    shutil.copytree(phantom_root, root)
    normal = root / "train" / "NORMAL"
    jpeg = next(normal.glob("*.jpeg")).read_bytes()
    (normal / "IM-0900-0001.jpeg").write_bytes(jpeg[: len(jpeg) // 2])
    (normal / "IM-0901-0001.jpeg").write_bytes(b"")
    (normal / "IM-0902-0001.jpeg").write_bytes(b"GIF89a not really")
    png_bomb(root / "train" / "PNEUMONIA" / "person900_bacteria_1.png")
    jpeg_bomb(root / "test" / "PNEUMONIA" / "person901_virus_2.jpeg")
    (normal / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (normal / "._IM-0100-0001.jpeg").write_bytes(b"\x00\x05\x16\x07")
    (normal / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (normal / ".ipynb_checkpoints").mkdir()
    gray_jpeg(normal / ".ipynb_checkpoints" / "IM-0903-0001-checkpoint.jpeg")
    before = tree_digest(root)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load(root, batch_size=8)
        for split in (data.train, data.val, data.test):
            collect(split)  # a full pass decodes every remaining file without error
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    summaries = [m for m in messages if m.startswith("Skipped 5 of 77 files")]
    assert len(summaries) == 1
    for name in ("IM-0900-0001", "IM-0901-0001", "IM-0902-0001", "person900", "person901"):
        assert name in summaries[0]
    limit = "pixels, above the 100,000,000-pixel limit"
    assert {path.name: reason.split(" (")[0].split(":")[0] for path, reason in data.skipped} == {
        "IM-0900-0001.jpeg": "truncated",
        "IM-0901-0001.jpeg": "empty file",
        "IM-0902-0001.jpeg": "not a JPEG or PNG file",
        "person900_bacteria_1.png": f"header claims 20000 × 20000 {limit}",
        "person901_virus_2.jpeg": f"header claims 65000 × 65000 {limit}",
    }
    assert len(data.index) == 72
    assert not any(
        r.path.name.startswith((".", "Thumbs")) or "checkpoint" in r.path.name for r in data.index
    )
    assert tree_digest(root) == before

    with pytest.raises(
        ValueError, match=r"(?s)Skipped 5 of 77 files.*IM-0900-0001.*pass strict=False"
    ):
        load(root, strict=True)


def test_a_class_with_no_usable_file_is_an_error(tmp_path):
    gray_jpeg(tmp_path / "train" / "NORMAL" / "IM-0001-0001.jpeg")
    (tmp_path / "train" / "PNEUMONIA").mkdir()
    (tmp_path / "train" / "PNEUMONIA" / "person1_virus_1.jpeg").write_bytes(b"")
    with (
        pytest.warns(UserWarning, match="Skipped 1 of 2"),
        pytest.raises(ValueError, match="No usable PNEUMONIA image is left for training"),
    ):
        load(tmp_path)


def test_dicom_png_and_jpeg_mix_in_one_folder(tmp_path):
    from .test_dicom import RAMP, dicom_dataset, save

    dicom = tmp_path / "test" / "NORMAL" / "IM-0001-0001.dcm"
    dicom.parent.mkdir(parents=True)
    save(dicom_dataset(RAMP), dicom)
    png = tmp_path / "test" / "PNEUMONIA" / "person1_virus_1.png"
    write_image(png, np.full((9, 9), 7 * 257, np.uint16))
    gray_jpeg(tmp_path / "test" / "PNEUMONIA" / "person2_bacteria_2.jpeg", value=60)
    data = load(tmp_path, image_size=(8, 8), shuffle=False)
    assert data.train is None and data.val is None
    images, labels = collect(data.test)
    assert images.shape == (3, 8, 8, 3)
    assert labels.ravel().tolist() == [0, 1, 1]
    np.testing.assert_array_equal(images[0], read_image(dicom))  # already 8 x 8
    assert np.all(images[1] == 7)  # 16-bit 7 * 257 is 8-bit 7
    assert np.abs(images[2] - 60).max() <= 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image_size": (0, 32)}, r"argument `image_size`.*Received: image_size=\(0, 32\)"),
        ({"image_size": 32}, "argument `image_size`"),
        ({"batch_size": 0}, "argument `batch_size`. Expected an integer >= 1"),
        ({"color_mode": "hsv"}, "argument `color_mode`"),
        ({"label_mode": "sparse"}, "argument `label_mode`"),
        ({"val_fraction": 1}, "argument `val_fraction`"),
    ],
)
def test_bad_arguments_fail_before_reading(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_chest_xray(tmp_path / "nowhere", **kwargs)


def test_datasets_are_tf_data(phantom_root):
    data = load(phantom_root)
    assert isinstance(data.train, tf.data.Dataset)
    assert "index" not in repr(data) and "class_weight" in repr(data)
