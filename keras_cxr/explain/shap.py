"""SHAP: Owen values of image regions, from the `shap` library's Partition explainer.

`shap` is an optional dependency (`pip install 'keras_cxr[shap]'`), imported only when a
`SHAP` explainer explains its first batch.
"""

from __future__ import annotations

import numbers

import keras
import numpy as np

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.explain.base_attribution import BaseAttribution, to_numpy
from keras_cxr.explain.other_inputs import take_rows

#: The named maskers: a box blur over a quarter of the image, or OpenCV inpainting.
MASKERS = ("blur", "inpaint_telea", "inpaint_ns")


class SHAP(BaseAttribution):
    """SHAP values of pixel regions, with `shap`'s Partition explainer and an image masker.

    The image is split into a hierarchy of axis-aligned rectangles (`shap.maskers.Image`'s
    partition tree, which also splits the channels); the Partition explainer estimates
    the Owen values of its regions, evaluating the model on images whose hidden regions
    are replaced by the masker: blurred (`"blur"`, a box blur with a kernel a quarter of
    the image's height and width), inpainted (`"inpaint_telea"`, `"inpaint_ns"`, which
    OpenCV computes on uint8 pixels, so only for models that take 0–255 pixels), or set
    to a constant number. Within a region that is not split further, every pixel gets an
    equal share. The values add up to `s(x) − s(masked image)` exactly (up to float
    rounding), which `Explanation.completeness_gap` reports; more evaluations refine the
    regions, not the sum.

    Cost: `max_evals` model evaluations per image (in calls of `internal_batch_size`
    masked images), plus `shap`'s own bookkeeping; images are explained one by one.

    Args:
        model: The Keras model to explain (of the image, and of other inputs given as
            `inputs=`, see `keras_cxr.explain.BaseCAM`).
        masker: One of `MASKERS` or a number. Defaults to `"blur"`.
        max_evals: Model evaluations per image, an integer >= 3. Defaults to 500.
        internal_batch_size: Masked images per compiled call. Defaults to 64.
        display: `"positive"` (default) or `"abs"`.
        output, score, batch_size: As for `keras_cxr.explain.BaseAttribution`.

    Returns:
        An explainer; `explain(images, class_index=None)` gives a `keras_cxr.Explanation`
        with `attributions` (Owen values summed over the channels) and
        `completeness_gap` set.

    Raises:
        ValueError: For an unknown or non-finite `masker`, bad `max_evals` or
            `internal_batch_size`, or as `keras_cxr.explain.BaseAttribution`.
        ImportError: From `explain`, when `shap` is not installed.

    Example:
        >>> explainer = keras_cxr.explain.SHAP(model, masker="blur", max_evals=500)
        >>> explanation = explainer.explain(images, class_index=1)

    Reference:
        Lundberg and Lee, "A Unified Approach to Interpreting Model Predictions", NeurIPS
        2017; the Partition explainer of the `shap` library (shap.readthedocs.io).
    """

    method_name = "shap"

    def __init__(
        self,
        model: keras.Model,
        *,
        masker: str | float = "blur",
        max_evals: int = 500,
        internal_batch_size: int = 64,
        **kwargs,
    ) -> None:
        super().__init__(model, **kwargs)
        number = isinstance(masker, numbers.Real) and not isinstance(masker, bool)
        if not (masker in MASKERS if isinstance(masker, str) else number and np.isfinite(masker)):
            raise invalid_value("masker", f"one of {MASKERS} or a finite number", masker)
        self.masker = masker
        self.max_evals = check_int("max_evals", max_evals, minimum=3)
        self.internal_batch_size = check_int("internal_batch_size", internal_batch_size)
        self._maskers: dict[tuple, object] = {}

    def _explain_chunk(self, images: np.ndarray, classes: np.ndarray, others: tuple = ()) -> dict:
        shap = import_shap()
        clean = self._compiled_for(self._predict, images, others)(images, classes, *others)
        classes = to_numpy(clean["classes"]).astype(np.int32)
        scores = to_numpy(self._scores_of(clean["logits"], classes)).astype(np.float64)
        score = self._compiled_for(self._scores, images, others)
        masker = self._masker_for(images.shape[1:], shap)
        attributions, gaps = [], []
        for row, (image, target, image_score) in enumerate(zip(images, classes, scores)):

            def model(batch, target=target, row=row):
                batch = np.asarray(batch, dtype=np.float32).reshape(-1, *images.shape[1:])
                chosen = np.full(len(batch), target, np.int32)
                copies = take_rows(others, np.full(len(batch), row))
                return to_numpy(score(batch, chosen, *copies)).astype(np.float64)

            # shap's Image masker keeps the blurred image of the last row it saw, keyed by
            # `id(row)`: a new image whose array reuses a freed one's id got the previous
            # image's blurred background (a batch then differed from each image alone).
            masker.last_xid = None
            result = shap.explainers.Partition(model, masker)(
                image[None],
                max_evals=self.max_evals,
                batch_size=self.internal_batch_size,
                silent=True,
            )
            values = np.asarray(result.values, np.float64)[0]
            base = float(np.asarray(result.base_values, np.float64).reshape(-1)[0])
            attributions.append(values.sum(axis=-1))
            gaps.append(values.sum() - (image_score - base))
        return {
            "attributions": np.stack(attributions),
            "logits": to_numpy(clean["logits"]),
            "classes": classes,
            "completeness_gap": np.asarray(gaps),
        }

    def _masker_for(self, shape: tuple, shap):
        """`shap.maskers.Image` for one image shape, built once (it builds a partition tree)."""
        masker = self._maskers.get(shape)
        if masker is None:
            height, width = shape[:2]
            value = self.masker
            if value == "blur":
                value = f"blur({max(1, width // 4)},{max(1, height // 4)})"
            masker = shap.maskers.Image(value, shape)
            self._maskers[shape] = masker
        return masker


def import_shap():
    """Import the optional `shap` library, saying how to install it when it is missing.

    Args:
        None.

    Returns:
        The `shap` module.

    Raises:
        ImportError: When `shap` is not installed; the message gives the pip command.

    Example:
        >>> shap = keras_cxr.explain.shap.import_shap()
    """
    try:
        import shap
    except ImportError as error:
        raise ImportError(
            "keras_cxr.explain.SHAP needs the `shap` library. Install it with "
            "`pip install 'keras_cxr[shap]'` (or `pip install shap`)."
        ) from error
    return shap
