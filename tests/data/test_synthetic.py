import keras
import numpy as np
import pytest

from keras_cxr.data import index_chest_xray, patient_id, read_image
from keras_cxr.data.synthetic import (
    MARKER_RATE_NEGATIVE,
    MARKER_RATE_POSITIVE,
    Phantoms,
    make_phantoms,
    write_chest_xray,
)


@pytest.fixture(scope="module")
def phantoms() -> Phantoms:
    return make_phantoms(40, image_size=96, seed=0)


def test_shapes_dtypes_and_labels(phantoms):
    assert len(phantoms) == 40
    assert phantoms.images.shape == (40, 96, 96, 3) and phantoms.images.dtype == np.uint8
    assert np.array_equal(phantoms.images[..., 0], phantoms.images[..., 2])  # gray in RGB
    assert phantoms.labels.shape == (40,) and phantoms.labels.sum() == 20
    for masks in (phantoms.lesion_masks, phantoms.lung_masks):
        assert masks.shape == (40, 96, 96) and masks.dtype == bool
    assert phantoms.marker_masks is None


def test_lesions_exist_only_in_pneumonia_and_only_inside_the_lungs(phantoms):
    lesion_area = phantoms.lesion_masks.sum(axis=(1, 2))
    assert np.all(lesion_area[phantoms.labels == 0] == 0)
    assert np.all(lesion_area[phantoms.labels == 1] > 0)
    assert not np.any(phantoms.lesion_masks & ~phantoms.lung_masks)


def test_lesions_are_brighter_than_the_rest_of_the_lung(phantoms):
    gray = phantoms.images[..., 0].astype(float)
    for i in np.flatnonzero(phantoms.labels):
        lesion = phantoms.lesion_masks[i]
        clear_lung = phantoms.lung_masks[i] & ~lesion
        assert gray[i][lesion].mean() > gray[i][clear_lung].mean() + 15


def test_anatomy_dark_lungs_bright_centre_heart_on_the_image_right(phantoms):
    gray = phantoms.images[..., 0].astype(float)
    lungs = phantoms.lung_masks
    half = 48
    for i in range(len(phantoms)):
        lung_mean = gray[i][lungs[i]].mean()
        centre = gray[i, 30:70, 44:52].mean()  # mediastinum and spine
        assert centre > lung_mean + 40
        # The heart takes lung space on the patient's left, the image's right.
        assert lungs[i, :, :half].sum() > lungs[i, :, half:].sum()
        area = lungs[i].mean()
        assert 0.12 < area < 0.4
    assert not np.any(lungs[:, :5, :])  # apices start below the top of the image


def test_full_size_phantoms_keep_lesions_inside_the_lungs():
    # Above 160 pixels the anatomy is drawn smaller and resized; the masks must still nest.
    large = make_phantoms(2, image_size=224, prevalence=1.0, seed=1)
    assert large.images.shape == (2, 224, 224, 3)
    assert large.lesion_masks.any(axis=(1, 2)).all()
    assert not np.any(large.lesion_masks & ~large.lung_masks)


def test_same_seed_same_phantoms_other_seed_others():
    first, again = make_phantoms(6, 64, seed=3), make_phantoms(6, 64, seed=3)
    other = make_phantoms(6, 64, seed=4)
    for field in ("images", "labels", "lesion_masks", "lung_masks"):
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
    assert not np.array_equal(first.images, other.images)


@pytest.mark.parametrize(("n", "prevalence", "positives"), [(10, 0.3, 3), (5, 0.0, 0), (4, 1.0, 4)])
def test_prevalence_is_exact(n, prevalence, positives):
    assert make_phantoms(n, 32, prevalence=prevalence).labels.sum() == positives


