"""`BaseCAM`: the plumbing every class-activation-map method shares.

A method subclasses `BaseCAM` and overrides one hook, `compute_cam(activations,
gradients)`, written with `keras.ops`. Everything else lives here: choosing the target
layers (also inside nested models), splitting the model so that gradients only flow
through the head, batching with a compiled function, upsampling, normalising and fusing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_cxr import backend
from keras_cxr._validation import invalid_value
from keras_cxr.explain import heatmaps as hm
from keras_cxr.explain.class_targets import (
    SCORE_MODES,
    apply_activation,
    check_class_index,
    resolve_classes,
    select_scores,
)
from keras_cxr.explain.explanation import Explanation
from keras_cxr.explain.graph import flatten_model, functional_of
from keras_cxr.explain.hooks import HookedModel
from keras_cxr.explain.split import split_model
from keras_cxr.explain.target_layers import resolve_layers


class BaseCAM:
    """Shared machinery of the CAM family; subclasses implement `compute_cam`.

    Args:
        model: Any Keras model: Functional, Sequential (also loaded from `.keras`),
            `keras_cxr.StackedEnsemble`, or a subclassed model (then `layer` is required,
            see `keras_cxr.explain.hooks`).
        layer: `None` to pick the last spatial feature map of every branch automatically,
            or a name, a path through nested models (`"densenet169/relu"`), a layer object,
            or a list of these.
        output: For models with several outputs, the output's index or name. Defaults to
            the first.
        score: `"logit"` (default: the pre-activation score, which does not saturate) or
            `"probability"`.
        batch_size: Images per compiled call; bounds memory. Defaults to 16.

    Raises:
        ValueError: For an unknown layer or output, a model without spatial layers, or a
            bad `score`/`batch_size` (messages list the candidates).
    """

    #: Whether `compute_cam` needs gradients (EigenCAM does not).
    needs_gradients = True
    #: Name used in `Explanation.method`.
    method_name = "base"

    def __init__(
        self,
        model: keras.Model,
        layer: Any = None,
        *,
        output: int | str | None = None,
        score: str = "logit",
        batch_size: int = 16,
    ) -> None:
        if not isinstance(model, keras.Model):
            raise invalid_value("model", "a keras.Model", type(model).__name__)
        if score not in SCORE_MODES:
            raise invalid_value("score", f"one of {SCORE_MODES}", score)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise invalid_value("batch_size", "an integer >= 1", batch_size)
        self.model = model
        self.score = score
        self.batch_size = batch_size
        self._compiled: dict[tuple, object] = {}
        if functional_of(model) is not None:
            graph = flatten_model(model)
            output_tensor = graph.outputs[_output_index(model, output)]
            nodes = resolve_layers(graph, layer, output_tensor)
            self.target_layers: list[str] = [node.path for node in nodes]
            self._split = split_model(graph, nodes, output_tensor)
            self._hooked = None
            self._units = int(self._split.head.outputs[0].shape[-1])
            self._activation = self._split.activation
        else:
            self._split = None
            self._hooked = HookedModel(model, layer, _output_index(model, output))
            self.target_layers = self._hooked.paths
            self._units = None
            self._activation = None
        image_shape = tuple(model.inputs[0].shape[1:]) if _has_inputs(model) else None
        self._image_shape = image_shape

    # ------------------------------------------------------------------ hooks
    def compute_cam(self, activations, gradients):
        """Combine one layer's activations and gradients into a raw map.

        Args:
            activations: float32 `(batch, h, w, channels)`.
            gradients: float32 `(batch, h, w, channels)`, d(score)/d(activations), or
                `None` when `needs_gradients` is False.

        Returns:
            `(batch, h, w)` raw map (any scale; it is normalised afterwards).
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ public
    def explain(self, images, class_index=None) -> Explanation:
        """Explain a batch of images.

        Args:
            images: `(batch, height, width, channels)` array or tensor of raw pixels, in
                the model's own input scale (uint8 is accepted and cast to float32).
            class_index: `None` for each image's predicted class, an int for all images,
                or one int per image. For a single sigmoid unit, 1 explains the positive
                class and 0 the negative one.

        Returns:
            A `keras_cxr.Explanation` with heatmaps in [0, 1] at input resolution.

        Raises:
            ValueError: For a wrong rank, channel count, size or dtype, non-finite pixel
                values, or an out-of-range class index.
        """
        images = _check_images(images, self._image_shape)
        if self._units is None:
            self._units = self._probe_units(images)
        classes = check_class_index(class_index, images.shape[0], self._units)
        pieces = [
            self._explain_chunk(
                images[start : start + self.batch_size], classes[start:][: self.batch_size]
            )
            for start in range(0, images.shape[0], self.batch_size)
        ]
        merged = {key: np.concatenate([p[key] for p in pieces]) for key in pieces[0]}
        layer_maps = merged.pop("layer_maps")
        return Explanation(
            heatmaps=merged["fused"],
            layer_heatmaps={p: layer_maps[:, i] for i, p in enumerate(self.target_layers)},
            scores=merged["scores"],
            class_index=merged["classes"],
            predictions=merged["predictions"],
            target_layers=list(self.target_layers),
            method=self.method_name,
        )

    __call__ = explain

    # ------------------------------------------------------------------ internals
    def _explain_chunk(self, chunk: np.ndarray, classes: np.ndarray) -> dict:
        """Explain one chunk; `classes` is int32 with -1 for "the predicted class"."""
        compiled = self._compiled.get(chunk.shape[1:])
        if compiled is None:
            compiled = backend.compile_function(self._run_batch, self._signature(chunk))
            self._compiled[chunk.shape[1:]] = compiled
        result = compiled(chunk, classes)
        return {key: np.asarray(value) for key, value in result.items()}

    @staticmethod
    def _signature(chunk: np.ndarray) -> list:
        """Compiled-function signature: any batch size; one function per image size, so that
        heatmap sizes are static (fully convolutional models get one per size they see)."""
        return [((None, *chunk.shape[1:]), "float32"), ((None,), "int32")]

    def _probe_units(self, images: np.ndarray) -> int:
        outputs = self._hooked.call_plain(images[:1])
        return int(outputs.shape[-1])

    def _run_batch(self, images, class_index):
        size = tuple(images.shape[1:3])
        activations, gradients, logits, classes = self._activations_and_gradients(
            images, class_index
        )
        raw = [
            self.compute_cam(ops.cast(a, "float32"), None if g is None else ops.cast(g, "float32"))
            for a, g in zip(activations, gradients)
        ]
        return self._finish(images, raw, logits, classes, size)

    def _finish(self, images, raw_maps, logits, classes, size):
        layer_maps = [hm.normalize(hm.upsample(raw, size)) for raw in raw_maps]
        return {
            "fused": hm.fuse(layer_maps),
            "layer_maps": ops.stack(layer_maps, axis=1),
            "scores": select_scores(logits, classes, self.score, self._activation),
            "classes": classes,
            "predictions": apply_activation(logits, self._activation),
        }

    def _activations_and_gradients(self, images, class_index):
        """Feature maps, their gradients, logits and resolved classes for one batch."""
        if self._split is not None:
            split = self._split
            features = _as_list(split.features(images, training=False))

            def head(feature_maps):
                extra = [images] if split.head_needs_image else []
                return split.head([*feature_maps, *extra], training=False)

            if not self.needs_gradients:
                logits = head(features)
                classes = resolve_classes(logits, class_index)
                return features, [None] * len(features), logits, classes
            holder = {}

            def score(logits):
                holder["classes"] = resolve_classes(logits, class_index)
                return select_scores(logits, holder["classes"], self.score, split.activation)

            logits, gradients = backend.head_gradients(head, features, score)
            return features, _as_list(gradients), logits, holder["classes"]
        return self._hooked.activations_and_gradients(images, class_index, self.score)


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _has_inputs(model: keras.Model) -> bool:
    try:
        return bool(model.inputs)
    except (AttributeError, ValueError):
        return False


