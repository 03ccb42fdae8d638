"""`keras-cxr model-card` and `keras-cxr models`: cards and version listings read back."""

from __future__ import annotations

import json
import shutil

import keras
import numpy as np
import pytest

import keras_cxr
from keras_cxr.cli import main
from keras_cxr.data import patient_id
from keras_cxr.models import model_fingerprint, read_metadata
from keras_cxr.training.caveats import INTERNAL_VALIDATION
from keras_cxr.training.model_card_markdown import HEADLINE_METRICS

from ._helpers import error_line


@pytest.fixture(scope="module")
def evaluated(demo, tmp_path_factory):
    """`keras-cxr evaluate` of the demo model on its test images, with intervals."""
    out = tmp_path_factory.mktemp("card") / "eval"
    flags = ["--bootstrap", "200", "--seed", "1", "--quiet"]
    model, data = demo / "model.keras", demo / "data" / "test"
    code = main(["evaluate", "--model", str(model), "--data", str(data), "--out", str(out), *flags])
    assert code == 0
    return out


def test_training_writes_a_card_whose_version_names_the_saved_model(demo):
    card = json.loads((demo / "model_card.json").read_text())
    version = card["model_details"]["version"]
    model = keras_cxr.load_model(demo / "model.keras")
    assert version["fingerprint"] == model_fingerprint(model)  # the saved weights
    config = json.loads((demo / "config.json").read_text())
    assert (
        version["config_hash"]
        == keras_cxr.training.TrainConfig(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
        ).fingerprint()
    )
    assert version["parent"] is None  # trained from random weights
    assert version["packages"]["keras"] == keras.__version__
    assert card["metrics"]["validation"] == read_metadata(demo / "model.keras")["val_metrics"]
    markdown = (demo / "MODEL_CARD.md").read_text()
    assert markdown.startswith("# Model card: model.keras")
    assert INTERNAL_VALIDATION in markdown
    assert "- **Backbone `cnn_3x3`**: random initialisation" in markdown


def test_the_card_counts_the_training_data_by_split_patient_and_class(demo):
    data = read_metadata(demo / "model.keras")["training_data"]
    summary = json.loads((demo / "train_summary.json").read_text())
    for split in ("train", "val", "test"):
        assert data["splits"][split]["images"] == summary["images"][split]
    files = sorted((demo / "data" / "train").rglob("*.jpeg"))
    assert files
    classes = {name: sum(f.parent.name == name for f in files) for name in ("NORMAL", "PNEUMONIA")}
    got = {
        name: data["splits"]["train"]["classes"][name] + data["splits"]["val"]["classes"][name]
        for name in classes
    }
    assert got == classes
    patients = {patient_id(f.name) for f in files}
    assert data["splits"]["train"]["patients"] + data["splits"]["val"]["patients"] == len(patients)
    assert data["split"].startswith("by patient (seed 0): validation")


def test_the_card_shows_the_evaluation_folder_with_its_intervals(demo, evaluated, tmp_path, capsys):
    out = tmp_path / "card"
    with pytest.raises(SystemExit, match="2"):  # --out is required
        main(["model-card", "--model", str(demo / "model.keras"), "--eval", str(evaluated)])
    assert "the following arguments are required: --out" in capsys.readouterr().err
    flags = ["--model", str(demo / "model.keras"), "--eval", str(evaluated), "--out", str(out)]
    assert main(["model-card", *flags]) == 0
    assert str(out / "MODEL_CARD.md") in capsys.readouterr().out
    metrics = json.loads((evaluated / "metrics.json").read_text())
    card = json.loads((out / "model_card.json").read_text())
    assert card["metrics"]["evaluation"] == metrics
    assert card["evaluation_data"]["data"] == metrics["data"]
    markdown = (out / "MODEL_CARD.md").read_text()
    evaluation = markdown.split("### Evaluation")[1].split("## Evaluation data")[0]
    shown = [name for name in HEADLINE_METRICS if name in metrics]
    assert {"roc_auc", "sensitivity", "specificity", "ece"} <= set(shown)
    for name in shown:
        interval = metrics["intervals"][name]
        row = (
            f"| {name} | {metrics[name]:.3f} | {interval['low']:.3f} to {interval['high']:.3f} "
            f"({interval['confidence']:.0%}) |"
        )
        assert row in evaluation, row
    assert f"On {metrics['n']} images ({metrics['n_positive']} positive)." in evaluation


