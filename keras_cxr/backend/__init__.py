"""The one place that knows which framework computes gradients.

Every function here has the same name and signature in each backend module
(`keras_cxr/backend/tensorflow.py`, `jax.py` and `torch.py`); the one matching
`keras.backend.backend()` is picked once, at import. CAM methods only use `keras.ops` and
these functions, so a new backend needs no change to them.

Functions:
    compile_function(function, input_signature=None, model=None): compile once (the
        batch axis dynamic); `model` is the Keras model whose variables the function
        reads (JAX passes their values to the executable as arguments).
    head_gradients(head, features, score): logits and d(score)/d(features), recording
        only the head.
    input_gradients(function, images, score): logits and d(score)/d(images) through the
        whole model, for the pixel attribution methods.
    hooked_gradients(forward, score): outputs, activations and their gradients for
        models that can only be run whole (subclassed models); `forward(watch)` runs the
        model, its hooks calling `tensor = watch(index, tensor)`.
    data_parallel(batch_size): a context for building, compiling and fitting a model
        data-parallel over this host's devices (MirroredStrategy on TensorFlow,
        keras.distribution.DataParallel on JAX; PyTorch raises); yields the device count.
    synchronized_batchnorm(model): a context in which BatchNormalization uses the global
        batch's statistics (TensorFlow; a no-op where the step already sees the batch).
    EVEN_BATCHES: whether every batch must split evenly over the devices (JAX).
    JIT_TRAINING: the `jit_compile` training compiles with (True on JAX only: its one
        compiled path; TensorFlow trains in graph mode without XLA, PyTorch eagerly).
"""

from __future__ import annotations

import importlib

import keras

#: The Keras backends keras_cxr computes gradients with.
SUPPORTED = ("tensorflow", "jax", "torch")

BACKEND = keras.backend.backend()

if BACKEND in SUPPORTED:
    # Only the active backend's module is imported: the others import their framework.
    _active = importlib.import_module(f"{__name__}.{BACKEND}")
    EVEN_BATCHES = _active.EVEN_BATCHES
    JIT_TRAINING = _active.JIT_TRAINING
    compile_function = _active.compile_function
    data_parallel = _active.data_parallel
    head_gradients = _active.head_gradients
    hooked_gradients = _active.hooked_gradients
    input_gradients = _active.input_gradients
    synchronized_batchnorm = _active.synchronized_batchnorm
else:  # pragma: no cover - exercised only under other Keras backends

    def _unsupported(*args, **kwargs):
        raise NotImplementedError(
            f"keras_cxr computes gradients with the {', '.join(SUPPORTED)} backends; the "
            f"active Keras backend is {BACKEND!r}. Set KERAS_BACKEND to one of them before "
            "importing keras."
        )

    compile_function = head_gradients = hooked_gradients = input_gradients = _unsupported
    data_parallel = synchronized_batchnorm = _unsupported
    EVEN_BATCHES = True
    JIT_TRAINING = False

__all__ = [
    "BACKEND",
    "EVEN_BATCHES",
    "JIT_TRAINING",
    "SUPPORTED",
    "compile_function",
    "data_parallel",
    "head_gradients",
    "hooked_gradients",
    "input_gradients",
    "synchronized_batchnorm",
]
