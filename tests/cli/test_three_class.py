"""The three-class task (normal / bacterial / viral) through train, evaluate, explain, report."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from keras_cxr.cli import main
from keras_cxr.data import load_image_folder
from keras_cxr.data.synthetic import write_chest_xray
from keras_cxr.metrics import multiclass_report
from keras_cxr.models import read_metadata

NAMES = ["NORMAL", "BACTERIAL", "VIRAL"]


@pytest.fixture(scope="module")
def three_class_run(tmp_path_factory):
    """`keras-cxr train --labels three_class` on 32-pixel phantoms, one epoch."""
    root = tmp_path_factory.mktemp("three") / "data"
    write_chest_xray(root, n_train=60, n_test=18, image_size=32, seed=3, three_class=True)
    out = root.parent / "run"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(
            [
                "train",
                "--data",
                str(root),
                "--out",
                str(out),
                "--weights",
                "none",
                "--labels",
                "three_class",
                "--backbones",
                "cnn_3x3",
                "--image-size",
                "32",
                "--epochs",
                "1",
                "--head-units",
                "8",
                "--val-fraction",
                "0.25",
                "--gradcam-images",
                "3",
                "--no-tensorboard",
                "--quiet",
            ]
        )
    assert code == 0
    return root, out, printed.getvalue()


def test_train_stores_three_softmax_classes(three_class_run, capsys):
    _, out, _ = three_class_run
    import keras_cxr

    model = keras_cxr.load_model(out / "model.keras", compile=False)
    assert model.output_shape == (None, 3)
    metadata = read_metadata(out / "model.keras")
    assert metadata["class_names"] == NAMES
    assert (metadata["labels"], metadata["decision"]) == ("three_class", "argmax")
    assert metadata["threshold"] is None
    val = metadata["val_metrics"]
    assert len(val["confusion_matrix"]) == 3 and sum(map(sum, val["confusion_matrix"])) == val["n"]
    assert set(val["per_class"]) == set(NAMES)
    assert 0 <= val["bacterial_vs_viral"]["accuracy"] <= 1
    history = (out / "history.csv").read_text().splitlines()[0].split(",")
    assert {"val_auc", "val_accuracy", "val_loss"} <= set(history)


def test_evaluate_prints_and_writes_the_multiclass_metrics(three_class_run, tmp_path, capsys):
    root, out, _ = three_class_run
    capsys.readouterr()
    code = main(
        [
            *("evaluate", "--model", str(out / "model.keras"), "--data", str(root / "test")),
            *("--quiet", "--out", str(tmp_path / "eval")),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert (tmp_path / "eval" / "confusion_matrix.png").stat().st_size > 0
    assert metrics["n"] == 18 and metrics["decision"] == "argmax"
    for name in NAMES:
        assert name in printed
    assert "bacterial vs viral" in printed and "macro-F1" in printed
    # The numbers are those of the model's own predictions, recomputed here.
    import keras_cxr

    model = keras_cxr.load_model(out / "model.keras", compile=False)
    test = load_image_folder(root / "test", 32, progress=False, labels="three_class")
    assert sorted(np.bincount(test.labels).tolist()) == [3, 6, 9]
    expected = multiclass_report(test.labels, model.predict(test.images, verbose=0), NAMES)
    assert metrics["confusion_matrix"] == expected["confusion_matrix"]
    assert metrics["macro_f1"] == pytest.approx(expected["macro_f1"], abs=1e-6)
    assert metrics["per_class"]["VIRAL"]["specificity"] == pytest.approx(
        expected["per_class"]["VIRAL"]["specificity"], abs=1e-6
    )


def test_explain_writes_a_map_per_class(three_class_run, tmp_path, capsys):
    from keras_cxr.scale import read_heatmaps, read_results

    root, out, _ = three_class_run
    explained = tmp_path / "explained"
    capsys.readouterr()
    code = main(
        [
            *("explain", "--model", str(out / "model.keras"), str(root / "test" / "PNEUMONIA")),
            *("--out", str(explained), "--all-classes", "--save", "both", "--quiet"),
            *("--table-format", "csv"),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "arg-max of NORMAL, BACTERIAL, VIRAL; a map per class" in printed
    temperature = read_metadata(out / "model.keras")["temperature"]
    assert f"probabilities calibrated at temperature {temperature:.3f}" in printed
    table = read_results(explained)
    assert set(table["predicted"]) <= set(NAMES)
    for name in NAMES:
        overlays = table[f"overlay@{name}"]
        assert all(path.endswith(f"-{name}.png") for path in overlays)
        assert all((explained / path).is_file() for path in overlays)
        assert any(column.startswith(f"{name}/") for column in table)
    shard = read_heatmaps(explained)
    assert list(shard["path"]) == list(table["path"])
    maps = [shard[f"heatmap@{name}"] for name in NAMES]
    assert all(m.shape == shard["heatmap"].shape for m in maps)
    # The decided class's map is the fused map of the decision.
    for row, decided in enumerate(table["decision"]):
        np.testing.assert_allclose(maps[decided][row], shard["heatmap"][row], atol=1 / 255)


def test_report_shows_the_confusion_matrix_and_the_class_table(three_class_run, tmp_path):
    root, out, _ = three_class_run
    page = tmp_path / "report.html"
    code = main(
        [
            *("report", "--model", str(out / "model.keras"), "--data", str(root / "test")),
            *("--out", str(page), "--gallery", "2", "--mc-samples", "0", "--quiet"),
        ]
    )
    assert code == 0
    html = page.read_text()
    assert "Confusion matrix (rows true, columns predicted)" in html
    assert "Per class (one vs rest)" in html
    for name in NAMES:
        assert f"predicted {name}" in html and f"true {name}" in html
    assert "bacterial vs viral accuracy" in html and "no threshold" in html
    temperature = read_metadata(out / "model.keras")["temperature"]
    assert "top-label ECE before calibration" in html and f"T = {temperature:.3f}" in html


def _calibrated(model, images, temperature):
    """softmax(logits / T), the logits taken back from the model's softmax outputs by numpy."""
    logits = np.log(np.clip(model.predict(images, verbose=0).astype(np.float64), 1e-12, 1))
    scaled = logits / temperature
    exp = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def _top_label_ece(labels, probabilities):
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    bins = np.minimum((confidence * 10).astype(int), 9)
    gaps = [abs(correct[bins == b].sum() - confidence[bins == b].sum()) for b in range(10)]
    return sum(gaps) / len(labels)


