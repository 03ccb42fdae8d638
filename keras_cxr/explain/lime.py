"""LIME: a weighted linear model of the score over superpixels switched on and off."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.explain.base_attribution import BaseAttribution, to_numpy
from keras_cxr.explain.other_inputs import take_rows
from keras_cxr.explain.superpixels import SEGMENTATIONS, segment_batch

#: lime's default kernel width for images: the distances are cosine distances in [0, 1].
KERNEL_WIDTH = 0.25


class LIME(BaseAttribution):
    """LIME (Ribeiro et al. 2016): fit a local linear surrogate over superpixels.

    Each image is cut into superpixels (`keras_cxr.explain.superpixels`); `num_samples`
    binary vectors `z` say which superpixels are kept (the first keeps all, the others
    are uniform at random), hidden superpixels are filled with `hide` (by default each
    superpixel's own mean, per channel, as the `lime` package does), and every perturbed
    image is scored, `internal_batch_size` images per compiled call. A ridge regression
    (`alpha`, with intercept) of the scores on `z` is fitted with the weights
    `sqrt(exp(-d² / w²))`, `d` the cosine distance between `z` and all-ones and `w =
    kernel_width` (lime's defaults: `w = 0.25`, `alpha = 1`). A pixel's attribution is its
    superpixel's coefficient: the score gained by showing that superpixel.

    Cost: `num_samples` forward passes per image, plus the segmentation and a ridge fit of
    `k` superpixels (negligible beside the passes for a real model).

    Args:
        model: The Keras model to explain (of the image, and of other inputs given as
            `inputs=`, see `keras_cxr.explain.BaseCAM`).
        num_samples: Perturbed images per image, >= 2. Defaults to 1000.
        segmentation: `"slic"` (default), `"quickshift"`, or a callable mapping one
            `(height, width, channels)` image to integer `(height, width)` labels.
        n_segments: Superpixels aimed at by SLIC. Defaults to 50.
        hide: `"mean"` (default: each superpixel's mean) or a number, in the model's input
            scale, for hidden superpixels.
        kernel_width: Width `w` of the exponential kernel. Defaults to 0.25.
        alpha: Ridge penalty. Defaults to 1.0.
        seed: Seed of the sampled `z` (the same for every image, so that an image's
            attributions do not depend on the batch it is in) and of quickshift.
            Defaults to 0.
        internal_batch_size: Perturbed images per compiled call. Defaults to 256.
        display: `"positive"` (default) or `"abs"`.
        output, score, batch_size: As for `keras_cxr.explain.BaseAttribution`.

    Returns:
        An explainer; `explain(images, class_index=None)` gives a `keras_cxr.Explanation`
        whose `attributions` are the superpixel coefficients, in score units.

    Raises:
        ValueError: For a bad `num_samples`, `segmentation`, `hide`, `kernel_width`,
            `alpha` or `internal_batch_size`, or as `keras_cxr.explain.BaseAttribution`.
        ImportError: From `explain` with a named segmentation, when scikit-image is not
            installed.

    Example:
        >>> explainer = keras_cxr.explain.LIME(model, num_samples=200)
        >>> explanation = explainer.explain(images, class_index=1)
        >>> explanation.attributions.shape == images.shape[:3]
        True

    Reference:
        Ribeiro, Singh and Guestrin, "'Why Should I Trust You?': Explaining the Predictions
        of Any Classifier", KDD 2016.
    """

    method_name = "lime"

    def __init__(
        self,
        model: keras.Model,
        *,
        num_samples: int = 1000,
        segmentation: str | Callable[[np.ndarray], np.ndarray] = "slic",
        n_segments: int = 50,
        hide: str | float = "mean",
        kernel_width: float = KERNEL_WIDTH,
        alpha: float = 1.0,
        seed: int = 0,
        internal_batch_size: int = 256,
        **kwargs,
    ) -> None:
        super().__init__(model, **kwargs)
        if not callable(segmentation) and segmentation not in SEGMENTATIONS:
            raise invalid_value(
                "segmentation", f"one of {SEGMENTATIONS} or a callable", segmentation
            )
        if hide != "mean" and not _finite(hide):
            raise invalid_value("hide", '"mean" or a finite number', hide)
        for name, value in (("kernel_width", kernel_width), ("alpha", alpha)):
            if not _finite(value) or value <= 0:
                raise invalid_value(name, "a finite number > 0", value)
        self.num_samples = check_int("num_samples", num_samples, minimum=2)
        self.segmentation = segmentation
        self.n_segments = check_int("n_segments", n_segments)
        self.hide = hide
        self.kernel_width = float(kernel_width)
        self.alpha = float(alpha)
        self.seed = int(seed)
        self.internal_batch_size = check_int("internal_batch_size", internal_batch_size)

    def _explain_chunk(self, images: np.ndarray, classes: np.ndarray, others: tuple = ()) -> dict:
        clean = self._compiled_for(self._predict, images, others)(images, classes, *others)
        classes = to_numpy(clean["classes"]).astype(np.int32)
        compiled = self._compiled_for(self._scores, images, others)
        options = {"n_segments": self.n_segments, "seed": self.seed}
        attributions = []
        for row, (image, target, labels) in enumerate(
            zip(images, classes, segment_batch(images, self.segmentation, **options))
        ):
            score = _with_row(compiled, others, row)
            # One generator per image, so that an image's samples do not depend on its batch.
            rng = np.random.default_rng(self.seed)
            samples = sample_masks(rng, self.num_samples, int(labels.max()) + 1)
            hidden = self._hidden(image, labels)
            scores = self._sample_scores(score, perturb_fn(image, hidden, labels), samples, target)
            weights = kernel_weights(samples, self.kernel_width)
            coefficients, _ = weighted_ridge(samples, scores, weights, self.alpha)
            attributions.append(coefficients[labels])
        return {
            "attributions": np.stack(attributions),
            "logits": to_numpy(clean["logits"]),
            "classes": classes,
        }

    def _sample_scores(self, score, images_of, samples: np.ndarray, target: int) -> np.ndarray:
        """The explained score of every perturbed image, `internal_batch_size` per call.

        The next chunk of perturbed images is built in a worker thread while the model
        scores the current one (NumPy releases the GIL), so that building them costs
        little beyond the forward passes where a core is free.
        """
        chunks = [
            samples[start : start + self.internal_batch_size]
            for start in range(0, len(samples), self.internal_batch_size)
        ]
        pieces = []
        with ThreadPoolExecutor(max_workers=1) as worker:
            pending = worker.submit(images_of, chunks[0])
            for index, rows in enumerate(chunks):
                batch = pending.result()
                if index + 1 < len(chunks):
                    pending = worker.submit(images_of, chunks[index + 1])
                classes = np.full(len(rows), target, np.int32)
                pieces.append(to_numpy(score(batch, classes)))
        return np.concatenate(pieces).astype(np.float64)

    def _hidden(self, image: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """The image that hidden superpixels are taken from: segment means or a constant."""
        if self.hide != "mean":
            return np.full_like(image, float(self.hide))
        flat = labels.ravel()
        counts = np.bincount(flat)[:, None]
        channels = image.reshape(-1, image.shape[-1]).T
        sums = np.stack([np.bincount(flat, weights=channel) for channel in channels], axis=-1)
        return (sums / counts)[labels].astype(image.dtype)


def _with_row(score, others: tuple, row: int):
    """`score(batch, classes)` with the model's other inputs of image `row`, one copy per
    perturbed image."""
    if not others:
        return score
    return lambda batch, classes: score(
        batch, classes, *take_rows(others, np.full(len(batch), row))
    )


def sample_masks(rng: np.random.Generator, num_samples: int, num_segments: int) -> np.ndarray:
    """LIME's samples: all superpixels kept in the first row, uniform 0/1 in the others.

    Args:
        rng: The random generator.
        num_samples: Rows, >= 1.
        num_segments: Superpixels (columns).

    Returns:
        float64 `(num_samples, num_segments)` of 0s and 1s.

    Example:
        >>> import numpy as np
        >>> from keras_cxr.explain.lime import sample_masks
        >>> sample_masks(np.random.default_rng(0), 3, 4)[0].tolist()
        [1.0, 1.0, 1.0, 1.0]
    """
    samples = rng.integers(0, 2, size=(num_samples, num_segments)).astype(np.float64)
    samples[0] = 1.0
    return samples


def perturb_fn(image: np.ndarray, hidden: np.ndarray, labels: np.ndarray):
    """`rows -> perturb(image, hidden, labels, rows)`, for one image."""
    return lambda rows: perturb(image, hidden, labels, rows)


def perturb(image: np.ndarray, hidden: np.ndarray, labels: np.ndarray, rows: np.ndarray):
    """Perturbed copies of `image`: superpixel `j` from `image` where `rows[:, j]` is 1.

    Written as `hidden + shown · (image − hidden)` over a gathered 0/1 pixel mask, which
    is about twice as fast in NumPy as `np.where` (it runs once per perturbed image).

    Args:
        image, hidden: `(height, width, channels)`, the shown and the hidden pixels.
        labels: int `(height, width)` superpixel labels.
        rows: `(batch, num_segments)` 0/1 masks.

    Returns:
        float32 `(batch, height, width, channels)`.

    Example:
        >>> import numpy as np
        >>> from keras_cxr.explain.lime import perturb
        >>> image, hidden = np.ones((1, 2, 1)), np.zeros((1, 2, 1))
        >>> perturb(image, hidden, np.array([[0, 1]]), np.array([[1, 0]]))[0, 0, :, 0].tolist()
        [1.0, 0.0]
    """
    image, hidden = np.asarray(image, np.float32), np.asarray(hidden, np.float32)
    shown = np.asarray(rows, np.float32)[:, labels.ravel()]
    perturbed = shown.reshape(len(rows), *labels.shape, 1) * (image - hidden)
    perturbed += hidden
    return perturbed


def kernel_weights(samples: np.ndarray, kernel_width: float) -> np.ndarray:
    """lime's sample weights: `sqrt(exp(-d² / w²))`, `d` the cosine distance to all-ones.

    The cosine similarity of a 0/1 vector with `m` of `k` ones to all-ones is
    `sqrt(m / k)`; an all-zero vector has similarity 0 (distance 1), as in scikit-learn.

    Args:
        samples: `(num_samples, k)` 0/1 masks.
        kernel_width: `w`, > 0.

    Returns:
        float64 `(num_samples,)`.

    Example:
        >>> import numpy as np
        >>> from keras_cxr.explain.lime import kernel_weights
        >>> kernel_weights(np.array([[1.0, 1.0], [0.0, 0.0]]), 0.25).round(4).tolist()
        [1.0, 0.0003]
    """
    similarity = np.sqrt(samples.sum(axis=1) / samples.shape[1])
    distance = 1.0 - similarity
    return np.sqrt(np.exp(-(distance**2) / kernel_width**2))


def weighted_ridge(
    features: np.ndarray, targets: np.ndarray, weights: np.ndarray, alpha: float
) -> tuple[np.ndarray, float]:
    """Ridge regression with intercept and sample weights, as scikit-learn's `Ridge`.

    Minimises `sum_i w_i (y_i - b - x_i·c)² + alpha |c|²` (the intercept `b` is not
    penalised): the features and targets are centred on their weighted means, and the
    normal equations are solved.

    Args:
        features: `(n, k)`.
        targets: `(n,)`.
        weights: `(n,)`, >= 0, not all 0.
        alpha: The penalty, > 0.

    Returns:
        `(coefficients (k,), intercept)`.

    Example:
        >>> import numpy as np
        >>> from keras_cxr.explain.lime import weighted_ridge
        >>> x = np.array([[0.0], [1.0], [2.0]]); y = 3 * x[:, 0] + 1
        >>> coef, b = weighted_ridge(x, y, np.ones(3), 1e-9)
        >>> round(float(coef[0]), 6), round(b, 6)
        (3.0, 1.0)
    """
    total = weights.sum()
    x_mean = weights @ features / total
    y_mean = weights @ targets / total
    centred = features - x_mean
    gram = centred.T @ (weights[:, None] * centred) + alpha * np.eye(features.shape[1])
    coefficients = np.linalg.solve(gram, centred.T @ (weights * (targets - y_mean)))
    return coefficients, float(y_mean - x_mean @ coefficients)


def _finite(value) -> bool:
    return (
        isinstance(value, numbers.Real) and not isinstance(value, bool) and bool(np.isfinite(value))
    )
