"""Models: `StackedEnsemble` and a checked `load_model`."""

from keras_cxr.models.loading import ModelFileError, load_model
from keras_cxr.models.stacked_ensemble import StackedEnsemble

__all__ = ["ModelFileError", "StackedEnsemble", "load_model"]
