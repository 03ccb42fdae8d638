"""`keras_cxr.training.resume`: reading a snapshot and placing each stage against it."""

from __future__ import annotations

import json

import pytest

from keras_cxr.training import ResumeState, RunExistsError


def _snapshot(out, stage="main", epoch=2, stopped=False, fingerprint="abc", best_epoch=1):
    folder = out / "checkpoints" / "last"
    folder.mkdir(parents=True)
    (folder / "model.weights.h5").write_bytes(b"weights")
    state = {
        "stage": stage,
        "epoch": epoch,
        "stopped": stopped,
        "fingerprint": fingerprint,
        "best_checkpoint": {"best": 0.3, "best_epoch": best_epoch},
    }
    (folder / "state.json").write_text(json.dumps(state))


def test_no_run_reads_as_a_fresh_start(tmp_path):
    assert ResumeState.read(tmp_path, "abc") is None


def test_a_run_without_snapshot_or_with_other_settings_is_refused(tmp_path):
    (tmp_path / "history.csv").write_text("stage,epoch\n")
    with pytest.raises(RunExistsError, match="without a resume snapshot"):
        ResumeState.read(tmp_path, "abc")
    _snapshot(tmp_path, fingerprint="other")
    with pytest.raises(RunExistsError, match="made with other settings"):
        ResumeState.read(tmp_path, "abc")


def test_the_interrupted_stage_continues_after_its_last_epoch(tmp_path):
    _snapshot(tmp_path, epoch=2)
    state = ResumeState.read(tmp_path, "abc")
    assert (state.stage, state.epoch, state.stopped) == ("main", 2, False)
    main = state.for_stage("main", epochs=8)
    assert (main.done, main.next_epoch, main.best_epoch) == (False, 3, 1)
    assert main.weights.read_bytes() == b"weights"
    assert main.callback_state["best_checkpoint"]["best"] == 0.3
    assert state.for_stage("fine_tune", epochs=4) is None  # not started yet


def test_a_finished_or_stopped_stage_is_done(tmp_path):
    _snapshot(tmp_path, epoch=7)
    assert ResumeState.read(tmp_path, "abc").for_stage("main", epochs=8).done
    stopped = tmp_path / "stopped"
    _snapshot(stopped, epoch=3, stopped=True)
    assert ResumeState.read(stopped, "abc").for_stage("main", epochs=8).done


def test_stages_before_the_snapshot_stage_are_done(tmp_path):
    _snapshot(tmp_path, stage="fine_tune", epoch=0, best_epoch=0)
    state = ResumeState.read(tmp_path, "abc")
    main = state.for_stage("main", epochs=8)
    # The snapshot's best epoch belongs to fine-tuning, so the main stage's is not claimed.
    assert main.done and main.best_epoch is None
    assert state.for_stage("fine_tune", epochs=4).next_epoch == 1
