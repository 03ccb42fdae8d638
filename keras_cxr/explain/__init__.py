"""Explainers: the CAM family over a shared base, target-layer resolution, the result type."""

from keras_cxr.explain.base import BaseCAM
from keras_cxr.explain.eigencam import EigenCAM
from keras_cxr.explain.explanation import Explanation
from keras_cxr.explain.gradcam import GradCAM
from keras_cxr.explain.gradcam_plus_plus import GradCAMPlusPlus
from keras_cxr.explain.heatmaps import fuse, normalize, upsample
from keras_cxr.explain.hirescam import HiResCAM
from keras_cxr.explain.layercam import LayerCAM
from keras_cxr.explain.scorecam import ScoreCAM
from keras_cxr.explain.target_layers import block_layers
from keras_cxr.explain.xgradcam import XGradCAM

#: Method names accepted by the CLI and `GradCAMCallback(method=...)`.
METHODS = {
    "gradcam": GradCAM,
    "gradcam++": GradCAMPlusPlus,
    "hirescam": HiResCAM,
    "xgradcam": XGradCAM,
    "layercam": LayerCAM,
    "eigencam": EigenCAM,
    "scorecam": ScoreCAM,
}


def get_method(name: str) -> type[BaseCAM]:
    """Look up a CAM class by name.

    Args:
        name: One of `keras_cxr.explain.METHODS` (case-insensitive; `"gradcampp"` is an
            alias of `"gradcam++"`).

    Returns:
        The explainer class.

    Raises:
        ValueError: For an unknown name; the message lists the known ones.

    Example:
        >>> keras_cxr.explain.get_method("hirescam")
        <class 'keras_cxr.explain.hirescam.HiResCAM'>
    """
    key = name.lower().replace("gradcampp", "gradcam++").replace("_", "")
    if key not in METHODS:
        raise ValueError(
            f"Invalid value received for argument `method`. Expected one of "
            f"{sorted(METHODS)}. Received: method={name!r}"
        )
    return METHODS[key]


__all__ = [
    "METHODS",
    "BaseCAM",
    "EigenCAM",
    "Explanation",
    "GradCAM",
    "GradCAMPlusPlus",
    "HiResCAM",
    "LayerCAM",
    "ScoreCAM",
    "XGradCAM",
    "block_layers",
    "fuse",
    "get_method",
    "normalize",
    "upsample",
]
