"""JAX implementations of the backend functions (the only module that imports jax).

A compiled function is pure: the values of the model's variables are arguments of the
`jax.jit` executable, bound to the Keras variables by a `keras.StatelessScope` while it is
traced, so they are neither folded into the executable as constants nor do Keras variable
objects cross the jit boundary (keras-team/keras #18424, #18574). Updates the layers make
to non-trainable variables inside the scope are discarded: explaining runs in inference
mode and changes nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import keras

from keras_cxr._validation import invalid_value


def compile_function(
    function: Callable, input_signature: Sequence | None = None, model=None
) -> Callable:
    """Compile `function` with `jax.jit`, the model's variable values passed as arguments.

    Each call reads the variables' current values, so the compiled function sees weights
    assigned after it was built. jit specialises on the batch size, so the batch is padded
    (with copies of its last row) to the smallest size compiled before that fits, or else
    to the next power of two, and the outputs are cut back: chunks of an explainer's
    `batch_size` and its last partial chunk share one executable.

    Args:
        function: A Python function of tensors built from Keras layers and `keras.ops`;
            every output must have the batch on its first axis.
        input_signature: `(shape, dtype)` pairs; the arguments are cast to these dtypes.
            `None` to pass them as they come.
        model: The Keras model or layer whose variables `function` reads. Defaults to
            `None` (a function that reads no variables).

    Returns:
        The compiled callable; it returns jax arrays.

    Raises:
        Exception: Whatever `function` raises while it is traced.

    Example:
        >>> square = keras_cxr.backend.compile_function(
        ...     lambda x: x * x, [((None, 3), "float32")]
        ... )
        >>> square(np.ones((2, 3), "float32")).shape
        (2, 3)
    """
    variables = list(model.variables) if model is not None else []
    dtypes = [dtype for _, dtype in input_signature] if input_signature is not None else None

    def pure(values, *args):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return function(*args)

    jitted = jax.jit(pure)
    sizes: set[int] = set()

    def call(*args):
        args = [
            jnp.asarray(arg) if dtypes is None else jnp.asarray(arg, dtype)
            for arg, dtype in zip(args, dtypes or [None] * len(args))
        ]
        batch = int(args[0].shape[0])
        padded = min((size for size in sizes if size >= batch), default=None)
        if padded is None:
            padded = 1 << (batch - 1).bit_length()
            sizes.add(padded)
        if padded > batch:
            args = [_pad(arg, padded - batch) for arg in args]
        outputs = jitted([variable.value for variable in variables], *args)
        return jax.tree_util.tree_map(lambda output: output[:batch], outputs)

    return call


def _pad(array, extra: int):
    return jnp.concatenate([array, jnp.repeat(array[-1:], extra, axis=0)], axis=0)


def head_gradients(
    head: Callable[[list], object], features: list, score: Callable[[object], object]
) -> tuple[object, list]:
    """Run `head` on precomputed `features` and differentiate the per-image score.

    Uses `jax.value_and_grad` of the batch-summed score: images are independent in
    inference mode, so the gradient of the sum is each image's own gradient. Only the
    head is differentiated.

    Args:
        head: Maps the list of feature maps to the model's logits.
        features: Feature-map arrays `(batch, h, w, c)`.
        score: Maps logits to one scalar per image, shape `(batch,)`.

    Returns:
        `(logits, gradients)`: gradients of the scores w.r.t. each feature map.

    Raises:
        Exception: Whatever `head` or `score` raise.

    Example:
        >>> logits, gradients = keras_cxr.backend.head_gradients(
        ...     head, [feature_map], lambda logits: logits[:, 0]
        ... )
    """

    def total(feature_maps):
        logits = head(feature_maps)
        return jnp.sum(score(logits)), logits

    (_, logits), gradients = jax.value_and_grad(total, has_aux=True)(list(features))
    return logits, gradients


def input_gradients(
    function: Callable[[object], object], images, score: Callable[[object], object]
) -> tuple[object, object]:
    """Run `function` on `images` and differentiate the per-image score w.r.t. the images.

    Uses `jax.value_and_grad` of the batch-summed score w.r.t. the images (each image's
    own gradient, as images are independent in inference mode); under
    `compile_function` it is traced into the same `jax.jit` executable as the rest.

    Arguments, result and errors are those of the TensorFlow version,
    `keras_cxr.backend.tensorflow.input_gradients`, which documents the contract that
    every backend module implements under the same name.
    """

    def total(x):
        logits = function(x)
        return jnp.sum(score(logits)), logits

    (_, logits), gradients = jax.value_and_grad(total, has_aux=True)(images)
    return logits, gradients


def hooked_gradients(
    forward: Callable[[Callable], tuple[object, list]], score: Callable[[object], object]
) -> tuple[object, list, list]:
    """Differentiate a score w.r.t. activations that hooks capture during a forward pass.

    JAX cannot watch an intermediate value, so each target activation gets a zero added
    to it, and the gradient is taken w.r.t. these zeros. Their shapes come from a first,
    abstract pass (`jax.eval_shape`, which computes nothing); where a layer runs several
    times, the zero goes on its last output, the one that is recorded.

    Arguments, result and errors are those of the TensorFlow version,
    `keras_cxr.backend.tensorflow.hooked_gradients`, which documents the contract that
    every backend module implements under the same name.
    """
    calls: dict[int, int] = {}

    def count(index, tensor):
        calls[index] = calls.get(index, 0) + 1
        return tensor

    _, shapes = jax.eval_shape(lambda: forward(count))
    last = dict(calls)

    def total(shifts):
        seen: dict[int, int] = {}

        def shift(index, tensor):
            seen[index] = seen.get(index, 0) + 1
            return tensor + shifts[index] if seen[index] == last[index] else tensor

        outputs, activations = forward(shift)
        return jnp.sum(score(outputs)), (outputs, activations)

    zeros = [jnp.zeros(shape.shape, shape.dtype) for shape in shapes]
    (_, (outputs, activations)), gradients = jax.value_and_grad(total, has_aux=True)(zeros)
    return outputs, activations, gradients


#: Whether every batch of a data-parallel step must split evenly between the devices:
#: JAX shards each batch along its first axis and refuses uneven shards.
EVEN_BATCHES = True

#: `jit_compile` for `model.compile` in training: `jax.jit` is JAX's only compiled path.
#: Without it Keras runs every step op by op, each operation dispatched (and compiled)
#: on its own: `keras-cxr demo` took 108 s that way and 64 s jitted on 2 CPU cores.
JIT_TRAINING = True


@contextlib.contextmanager
def data_parallel(batch_size: int) -> Iterator[int]:
    """A `keras.distribution.DataParallel` scope over every device JAX sees.

    Build, compile, fit and predict inside: each batch is sharded along its first axis,
    so every batch (the last one, validation and prediction batches too) must be a
    multiple of the device count. JAX runs the whole global batch in one program, so
    BatchNormalization sees global statistics without further work. Several hosts are
    `keras.distribution`'s business (`keras.distribution.initialize`), not tested here.

    Arguments, result and errors are those of the TensorFlow version,
    `keras_cxr.backend.tensorflow.data_parallel`; CPUs become several devices with
    `XLA_FLAGS=--xla_force_host_platform_device_count=N`, set before JAX starts.
    """
    devices = jax.devices()
    _check_devices(len(devices), batch_size)
    with keras.distribution.DataParallel(devices=devices).scope():
        yield len(devices)


def _check_devices(count: int, batch_size: int) -> None:
    if count < 2:
        raise RuntimeError(
            f"Data-parallel training needs at least 2 devices; found {count} JAX "
            "device(s). To split the CPU into N devices, set "
            "XLA_FLAGS=--xla_force_host_platform_device_count=N before JAX starts."
        )
    if batch_size % count:
        raise invalid_value("batch_size", f"a multiple of the {count} devices", batch_size)


@contextlib.contextmanager
def synchronized_batchnorm(model: keras.Model) -> Iterator[None]:
    """Nothing to do under JAX: a jitted step normalises by the global batch already.

    See `keras_cxr.backend.tensorflow.synchronized_batchnorm` for the contract.
    """
    del model
    yield
