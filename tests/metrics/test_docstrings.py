"""Run the `Example:` sections of keras_cxr.metrics as doctests.

`keras_cxr.metrics.uncertainty` is left out: its example needs a trained ensemble and test
images, and tests/metrics/test_uncertainty.py covers it.
"""

import doctest
import importlib

import pytest

import keras_cxr

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch

MODULES = [
    importlib.import_module(f"keras_cxr.metrics.{name}")
    for name in (
        "average_drop_increase",
        "bootstrap",
        "brier",
        "calibration",
        "confusion",
        "data_randomization",
        "deletion_insertion",
        "localization",
        "model_randomization",
        "multiclass",
        "off_class_similarity",
        "multilabel",
        "multilabel_bootstrap",
        "operating_point",
        "parameter_randomization",
        "pixel_flips",
        "explanation_intervals",
        "explanation_metrics",
        "relative_stability",
        "leakage",
        "precision_recall",
        "relevance_complexity",
        "relevance_in_mask",
        "report",
        "road_imputation",
        "roc",
        "explanation_sensitivity",
        "similarity",
        "subset_correlation",
        "temperature_scaling",
        "threshold_selection",
    )
]


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, extraglobs={"keras_cxr": keras_cxr}, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