def test_shortcut_marker_is_bright_and_follows_the_label():
    shortcut = make_phantoms(300, 32, seed=5, shortcut=True)
    marked = shortcut.marker_masks.any(axis=(1, 2))
    positives = shortcut.labels == 1
    assert MARKER_RATE_POSITIVE == 0.95 and MARKER_RATE_NEGATIVE == 0.05
    assert marked[positives].mean() > 0.88
    assert marked[~positives].mean() < 0.12
    gray = shortcut.images[..., 0]
    first = np.flatnonzero(marked)[0]
    inside = gray[first][shortcut.marker_masks[first]]
    assert np.median(inside) > 200  # a bright tag with some dark lettering
    assert inside.min() < np.median(inside) - 50
    rows, cols = np.nonzero(shortcut.marker_masks[first])
    assert rows.max() < 16  # in a top corner
    assert cols.max() < 16 or cols.min() >= 16


@pytest.mark.parametrize(("rates", "expected"), [((1.0, 1.0), [1, 1]), ((0.0, 1.0), [1, 0])])
def test_marker_rates_choose_who_carries_the_marker(rates, expected):
    phantoms = make_phantoms(40, 32, seed=2, shortcut=True, marker_rates=rates)
    marked = phantoms.marker_masks.any(axis=(1, 2))
    assert marked[phantoms.labels == 0].all() == bool(expected[0])
    assert marked[phantoms.labels == 1].all() == bool(expected[1])
    assert marked[phantoms.labels == 0].any() == bool(expected[0])
    assert marked[phantoms.labels == 1].any() == bool(expected[1])


