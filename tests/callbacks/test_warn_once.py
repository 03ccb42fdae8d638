"""Tests of `keras_cxr.callbacks.warn_once.WarnOnce`."""

from __future__ import annotations

import doctest
import warnings

import pytest

import keras_cxr
from keras_cxr.callbacks import warn_once
from keras_cxr.callbacks.warn_once import WarnOnce

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def test_one_warning_per_run_of_failures():
    warn = WarnOnce()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        issued = [warn.report(m) for m in ("disk full", "disk full", None, None, "read-only")]
    assert issued == [True, False, False, False, True]
    assert [str(w.message) for w in record] == ["disk full", "read-only"]
    assert all(w.category is UserWarning for w in record)
    assert record[0].filename == __file__  # attributed to the caller


def test_docstring_examples_run():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = doctest.testmod(warn_once, extraglobs={"keras_cxr": keras_cxr})
    assert result.attempted > 0 and result.failed == 0
