"""Models: `StackedEnsemble`, its halves, prediction, temperature scaling and model files.

Example:
    >>> model = keras_cxr.models.load_model("runs/demo/model.keras")
    >>> threshold = keras_cxr.models.read_metadata("runs/demo/model.keras")["threshold"]
    >>> keras_cxr.models.predict_probabilities(model, images) >= threshold
"""

from keras_cxr.models.fingerprint import model_fingerprint
from keras_cxr.models.head import HeadModel, feature_extractor, head_layers
from keras_cxr.models.loading import ModelFileError, load_model
from keras_cxr.models.metadata import (
    DEFAULT_THRESHOLD,
    METADATA_MEMBER,
    decision_threshold,
    read_metadata,
    save_model,
)
from keras_cxr.models.prediction import (
    positive_probability,
    predict_logits,
    predict_outputs,
    predict_probabilities,
)
from keras_cxr.models.stacked_ensemble import StackedEnsemble
from keras_cxr.models.temperature import (
    DEFAULT_TEMPERATURE,
    apply_temperature,
    calibrated_probabilities,
    check_temperature,
    logits_from_probabilities,
    stored_temperature,
)

__all__ = [
    "DEFAULT_TEMPERATURE",
    "DEFAULT_THRESHOLD",
    "METADATA_MEMBER",
    "HeadModel",
    "ModelFileError",
    "StackedEnsemble",
    "apply_temperature",
    "calibrated_probabilities",
    "check_temperature",
    "decision_threshold",
    "feature_extractor",
    "head_layers",
    "load_model",
    "logits_from_probabilities",
    "model_fingerprint",
    "positive_probability",
    "predict_logits",
    "predict_outputs",
    "predict_probabilities",
    "read_metadata",
    "save_model",
    "stored_temperature",
]
