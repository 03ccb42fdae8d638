"""Multi-finding phantoms: a mask per finding, in its own place, and the ChestX-ray14 writer."""

from __future__ import annotations

import numpy as np
import pytest

from keras_cxr.data import read_chestxray14, read_image
from keras_cxr.data.synthetic import (
    MULTILABEL_FINDINGS,
    make_multilabel_phantoms,
    write_chestxray14,
)


@pytest.fixture(scope="module")
def phantoms():
    return make_multilabel_phantoms(48, image_size=64, prevalence=0.5, seed=3)


def test_shapes_and_masks_follow_the_labels(phantoms):
    assert phantoms.findings == MULTILABEL_FINDINGS
    assert phantoms.images.shape == (48, 64, 64, 3) and phantoms.images.dtype == np.uint8
    assert phantoms.labels.shape == (48, 5) and set(np.unique(phantoms.labels)) == {0, 1}
    area = phantoms.masks.sum(axis=(2, 3))
    assert np.all(area[phantoms.labels == 0] == 0)
    assert np.all(area[phantoms.labels == 1] > 0)
    assert (phantoms.labels.sum(axis=1) >= 2).sum() >= 10  # many images show several


def test_findings_of_one_image_never_share_a_pixel(phantoms):
    assert phantoms.masks.sum(axis=1).max() <= 1
    lung_findings = [MULTILABEL_FINDINGS.index(name) for name in ("effusion", "nodule")]
    assert not np.any(phantoms.masks[:, lung_findings] & ~phantoms.lung_masks[:, None])


@pytest.mark.parametrize(
    ("finding", "brighter"),
    [("consolidation", True), ("effusion", True), ("cardiomegaly", True), ("nodule", True),
     ("pneumothorax", False)],
)  # fmt: skip
def test_each_finding_changes_the_lung_the_way_it_looks_on_a_radiograph(
    phantoms, finding, brighter
):
    k = MULTILABEL_FINDINGS.index(finding)
    gray = phantoms.images[..., 0].astype(float)
    healthy_lung = phantoms.lung_masks & ~phantoms.masks.any(axis=1)
    differences = [
        gray[i][phantoms.masks[i, k]].mean() - gray[i][healthy_lung[i]].mean()
        for i in np.flatnonzero(phantoms.labels[:, k])
    ]
    sign = 1 if brighter else -1
    assert np.mean(np.array(differences) * sign > 10) >= 0.9


def test_same_seed_same_phantoms_and_a_subset_of_findings():
    first = make_multilabel_phantoms(6, image_size=48, seed=5)
    again = make_multilabel_phantoms(6, image_size=48, seed=5)
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.masks, again.masks)
    two = make_multilabel_phantoms(30, image_size=48, findings=("nodule", "effusion"),
                                   prevalence=(1.0, 0.0))  # fmt: skip
    assert two.findings == ("nodule", "effusion")
    np.testing.assert_array_equal(two.labels, np.tile([1, 0], (30, 1)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"findings": ("nodule", "mass")}, r"argument `findings`"),
        ({"findings": ()}, r"argument `findings`"),
        ({"prevalence": 1.5}, r"argument `prevalence`"),
        ({"prevalence": (0.1, 0.2)}, r"operands could not|argument `prevalence`"),
        ({"image_size": 16}, r"argument `image_size`. Expected an int >= 32"),
        ({"n": 0}, r"argument `n`. Expected an int >= 1"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_multilabel_phantoms(**{"n": 2, "image_size": 32, **kwargs})


def test_written_chestxray14_folder_reads_back_exactly(tmp_path):
    root = write_chestxray14(tmp_path / "cxr14", n=30, image_size=48, seed=2, prevalence=0.4)
    table = read_chestxray14(
        root / "Data_Entry_2017.csv",
        root,
        findings=("Consolidation", "Effusion", "Cardiomegaly", "Nodule", "Pneumothorax"),
    )
    expected = make_multilabel_phantoms(30, image_size=48, seed=2, prevalence=0.4)
    np.testing.assert_array_equal(table.labels, expected.labels)
    assert table.paths[0].relative_to(root).parts == ("images_001", "images", "00000001_000.png")
    assert len(set(table.patients)) < 30  # some patients have several images
    for i in (0, 17, 29):
        np.testing.assert_array_equal(read_image(table.paths[i]), expected.images[i])
    with pytest.raises(FileExistsError, match=r"never overwrites"):
        write_chestxray14(root, n=2)
