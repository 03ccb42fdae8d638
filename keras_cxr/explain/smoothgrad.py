"""SmoothGrad: any explainer's maps averaged over noisy copies of the image."""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.explain import heatmaps as hm
from keras_cxr.explain._inputs import check_images
from keras_cxr.explain.base_attribution import to_numpy
from keras_cxr.explain.explanation import Explanation
from keras_cxr.explain.other_inputs import rows_of
from keras_cxr.explain.saliency import Saliency


class SmoothGrad:
    """SmoothGrad: average an explainer's maps over copies of the image with Gaussian noise.

    Gradients of deep networks are noisy from pixel to pixel; averaging the explanations
    of `samples` noisy copies `x + N(0, σ²)` keeps what is stable. `σ` is `noise` times
    each image's value range (max − min), as in the paper. Any explainer can be wrapped:

    - a pixel attribution method (`Saliency`, the default, `GradientTimesInput`,
      `IntegratedGradients`, ...): its raw `attributions` are averaged, and the heatmaps
      are drawn from the mean with the wrapped method's `display`;
    - a CAM (`GradCAM`, ...): its heatmaps (fused and per layer), each in [0, 1], are
      averaged and min-max scaled again; `attributions` stay `None`.

    The class explained in every noisy copy is the one resolved on the image itself, and
    `scores`, `class_index` and `predictions` are those of the image, not of its copies.
    With `noise=0` every copy is the image, so the result equals the wrapped method's.
    The noise of copy `k` is the `k`-th draw of `numpy.random.default_rng(seed)`
    (`standard_normal`, float32, the whole batch at once), made afresh at every call, so a
    fixed seed gives the same maps every time.

    Cost: `samples + 1` runs of the wrapped explainer (the image itself, then each copy),
    one copy of the batch in memory at a time.

    Args:
        explainer: An explainer such as `keras_cxr.GradCAM(model)`, or a Keras model
            (then `keras_cxr.explain.Saliency(model)` is wrapped).
        samples: Noisy copies per image, an integer >= 1. Defaults to 16.
        noise: Standard deviation of the noise as a fraction of each image's value range,
            a number >= 0. Defaults to 0.1 (Smilkov et al. suggest 0.1 to 0.2).
        seed: Seed of the noise; `None` draws fresh noise at every call. Defaults to 0.

    Returns:
        An explainer; `explain(images, class_index=None)` gives a `keras_cxr.Explanation`
        whose `method` is e.g. `"smoothgrad(gradcam)"`.

    Raises:
        ValueError: For an `explainer` that is neither a Keras model nor an explainer, or
            a bad `samples` or `noise`.

    Example:
        >>> explainer = keras_cxr.explain.SmoothGrad(
        ...     keras_cxr.GradCAM(model), samples=16, noise=0.1, seed=0
        ... )
        >>> explanation = explainer.explain(images, class_index=1)

    Reference:
        Smilkov, Thorat, Kim, Viégas and Wattenberg, "SmoothGrad: removing noise by adding
        noise", ICML Workshop on Visualization for Deep Learning, 2017.
    """

    #: Name used in `Explanation.method`, followed by the wrapped method's in brackets.
    method_name = "smoothgrad"

    def __init__(
        self, explainer: Any, *, samples: int = 16, noise: float = 0.1, seed: int | None = 0
    ) -> None:
        if isinstance(explainer, keras.Model):
            explainer = Saliency(explainer)
        if not callable(getattr(explainer, "explain", None)) or not hasattr(explainer, "model"):
            raise invalid_value(
                "explainer",
                "a keras.Model or an explainer such as keras_cxr.GradCAM(model)",
                type(explainer).__name__,
            )
        self.explainer = explainer
        self.model = explainer.model
        self.samples = check_int("samples", samples)
        if (
            isinstance(noise, bool)
            or not isinstance(noise, numbers.Real)
            or not np.isfinite(noise)
            or noise < 0
        ):
            raise invalid_value("noise", "a number >= 0 (a fraction of the value range)", noise)
        self.noise = float(noise)
        self.seed = seed

    def explain(self, images, class_index=None, *, threshold=0.5, inputs=None) -> Explanation:
        """Explain a batch of images: the wrapped explainer's maps over noisy copies.

        Args:
            images: `(batch, height, width, channels)` raw pixels, as the wrapped
                explainer takes them.
            class_index, threshold: As for `keras_cxr.explain.BaseCAM.explain`: `None`
                for each image's predicted class, an int for all images, one int per
                image, or several classes per image (then one row per image and class).
            inputs: A several-input model's other inputs by name, one row per image
                (`keras_cxr.explain.BaseCAM.explain`): every noisy copy of an image is
                explained with that image's inputs, unchanged (no noise is added to
                them). Defaults to `None`.

        Returns:
            A `keras_cxr.Explanation`: the image's scores and classes, and the reduced
            maps (see the class docstring); `completeness_gap` is `None`.

        Raises:
            ValueError: Whatever the wrapped explainer raises for these images or classes.

        Example:
            >>> explanation = keras_cxr.explain.SmoothGrad(model).explain(images)
        """
        # `threshold` only where it counts, so that any object with `explain(images,
        # class_index)` can still be wrapped.
        extra = {"threshold": threshold} if isinstance(class_index, str) else {}
        if inputs is not None:
            extra["inputs"] = inputs
        clean = self.explainer.explain(images, class_index, **extra)
        images = check_images(images, None)
        if clean.image_index is not None:  # one row per (image, class): noise each row
            images = images[clean.image_index]
            inputs = rows_of(inputs, clean.image_index)
        passed = {} if inputs is None else {"inputs": inputs}
        moments: dict[str | None, _Moments] = {}
        for noisy in noisy_images(images, self.samples, self.noise, self.seed):
            sample = self.explainer.explain(noisy, clean.class_index, **passed)
            for key, value in _maps(sample).items():
                moments.setdefault(key, _Moments()).add(value)
        reduced = {key: self._reduce(value) for key, value in moments.items()}
        main = reduced.pop(None)
        if clean.attributions is not None:
            display = self._display(clean.display)
            heatmaps, attributions = hm.attribution_heatmaps(main, display), main
        else:
            display, heatmaps, attributions = None, hm.normalize(main), None
        return dataclasses.replace(
            clean,
            heatmaps=_float32(heatmaps),
            layer_heatmaps={path: _float32(hm.normalize(m)) for path, m in reduced.items()},
            method=f"{self.method_name}({clean.method})",
            attributions=None if attributions is None else _float32(attributions),
            display=display,
            completeness_gap=None,
        )

    __call__ = explain

    def _reduce(self, moments: _Moments) -> np.ndarray:
        """The statistic of the maps over the noisy copies: their mean."""
        return moments.mean

    def _display(self, wrapped: str) -> str:
        """The display of the reduced attributions: the wrapped method's."""
        return wrapped


