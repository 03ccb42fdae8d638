"""Watching the attention probabilities inside `keras.layers.MultiHeadAttention`.

`MultiHeadAttention(..., return_attention_scores=True)` returns the probabilities, but a
model built without that flag never asks for them, and what it returns is a copy: a
gradient with respect to it says nothing about the output. To read the probabilities that
the layer actually multiplies the values with, and to differentiate through them, two
private parts of the layer are patched on the layer object, for the duration of a call:

- `MultiHeadAttention._compute_attention(query, key, value, attention_mask, training,
  return_attention_scores, ...)` is called with `return_attention_scores=True`, which makes
  it take its explicit path (softmax, then an einsum with the values) instead of the fused
  `ops.dot_product_attention`, which never materialises the probabilities;
- `MultiHeadAttention._softmax` (a `Softmax` layer) has its `call` wrapped, so that its
  output (the probabilities, `(batch, heads, queries, keys)`) goes through a user function
  whose result is what the einsum uses (a backend's `watch`, see `keras_cxr.backend`).

Both are restored afterwards, also when the call raises.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import keras

from keras_cxr._keras_internals.check import ensure_checked


def attention_layers(model) -> list:
    """Every `keras.layers.MultiHeadAttention` inside `model`, nested layers included.

    Args:
        model: A Keras model or layer.

    Returns:
        The attention layers (subclasses included), each once, in the order they were
        tracked (for a Functional model: the order of its graph, which is not necessarily
        the order they run in; `watched_attention` records that).

    Raises:
        RuntimeError: If the installed Keras lacks an internal this relies on.

    Example:
        >>> from keras_cxr._keras_internals.attention import attention_layers
        >>> [layer.name for layer in attention_layers(vit)]
        ['block_0_attention', 'block_1_attention']
    """
    ensure_checked()
    found = [model] if isinstance(model, keras.layers.MultiHeadAttention) else []
    found += [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.MultiHeadAttention)
    ]
    return found


@contextlib.contextmanager
def watched_attention(
    layers: Sequence, on_probabilities: Callable[[int, object], object]
) -> Iterator[None]:
    """A context in which each layer's attention probabilities pass through a function.

    Inside it, every call of `layers[index]` calls `on_probabilities(index, probabilities)`
    with its softmax output, `(batch, heads, queries, keys)`, and multiplies the values
    with what it returns. Dropout on the probabilities still follows (a no-op in
    inference).

    Args:
        layers: `keras.layers.MultiHeadAttention` layers.
        on_probabilities: `(index in layers, probabilities) -> tensor of the same shape`.

    Returns:
        A context manager; the layers are restored on exit.

    Raises:
        ValueError: For a layer with flash attention enabled (it never materialises the
            probabilities), naming how to turn it off.
        RuntimeError: If the installed Keras lacks an internal this relies on.

    Example:
        >>> from keras_cxr._keras_internals.attention import watched_attention
        >>> seen = []
        >>> with watched_attention([layer], lambda i, p: seen.append(p) or p):
        ...     _ = layer(tokens, tokens)
        >>> tuple(seen[0].shape)  # (batch, heads, queries, keys)
        (2, 4, 17, 17)
    """
    ensure_checked()
    for layer in layers:
        if getattr(layer, "_flash_attention", False):
            raise ValueError(
                f"The attention layer `{layer.name}` uses flash attention, which never "
                "materialises the attention probabilities that an attention explainer "
                "reads. Build the model with `keras.config.disable_flash_attention()` "
                "called first (or `flash_attention=False` on the layer)."
            )
    try:
        for index, layer in enumerate(layers):
            object.__setattr__(layer, "_compute_attention", _explicit(layer._compute_attention))
            softmax = layer._softmax
            object.__setattr__(softmax, "call", _through(softmax.call, on_probabilities, index))
        yield
    finally:
        for layer in layers:
            # A layer given twice is restored once.
            if "_compute_attention" in vars(layer):
                object.__delattr__(layer, "_compute_attention")
            if "call" in vars(layer._softmax):
                object.__delattr__(layer._softmax, "call")


def _explicit(original: Callable) -> Callable:
    def compute_attention(query, key, value, attention_mask=None, training=None, *args, **kwargs):
        # Positional `return_attention_scores` (the sixth argument) is forced on.
        kwargs.pop("return_attention_scores", None)
        return original(query, key, value, attention_mask, training, True, *args[1:], **kwargs)

    return compute_attention


def _through(original: Callable, function: Callable, index: int) -> Callable:
    def call(*args, **kwargs):
        return function(index, original(*args, **kwargs))

    return call


def _probe() -> None:
    """Zeroed probabilities must zero the output (no bias), and must be seen once."""
    layer = keras.layers.MultiHeadAttention(1, 2, use_bias=False, name="keras_cxr_probe_attention")
    tokens = keras.ops.ones((1, 3, 2))
    layer(tokens, tokens)
    seen = []

    def zero(index, probabilities):
        seen.append((index, tuple(probabilities.shape)))
        return probabilities * 0.0

    with watched_attention([layer], zero):
        output = keras.ops.convert_to_numpy(layer(tokens, tokens))
    if seen != [(0, (1, 1, 3, 3))] or abs(output).max() != 0.0:
        raise AssertionError(f"expected one (1, 1, 3, 3) watch and a zero output, got {seen}")
    if "_compute_attention" in vars(layer) or "call" in vars(layer._softmax):
        raise AssertionError("expected the layer restored")


__all__ = ["attention_layers", "watched_attention"]
