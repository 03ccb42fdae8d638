"""Run the `Example:` sections of the self-contained keras_cxr.federated modules as doctests.

The examples of `federation`, `client`, `site_data`, `final_model`, `flower` and the file
writers of `round_table` need data, a model or a Flower deployment; the other tests of
this folder run them.
"""

import doctest
import importlib

import pytest

import keras_cxr

MODULES = [
    importlib.import_module(f"keras_cxr.federated.{name}")
    for name in ("aggregation", "calibration", "config", "privacy", "sites")
]


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(
        module,
        extraglobs={"keras_cxr": keras_cxr},
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        verbose=False,
    )
    assert result.attempted > 0
    assert result.failed == 0


def test_the_logit_row_example_runs():
    from keras_cxr.federated import round_table

    tests = doctest.DocTestFinder().find(round_table.logit_row, globs={"keras_cxr": keras_cxr})
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
    assert runner.summarize(verbose=False).attempted > 0
