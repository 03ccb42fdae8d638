"""Tests of `keras_cxr.callbacks.png_writer.write_png`: complete files or none."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from matplotlib.figure import Figure

from keras_cxr.callbacks.png_writer import write_png

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def _figure() -> Figure:
    figure = Figure(figsize=(0.5, 0.4), dpi=100)
    figure.figimage(np.full((40, 50, 3), 200, np.uint8), origin="upper")
    return figure


def test_the_png_is_written_at_the_figures_own_size(tmp_path):
    path = write_png(_figure(), tmp_path / "epoch_001.png")
    assert path == tmp_path / "epoch_001.png"
    picture = cv2.imread(str(path))
    assert picture.shape == (40, 50, 3) and (picture == 200).all()
    assert os.listdir(tmp_path) == ["epoch_001.png"]


def test_a_failed_encoding_keeps_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    path = write_png(_figure(), tmp_path / "epoch_001.png")
    before = path.read_bytes()

    def half_written(self, handle, **kwargs):
        handle.write(b"\x89PNG\r\n\x1a\n partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", half_written)
    with pytest.raises(OSError, match="No space left"):
        write_png(_figure(), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["epoch_001.png"]
