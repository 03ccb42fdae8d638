"""Shared test fixtures: quiet TensorFlow, deterministic seeds, the real-data location."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import pytest

#: The real Kermany train split, present on developer machines only.
REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "chest_xray" / "train"


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)
    yield
