"""Random logit (Sixt et al., 2020): does the explanation change with the explained class?

Each image is explained once for its class and once for another class drawn at random; a
method that explains the model's decision, not the image, gives different maps for
different classes, so a lower similarity is better. The explainer is seen through
`explain_fn` as in `keras_cxr.metrics.max_sensitivity`: an object with `explain(images,
class_index)` or such a callable, given one class per image.

Reference:
    Sixt, Granz, Landgraf. "When Explanations Lie: Why Many Modified BP Attributions Fail."
    ICML 2020. https://arxiv.org/abs/1912.09818
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_cxr._validation import check_int, invalid_value, shape_error
from keras_cxr.metrics._explain_fn import checked_images, explain_method, maps_and_classes
from keras_cxr.metrics._stats import summarize
from keras_cxr.metrics.similarity import map_similarity


def off_classes(classes: np.ndarray, num_classes: int, seed: Any) -> np.ndarray:
    """One class per image, uniformly among the `num_classes - 1` other than its own.

    Draws `k = rng.integers(0, num_classes - 1, N)` with `rng = np.random.default_rng(seed)`
    and takes the k-th class other than the image's own, as Quantus's `RandomLogit` does
    with `np.random.randint`.

    Example:
        >>> from keras_cxr.metrics.off_class_similarity import off_classes
        >>> off_classes(np.array([0, 1]), 2, seed=0).tolist()
        [1, 0]
    """
    offsets = np.random.default_rng(seed).integers(0, num_classes - 1, len(classes))
    return offsets + (offsets >= classes)


def random_logit(
    explain_fn: Any,
    images: Any,
    class_index: int | Sequence[int],
    num_classes: int,
    similarity: str = "ssim",
    seed: Any = 0,
    per_image: bool = False,
    maps: Any = None,
) -> float | np.ndarray:
    """Similarity of each explanation to the explanation of a random other class.

    Both explanations are computed in one call of `explain_fn` each, for the whole batch;
    with `maps` (the explanations of `class_index` already at hand, Quantus's `a_batch`)
    only the other classes are explained.

    Args:
        explain_fn: A keras_cxr explainer, or a callable `(images, class_index)` returning
            maps (N, H, W) or an object with `.attributions` / `.heatmaps`; it is given an
            array of N classes.
        images: float (N, H, W, C), as the explainer expects them.
        class_index: The explained class, an integer for all images or shape (N,).
        num_classes: Number of classes of the model, >= 2 (a single sigmoid unit has 2).
        similarity: "ssim" (on maps min-max scaled to [0, 1], needs H, W >= 11) or
            "spearman" (rank correlation of the pixels). Defaults to "ssim", as Quantus
            (whose SSIM runs on the flattened maps, a 1-D window; this one is the 2-D SSIM
            of `keras_cxr.metrics.ssim`).
        seed: Seed or `numpy.random.Generator` of the other classes (see `off_classes`).
            Defaults to 0.
        per_image: If True, one value per image instead of the mean. Defaults to False.
        maps: The explanations of `class_index`, shape (N, H, W), as `explain_fn` gives
            them (its `.attributions` where set, else `.heatmaps`); None to explain them
            here. Defaults to None.

    Returns:
        The mean similarity (lower is better), or shape (N,) with `per_image=True`.

    Raises:
        ValueError: For images not (N, H, W, C), classes out of [0, num_classes), a bad
            `num_classes` or `similarity`, or maps of a wrong shape.

    Example:
        An "explainer" that ignores the class fails the check (similarity 1):

        >>> import numpy as np
        >>> images = np.random.default_rng(0).uniform(size=(2, 12, 12, 1))
        >>> keras_cxr.metrics.random_logit(lambda x, c: x[..., 0], images, 0, num_classes=3)
        1.0
        >>> given = images[..., 0].astype("float32")  # as the explainer would return them
        >>> keras_cxr.metrics.random_logit(  # the maps of class 0 given: one call, not two
        ...     lambda x, c: x[..., 0], images, 0, num_classes=3, maps=given)
        1.0

    Reference:
        Sixt, Granz, Landgraf. "When Explanations Lie: Why Many Modified BP Attributions
        Fail." ICML 2020. https://arxiv.org/abs/1912.09818
    """
    explain = explain_method(explain_fn)
    images = checked_images(images)
    num_classes = check_int("num_classes", num_classes, minimum=2)
    classes = np.asarray(class_index)
    classes = np.full(len(images), classes) if classes.ndim == 0 else classes
    if (
        classes.shape != (len(images),)
        or not np.issubdtype(classes.dtype, np.integer)
        or np.any((classes < 0) | (classes >= num_classes))
    ):
        raise invalid_value(
            "class_index", f"an integer or N integers in [0, {num_classes})", class_index
        )
    if similarity not in ("spearman", "ssim"):
        raise invalid_value("similarity", "one of ('spearman', 'ssim')", similarity)
    if maps is None:
        explained, _ = maps_and_classes(explain(images, classes), len(images))
    else:
        explained = np.asarray(maps, np.float64)
        if explained.shape[:1] != (len(images),) or explained.ndim != 3:
            raise shape_error("maps", f"an array of shape ({len(images)}, H, W)", explained.shape)
    other_classes = off_classes(classes, num_classes, seed)
    others, _ = maps_and_classes(explain(images, other_classes), len(images))
    return summarize(map_similarity(explained, others, similarity), per_image)


__all__ = ["off_classes", "random_logit"]