def noisy_images(
    images: np.ndarray, samples: int, noise: float, seed: int | None
) -> Iterator[np.ndarray]:
    """The noisy copies SmoothGrad and VarGrad explain, one batch at a time.

    Args:
        images: float32 `(batch, height, width, channels)`.
        samples: Number of copies.
        noise: Standard deviation as a fraction of each image's value range (max − min).
        seed: Seed of `numpy.random.default_rng`; `None` for fresh noise.

    Returns:
        An iterator of `samples` float32 batches shaped like `images`: copy `k` is
        `images + σ · z_k`, `z_k` the `k`-th `standard_normal` float32 draw of one generator.

    Raises:
        Nothing of its own.

    Example:
        >>> import numpy as np
        >>> from keras_cxr.explain.smoothgrad import noisy_images
        >>> images = np.zeros((1, 2, 2, 1), "float32")
        >>> [float(copy.std()) for copy in noisy_images(images, 2, 0.1, seed=0)]  # no range
        [0.0, 0.0]
    """
    sigma = noise * (images.max(axis=(1, 2, 3)) - images.min(axis=(1, 2, 3)))
    sigma = sigma.astype(np.float32)[:, None, None, None]
    generator = np.random.default_rng(seed)
    for _ in range(samples):
        yield images + sigma * generator.standard_normal(images.shape, dtype=np.float32)


class _Moments:
    """Running mean and (population) variance of arrays, by Welford's update (float64)."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: np.ndarray | None = None
        self._squares: np.ndarray | None = None

    def add(self, value: np.ndarray) -> None:
        value = np.asarray(value, dtype=np.float64)
        self.count += 1
        if self.mean is None:
            self.mean, self._squares = value.copy(), np.zeros_like(value)
            return
        delta = value - self.mean
        self.mean += delta / self.count
        self._squares += delta * (value - self.mean)

    @property
    def variance(self) -> np.ndarray:
        return self._squares / self.count


def _maps(explanation: Explanation) -> dict[str | None, np.ndarray]:
    """The maps to reduce: the raw attributions, or a CAM's fused and per-layer heatmaps."""
    if explanation.attributions is not None:
        return {None: explanation.attributions}
    return {None: explanation.heatmaps, **explanation.layer_heatmaps}


def _float32(value) -> np.ndarray:
    return to_numpy(value).astype(np.float32)
