"""VarGrad: the variance of any explainer's maps over noisy copies of the image."""

from __future__ import annotations

import numpy as np

from keras_cxr.explain.smoothgrad import SmoothGrad


class VarGrad(SmoothGrad):
    """VarGrad: SmoothGrad with the variance of the maps in place of their mean.

    Over `samples` noisy copies `x + N(0, σ²)` (made exactly as for
    `keras_cxr.explain.SmoothGrad`, with `σ` = `noise` × each image's value range), the
    attribution of a pixel is the population variance `mean_k(a_k²) − mean_k(a_k)²` of
    the wrapped method's raw attributions, or, for a CAM, of its heatmaps. A variance is
    never negative, so the heatmaps show its magnitude (`display="abs"`). With `noise=0`
    every copy is the image and the variance is zero everywhere.

    Args:
        explainer: An explainer such as `keras_cxr.explain.Saliency(model)`, or a Keras
            model (then `Saliency(model)` is wrapped).
        samples: Noisy copies per image, an integer >= 1. Defaults to 16.
        noise: Standard deviation of the noise as a fraction of each image's value range,
            a number >= 0. Defaults to 0.1.
        seed: Seed of the noise; `None` draws fresh noise at every call. Defaults to 0.

    Returns:
        An explainer; `explain(images, class_index=None)` gives a `keras_cxr.Explanation`
        whose `method` is e.g. `"vargrad(saliency)"`.

    Raises:
        ValueError: As `keras_cxr.explain.SmoothGrad`.

    Example:
        >>> explainer = keras_cxr.explain.VarGrad(keras_cxr.explain.Saliency(model), seed=0)
        >>> explanation = explainer.explain(images, class_index=1)

    Reference:
        Adebayo, Gilmer, Goodfellow and Kim, "Local Explanation Methods for Deep Neural
        Networks Lack Sensitivity to Parameter Values", ICLR Workshops 2018.
    """

    method_name = "vargrad"

    def _reduce(self, moments) -> np.ndarray:
        """The statistic of the maps over the noisy copies: their population variance."""
        return moments.variance

    def _display(self, wrapped: str) -> str:
        """A variance is a magnitude, whatever the wrapped method showed."""
        del wrapped
        return "abs"
