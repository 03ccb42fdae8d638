"""Forward hooks for models without a graph (subclassed models).

A subclassed model's `call` is Python code, so it cannot be flattened and split. Its target
layers are instead patched for the duration of a call: each records (and marks for
differentiation) its output. This needs `layer=` to be given explicitly (an object such as
`model.backbone`, or a path of attribute-level layer names such as `"backbone/out_relu"`),
and it records the whole forward pass for the gradient, so it is slower and uses more memory
than the split used for Functional models. The model's `call` should return logits; if it
returns probabilities, they are what gets explained.
"""

from __future__ import annotations

import contextlib
from typing import Any

import keras

from keras_cxr import backend
from keras_cxr._keras_internals import sublayers
from keras_cxr.explain.class_targets import resolve_classes, select_scores


class HookedModel:
    """Run a model whole while capturing the outputs of chosen inner layers.

    `BaseCAM` uses it for models it cannot split. During `activations_and_gradients` each
    target layer's `call` is replaced, on that layer object only, by one that records its
    output and hands it to the backend to watch for the gradient (`watch(index, tensor)`
    returns the tensor the rest of the model uses); the original is restored afterwards,
    also when the forward pass raises. `paths` names each layer by the attribute-level
    layer names from the model down to it.

    Args:
        model: The (subclassed) model.
        layer: Layer object, path of layer names (`"backbone/out_relu"`, leading and
            trailing slashes ignored), or a list of these. Required.
        output_index: Which model output to explain, for models returning a list or tuple.

    Returns:
        A hooked model with `layers` (the layer objects) and `paths` (their paths).

    Raises:
        ValueError: If `layer` is None (the message lists the top-level layers), is not a
            layer or a string, is a layer outside the model, or names a layer that does
            not exist (the message lists the layers where the search stopped).

    Example:
        >>> hooked = keras_cxr.explain.hooks.HookedModel(model, model.backbone, 0)
        >>> hooked.paths
        ['backbone']
    """

    def __init__(self, model: keras.Model, layer: Any, output_index: int) -> None:
        if layer is None:
            raise ValueError(
                f"Model `{model.name}` is subclassed, so its graph cannot be searched for the "
                "last spatial layer. Pass the layer explicitly, e.g. "
                "`GradCAM(model, layer=model.backbone)` or `layer='backbone/out_relu'`. "
                f"Top-level layers: {[sub.name for sub in _children(model)]}"
            )
        specs = list(layer) if isinstance(layer, (list, tuple)) else [layer]
        self.model = model
        self.output_index = output_index
        self.layers = []
        self.paths = []
        for spec in specs:
            found, path = _find(model, spec)
            self.layers.append(found)
            self.paths.append(path)

    def call_plain(self, images):
        """The model's explained output for `images`, without hooks.

        Args:
            images: `(batch, height, width, channels)` float32 batch.

        Returns:
            The output selected by `output_index`, in inference mode.

        Raises:
            Exception: Whatever the model raises for these images.

        Example:
            >>> outputs = hooked.call_plain(images)
        """
        return _pick(self.model(images, training=False), self.output_index)

    def activations_and_gradients(self, images, class_index, score_mode: str):
        """Run the model once, recording the target layers and differentiating the score.

        The score is chosen by `keras_cxr.explain.class_targets.select_scores` on the
        model's output as it is (no activation is removed: a subclassed model should return
        logits).

        Args:
            images: `(batch, height, width, channels)` float32 batch.
            class_index: int32 `(batch,)`, `-1` for each image's predicted class.
            score_mode: `"logit"` or `"probability"`.

        Returns:
            `(activations, gradients, outputs, classes)`: a list with each target layer's
            output, a list with d(score)/d(output) for each, the explained model output and
            the resolved int32 classes.

        Raises:
            ValueError: If a target layer did not run during the forward pass.
            Exception: Whatever the model raises for these images (its layers are restored
                first).

        Example:
            >>> activations, gradients, outputs, classes = hooked.activations_and_gradients(
            ...     images, np.array([-1, 1], "int32"), "logit"
            ... )
        """

        def forward(watch):
            captured: dict[int, Any] = {}
            with self._patched(watch, captured):
                outputs = _pick(self.model(images, training=False), self.output_index)
            missing = [path for index, path in enumerate(self.paths) if index not in captured]
            if missing:
                raise ValueError(
                    f"Layers {missing} did not run when model `{self.model.name}` was called, "
                    "so there is nothing of theirs to explain. Pass layers that its `call` uses."
                )
            # In the order of `layer=` (and of `paths`), not in the order they ran.
            return outputs, [captured[index] for index in range(len(self.layers))]

        def score(outputs):
            return select_scores(outputs, resolve_classes(outputs, class_index), score_mode, None)

        outputs, activations, gradients = backend.hooked_gradients(forward, score)
        return activations, list(gradients), outputs, resolve_classes(outputs, class_index)

    @contextlib.contextmanager
    def _patched(self, watch, captured: dict):
        try:
            for index, layer in enumerate(self.layers):
                object.__setattr__(layer, "call", _recording(layer.call, watch, captured, index))
            yield
        finally:
            for layer in self.layers:
                if "call" in vars(layer):  # a layer given twice is restored once
                    object.__delattr__(layer, "call")


def _recording(original, watch, captured: dict, index: int):
    def call(*args, **kwargs):
        outputs = watch(index, original(*args, **kwargs))
        captured[index] = outputs  # a layer that runs several times: its last output
        return outputs

    return call


def _pick(outputs, index: int):
    return outputs[index] if isinstance(outputs, (list, tuple)) else outputs


def _children(layer) -> list:
    return sublayers(layer)


def _find(model: keras.Model, spec: Any):
    if isinstance(spec, keras.layers.Layer):
        path = _path_of(model, spec, "")
        if path is None:
            raise ValueError(f"Layer `{spec.name}` is not part of model `{model.name}`.")
        return spec, path
    if not isinstance(spec, str):
        raise ValueError(
            "Invalid value received for argument `layer`. Expected a layer object or a path "
            f"of layer names. Received: layer={spec!r}"
        )
    current = model
    for part in spec.strip("/").split("/"):
        match = [sub for sub in _children(current) if sub.name == part]
        if not match:
            raise ValueError(
                f"Could not find layer `{part}` (from `{spec}`) in `{current.name}`. "
                f"Its layers: {[sub.name for sub in _children(current)]}"
            )
        current = match[0]
    return current, spec.strip("/")


def _path_of(root, target, prefix: str) -> str | None:
    for sub in _children(root):
        if sub is target:
            return prefix + sub.name
        found = _path_of(sub, target, prefix + sub.name + "/")
        if found is not None:
            return found
    return None
