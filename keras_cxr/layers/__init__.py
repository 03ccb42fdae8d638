"""Layers: `StackedBackbones`, its backbone registry and the small layers it is built from."""

from keras_cxr.layers import backbones
from keras_cxr.layers.backbones import BACKBONES, WeightsUnavailableError
from keras_cxr.layers.compact_cnn import (
    COMPACT_BACKBONES,
    NORMALIZATIONS,
    build_compact_backbone,
    compact_cnn,
)
from keras_cxr.layers.efficientnet_lite import (
    EfficientNetLite0,
    EfficientNetLite1,
    EfficientNetLite2,
)
from keras_cxr.layers.intensity import HistogramEqualization, PerImageStandardization
from keras_cxr.layers.preprocessing import GrayscaleToRGB, ImageNetPreprocessing
from keras_cxr.layers.stacked_backbones import StackedBackbones

__all__ = [
    "BACKBONES",
    "COMPACT_BACKBONES",
    "NORMALIZATIONS",
    "EfficientNetLite0",
    "EfficientNetLite1",
    "EfficientNetLite2",
    "GrayscaleToRGB",
    "HistogramEqualization",
    "ImageNetPreprocessing",
    "PerImageStandardization",
    "StackedBackbones",
    "WeightsUnavailableError",
    "backbones",
    "build_compact_backbone",
    "compact_cnn",
]
