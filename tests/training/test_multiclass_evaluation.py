"""`evaluate_model` with k classes: a hand-made 3-class softmax model, decided by the arg-max."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_cxr.training import evaluate_model
from keras_cxr.training.multiclass_evaluation import MulticlassEvaluation, multiclass_metrics

NAMES = ("NORMAL", "BACTERIAL", "VIRAL")
REAL_TRAIN = Path(__file__).resolve().parents[2].parent / "shared/data/chest_xray/train"


def _mean_brightness_model() -> keras.Model:
    """Softmax over (0, 1, 2) × mean pixel / 255: brighter images lean to class 2."""
    inputs = keras.Input((8, 8, 1))
    mean = keras.layers.GlobalAveragePooling2D()(inputs)
    logits = keras.layers.Dense(3, name="logits")(mean)
    outputs = keras.layers.Activation("softmax", name="predictions")(logits)
    model = keras.Model(inputs, outputs)
    model.get_layer("logits").set_weights([np.array([[0.0, 4.0, 8.0]]) / 255, np.array([2, 0, -3])])
    return model


def _softmax(brightness: np.ndarray) -> np.ndarray:
    logits = brightness[:, None] * np.array([0.0, 4.0, 8.0]) / 255 + np.array([2.0, 0, -3])
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def test_evaluate_model_decides_by_the_arg_max(tmp_path):
    brightness = np.array([0, 10, 100, 120, 140, 200, 230, 255, 60, 250], dtype=np.float32)
    images = np.broadcast_to(brightness[:, None, None, None], (10, 8, 8, 1)).copy()
    labels = np.array([0, 0, 1, 1, 1, 2, 2, 2, 1, 0])
    evaluation = evaluate_model(_mean_brightness_model(), images, labels, class_names=NAMES)
    assert isinstance(evaluation, MulticlassEvaluation) and evaluation.threshold is None
    expected = _softmax(brightness)
    np.testing.assert_allclose(evaluation.probabilities, expected, rtol=1e-5)
    np.testing.assert_array_equal(evaluation.predictions, expected.argmax(axis=1))
    m = evaluation.metrics
    predicted = expected.argmax(axis=1)
    assert m["accuracy"] == pytest.approx(np.mean(predicted == labels))
    assert sum(map(sum, m["confusion_matrix"])) == 10
    pneumonia = labels > 0
    chosen = np.where(expected[:, 2] > expected[:, 1], 2, 1)[pneumonia]
    pair = m["bacterial_vs_viral"]
    assert pair["accuracy"] == pytest.approx(np.mean(chosen == labels[pneumonia]))
    assert m["n_positive"] == 7
    written = evaluation.save(tmp_path, extra={"model": "toy"})
    saved = json.loads(written["metrics"].read_text())
    assert saved["model"] == "toy" and saved["per_class"]["VIRAL"]["n"] == 3
    assert written["confusion_matrix"].stat().st_size > 1000
    text = evaluation.summary()
    assert all(name in text for name in NAMES) and "Kermany" in text
    metrics, tables = evaluation.report_sections()
    assert metrics["accuracy"] == str(evaluation.intervals["accuracy"])
    assert metrics["accuracy"].startswith(f"{m['accuracy']:.4f} [")
    columns, rows = tables["Per class (one vs rest)"]
    assert [row[0] for row in rows] == list(NAMES) and columns[2] == "sensitivity"


def test_intervals_resample_whole_patients():
    brightness = np.array([0, 10, 100, 120, 140, 200, 230, 255, 60, 250], dtype=np.float32)
    images = np.broadcast_to(brightness[:, None, None, None], (10, 8, 8, 1)).copy()
    labels = np.array([0, 0, 1, 1, 1, 2, 2, 2, 1, 0])
    patients = ["a", "a", "b", "b", "c", "d", "d", "e", "f", "g"]
    evaluation = evaluate_model(
        _mean_brightness_model(), images, labels, class_names=NAMES, groups=patients,
        n_resamples=300, seed=3,
    )  # fmt: skip
    m, intervals = evaluation.metrics, evaluation.intervals
    assert m["bootstrap"] == {"resamples": 300, "confidence": 0.95, "unit": "patient", "groups": 7}
    assert intervals["accuracy"].point == m["accuracy"]
    assert intervals["VIRAL/sensitivity"].point == m["per_class"]["VIRAL"]["sensitivity"]
    pair = intervals["bacterial_vs_viral/accuracy"]
    assert pair.point == m["bacterial_vs_viral"]["accuracy"] and pair.low <= pair.high
    assert m["intervals"]["macro_f1"] == intervals["macro_f1"].to_dict()
    # The same percentile bootstrap, written out: draw 7 patients with replacement, keep
    # all their images, take the accuracy of the arg-max.
    rng, hits = np.random.default_rng(3), evaluation.predictions == labels
    members = [np.flatnonzero(np.array(patients) == p) for p in dict.fromkeys(patients)]
    draws = [
        hits[np.concatenate([members[i] for i in rng.integers(0, 7, 7)])].mean() for _ in range(300)
    ]
    low, high = np.percentile(draws, [2.5, 97.5])
    assert (intervals["accuracy"].low, intervals["accuracy"].high) == pytest.approx((low, high))
    assert "bootstrap intervals over 300 resamples of 7 patients" in evaluation.summary()
    none = evaluate_model(
        _mean_brightness_model(), images, labels, class_names=NAMES, n_resamples=0
    )
    assert none.intervals == {} and "intervals" not in none.metrics
    assert none.report_sections()[0]["accuracy"] == m["accuracy"]


def test_evaluate_model_applies_the_temperature_to_the_softmax_logits():
    brightness = np.array([0, 10, 100, 120, 140, 200, 230, 255, 60, 250], dtype=np.float32)
    images = np.broadcast_to(brightness[:, None, None, None], (10, 8, 8, 1)).copy()
    labels = np.array([0, 0, 1, 1, 1, 2, 2, 2, 1, 0])
    temperature = 2.5
    evaluation = evaluate_model(
        _mean_brightness_model(), images, labels, class_names=NAMES, temperature=temperature
    )
    logits = brightness[:, None] * np.array([0.0, 4.0, 8.0]) / 255 + np.array([2.0, 0, -3])
    scaled = np.exp(logits / temperature - (logits / temperature).max(axis=1, keepdims=True))
    expected = scaled / scaled.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(evaluation.probabilities, expected, rtol=1e-5)
    # The arg-max is the same at every temperature; the confidence is not.
    np.testing.assert_array_equal(evaluation.predictions, _softmax(brightness).argmax(axis=1))
    assert np.all(evaluation.confidence < _softmax(brightness).max(axis=1))
    m = evaluation.metrics
    assert (m["temperature"], evaluation.temperature) == (temperature, temperature)

    def top_label_ece(p):  # ten equal-width bins, written out
        confidence, correct = p.max(axis=1), p.argmax(axis=1) == labels
        bins = np.minimum((confidence * 10).astype(int), 9)
        return sum(
            abs(correct[bins == b].sum() - confidence[bins == b].sum()) for b in range(10)
        ) / len(labels)

    assert m["ece"] == pytest.approx(top_label_ece(expected), abs=1e-6)
    assert m["ece_uncalibrated"] == pytest.approx(top_label_ece(_softmax(brightness)), abs=1e-6)
    assert "top-label ECE" in evaluation.summary() and "temperature 2.500" in evaluation.summary()
    assert evaluation.report_sections()[0]["temperature"] == temperature


def test_other_class_names_get_no_pairwise_report():
    metrics = multiclass_metrics(np.array([0, 1, 2]), np.eye(3), ("a", "b", "c"))
    assert "bacterial_vs_viral" not in metrics and metrics["accuracy"] == 1.0


@pytest.mark.skipif(not REAL_TRAIN.is_dir(), reason="../shared/data/chest_xray/train is absent")
def test_tiny_real_subset_trains_through_the_python_api(tmp_path):
    from keras_cxr.data import load_image_folder
    from keras_cxr.training import TrainConfig, train

    root = tmp_path / "chest_xray" / "train"
    # 10 images per class, each from its own patient, picked by file name.
    picks = {"NORMAL": "IM-*", "PNEUMONIA": "*_bacteria_*"}
    for folder, pattern in [*picks.items(), ("PNEUMONIA", "*_virus_*")]:
        (root / folder).mkdir(parents=True, exist_ok=True)
        seen = set()
        for path in sorted((REAL_TRAIN / folder).glob(pattern)):
            patient = path.name.split("_")[0] if folder == "PNEUMONIA" else path.name[:7]
            if patient not in seen and len(seen) < 10:
                seen.add(patient)
                shutil.copy(path, root / folder / path.name)
    config = TrainConfig.recipe(
        "demo",
        data=root.parent,
        out=tmp_path / "run",
        labels="three_class",
        backbones=("cnn_3x3",),
        image_size=32,
        head_units=(8,),
        epochs=1,
        val_fraction=0.3,
        gradcam_images=0,
        tensorboard=False,
        progress=False,
    )
    result = train(config)
    assert result.threshold is None and result.model.output_shape == (None, 3)
    assert result.val_metrics["class_names"] == list(NAMES)
    data = load_image_folder(root, 32, progress=False, labels="three_class")
    assert np.bincount(data.labels).tolist() == [10, 10, 10]
    evaluation = evaluate_model(result.model, data.images, data.labels)
    assert evaluation.class_names == NAMES
    assert not math.isnan(evaluation.metrics["macro_roc_auc"])