def test_train_fits_stores_and_prints_the_temperature_and_shift_report(three_class_run):
    _, out, printed = three_class_run
    metadata = read_metadata(out / "model.keras")
    temperature = metadata["temperature"]
    assert temperature != 1.0 and metadata["operating_point"] == "argmax"
    calibration = metadata["calibration"]
    assert calibration["split"] == "validation"
    assert calibration["nll_after"] <= calibration["nll_before"]
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["temperature"] == temperature
    assert summary["val_metrics"]["ece"] == metadata["val_metrics"]["ece"]
    report = summary["shift_validation"]
    assert report["decision"] == "argmax" and "sensitivity_VIRAL" in report["columns"]
    assert report["patient"]["accuracy"] == summary["val_metrics"]["accuracy"]
    assert report["patient"]["ece"] == pytest.approx(summary["val_metrics"]["ece"])
    assert "shift-aware validation" in printed and "sens. BACTERIAL" in printed
    assert f"temperature {temperature:.3f} inside" in printed


def test_evaluate_explain_and_report_use_the_stored_temperature(three_class_run, tmp_path):
    import keras_cxr

    root, out, _ = three_class_run
    model_path = out / "model.keras"
    temperature = read_metadata(model_path)["temperature"]
    model = keras_cxr.load_model(model_path, compile=False)
    test = load_image_folder(root / "test", 32, progress=False, labels="three_class")
    expected = _calibrated(model, test.images, temperature)
    code = main(
        [
            *("evaluate", "--model", str(model_path), "--data", str(root / "test")),
            *("--quiet", "--out", str(tmp_path / "eval")),
        ]
    )
    assert code == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["temperature"] == temperature
    assert metrics["ece"] == pytest.approx(_top_label_ece(test.labels, expected), abs=1e-5)
    uncalibrated = _calibrated(model, test.images, 1.0)
    assert metrics["ece_uncalibrated"] == pytest.approx(
        _top_label_ece(test.labels, uncalibrated), abs=1e-5
    )
    per_class = multiclass_report(test.labels, expected, NAMES)["per_class"]
    assert metrics["per_class"]["BACTERIAL"]["roc_auc"] == pytest.approx(
        per_class["BACTERIAL"]["roc_auc"]
    )
    explained = keras_cxr.explain.BatchExplainer(model_path)({"image": test.images[:4]})
    np.testing.assert_allclose(explained["probability"], expected[:4].max(axis=1), rtol=1e-5)
    np.testing.assert_array_equal(explained["decision"], expected[:4].argmax(axis=1))
    from keras_cxr.training import evaluate_model

    evaluation = evaluate_model(model, test.images, test.labels, temperature=temperature)
    np.testing.assert_allclose(evaluation.probabilities, expected, rtol=1e-4, atol=1e-7)