def _output_index(model: keras.Model, output: int | str | None) -> int:
    if output is None:
        return 0
    names = list(getattr(model, "output_names", None) or [])
    count = len(model.outputs) if _has_inputs(model) else max(len(names), 1)
    if isinstance(output, int) and not isinstance(output, bool) and 0 <= output < count:
        return output
    if isinstance(output, str) and output in names:
        return names.index(output)
    raise invalid_value("output", f"an index below {count} or one of {names}", output)


def _check_images(images, expected: Sequence | None) -> np.ndarray:
    array = np.asarray(images)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise invalid_value("images", "a numeric array (uint8 or float)", f"dtype {array.dtype}")
    if array.ndim != 4:
        hint = " Add a batch axis with images[None]." if array.ndim == 3 else ""
        raise invalid_value(
            "images", f"a 4-D batch (batch, height, width, channels).{hint}", f"shape {array.shape}"
        )
    if array.shape[0] == 0:
        raise invalid_value("images", "at least one image", f"shape {array.shape}")
    if expected is not None:
        for axis, (want, got) in enumerate(zip(expected, array.shape[1:]), start=1):
            if want is not None and want != got:
                raise invalid_value(
                    "images",
                    f"images of shape (batch, {', '.join(str(d) for d in expected)}) as the "
                    f"model's input (axis {axis} differs)",
                    f"shape {array.shape}",
                )
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise invalid_value("images", "finite pixel values (no NaN or Inf)", "non-finite values")
    return array
