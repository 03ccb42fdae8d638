"""TensorFlow implementations of the backend functions (the only module that imports tf)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf


def compile_function(
    function: Callable, input_signature: Sequence | None = None, model=None
) -> Callable:
    """Compile `function` once; the batch axis is left free so batch sizes never re-trace.

    A `tf.function` reads the variables it uses afresh on every call, so weights assigned
    after compilation are seen.

    Args:
        function: A Python function of tensors built from Keras layers and `keras.ops`.
        input_signature: `(shape, dtype)` pairs; `None` dimensions stay dynamic.
        model: Unused (the graph reads the variables itself); accepted so that every
            backend has one signature. Defaults to `None`.

    Returns:
        The compiled callable.

    Raises:
        TypeError: Later, from TensorFlow, when the compiled function is called with inputs
            outside the signature.

    Example:
        >>> square = keras_cxr.backend.compile_function(
        ...     lambda x: x * x, [((None, 3), "float32")]
        ... )
        >>> square(np.ones((2, 3), "float32")).shape
        TensorShape([2, 3])
    """
    del model
    signature = None
    if input_signature is not None:
        signature = [tf.TensorSpec(shape, dtype) for shape, dtype in input_signature]
    return tf.function(function, input_signature=signature, reduce_retracing=True)


def head_gradients(
    head: Callable[[list], object], features: list, score: Callable[[object], object]
) -> tuple[object, list]:
    """Run `head` on precomputed `features` and differentiate the per-image score.

    Only the head (the layers after the feature maps) is recorded, so the backward pass
    and its memory are those of the head alone.

    Args:
        head: Maps the list of feature maps to the model's logits.
        features: Feature-map tensors `(batch, h, w, c)`.
        score: Maps logits to one scalar per image, shape `(batch,)`.

    Returns:
        `(logits, gradients)`: gradients of the scores w.r.t. each feature map. Images are
        independent in inference mode, so differentiating the sum gives per-image gradients.

    Raises:
        Exception: Whatever `head` or `score` raise.

    Example:
        >>> logits, gradients = keras_cxr.backend.head_gradients(
        ...     head, [feature_map], lambda logits: logits[:, 0]
        ... )
    """
    with tf.GradientTape() as tape:
        tape.watch(features)
        logits = head(features)
        scores = score(logits)
    return logits, tape.gradient(scores, features)


def input_gradients(
    function: Callable[[object], object], images, score: Callable[[object], object]
) -> tuple[object, object]:
    """Run `function` on `images` and differentiate the per-image score w.r.t. the images.

    The whole of `function` (the model up to its logits) is recorded, so this costs a
    forward and a full backward pass, down to the pixels.

    Args:
        function: Maps the images `(batch, height, width, channels)` to the model's logits.
        images: The input tensor; it is watched, so it need not be a variable.
        score: Maps logits to one scalar per image, shape `(batch,)`.

    Returns:
        `(logits, gradients)`: the logits, and d(score)/d(images) with the images' shape.
        Images are independent in inference mode, so differentiating the batch-summed
        score gives each image's own gradient.

    Raises:
        Exception: Whatever `function` or `score` raise.

    Example:
        >>> logits, gradients = keras_cxr.backend.input_gradients(
        ...     model_logits, images, lambda logits: logits[:, 0]
        ... )
    """
    with tf.GradientTape() as tape:
        tape.watch(images)
        logits = function(images)
        scores = score(logits)
    return logits, tape.gradient(scores, images)


def hooked_gradients(
    forward: Callable[[Callable], tuple[object, list]], score: Callable[[object], object]
) -> tuple[object, list, list]:
    """Differentiate a score w.r.t. activations that hooks capture during a forward pass.

    Used for models without a graph to split (subclassed models): the whole forward pass
    is recorded, so this costs a forward and a partial backward pass, with the memory of
    training rather than of inference.

    Args:
        forward: Called with a `watch(index, tensor)` function that returns the tensor
            to use downstream; runs the model (its hooks call `watch` on each target
            activation) and returns `(outputs, activations)`.
        score: Maps the model output to one scalar per image.

    Returns:
        `(outputs, activations, gradients)`.

    Raises:
        Exception: Whatever `forward` or `score` raise.

    Example:
        >>> outputs, activations, gradients = keras_cxr.backend.hooked_gradients(
        ...     forward, lambda outputs: outputs[:, 0]
        ... )
    """
    with tf.GradientTape() as tape:

        def watch(index, tensor):
            tape.watch(tensor)
            return tensor

        outputs, activations = forward(watch)
        scores = score(outputs)
    return outputs, activations, tape.gradient(scores, activations)
