"""`keras-cxr train --labels-csv` and `evaluate --labels-csv` on multi-finding phantoms."""

from __future__ import annotations

import json

import numpy as np
import pytest

import keras_cxr
from keras_cxr.cli import main
from keras_cxr.data import read_chestxray14, read_chexpert, split_label_table
from keras_cxr.data.synthetic import write_chestxray14
from keras_cxr.metrics import multilabel_report
from keras_cxr.models import read_metadata
from keras_cxr.training import TrainConfig, train_multilabel

FINDINGS = ("Consolidation", "Effusion", "Cardiomegaly", "Nodule", "Pneumothorax")
SMALL = ["--weights", "none", "--backbones", "cnn_3x3", "--image-size", "40", "--epochs", "2",
         "--head-units", "8", "--batch-size", "16", "--seed", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    root = tmp_path_factory.mktemp("cxr14") / "data"
    return write_chestxray14(root, n=72, image_size=40, prevalence=0.4, seed=0)


@pytest.fixture(scope="module")
def chexpert_csv(phantoms):
    """The phantoms' labels in the CheXpert layout, a fifth of them uncertain (-1)."""
    table = read_chestxray14(phantoms / "Data_Entry_2017.csv", phantoms, FINDINGS)
    values = table.labels.astype(int).astype(str).astype(object)
    values[np.random.default_rng(0).random(values.shape) < 0.2] = "-1.0"
    lines = ["Path,Sex," + ",".join(FINDINGS)]
    for path, row in zip(table.paths, values):
        relative = path.relative_to(phantoms).as_posix()
        lines.append(f"{relative},F," + ",".join(row))
    csv_path = phantoms.parent / "train.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    return csv_path, int((values == "-1.0").sum())


@pytest.fixture(scope="module")
def trained(phantoms, chexpert_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "cxr14"
    argv = ["train", "--labels-csv", str(chexpert_csv[0]), "--uncertainty", "ignore", "--data",
            str(phantoms), "--out", str(out), "--test-fraction", "0.25", "--val-fraction",
            "0.25", *SMALL]  # fmt: skip
    with pytest.warns(UserWarning, match=r"72 paths name no patientNNNNN folder"):
        code = main(argv)
    assert code == 0
    return out


def test_train_writes_a_sigmoid_model_with_its_findings_and_thresholds(trained, capsys):
    metadata = read_metadata(trained / "model.keras")
    assert metadata["task"] == "multilabel"
    assert sorted(metadata["findings"]) == sorted(FINDINGS)
    assert set(metadata["thresholds"]) == set(FINDINGS)
    model = keras_cxr.load_model(trained / "model.keras")
    assert model.multi_label and model.get_config()["multi_label"] is True
    probabilities = model.predict(np.zeros((2, 40, 40, 3), np.float32), verbose=0)
    assert probabilities.shape == (2, 5)
    assert not np.allclose(probabilities.sum(axis=1), 1.0)  # independent sigmoids


def test_stored_metrics_match_a_recomputation_on_the_same_split(phantoms, chexpert_csv, trained):
    stored = json.loads((trained / "metrics.json").read_text())
    metadata = read_metadata(trained / "model.keras")
    with pytest.warns(UserWarning, match=r"patientNNNNN"):
        table = read_chexpert(chexpert_csv[0], phantoms, "ignore", metadata["findings"])
    test = split_label_table(table, 0.25, 0.25, seed=1)["test"]
    model = keras_cxr.load_model(trained / "model.keras")
    scores = model.predict(test.read_images(40).astype(np.float32), verbose=0)
    thresholds = [metadata["thresholds"][name] for name in metadata["findings"]]
    expected = multilabel_report(test.labels, scores, metadata["findings"], thresholds)
    assert stored["test"]["macro_roc_auc"] == pytest.approx(expected["macro_roc_auc"], abs=1e-6)
    assert stored["test"]["micro_average_precision"] == pytest.approx(
        expected["micro_average_precision"], abs=1e-6
    )
    ignored = sum(
        row["ignored"] for split in stored["label_counts"].values() for row in split.values()
    )
    assert ignored == chexpert_csv[1]  # every -1 is masked, none is lost or invented
    assert metadata["uncertainty"] == "ignore"
    for name in metadata["findings"]:
        assert (
            stored["test"]["per_finding"][name]["positive"]
            == expected["per_finding"][name]["positive"]
        )
        column = test.labels[:, metadata["findings"].index(name)]
        assert stored["label_counts"]["test"][name]["positive"] == int(np.nansum(column))


def test_evaluate_gives_per_finding_metrics_with_patient_intervals(
    phantoms, trained, tmp_path, capsys
):
    out = tmp_path / "evaluation"
    code = main(["evaluate", "--model", str(trained / "model.keras"), "--labels-csv",
                 str(phantoms / "Data_Entry_2017.csv"), "--data", str(phantoms), "--out",
                 str(out), "--bootstrap", "40"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "72 images: macro ROC AUC" in printed and "Nodule" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    metadata = read_metadata(trained / "model.keras")
    assert metrics["n"] == 72 and metrics["bootstrap"]["unit"] == "patient"
    for name in FINDINGS:
        assert metrics["per_finding"][name]["threshold"] == metadata["thresholds"][name]
        interval = metrics["intervals"][f"{name}/roc_auc"]
        assert interval["low"] <= metrics["per_finding"][name]["roc_auc"] <= interval["high"]


def test_evaluate_refuses_a_single_label_model(phantoms, tmp_path, capsys):
    model = keras_cxr.StackedEnsemble(backbones=["cnn_3x3"], weights=None, input_shape=(40, 40, 3))
    keras_cxr.models.save_model(model, tmp_path / "binary.keras", {"threshold": 0.5})
    code = main(["evaluate", "--model", str(tmp_path / "binary.keras"), "--labels-csv",
                 str(phantoms / "Data_Entry_2017.csv"), "--data", str(phantoms), "--out",
                 str(tmp_path / "e")])  # fmt: skip
    assert code != 0
    assert "is not a multi-label model" in capsys.readouterr().err


def test_findings_no_image_shows_are_dropped_with_a_warning(phantoms, tmp_path, monkeypatch):
    from keras_cxr.training import multilabel_trainer

    def stop(table, *args):
        raise RuntimeError(f"split {table.findings}")

    monkeypatch.setattr(multilabel_trainer, "split_label_table", stop)
    config = TrainConfig.recipe("offline", data=str(phantoms), out=str(tmp_path / "run"))
    with (
        pytest.warns(UserWarning, match=r"No image shows Atelectasis, Infiltration, Mass"),
        pytest.raises(RuntimeError, match=r"split \('Cardiomegaly', 'Effusion', 'Nodule', 'Pneum"),
    ):
        train_multilabel(config, phantoms / "Data_Entry_2017.csv")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.keras").write_text("")
    with pytest.raises(FileExistsError, match=r"already exists. Pass another --out"):
        train_multilabel(config, phantoms / "Data_Entry_2017.csv")
