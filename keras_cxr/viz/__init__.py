"""Visualisation: OpenCV overlays and matplotlib grids of explanations."""

from keras_cxr.viz.grid import plot_grid
from keras_cxr.viz.overlay import COLORMAPS, colorize, overlay, to_uint8_rgb

__all__ = ["COLORMAPS", "colorize", "overlay", "plot_grid", "to_uint8_rgb"]