def test_a_model_without_metadata_gets_a_card_that_says_not_recorded(tmp_path):
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Dense(1)(inputs)).save(tmp_path / "plain.keras")
    assert (
        main(["model-card", "--model", str(tmp_path / "plain.keras"), "--out", str(tmp_path)]) == 0
    )
    markdown = (tmp_path / "MODEL_CARD.md").read_text()
    assert "- **Fingerprint**: `not recorded`" in markdown
    assert "Not recorded: no evaluation folder was given." in markdown
    assert "## Explanation sanity\nNot run (`keras-cxr model-card --sanity-data DIR`" in markdown


def test_card_errors_name_the_missing_file(demo, tmp_path, capsys):
    model = str(demo / "model.keras")
    assert (
        main(["model-card", "--model", model, "--eval", str(tmp_path), "--out", str(tmp_path)]) == 1
    )
    assert "No metrics.json in" in error_line(capsys)
    assert main(["model-card", "--model", str(tmp_path / "no.keras"), "--out", str(tmp_path)]) == 1
    assert "No model file at" in error_line(capsys)
    assert not (tmp_path / "MODEL_CARD.md").exists()


def test_models_lists_every_model_newest_first_and_reports_a_broken_file(demo, tmp_path, capsys):
    shutil.copy(demo / "model.keras", tmp_path / "a.keras")
    (tmp_path / "runs").mkdir()
    shutil.copy(demo / "model.keras", tmp_path / "runs" / "b.keras")
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    assert main(["models", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "model",
        "fingerprint",
        "created",
        "recipe",
        "config",
        "parent",
        "roc_auc",
        "threshold",
    ]
    metadata = read_metadata(demo / "model.keras")
    version = metadata["version"]
    rows = [line.split() for line in lines[1:3]]
    assert [row[0] for row in rows] == [
        str(tmp_path / "a.keras"),
        str(tmp_path / "runs" / "b.keras"),
    ]
    for row in rows:
        assert row[1:6] == [
            version["fingerprint"],
            version["created"],
            metadata["recipe"],
            version["config_hash"],
            "-",
        ]
        assert float(row[6]) == pytest.approx(metadata["val_metrics"]["roc_auc"], abs=1e-4)
    assert lines[3].startswith(f"{tmp_path / 'broken.keras'}  error: ")
    assert main(["models", str(tmp_path / "missing")]) == 1
    assert "No folder at" in error_line(capsys)


def test_the_sanity_check_randomizes_the_top_layers_for_the_decided_class(demo, tmp_path):
    from keras_cxr.data import load_image_folder
    from keras_cxr.metrics import model_randomization_test, randomize_model
    from keras_cxr.training.card_sanity import SURVIVES

    model_path = demo / "model.keras"
    flags = ["--model", str(model_path), "--out", str(tmp_path), "--sanity-images", "4"]
    assert main(["model-card", *flags, "--sanity-data", str(demo / "data" / "test")]) == 0
    sanity = json.loads((tmp_path / "model_card.json").read_text())["explanation_sanity"]
    assert (sanity["method"], sanity["images"], sanity["mode"]) == ("gradcam", 4, "cascading")

    # The same check by hand: 4 evenly spread images, the class decided at the stored
    # threshold on the temperature-scaled probability, the top 3 layers randomized.
    model = keras_cxr.load_model(model_path)
    metadata = read_metadata(model_path)
    images = load_image_folder(demo / "data" / "test", image_size=32, progress=False).images
    images = images[[0, 6, 12, 19]].astype("float32")  # np.linspace(0, 19, 4)
    assert len(load_image_folder(demo / "data" / "test", image_size=32, progress=False)) == 20
    logits = model.get_layer("logits").output  # the Dense before the sigmoid
    logits = keras.ops.convert_to_numpy(keras.Model(model.inputs, logits)([images]))[:, 0]
    decided = 1 / (1 + np.exp(-logits / metadata["temperature"])) >= metadata["threshold"]
    top = [name for name, _ in randomize_model(model)][:3]
    assert [row["layer"] for row in sanity["layers"]] == top

    def explain(candidate, batch):
        return keras_cxr.GradCAM(candidate).explain(batch, decided.astype("int64")).heatmaps

    expected = model_randomization_test(explain, model, images, "cascading", top, 0)
    for got, want in zip(sanity["layers"], expected):
        for key in ("spearman", "ssim"):
            assert got[key] == pytest.approx(want[key], abs=1e-5, nan_ok=True), (key, got)
        assert got["constant_maps"] == want["constant_maps"]
    assert sanity["survives_randomization"] == (expected[-1]["spearman"] > SURVIVES)
    markdown = (tmp_path / "MODEL_CARD.md").read_text()
    assert f"| `{top[0]}` |" in markdown and "Model randomization (cascading" in markdown
