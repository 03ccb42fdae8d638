"""Visualisation: OpenCV overlays, matplotlib grids of explanations, evaluation plots."""

from keras_cxr.viz import plots
from keras_cxr.viz.grid import grid_rows, plot_grid
from keras_cxr.viz.metric_intervals import metric_intervals_figure
from keras_cxr.viz.overlay import COLORMAPS, colorize, overlay, to_uint8_rgb
from keras_cxr.viz.plots import (
    confusion_figure,
    figure_to_png,
    history_figure,
    reliability_figure,
    roc_figure,
    uncertainty_figure,
)

__all__ = [
    "COLORMAPS",
    "colorize",
    "confusion_figure",
    "figure_to_png",
    "grid_rows",
    "history_figure",
    "metric_intervals_figure",
    "overlay",
    "plot_grid",
    "plots",
    "reliability_figure",
    "roc_figure",
    "to_uint8_rgb",
    "uncertainty_figure",
]
