"""`explanation_sanity`: the model-randomization check of a model's heatmaps, for its card.

The check of Adebayo et al.: the top layers of the model are re-initialized one after
another (cascading, from the output down), the same images are explained again for the
same class, and the similarity of the maps before and after is reported. Maps that stay
alike (Spearman correlation near 1) while the learned weights are destroyed do not
explain the model. `keras-cxr model-card --sanity-data DIR` stores the result in the card.

Reference:
    Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim. "Sanity Checks for Saliency Maps."
    NeurIPS 2018. https://arxiv.org/abs/1810.03292
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import keras
import numpy as np

from keras_cxr._validation import check_int
from keras_cxr.explain import get_method
from keras_cxr.metrics.model_randomization import model_randomization_test, randomize_model
from keras_cxr.models.prediction import predict_logits
from keras_cxr.training.calibrating import positive_probability_of

#: Spearman correlation above which maps are said to survive the randomization.
SURVIVES = 0.5


def decided_classes(
    model: keras.Model, images: np.ndarray, threshold: float = 0.5, temperature: float = 1.0
) -> np.ndarray:
    """The class a model decides per image: at `threshold` on the calibrated probability of
    a single sigmoid unit, else the arg-max of its outputs.

    Args:
        model: The model.
        images: Its inputs.
        threshold: Threshold on the calibrated probability. Defaults to 0.5.
        temperature: Stored temperature. Defaults to 1 (uncalibrated).

    Returns:
        int64 `(N,)`.

    Example:
        >>> keras_cxr.training.card_sanity.decided_classes(model, images, 0.42, 1.3)
        array([1, 0, 1])
    """
    logits = predict_logits(model, images)
    if logits.shape[-1] == 1:
        probability = positive_probability_of(logits, temperature)
        return (probability >= threshold).astype(np.int64)
    return np.asarray(logits).argmax(axis=-1).astype(np.int64)


def explanation_sanity(
    model: keras.Model,
    images: np.ndarray,
    method: str = "gradcam",
    top_layers: int = 3,
    threshold: float = 0.5,
    temperature: float = 1.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Cascading model randomization of the top layers, on `images`, for one method.

    Each image is explained for the class the trained model decides (`decided_classes`),
    with the trained model and with each randomized copy, so that a copy is judged on the
    same class.

    Args:
        model: A trained model; it is never modified.
        images: `(N, H, W, C)` pixels as the model takes them, N >= 1, H and W >= 11.
        method: A `keras_cxr.explain.METHODS` name. Defaults to "gradcam".
        top_layers: How many layers with a kernel or bias to randomize, from the output
            down. Defaults to 3.
        threshold: Decision threshold of a single-unit model, on its calibrated
            probability. Defaults to 0.5.
        temperature: The model's stored temperature. Defaults to 1.
        seed: Seed of the random weights. Defaults to 0.

    Returns:
        `{"method", "images", "mode", "layers", "survives_randomization"}`: `layers` holds
        one `{"layer", "spearman", "ssim", "constant_maps"}` per randomized layer, top
        first (`keras_cxr.metrics.model_randomization_test`); `survives_randomization` is
        True when, after every listed layer is randomized, the maps still correlate with
        the trained model's above `SURVIVES` (the method fails the check).

    Raises:
        ValueError: For an unknown `method`, `top_layers` < 1, or images too small for
            SSIM.

    Example:
        >>> sanity = keras_cxr.training.card_sanity.explanation_sanity(model, images)
        >>> [row["layer"] for row in sanity["layers"]]
        ['logits', 'head_dense_1', 'stacked_backbones/cnn_3x3/conv_4']
    """
    top_layers = check_int("top_layers", top_layers, minimum=1)
    explainer_class = get_method(method)
    images = np.asarray(images, np.float32)
    classes = decided_classes(model, images, threshold, temperature)
    names = [name for name, _ in itertools.islice(randomize_model(model), top_layers)]

    def explain(candidate: keras.Model, batch: np.ndarray) -> np.ndarray:
        return explainer_class(candidate).explain(batch, classes).heatmaps  # decided above

    rows = model_randomization_test(explain, model, images, "cascading", names, seed)
    last = rows[-1]["spearman"]
    return {
        "method": method,
        "images": len(images),
        "mode": "cascading",
        "layers": rows,
        "survives_randomization": bool(not math.isnan(last) and last > SURVIVES),
    }


__all__ = ["SURVIVES", "decided_classes", "explanation_sanity"]
