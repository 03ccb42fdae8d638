"""Evaluation, explanation figures and the HTML report of a trained tiny model."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from keras_cxr.data import load_image_folder
from keras_cxr.metrics import roc_auc
from keras_cxr.models import read_metadata
from keras_cxr.training import evaluate_model


def test_evaluation_counts_match_a_hand_count(trained, test_set, tmp_path):
    threshold = read_metadata(trained.model_path)["threshold"]
    evaluation = evaluate_model(trained.model, test_set.images, test_set.labels, threshold)
    p, y = evaluation.probabilities, test_set.labels
    predicted = p >= threshold
    tp, tn = int((predicted & (y == 1)).sum()), int((~predicted & (y == 0)).sum())
    fp, fn = int((predicted & (y == 0)).sum()), int((~predicted & (y == 1)).sum())
    m = evaluation.metrics
    assert m["confusion_matrix"] == [[tn, fp], [fn, tp]]
    assert m["sensitivity"] == pytest.approx(tp / (tp + fn))
    assert m["specificity"] == pytest.approx(tn / (tn + fp))
    assert m["accuracy"] == pytest.approx((tp + tn) / len(y))
    assert m["roc_auc"] == pytest.approx(roc_auc(y, p))
    written = evaluation.save(tmp_path, extra={"model": str(trained.model_path)})
    saved = json.loads(written["metrics"].read_text())
    assert saved["threshold"] == pytest.approx(threshold) and saved["model"]
    for name in ("roc", "reliability", "confusion_matrix"):
        image = cv2.imread(str(written[name]))
        assert image is not None and image.shape[0] > 100


def test_load_image_folder_accepts_a_split_or_a_root(phantom_data, test_set):
    from_root = load_image_folder(phantom_data, 32, progress=False)
    np.testing.assert_array_equal(from_root.images, test_set.images)
    assert test_set.images.shape == (20, 32, 32, 3)
    assert sorted(set(test_set.labels.tolist())) == [0, 1]


def test_folder_without_class_folders_is_refused(tmp_path):
    (tmp_path / "misc").mkdir()
    with pytest.raises(ValueError, match="no NORMAL and PNEUMONIA sub-folders"):
        load_image_folder(tmp_path, 32)


def test_wrong_image_size_for_the_model_is_a_clear_error(trained, test_set):
    with pytest.raises(ValueError, match=r"\(N, 32, 32, 3\)"):
        evaluate_model(trained.model, test_set.images[:, :16, :16], test_set.labels)
