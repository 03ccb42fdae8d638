"""A training process killed mid-run (SIGKILL) resumes at the right epoch with its best score."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from keras_cxr.cli import main
from keras_cxr.training import read_history


@pytest.mark.slow
def test_killed_training_process_resumes_where_it_stopped(phantom_data, tmp_path, capsys):
    out = tmp_path / "run"
    command = [
        "train",
        "--data",
        str(phantom_data),
        "--out",
        str(out),
        "--weights",
        "none",
        "--backbones",
        "cnn_3x3",
        "--image-size",
        "32",
        "--head-units",
        "8",
        "--batch-size",
        "16",
        "--val-fraction",
        "0.25",
        "--patience",
        "100",
        "--gradcam-images",
        "0",
        "--no-tensorboard",
        "--quiet",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        [sys.executable, "-m", "keras_cxr.cli", *command, "--epochs", "200"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    state_file = out / "checkpoints" / "last" / "state.json"
    deadline = time.monotonic() + 600
    try:
        while not state_file.exists():
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no checkpoint within 10 minutes"
            time.sleep(0.05)
        time.sleep(1.0)  # let it run on for a moment, then kill it without warning
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL

    from keras_cxr.training import read_snapshot

    state, weights = read_snapshot(out / "checkpoints" / "last")
    killed_at = state["epoch"]
    assert weights.is_file() and killed_at < 199
    best_before = state["best_checkpoint"]

    resumed_epochs = killed_at + 4
    assert main([*command, "--resume", "--epochs", str(resumed_epochs)]) == 0
    printed = capsys.readouterr().out
    assert f"Resumed the interrupted main stage at epoch {killed_at + 2}." in printed

    history = read_history(out / "history.csv")
    assert history["epoch"] == list(range(resumed_epochs))  # each epoch once, in order
    final = json.loads(state_file.read_text())
    assert final["epoch"] == resumed_epochs - 1
    best_after = final["best_checkpoint"]
    assert best_after["best"] <= best_before["best"]
    assert best_after["best"] == pytest.approx(min(history["val_loss"]), rel=1e-6)
    if best_after["best_epoch"] <= killed_at:
        assert best_after == best_before
    assert (out / "model.keras").is_file()
