"""Explainers: the CAM family, the pixel and attention methods, layers, the result type.

`BatchExplainer` serves the same explainers to dict batches (Ray Data, an HTTP server).
"""

from keras_cxr.explain.attention_gradient import AttentionGradient
from keras_cxr.explain.attention_rollout import AttentionRollout
from keras_cxr.explain.base import BaseCAM
from keras_cxr.explain.base_attention import BaseAttention
from keras_cxr.explain.base_attribution import BaseAttribution
from keras_cxr.explain.batch_explainer import BatchExplainer
from keras_cxr.explain.eigencam import EigenCAM
from keras_cxr.explain.explanation import Explanation
from keras_cxr.explain.gradcam import GradCAM
from keras_cxr.explain.gradcam_plus_plus import GradCAMPlusPlus
from keras_cxr.explain.gradient_times_input import GradientTimesInput
from keras_cxr.explain.heatmap_statistics import heatmap_statistics
from keras_cxr.explain.heatmaps import attribution_heatmaps, fuse, normalize, upsample
from keras_cxr.explain.hirescam import HiResCAM
from keras_cxr.explain.integrated_gradients import IntegratedGradients
from keras_cxr.explain.layercam import LayerCAM
from keras_cxr.explain.lime import LIME
from keras_cxr.explain.occlusion import Occlusion
from keras_cxr.explain.saliency import Saliency
from keras_cxr.explain.scorecam import ScoreCAM
from keras_cxr.explain.shap import SHAP
from keras_cxr.explain.smoothgrad import SmoothGrad
from keras_cxr.explain.stored_threshold import StoredThresholdWarning
from keras_cxr.explain.target_layers import block_layers
from keras_cxr.explain.vargrad import VarGrad
from keras_cxr.explain.xgradcam import XGradCAM

#: Method names accepted by the CLI, `BatchExplainer` and `GradCAMCallback(method=...)`: the
#: CAM family, then the pixel attribution methods (with their default arguments;
#: `"smoothgrad"` and `"vargrad"` wrap `Saliency`), then the attention methods of vision
#: transformers (which refuse a model without `keras.layers.MultiHeadAttention`).
METHODS = {
    "gradcam": GradCAM,
    "gradcam++": GradCAMPlusPlus,
    "hirescam": HiResCAM,
    "xgradcam": XGradCAM,
    "layercam": LayerCAM,
    "eigencam": EigenCAM,
    "scorecam": ScoreCAM,
    "saliency": Saliency,
    "gradient-times-input": GradientTimesInput,
    "integrated-gradients": IntegratedGradients,
    "smoothgrad": SmoothGrad,
    "vargrad": VarGrad,
    "occlusion": Occlusion,
    "shap": SHAP,
    "lime": LIME,
    "attention-rollout": AttentionRollout,
    "attention-gradient": AttentionGradient,
}


def get_method(name: str) -> type:
    """Look up an explainer class by name.

    Case, `_` and `-` do not count (`"IntegratedGradients"`, `"integrated_gradients"` and
    `"integrated-gradients"` are one name), and `"gradcampp"` is an alias of `"gradcam++"`.

    Args:
        name: One of `keras_cxr.explain.METHODS`.

    Returns:
        The explainer class: a `BaseCAM` or `BaseAttribution` subclass (the attention
        methods are `BaseAttention`, a `BaseAttribution`), or `SmoothGrad` or `VarGrad`.
        Each is built with `cls(model)` alone.

    Raises:
        ValueError: For an unknown name; the message lists the known ones.

    Example:
        >>> keras_cxr.explain.get_method("hirescam")
        <class 'keras_cxr.explain.hirescam.HiResCAM'>
        >>> keras_cxr.explain.get_method("Integrated_Gradients").__name__
        'IntegratedGradients'
        >>> keras_cxr.explain.get_method("attention_rollout").__name__
        'AttentionRollout'
    """
    key = _plain(name.lower().replace("gradcampp", "gradcam++"))
    found = {_plain(known): cls for known, cls in METHODS.items()}.get(key)
    if found is None:
        raise ValueError(
            f"Invalid value received for argument `method`. Expected one of "
            f"{sorted(METHODS)}. Received: method={name!r}"
        )
    return found


def is_cam(method: type) -> bool:
    """Whether an explainer class is of the CAM family (it explains target layers).

    Args:
        method: An explainer class, e.g. from `get_method`.

    Returns:
        `True` for `BaseCAM` subclasses, which take `layer=`; `False` for the pixel
        attribution methods and the noise wrappers, which explain the input pixels.

    Raises:
        Nothing: any class is accepted.

    Example:
        >>> keras_cxr.explain.is_cam(keras_cxr.GradCAM), keras_cxr.explain.is_cam(
        ...     keras_cxr.explain.Saliency
        ... )
        (True, False)
    """
    return isinstance(method, type) and issubclass(method, BaseCAM)


def _plain(name: str) -> str:
    return name.replace("_", "").replace("-", "")


__all__ = [
    "LIME",
    "METHODS",
    "SHAP",
    "AttentionGradient",
    "AttentionRollout",
    "BaseAttention",
    "BaseAttribution",
    "BaseCAM",
    "BatchExplainer",
    "EigenCAM",
    "Explanation",
    "GradCAM",
    "GradCAMPlusPlus",
    "GradientTimesInput",
    "HiResCAM",
    "IntegratedGradients",
    "LayerCAM",
    "Occlusion",
    "Saliency",
    "ScoreCAM",
    "SmoothGrad",
    "StoredThresholdWarning",
    "VarGrad",
    "XGradCAM",
    "attribution_heatmaps",
    "block_layers",
    "fuse",
    "get_method",
    "heatmap_statistics",
    "is_cam",
    "normalize",
    "upsample",
]
