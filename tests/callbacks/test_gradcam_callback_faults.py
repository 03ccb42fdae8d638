"""Tests of `GradCAMCallback` when writing fails: training goes on, one warning per run."""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
import warnings

import keras
import matplotlib.figure
import pytest
import tensorflow as tf

from keras_cxr.callbacks import GradCAMCallback

from ._toy import data, files, gradcam_warnings, read_events, tiny_model

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def test_unwritable_log_dir_warns_once_and_training_goes_on(tmp_path):
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("")
    images, labels = data(8)
    callback = GradCAMCallback(images[:2], log_dir=blocker / "gradcam")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        history = tiny_model().fit(images, labels, epochs=3, verbose=0, callbacks=[callback])
    messages = gradcam_warnings(record)
    assert len(messages) == 1
    assert "log_dir could not be created" in messages[0]
    assert "Training continues" in messages[0]
    assert len(history.history["loss"]) == 3
    assert math.isfinite(history.history["gradcam_drift"][2])


@pytest.fixture
def driven(tmp_path):
    """A callback on a tiny model, with a `CallbackList` to drive epochs by hand."""
    images, _ = data(2)
    callback = GradCAMCallback(images, log_dir=tmp_path / "gradcam")
    callback_list = keras.callbacks.CallbackList([callback], model=tiny_model())
    callback_list.on_train_begin()
    return callback, callback_list, tmp_path / "gradcam"


def test_deleted_log_dir_is_recreated_with_one_warning(driven):
    _, callback_list, log_dir = driven
    callback_list.on_epoch_end(0)
    shutil.rmtree(log_dir)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for epoch in (1, 2):
            callback_list.on_epoch_end(epoch)
    messages = gradcam_warnings(record)
    assert len(messages) == 1 and "deleted during training" in messages[0]
    assert [n for n in files(log_dir) if n.endswith(".png")] == ["epoch_002.png", "epoch_003.png"]
    steps = [e.step for e in read_events(log_dir).Tensors("gradcam/image_0")]
    assert steps == [1, 2]


def test_failing_png_write_leaves_no_partial_file_and_warns_once(driven, monkeypatch):
    callback, callback_list, log_dir = driven

    def half_written(self, handle, **kwargs):
        handle.write(b"\x89PNG\r\n\x1a\n partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", half_written)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for epoch in range(3):
            callback_list.on_epoch_end(epoch)
        messages = gradcam_warnings(record)
        assert len(messages) == 1
        assert "writing the PNG failed" in messages[0] and "No space left" in messages[0]
        names = files(log_dir)
        assert not [n for n in names if n.endswith((".png", ".tmp")) or n.startswith(".")]
        assert [e.step for e in read_events(log_dir).Tensors("gradcam/image_0")] == [0, 1, 2]

        monkeypatch.undo()  # the disk frees up: writing works again ...
        callback_list.on_epoch_end(3)
        assert "epoch_004.png" in files(log_dir)
        monkeypatch.setattr(matplotlib.figure.Figure, "savefig", half_written)
        callback_list.on_epoch_end(4)  # ... so a new failure is reported again
        assert len(gradcam_warnings(record)) == 2
    assert len(callback.history["gradcam_drift"]) == 5


def test_failing_rename_removes_the_temporary_file(driven, monkeypatch):
    _, callback_list, log_dir = driven

    def refuse(source, destination):
        raise PermissionError(13, "Permission denied", destination)

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.warns(UserWarning, match="writing the PNG failed"):
        callback_list.on_epoch_end(0)
    monkeypatch.undo()
    assert not [n for n in files(log_dir) if not n.startswith("events.out.tfevents")]


def test_failing_tensorboard_write_still_writes_the_png(driven, monkeypatch):
    _, callback_list, log_dir = driven

    def broken(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "quota exceeded")

    monkeypatch.setattr(tf.summary, "image", broken)
    with pytest.warns(UserWarning, match="writing TensorBoard events failed"):
        callback_list.on_epoch_end(0)
    assert "epoch_001.png" in files(log_dir)


def test_without_tensorboard_a_warning_says_so_and_the_png_is_written(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard.summary.v2", None)  # import fails
    images, _ = data(2)
    callback = GradCAMCallback(images, log_dir=tmp_path)
    callback_list = keras.callbacks.CallbackList([callback], model=tiny_model())
    with pytest.warns(UserWarning, match=re.escape("`pip install tensorboard`")):
        callback_list.on_train_begin()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        callback_list.on_epoch_end(0)
        callback_list.on_train_end()
    assert files(tmp_path) == ["epoch_001.png"]