def test_marked_phantoms_have_unmarked_twins():
    marked = make_phantoms(12, 48, seed=4, shortcut=True, marker_rates=(1.0, 1.0))
    twins = make_phantoms(12, 48, seed=4)
    assert marked.marker_masks.any(axis=(1, 2)).all()
    outside = ~marked.marker_masks
    np.testing.assert_array_equal(marked.images[..., 0][outside], twins.images[..., 0][outside])
    np.testing.assert_array_equal(marked.lesion_masks, twins.lesion_masks)
    np.testing.assert_array_equal(marked.labels, twins.labels)
    assert (marked.images[..., 0][~outside] != twins.images[..., 0][~outside]).any()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 2, "marker_rates": (0.5,)}, r"argument `marker_rates`. Expected a pair"),
        ({"n": 2, "marker_rates": (0.5, 1.2)}, r"Received: marker_rates=\(0.5, 1.2\)"),
        ({"n": 2, "marker_rates": "ab"}, r"argument `marker_rates`. Expected a pair"),
        ({"n": 0}, "argument `n`. Expected an int >= 1"),
        ({"n": 2, "image_size": 16}, "argument `image_size`. Expected an int >= 32"),
        ({"n": 2, "prevalence": 1.5}, r"argument `prevalence`. Expected a float in \[0, 1\]"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_phantoms(**kwargs)


def test_a_tiny_cnn_learns_the_phantoms():
    train = make_phantoms(512, image_size=48, seed=1)
    held_out = make_phantoms(300, image_size=48, seed=2)
    keras.utils.set_random_seed(0)
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((48, 48, 1)),
            layers.Rescaling(1 / 127.5, offset=-1),
            layers.Conv2D(8, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.GlobalMaxPooling2D(),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    epochs, batch = 8, 32
    schedule = keras.optimizers.schedules.CosineDecay(5e-3, decay_steps=epochs * 512 // batch)
    model.compile(keras.optimizers.Adam(schedule), "binary_crossentropy", metrics=["accuracy"])
    model.fit(train.images[..., :1], train.labels, epochs=epochs, batch_size=batch, verbose=0)
    _, accuracy = model.evaluate(held_out.images[..., :1], held_out.labels, verbose=0)
    assert accuracy > 0.9


def test_write_chest_xray_layout_names_and_images(tmp_path):
    root = write_chest_xray(tmp_path / "cxr", n_train=30, n_test=10, n_val=4, image_size=40, seed=2)
    assert root == tmp_path / "cxr"
    files = sorted(root.rglob("*.jpeg"))
    counts = {}
    for path in files:
        split, class_folder = path.parts[-3], path.parts[-2]
        counts[split, class_folder] = counts.get((split, class_folder), 0) + 1
        assert patient_id(path.name) is not None
        assert (class_folder == "NORMAL") == ("IM-" in path.name)
        image = read_image(path, "grayscale")
        assert image.shape == (40, 40, 1) and image.max() > 100
    assert counts == {
        ("train", "NORMAL"): 15,
        ("train", "PNEUMONIA"): 15,
        ("val", "NORMAL"): 2,
        ("val", "PNEUMONIA"): 2,
        ("test", "NORMAL"): 5,
        ("test", "PNEUMONIA"): 5,
    }
    records = index_chest_xray(root, label_mode="three_class", val_fraction=0)
    assert len(records) == 44  # no file dropped: patients never repeat across splits
    assert {r.label for r in records} == {0, 1, 2}
    assert any(p.name.startswith("NORMAL2-IM-") for p in files)
    by_patient = {}
    for record in records:
        by_patient.setdefault(record.patient, []).append(record)
    assert max(len(images) for images in by_patient.values()) > 1


def test_write_chest_xray_is_deterministic(tmp_path):
    first = write_chest_xray(tmp_path / "a", n_train=8, n_test=4, image_size=32, seed=9)
    second = write_chest_xray(tmp_path / "b", n_train=8, n_test=4, image_size=32, seed=9)
    names = sorted(p.relative_to(first) for p in first.rglob("*.jpeg"))
    assert names == sorted(p.relative_to(second) for p in second.rglob("*.jpeg"))
    assert all((first / n).read_bytes() == (second / n).read_bytes() for n in names)


def test_write_chest_xray_never_overwrites(tmp_path):
    (tmp_path / "empty").mkdir()
    write_chest_xray(tmp_path / "empty", n_train=4, n_test=0, image_size=32)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="already exists and is not an empty folder"):
        write_chest_xray(tmp_path / "full", n_train=4, image_size=32)
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["mine.txt"]
    (tmp_path / "file").write_text("")
    with pytest.raises(FileExistsError, match="never overwrites files"):
        write_chest_xray(tmp_path / "file")
    with pytest.raises(ValueError, match=r"argument `n_test`. Expected an int >= 0"):
        write_chest_xray(tmp_path / "new", n_test=-1)


def test_three_class_phantoms_split_pneumonia_by_pattern():
    binary = make_phantoms(36, image_size=64, seed=4)
    three = make_phantoms(36, image_size=64, seed=4, three_class=True)
    assert np.bincount(three.labels).tolist() == [18, 12, 6]  # a third of 18 are viral
    assert ((three.labels > 0) == (binary.labels == 1)).all()
    # Normal and bacterial phantoms are those of the binary set, pixel for pixel.
    kept = three.labels < 2
    np.testing.assert_array_equal(three.images[kept], binary.images[kept])
    viral = np.flatnonzero(three.labels == 2)
    assert not np.array_equal(three.images[viral], binary.images[viral])
    # The interstitial pattern covers both lungs; consolidation covers a small part.
    half = 32
    for i in viral:
        mask = three.lesion_masks[i]
        assert mask[:, :half].any() and mask[:, half:].any()
        assert mask.sum() > 0.4 * three.lung_masks[i].sum()
    bacterial = three.labels == 1
    coverage = three.lesion_masks[bacterial].sum((1, 2)) / three.lung_masks[bacterial].sum((1, 2))
    assert coverage.max() < 0.4
    assert not three.lesion_masks[three.labels == 0].any()


def test_write_chest_xray_names_three_class_phantoms_by_their_pattern(tmp_path):
    root = write_chest_xray(tmp_path / "x", n_train=24, n_test=6, image_size=32, three_class=True)
    records = index_chest_xray(root, label_mode="three_class", val_fraction=0)
    phantoms = make_phantoms(  # the train split's phantoms, made as the writer makes them
        24, 32, 0.5, int(np.random.SeedSequence([0, 0]).generate_state(1)[0]), three_class=True
    )
    train = [r for r in records if r.split == "train"]
    assert sorted(r.label for r in train) == sorted(phantoms.labels.tolist())
    for record in train:
        image = read_image(record.path, "grayscale", (32, 32))[..., 0].astype(float)
        twins = phantoms.images[phantoms.labels == record.label][..., 0]
        # Every file is one of the phantoms of its label (JPEG changes a few levels).
        assert np.abs(twins - image).mean(axis=(1, 2)).min() < 3
