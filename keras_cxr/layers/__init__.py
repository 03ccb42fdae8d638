"""Layers: `StackedBackbones` and the small preprocessing layers it is built from."""

from keras_cxr.layers import backbones
from keras_cxr.layers.backbones import BACKBONES, WeightsUnavailableError
from keras_cxr.layers.preprocessing import GrayscaleToRGB, ImageNetPreprocessing
from keras_cxr.layers.stacked_backbones import StackedBackbones

__all__ = [
    "BACKBONES",
    "GrayscaleToRGB",
    "ImageNetPreprocessing",
    "StackedBackbones",
    "WeightsUnavailableError",
    "backbones",
]
