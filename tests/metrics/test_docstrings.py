"""Run the `Example:` sections of keras_cxr.metrics as doctests."""

import doctest

import pytest

import keras_cxr
from keras_cxr.metrics import classification, faithfulness, localization, sanity


@pytest.mark.parametrize("module", [classification, faithfulness, localization, sanity])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, extraglobs={"keras_cxr": keras_cxr}, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
