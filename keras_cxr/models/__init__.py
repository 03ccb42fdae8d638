"""Models: `StackedEnsemble`, its head and feature halves, prediction, and model files.

Example:
    >>> model = keras_cxr.models.load_model("runs/demo/model.keras")
    >>> threshold = keras_cxr.models.read_metadata("runs/demo/model.keras")["threshold"]
    >>> keras_cxr.models.predict_probabilities(model, images) >= threshold
"""

from keras_cxr.models.fingerprint import model_fingerprint
from keras_cxr.models.head import HeadModel, feature_extractor, head_layers
from keras_cxr.models.loading import ModelFileError, load_model
from keras_cxr.models.metadata import METADATA_MEMBER, read_metadata, save_model
from keras_cxr.models.prediction import positive_probability, predict_outputs, predict_probabilities
from keras_cxr.models.stacked_ensemble import StackedEnsemble

__all__ = [
    "METADATA_MEMBER",
    "HeadModel",
    "ModelFileError",
    "StackedEnsemble",
    "feature_extractor",
    "head_layers",
    "load_model",
    "model_fingerprint",
    "positive_probability",
    "predict_outputs",
    "predict_probabilities",
    "read_metadata",
    "save_model",
]
