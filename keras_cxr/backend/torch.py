"""PyTorch implementations of the backend functions (the only module that imports torch).

Functions run eagerly: `torch.compile` around Keras layers is slower or fails
(keras-team/keras #18569, #21647, #21851). A compiled function runs under
`torch.no_grad()`, so the feature maps cost an inference pass; only the head (or, for
hooked models, the whole forward pass) is recorded for autograd.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import keras
import torch
from keras import tree


def compile_function(
    function: Callable, input_signature: Sequence | None = None, model=None
) -> Callable:
    """Wrap `function` to run eagerly under `torch.no_grad()`, returning detached tensors.

    Args:
        function: A Python function of tensors built from Keras layers and `keras.ops`.
        input_signature: `(shape, dtype)` pairs; the arguments are converted to tensors
            of these dtypes. `None` to pass them as they come.
        model: Unused (eager functions read the variables as they are); accepted so that
            every backend has one signature. Defaults to `None`.

    Returns:
        The wrapped callable; it returns torch tensors that need no gradient.

    Raises:
        Exception: Whatever `function` raises.

    Example:
        >>> square = keras_cxr.backend.compile_function(
        ...     lambda x: x * x, [((None, 3), "float32")]
        ... )
        >>> tuple(square(np.ones((2, 3), "float32")).shape)
        (2, 3)
    """
    del model
    dtypes = [dtype for _, dtype in input_signature] if input_signature is not None else None

    def call(*args):
        if dtypes is not None:
            args = [keras.ops.convert_to_tensor(a, d) for a, d in zip(args, dtypes)]
        with torch.no_grad():
            outputs = function(*args)
        return tree.map_structure(_detached, outputs)

    return call


def _detached(value):
    return value.detach() if isinstance(value, torch.Tensor) else value


def head_gradients(
    head: Callable[[list], object], features: list, score: Callable[[object], object]
) -> tuple[object, list]:
    """Run `head` on precomputed `features` and differentiate the per-image score.

    The feature maps are detached and marked with `requires_grad_`, so autograd records
    the head alone; `torch.autograd.grad` of the batch-summed score gives each image's
    own gradient (images are independent in inference mode).

    Args:
        head: Maps the list of feature maps to the model's logits.
        features: Feature-map tensors `(batch, h, w, c)`.
        score: Maps logits to one scalar per image, shape `(batch,)`.

    Returns:
        `(logits, gradients)`: gradients of the scores w.r.t. each feature map (zeros for
        a map the score does not depend on).

    Raises:
        Exception: Whatever `head` or `score` raise.

    Example:
        >>> logits, gradients = keras_cxr.backend.head_gradients(
        ...     head, [feature_map], lambda logits: logits[:, 0]
        ... )
    """
    with torch.enable_grad():
        leaves = [feature.detach().requires_grad_(True) for feature in features]
        logits = head(leaves)
        gradients = _gradients(score(logits), leaves)
    return logits.detach(), gradients


def input_gradients(
    function: Callable[[object], object], images, score: Callable[[object], object]
) -> tuple[object, object]:
    """Run `function` on `images` and differentiate the per-image score w.r.t. the images.

    The images are detached and marked with `requires_grad_`, so autograd records the
    whole forward pass from them (also under the `torch.no_grad()` of
    `compile_function`); the logits and gradients are returned detached.

    Arguments, result and errors are those of the TensorFlow version,
    `keras_cxr.backend.tensorflow.input_gradients`, which documents the contract that
    every backend module implements under the same name.
    """
    with torch.enable_grad():
        leaf = images.detach().requires_grad_(True)
        logits = function(leaf)
        (gradients,) = _gradients(score(logits), [leaf])
    return logits.detach(), gradients


def hooked_gradients(
    forward: Callable[[Callable], tuple[object, list]], score: Callable[[object], object]
) -> tuple[object, list, list]:
    """Differentiate a score w.r.t. activations that hooks capture during a forward pass.

    The whole forward pass is recorded; an activation that does not depend on any
    trainable weight (so has no autograd history) is replaced by a leaf that requires a
    gradient before the rest of the model uses it. Everything returned is detached.

    Arguments, result and errors are those of the TensorFlow version,
    `keras_cxr.backend.tensorflow.hooked_gradients`, which documents the contract that
    every backend module implements under the same name.
    """

    def watch(index, tensor):
        return tensor if tensor.requires_grad else tensor.detach().requires_grad_(True)

    with torch.enable_grad():
        outputs, activations = forward(watch)
        gradients = _gradients(score(outputs), activations)
    return outputs.detach(), [a.detach() for a in activations], gradients


def _gradients(scores, inputs: list) -> list:
    gradients = torch.autograd.grad(torch.sum(scores), inputs, allow_unused=True)
    return [
        torch.zeros_like(tensor) if gradient is None else gradient
        for tensor, gradient in zip(inputs, gradients)
    ]


#: Whether every batch of a data-parallel step must split evenly (moot: see below).
EVEN_BATCHES = True

#: `jit_compile` for `model.compile` in training: eager PyTorch (Keras's torch.compile
#: path recompiles for every new shape and is not needed at these sizes).
JIT_TRAINING = False


def data_parallel(batch_size: int) -> Iterator[int]:
    """Refuses: Keras offers no data-parallel distribution for PyTorch.

    See `keras_cxr.backend.tensorflow.data_parallel` for the contract on the backends
    that have one.

    Raises:
        NotImplementedError: Always, naming the backends that support it.
    """
    del batch_size
    raise NotImplementedError(
        "Data-parallel training (distribute=True) runs on the tensorflow and jax "
        "backends; Keras has no data-parallel distribution for torch. Set "
        "KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax, or train on one device."
    )


@contextlib.contextmanager
def synchronized_batchnorm(model: keras.Model) -> Iterator[None]:
    """Nothing to do: PyTorch trains on one device here (see `data_parallel`)."""
    del model
    yield
