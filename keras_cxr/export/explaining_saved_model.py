"""A SavedModel whose serving signature returns the prediction and its Grad-CAM heatmap.

The explainer runs inside the graph: the gradient of the explained score with respect to
the target feature maps is taken with `tf.GradientTape` (through `keras_cxr.backend`)
when the signature is called, so TF Serving answers one request with the probability,
the decision at the model's threshold and the fused heatmap, with no keras_cxr code on
the server. The graph is `keras_cxr.explain.BatchExplainer`'s computation for images
already at the model's input size.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import keras
from keras import ops

from keras_cxr._validation import check_unit_interval, invalid_value
from keras_cxr.export.saved_model import image_signature

#: The outputs of the `serving_default` (alias `explain`) signature.
EXPLAIN_OUTPUTS = ("probability", "decision", "score", "heatmap")


def explaining_function(
    model: keras.Model, threshold: float = 0.5, method: str = "gradcam"
) -> Callable:
    """The traceable function behind the explaining signature: images in, a dict out.

    For a binary model (a sigmoid unit, or a 2-way softmax), `probability` is that of the
    positive class and `decision` is 1 where `probability >= threshold`; for a k-way
    softmax, the arg-max and its probability. The heatmap explains the decided class, as
    `keras_cxr.explain.BatchExplainer` does.

    Args:
        model: A Functional classifier (e.g. `keras_cxr.StackedEnsemble`).
        threshold: Decision threshold in [0, 1], baked into the graph. Defaults to 0.5.
        method: A CAM method name (`keras_cxr.explain.METHODS`). Defaults to "gradcam".

    Returns:
        `function(images)`: float32 `(n, H, W, C)` to `{"probability": (n,) float32,
        "decision": (n,) int32, "score": (n,) float32, "heatmap": (n, H, W) float32}`.

    Raises:
        ValueError: For a method that is not a CAM, a bad threshold, or a model that is
            not a classifier the explainer can split.

    Example:
        >>> function = keras_cxr.export.explaining_function(model, threshold=0.4)
        >>> function(images.astype("float32"))["heatmap"].shape
    """
    from keras_cxr.explain import get_method, is_cam

    threshold = check_unit_interval("threshold", threshold, include_zero=True)
    explainer_class = get_method(method)
    if not is_cam(explainer_class):
        raise invalid_value("method", "a CAM method (gradcam, hirescam, ...)", method)
    explainer = explainer_class(model)
    units = int(model.outputs[0].shape[-1])

    def explain(images):
        images = ops.cast(images, "float32")
        probability, decision = _decide(model(images, training=False), units, threshold)
        result = explainer.explain_tensors(images, decision)
        return {
            "probability": probability,
            "decision": decision,
            "score": result["scores"],
            "heatmap": result["fused"],
        }

    return explain


def write_explaining_saved_model(
    model: keras.Model,
    path: str | os.PathLike,
    threshold: float = 0.5,
    method: str = "gradcam",
) -> None:
    """Writes a SavedModel with an explaining signature and a plain one.

    Signatures: `serving_default` (also `explain`): one float32 input `images`
    `(batch, H, W, C)` of raw pixels, outputs `EXPLAIN_OUTPUTS` (see
    `explaining_function`); `predict`: `probabilities`, the model's output alone.

    Args:
        model: A Functional classifier (TensorFlow backend).
        path: The folder to write; an empty or missing one.
        threshold: Decision threshold in [0, 1]. Defaults to 0.5.
        method: A CAM method name. Defaults to "gradcam".

    Returns:
        None.

    Raises:
        ValueError: See `explaining_function`.

    Example:
        >>> keras_cxr.export.write_explaining_saved_model(model, "explaining/1", 0.42)
    """
    explain = explaining_function(model, threshold, method)
    spec = image_signature(model)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("explain", explain, input_signature=spec)  # the first: the default
    archive.add_endpoint(
        "predict", lambda images: {"probabilities": model(images, training=False)}, spec
    )
    archive.write_out(os.fspath(path), verbose=False)


def _decide(predictions, units: int, threshold: float):
    """`(probability, decision)` at the threshold, in `keras.ops` (see BatchExplainer)."""
    if units <= 2:
        probability = predictions[:, 0] if units == 1 else predictions[:, 1]
        return probability, ops.cast(probability >= threshold, "int32")
    decision = ops.cast(ops.argmax(predictions, axis=-1), "int32")
    return ops.max(predictions, axis=-1), decision
