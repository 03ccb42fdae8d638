"""keras_cxr: explainable chest X-ray classifiers for Keras 3.

Example:
    >>> from keras_cxr import StackedEnsemble, GradCAM
    >>> model = StackedEnsemble(weights=None, input_shape=(96, 96, 3))
    >>> explanation = GradCAM(model).explain(images)
"""

__version__ = "0.1.0"

from keras_cxr import callbacks, data, explain, layers, metrics, models, viz  # noqa: F401
from keras_cxr.callbacks import GradCAMCallback
from keras_cxr.explain import (
    EigenCAM,
    Explanation,
    GradCAM,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    ScoreCAM,
    XGradCAM,
)
from keras_cxr.layers import (
    GrayscaleToRGB,
    ImageNetPreprocessing,
    StackedBackbones,
    WeightsUnavailableError,
)
from keras_cxr.models import ModelFileError, StackedEnsemble, load_model

__all__ = [
    "EigenCAM",
    "Explanation",
    "GradCAM",
    "GradCAMCallback",
    "GradCAMPlusPlus",
    "GrayscaleToRGB",
    "HiResCAM",
    "ImageNetPreprocessing",
    "LayerCAM",
    "ModelFileError",
    "ScoreCAM",
    "StackedBackbones",
    "StackedEnsemble",
    "WeightsUnavailableError",
    "XGradCAM",
    "__version__",
    "load_model",
]
