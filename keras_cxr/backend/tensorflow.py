"""TensorFlow implementations of the backend functions (the only module that imports tf)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import keras
import tensorflow as tf

from keras_cxr._keras_internals import sublayers
from keras_cxr._validation import invalid_value


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
    return _taped_gradients(head, features, score)


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
    return _taped_gradients(function, images, score)


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


#: Whether every batch of a data-parallel step must split evenly between the devices.
#: MirroredStrategy splits a partial batch unevenly by itself; dropping it instead would
#: give the batches a static shape, and synchronised BatchNorm's sample counts, folded
#: into constants, then start their all-reduces in a different order on each replica
#: ("Shape mismatch in the collective instance").
EVEN_BATCHES = False

#: `jit_compile` for `model.compile` in training: graph mode without XLA. XLA compiles a
#: whole backbone's training step for minutes on a CPU; a tf.function graph is ready in
#: seconds and runs small batches as fast.
JIT_TRAINING = False


@contextlib.contextmanager
def data_parallel(batch_size: int) -> Iterator[int]:
    """A `tf.distribute.MirroredStrategy` scope over this host's GPUs, or else its CPUs.

    Build and compile the model inside: its variables are mirrored on every device and
    each batch of `fit` is split between them, the gradients summed. One host only:
    multi-worker training is not reliable under Keras 3 (keras-team/keras #20585).

    Args:
        batch_size: The global batch size; each device gets `batch_size // devices`.

    Yields:
        The number of devices.

    Raises:
        RuntimeError: If there are fewer than 2 devices.
        ValueError: If `batch_size` is not a multiple of the number of devices.

    Example:
        >>> with keras_cxr.backend.data_parallel(batch_size=32) as devices:
        ...     model = keras_cxr.training.build_model(config)
        ...     model.compile(optimizer="adam", loss="binary_crossentropy")
    """
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    _check_devices(len(devices), batch_size, "GPU or CPU", _TF_HINT)
    # The default, collective all-reduce starts synchronised BatchNorm's all-reduces in a
    # different order on each replica ("Shape mismatch in the collective instance"):
    # reducing on one device has no such ordering to keep.
    strategy = tf.distribute.MirroredStrategy(
        [device.name for device in devices], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    with strategy.scope():
        yield len(devices)


_TF_HINT = (
    "To split one CPU into N devices, call tf.config.set_logical_device_configuration("
    "tf.config.list_physical_devices('CPU')[0], [tf.config.LogicalDeviceConfiguration()] * N) "
    "before TensorFlow starts."
)


def _check_devices(count: int, batch_size: int, kind: str, hint: str) -> None:
    if count < 2:
        raise RuntimeError(
            f"Data-parallel training needs at least 2 devices; found {count} {kind} "
            f"device(s). {hint}"
        )
    if batch_size % count:
        raise invalid_value("batch_size", f"a multiple of the {count} devices", batch_size)


@contextlib.contextmanager
def synchronized_batchnorm(model: keras.Model) -> Iterator[None]:
    """Batch statistics over the global batch, not each device's share, while inside.

    Under `MirroredStrategy` each `BatchNormalization` normalises by its own replica's
    statistics unless `synchronized`; synchronised, a data-parallel step matches one
    device on the same batch. The flag is reset on exit, because a file saved with
    `synchronized=True` loads on TensorFlow only.

    Args:
        model: The model whose `BatchNormalization` layers (nested ones too) to
            synchronise.

    Yields:
        Nothing.

    Example:
        >>> with keras_cxr.backend.synchronized_batchnorm(model):
        ...     model.fit(images, labels, batch_size=32)
    """
    layers = _batchnorm_layers(model)
    for layer in layers:
        layer.synchronized = True
    try:
        yield
    finally:
        for layer in layers:
            layer.synchronized = False


def _batchnorm_layers(model: keras.Model) -> list:
    return [
        layer
        for layer in sublayers(model, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


def _taped_gradients(function, inputs, score) -> tuple[object, object]:
    """`(function(inputs), d score(function(inputs)) / d inputs)`, on one gradient tape.

    `inputs` are tensors inside a traced function; under `tf.config.run_functions_eagerly`
    they arrive as NumPy arrays, which a tape cannot watch, so they are converted first.
    """
    inputs = tf.nest.map_structure(tf.convert_to_tensor, inputs)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        logits = function(inputs)
        scores = score(logits)
    return logits, tape.gradient(scores, inputs)
