"""Integrated Gradients: the gradient integrated on the straight path from a baseline."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from keras_cxr._validation import check_int
from keras_cxr.explain.base_attribution import BaseAttribution, to_numpy
from keras_cxr.explain.baselines import baseline_images, check_baseline
from keras_cxr.explain.other_inputs import take_rows


class IntegratedGradients(BaseAttribution):
    """Integrated Gradients: attributions that add up to the score's change from a baseline.

    The attribution of pixel `x_i` is `(x_i − x'_i) · ∫₀¹ ∂s/∂x_i(x' + α(x − x')) dα`,
    summed over the channels, where `x'` is the baseline image. The integral is taken with
    the trapezoid rule on `steps` equal intervals (`steps + 1` gradients per image, the
    baseline and the image included), so that by the fundamental theorem of calculus

        Σ attributions ≈ s(x) − s(x')   (completeness),

    and `Explanation.completeness_gap` reports the difference per image, in score units:
    a gap that is large against `s(x) − s(x')` means `steps` is too small (ReLU networks
    have kinks the rule must step over). The class explained along the whole path is the
    one resolved on the image itself.

    Cost: `steps + 1` forward and backward passes per image, plus one forward pass. The
    interpolated images are made and differentiated `internal_batch_size` at a time, so
    memory is that of one such batch (and of one accumulated gradient per image of a
    `batch_size` chunk), whatever `steps` is.

    Args:
        model: The Keras model to explain (of the image, and of other inputs given as
            `inputs=`, see `keras_cxr.explain.BaseCAM`).
        baseline: `"black"` (default), `"blur"`, `"uniform"`, a number or an array; see
            `keras_cxr.explain.baselines.baseline_images`.
        steps: Intervals of the trapezoid rule, an integer >= 1. Defaults to 50.
        internal_batch_size: Interpolated images per compiled call, an integer >= 1.
            Defaults to 32.
        seed: Seed of the `"uniform"` baseline (`None`: fresh noise). Defaults to 0.
        display: `"positive"` (default: evidence for the class) or `"abs"`.
        output, score, batch_size: As for `keras_cxr.explain.BaseAttribution`.

    Returns:
        An explainer; `explain(images, class_index=None)` gives a `keras_cxr.Explanation`
        with `attributions` and `completeness_gap` set.

    Raises:
        ValueError: For an unknown or non-finite `baseline`, bad `steps` or
            `internal_batch_size`, as `keras_cxr.explain.BaseAttribution`, and, from
            `explain`, a baseline array whose shape does not match the images.

    Example:
        >>> explainer = keras_cxr.explain.IntegratedGradients(model, baseline="blur", steps=64)
        >>> explanation = explainer.explain(images, class_index=1)
        >>> explanation.completeness_gap  # small against s(x) − s(baseline)

    Reference:
        Sundararajan, Taly and Yan, "Axiomatic Attribution for Deep Networks", ICML 2017.
    """

    method_name = "integrated-gradients"

    def __init__(
        self,
        model: keras.Model,
        *,
        baseline: Any = "black",
        steps: int = 50,
        internal_batch_size: int = 32,
        seed: int | None = 0,
        **kwargs,
    ) -> None:
        super().__init__(model, **kwargs)
        self.baseline = check_baseline(baseline)
        self.steps = check_int("steps", steps)
        self.internal_batch_size = check_int("internal_batch_size", internal_batch_size)
        self.seed = seed

    def _per_image_inputs(self, images: np.ndarray) -> dict[str, np.ndarray]:
        return {"baselines": baseline_images(self.baseline, images, self.seed)}

    def _explain_chunk(
        self, images: np.ndarray, classes: np.ndarray, baselines=None, others: tuple = ()
    ) -> dict:
        clean = self._compiled_for(self._predict, images, others)(images, classes, *others)
        classes = to_numpy(clean["classes"]).astype(np.int32)
        gradients = self._compiled_for(self._input_gradients, images, others)
        alphas = np.linspace(0.0, 1.0, self.steps + 1)
        weights = trapezoid_weights(self.steps)
        integral = np.zeros(images.shape, np.float64)
        endpoints = np.zeros((len(images), 2), np.float64)  # s(baseline), s(image)
        difference = images - baselines
        pairs = len(images) * len(alphas)
        for start in range(0, pairs, self.internal_batch_size):
            index = np.arange(start, min(start + self.internal_batch_size, pairs))
            image, step = np.divmod(index, len(alphas))
            points = baselines[image] + alphas[step, None, None, None] * difference[image]
            result = gradients(points.astype(np.float32), classes[image], *take_rows(others, image))
            grads = to_numpy(result["gradients"]).astype(np.float64)
            for row in np.unique(image):
                here = image == row
                integral[row] += np.tensordot(weights[step[here]], grads[here], axes=1)
            scores = to_numpy(self._scores_of(result["logits"], classes[image]))
            for end, at in enumerate((0, self.steps)):
                hit = step == at
                endpoints[image[hit], end] = scores[hit]
        attributions = (difference * integral).sum(axis=-1)
        gap = attributions.sum(axis=(1, 2)) - (endpoints[:, 1] - endpoints[:, 0])
        return {
            "attributions": attributions,
            "logits": to_numpy(clean["logits"]),
            "classes": classes,
            "completeness_gap": gap,
        }


def trapezoid_weights(steps: int) -> np.ndarray:
    """Weights of the trapezoid rule on `steps` equal intervals of [0, 1] (`steps + 1` nodes).

    Args:
        steps: Number of intervals, >= 1.

    Returns:
        float64 `(steps + 1,)`: `1 / steps` inside, half that at both ends; they sum to 1.

    Raises:
        Nothing of its own: `steps` is checked by the caller.

    Example:
        >>> from keras_cxr.explain.integrated_gradients import trapezoid_weights
        >>> trapezoid_weights(4).tolist()
        [0.125, 0.25, 0.25, 0.25, 0.125]
    """
    weights = np.full(steps + 1, 1.0 / steps)
    weights[[0, -1]] /= 2
    return weights
