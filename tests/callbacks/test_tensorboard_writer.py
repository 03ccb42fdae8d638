"""Tests of `keras_cxr.callbacks.tensorboard_writer.TensorBoardWriter`, read back from disk."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util

from keras_cxr.callbacks.tensorboard_writer import TensorBoardWriter

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def _read(log_dir):
    accumulator = event_accumulator.EventAccumulator(
        str(log_dir), size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    return accumulator


def test_images_and_finite_scalars_are_written_under_the_prefix(tmp_path):
    writer = TensorBoardWriter(tmp_path)
    strips = np.zeros((2, 4, 12, 3), np.uint8)
    writer.write(0, strips, {"gradcam_drift": float("nan"), "gradcam_energy": 0.5})
    writer.write(3, strips, {"gradcam_drift": 0.25, "gradcam_energy": 0.75})
    writer.close()
    writer.close()  # closing twice is harmless
    accumulator = _read(tmp_path)
    assert sorted(accumulator.Tags()["tensors"]) == [
        "gradcam/drift",
        "gradcam/energy",
        "gradcam/image_0",
        "gradcam/image_1",
    ]
    assert [e.step for e in accumulator.Tensors("gradcam/drift")] == [3]
    energy = accumulator.Tensors("gradcam/energy")
    assert [float(tensor_util.make_ndarray(e.tensor_proto)) for e in energy] == [0.5, 0.75]


def test_tensorflow_errors_are_raised_as_os_errors(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "quota exceeded\nmore detail")

    monkeypatch.setattr(tf.summary, "image", broken)
    writer = TensorBoardWriter(tmp_path, prefix="cam")
    with pytest.raises(OSError, match=r"^quota exceeded$"):
        writer.write(0, np.zeros((1, 4, 4, 3), np.uint8), {})
    writer.close()


def test_available_is_false_without_the_tensorboard_package(monkeypatch):
    assert TensorBoardWriter.available()
    monkeypatch.setitem(sys.modules, "tensorboard.summary.v2", None)
    assert not TensorBoardWriter.available()
