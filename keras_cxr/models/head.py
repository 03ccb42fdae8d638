"""The two halves of a `keras_cxr.StackedEnsemble`: its feature extractor and its head.

With frozen backbones, an epoch of `model.fit` on images spends nearly all its time
recomputing backbone features that never change. The pipeline computes them once and
trains `HeadModel`, which shares the ensemble's head layers, on them.
"""

from __future__ import annotations

import keras

# A module import, not a name: importing the wall imports Keras, whose import hook imports
# this module to register the saved classes (keras_cxr._registration).
from keras_cxr import _keras_internals
from keras_cxr._validation import invalid_value


def feature_extractor(model: keras.Model) -> keras.Model:
    """The part of `model` that maps images to pooled features.

    Args:
        model: A `keras_cxr.StackedEnsemble` (or any model with a `stacked_backbones`
            layer), or a model whose output already is `(batch, features)`.

    Returns:
        The `StackedBackbones` of an ensemble, else `model` itself.

    Raises:
        ValueError: If the model's output is not 2-D.

    Example:
        >>> keras_cxr.models.feature_extractor(ensemble).name
        'stacked_backbones'
    """
    stack = _stack_of(model)
    if stack is not None:
        return stack
    if len(model.output_shape) != 2:
        raise invalid_value(
            "model", "a StackedEnsemble or a model returning (batch, features)", model.name
        )
    return model


def head_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers after `stacked_backbones` in a `StackedEnsemble`, in call order.

    Args:
        model: A `keras_cxr.StackedEnsemble`, or a model of the same shape: a chain
            image → `stacked_backbones` → single-input layers → output.

    Returns:
        The head layers (BatchNorm, Dense, Dropout, `logits`, `predictions`).

    Raises:
        ValueError: If the model has no `stacked_backbones` layer or is not a chain.

    Example:
        >>> [layer.name for layer in keras_cxr.models.head_layers(ensemble)][:2]
        ['head_bn_1', 'head_dense_1']
    """
    stack = _stack_of(model)
    if stack is None:
        raise invalid_value("model", "a StackedEnsemble (a model with `stacked_backbones`)", model)
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if layers[0] is not stack:
        raise invalid_value("model", "a chain starting with `stacked_backbones`", model.name)
    head = layers[1:]
    for previous, layer in zip([stack, *head], head):
        calls = _keras_internals.inbound_operations(layer)
        inbound = calls[0] if calls else []
        if len(inbound) != 1 or inbound[0] is not previous:
            raise invalid_value("model", "a chain of single-input head layers", layer.name)
    return head


class HeadModel(keras.Model):
    """The head of a `keras_cxr.StackedEnsemble` as a model of its own, sharing its layers.

    The head layers are the ensemble's own layer objects, called in order on pooled
    features, so the two models share every head variable: training this model trains the
    ensemble's head, and nothing is copied back and forth. With frozen backbones this is
    how the pipeline trains on cached features (`keras_cxr.training.extract_features`)
    while a `keras_cxr.callbacks.GradCAMCallback(model=ensemble)` explains the ensemble as
    it is at each epoch. Layers are called on tensors, never on symbolic Keras inputs, so
    the ensemble's graph (which explainers walk) gains no node.

    Args:
        model: The `keras_cxr.StackedEnsemble` whose head to share.
        name: Model name. Defaults to `"<model name>_head"`.
        logits: Stop before the final sigmoid/softmax `Activation` layer, so that the
            model returns logits (for temperature scaling). Defaults to False.

    Returns:
        A `keras.Model` mapping `(batch, features)` to `(batch, num_classes)`.

    Raises:
        ValueError: If `model` is not shaped like a `StackedEnsemble`.

    Example:
        >>> head = keras_cxr.models.HeadModel(ensemble)
        >>> head.compile("adam", "binary_crossentropy")
        >>> head.fit(features, y_train, epochs=20)  # trains `ensemble`'s head in place
    """

    def __init__(self, model: keras.Model, name: str | None = None, logits: bool = False) -> None:
        layers = head_layers(model)
        if logits and isinstance(layers[-1], keras.layers.Activation):
            layers = layers[:-1]
        super().__init__(name=name or f"{model.name}_head")
        self.head = layers
        self.feature_size = int(_stack_of(model).output_shape[-1])
        self.built = True  # every shared layer is built already

    def call(self, features):
        # Keras passes the outer `training` flag on to Dropout and BatchNorm by itself.
        x = features
        for layer in self.head:
            x = layer(x)
        return x


def _stack_of(model: keras.Model):
    stack = getattr(model, "stacked_backbones", None)
    if stack is not None:
        return stack
    try:
        return model.get_layer("stacked_backbones")
    except ValueError:
        return None
