"""The example scripts run, in process, on tiny synthetic data, so that they never rot."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import cv2
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, monkeypatch, *arguments: str) -> None:
    monkeypatch.setattr(sys, "argv", [name, *arguments])
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")


def test_custom_training_loop(tmp_path, monkeypatch, capsys):
    out = tmp_path / "loop"
    run_example(
        "custom_training_loop.py",
        monkeypatch,
        "--out",
        str(out),
        "--epochs",
        "2",
        "--images",
        "40",
        "--image-size",
        "32",
        "--batch-size",
        "16",
    )
    printed = capsys.readouterr().out
    assert "gradcam_drift" in printed and "'val_auc'" in printed
    assert sorted(p.name for p in (out / "gradcam").glob("*.png")) == [
        "epoch_001.png",
        "epoch_002.png",
    ]
    header = (out / "history.csv").read_text().splitlines()[0]
    assert "gradcam_drift" in header and "val_auc" in header


def test_explain_image(tmp_path, monkeypatch, capsys):
    out = tmp_path / "explained"
    run_example("explain_image.py", monkeypatch, "--out", str(out), "--method", "gradcam++")
    printed = capsys.readouterr().out
    assert "cnn_3x3" in printed and "cnn_7x7" in printed
    figure = cv2.imread(str(out / "phantom_gradcam++.png"))
    fused = cv2.imread(str(out / "phantom_fused.png"))
    assert figure is not None and fused.shape == (64, 64, 3)


def test_examples_have_a_docstring_and_a_main():
    for path in sorted(EXAMPLES.glob("*.py")):
        text = path.read_text()
        assert text.startswith('"""'), path.name
        assert 'if __name__ == "__main__":' in text, path.name


@pytest.mark.slow
def test_train_pneumonia_as_a_script(tmp_path):
    """The one training example, run as a user runs it: a script in its own process."""
    import os
    import subprocess

    out = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    completed = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "train_pneumonia.py"),
            *("--out", str(out), "--recipe", "demo", "--phantoms", "48"),
            *("--image-size", "32", "--epochs", "1", "--quiet"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    printed = completed.stdout
    assert "validation AUC" in printed and "test: accuracy" in printed
    assert "Report:" in printed
    assert (out / "model.keras").is_file()
    assert (out / "evaluation" / "metrics.json").is_file()
    assert (out / "report.html").is_file()
    assert len(list((out / "gradcam").glob("*.png"))) == 4
