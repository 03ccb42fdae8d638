"""The one place that knows which framework computes gradients.

Every function here has the same name and signature in each backend module
(`keras_cxr/backend/tensorflow.py`, and later `jax.py` / `torch.py`); the one matching
`keras.backend.backend()` is picked once, at import. CAM methods only use `keras.ops` and
these functions, so a new backend needs no change to them.

Functions:
    compile_function(function, input_signature=None): compile once, batch axis dynamic.
    head_gradients(head, features, score): logits and d(score)/d(features), recording
        only the head.
    hooked_gradients(forward, score): outputs, activations and their gradients for
        models that can only be run whole (subclassed models).
"""

from __future__ import annotations

import keras

BACKEND = keras.backend.backend()

if BACKEND == "tensorflow":
    from keras_cxr.backend.tensorflow import compile_function, head_gradients, hooked_gradients
else:  # pragma: no cover - exercised only under other Keras backends

    def _unsupported(*args, **kwargs):
        raise NotImplementedError(
            f"keras_cxr computes gradients with the TensorFlow backend only; the active Keras "
            f"backend is {BACKEND!r}. Set KERAS_BACKEND=tensorflow before importing keras."
        )

    compile_function = head_gradients = hooked_gradients = _unsupported

__all__ = ["BACKEND", "compile_function", "head_gradients", "hooked_gradients"]
