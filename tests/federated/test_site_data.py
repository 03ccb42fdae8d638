"""`load_sites`: sites and the held-out test from one folder, patients never shared."""

from __future__ import annotations

import pytest

from keras_cxr.data.synthetic import write_chest_xray
from keras_cxr.federated import load_sites


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("sites")
    with_test = write_chest_xray(base / "a", n_train=90, n_test=12, image_size=32, seed=0)
    train_only = write_chest_xray(base / "b", n_train=90, n_test=0, image_size=32, seed=1)
    return with_test, train_only


def _patients(images):
    return set(images.patients)


@pytest.mark.parametrize("spec", ["iid:3", "label:2", "cohort"])
def test_sites_and_the_held_out_test_share_no_patient(folders, spec):
    with_test, train_only = folders
    for root, test_fraction in ((with_test, 0.0), (train_only, 0.2)):
        sites, held_out = load_sites(root, spec, 32, test_fraction=test_fraction)
        assert held_out is not None and len(held_out) > 0
        seen = [_patients(held_out)]
        for site in sites:
            seen += [_patients(site.splits.train), _patients(site.splits.val)]
            for split in (site.splits.train, site.splits.val):
                assert set(split.labels.tolist()) == {0, 1}  # every site grades both classes
        assert sum(len(s) for s in seen) == len(set().union(*seen))  # pairwise disjoint
    if spec == "cohort":
        assert sorted(site.name for site in sites) == ["IM", "NORMAL2"]


def test_the_held_out_test_is_the_folders_test_split(folders):
    with_test, _ = folders
    _, held_out = load_sites(with_test, "iid:2", 32)
    assert len(held_out) == 12
    assert all(path.parent.parent.name == "test" for path in held_out.paths)


def test_real_site_folders_keep_their_own_test(folders):
    with_test, train_only = folders
    sites, held_out = load_sites(None, f"{with_test},{train_only}", 32)
    assert held_out is None
    assert [site.name for site in sites] == ["a", "b"]
    assert len(sites[0].splits.test) == 12 and sites[1].splits.test is None


def test_a_site_without_both_classes_is_refused(tmp_path):
    root = write_chest_xray(tmp_path / "tiny", n_train=8, n_test=0, image_size=32, seed=3)
    message = r"Site 'site\d' has \d+ (train|val) images of [01] class\(es\); every site needs both"
    with pytest.raises(ValueError, match=message):
        load_sites(root, "iid:4", 32)
