import pytest

from keras_cxr.data import balanced_class_weight


def test_balanced_weights_by_hand():
    # 4 samples, 2 classes: class 0 has 3 -> 4 / (2 * 3); class 1 has 1 -> 4 / (2 * 1).
    assert balanced_class_weight([0, 0, 0, 1]) == pytest.approx({0: 2 / 3, 1: 2.0})


def test_kermany_train_counts():
    weights = balanced_class_weight([0] * 1341 + [1] * 3875)
    assert weights == pytest.approx({0: 5216 / 2682, 1: 5216 / 7750})
    # Each class then carries the same total weight.
    assert 1341 * weights[0] == pytest.approx(3875 * weights[1])


def test_only_present_classes_count():
    assert balanced_class_weight([2, 2, 0]) == pytest.approx({0: 1.5, 2: 0.75})
    assert balanced_class_weight([]) == {}
