"""`BaseCAM`: the plumbing every class-activation-map method shares.

A method subclasses `BaseCAM` and overrides one hook, `compute_cam(activations,
gradients)`, written with `keras.ops`. Everything else lives here: choosing the target
layers (also inside nested models), splitting the model so that gradients only flow
through the head, batching with a compiled function, upsampling, normalising and fusing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_cxr import backend
from keras_cxr._keras_internals import functional_graph
from keras_cxr._validation import invalid_value
from keras_cxr.explain import heatmaps as hm
from keras_cxr.explain._compiled import compiled_for
from keras_cxr.explain._inputs import ExplainRows
from keras_cxr.explain.class_targets import (
    apply_activation,
    resolve_classes,
    select_scores,
)
from keras_cxr.explain.explanation import Explanation
from keras_cxr.explain.graph import flatten_model
from keras_cxr.explain.hooks import HookedModel
from keras_cxr.explain.other_inputs import rows_of
from keras_cxr.explain.output_head import check_score
from keras_cxr.explain.split import split_model
from keras_cxr.explain.target_layers import resolve_layers
from keras_cxr.explain.tokens import grid_function


class BaseCAM(ExplainRows):
    """Shared machinery of the CAM family; subclasses implement `compute_cam`.

    Args:
        model: Any Keras model: Functional, Sequential (also loaded from `.keras`),
            `keras_cxr.StackedEnsemble`, or a subclassed model (then `layer` is required,
            see `keras_cxr.explain.hooks`).
        layer: `None` to pick the last spatial feature map of every branch automatically
            (for a transformer, its tokens: see `reshape`), or a name, a path through
            nested models (`"densenet169/relu"`), a layer object, or a list of these.
        output: For models with several outputs, the output's index or name. Defaults to
            the first.
        score: `"logit"` (default: the pre-activation score, which does not saturate),
            `"probability"`, or `"output"` (the output as the model returns it: the only
            choice for an output whose activation cannot be told, see
            `keras_cxr.explain.output_head`).
        batch_size: Images per compiled call; bounds memory. Defaults to 16.
        image_input: For a model of several inputs (image and age, view position, ...),
            the name or index of the image input; the others are given to `explain` as
            `inputs=` and get no attribution (`keras_cxr.explain.other_inputs`).
            Defaults to `None`: the only input, or else the only 4-D input.
        reshape: A function from a target layer's output (and from its gradient) to
            `(batch, height, width, channels)`, written with `keras.ops`, for layouts
            that are not read from the model. Defaults to `None`: 4-D maps as they are,
            transformer tokens `(batch, tokens, channels)` laid on the patch grid with
            their class and register tokens dropped (`keras_cxr.explain.tokens`).

    Returns:
        An explainer bound to `model`; `target_layers` lists the explained layers' paths.

    Raises:
        ValueError: For an unknown layer, output or `image_input` (or none given where
            the model has several 4-D inputs), a model without spatial layers or with
            `channels_first` layers, an output whose
            activation cannot be told (unless `score="output"`), tokens whose grid cannot
            be read (without `reshape=`), or a bad `score`/`batch_size` (messages list
            the candidates).

    Example:
        >>> class GradTimesActivation(keras_cxr.explain.BaseCAM):
        ...     method_name = "grad-x-activation"
        ...
        ...     def compute_cam(self, activations, gradients):
        ...         return keras.ops.sum(gradients * activations, axis=-1)
        >>> explanation = GradTimesActivation(model).explain(images)
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
        image_input: str | int | None = None,
        reshape: Callable | None = None,
    ) -> None:
        self._bind(model, output, score, batch_size, image_input)
        if functional_graph(model) is not None:
            graph = flatten_model(model)
            output_tensor = graph.outputs[self._output]
            nodes = resolve_layers(graph, layer, output_tensor)
            self.target_layers: list[str] = [node.path for node in nodes]
            self._grids = [grid_function(graph, node, reshape) for node in nodes]
            self._split = split_model(graph, nodes, output_tensor)
            check_score(self._split.activation, score, self._split.activation_source, model.name)
            self._hooked = None
            self._units = int(self._split.head.outputs[0].shape[-1])
            self._activation = self._split.activation
        else:
            self._split = None
            self._hooked = HookedModel(model, layer, self._output)
            self._grids = [reshape or _identity] * len(self._hooked.paths)
            self.target_layers = self._hooked.paths
            self._units = None
            self._activation = None

    # ------------------------------------------------------------------ hooks
    def compute_cam(self, activations, gradients):
        """Combine one layer's activations and gradients into a raw map.

        Args:
            activations: float32 `(batch, h, w, channels)`.
            gradients: float32 `(batch, h, w, channels)`, d(score)/d(activations), or
                `None` when `needs_gradients` is False.

        Returns:
            `(batch, h, w)` raw map (any scale; it is upsampled and normalised afterwards).

        Raises:
            NotImplementedError: Always, in `BaseCAM` itself: subclasses implement it.

        Example:
            >>> import numpy as np
            >>> activations = np.ones((1, 2, 2, 3), "float32")
            >>> cam = keras_cxr.GradCAM(model).compute_cam(activations, 0.5 * activations)
            >>> float(np.asarray(cam)[0, 0, 0])  # Σ_c mean(g_c) · A_c = 3 × 0.5
            1.5
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ public
    def explain(self, images, class_index=None, *, threshold=0.5, inputs=None) -> Explanation:
        """Explain a batch of images.

        Args:
            images: `(batch, height, width, channels)` array or tensor of raw pixels, in
                the model's own input scale (uint8 is accepted and cast to float32).
            class_index: `None` for each image's predicted class, an int for all images,
                or one int per image (a NumPy array). For a single sigmoid unit, 1
                explains the positive class and 0 the negative one. Several classes per
                image (one row each, see `keras_cxr.explain.findings`): one list per
                image (`[[2, 5], [0]]`), or on a multi-label head (several sigmoid
                units) a list of findings for every image (`[2, 5]`) or `"positive"`
                (each image's findings above `threshold`).
            threshold: For `"positive"`: a probability in (0, 1), or one per finding.
                Defaults to 0.5.
            inputs: For a model of several inputs, its other inputs by name, one row per
                image (`{"age": ages}`): passed to the model unchanged, not attributed
                (`keras_cxr.explain.other_inputs`). Defaults to `None` (the model's only
                input is the image).

        Returns:
            A `keras_cxr.Explanation` with heatmaps in [0, 1] at input resolution; with
            several classes per image, one row per `(image, class)` and `image_index`.

        Raises:
            ValueError: For a wrong rank, channel count, size or dtype, non-finite pixel
                values, an out-of-range class index, `"positive"` for a head without
                sigmoid units, `class_index=None` where the output's activation
                cannot be told, or a missing, unknown or mis-shaped input in `inputs`.

        Example:
            >>> explanation = keras_cxr.GradCAM(model).explain(images, class_index=1)
            >>> explanation.heatmaps.shape == images.shape[:3]
            True
        """
        rows, classes, self._units, image_index, others = self._checked_rows(
            images, class_index, threshold, inputs
        )
        if rows.shape[0] == 0:  # "positive" and no finding above its threshold
            first = rows_of(inputs, slice(0, 1))
            return self.explain(images[:1], [[0]], inputs=first).take(slice(0, 0))
        merged = self._in_batches(rows, classes, others)
        layer_maps = merged.pop("layer_maps")
        return Explanation(
            heatmaps=merged["fused"],
            layer_heatmaps={p: layer_maps[:, i] for i, p in enumerate(self.target_layers)},
            scores=merged["scores"],
            class_index=merged["classes"],
            predictions=merged["predictions"],
            target_layers=list(self.target_layers),
            method=self.method_name,
            image_index=image_index,
        )

    __call__ = explain

    def explain_tensors(self, images, class_index) -> dict:
        """The traceable core of `explain`: one batch, tensors in and out, no NumPy.

        Made of `keras.ops` and `keras_cxr.backend` calls only, so it can be traced into
        a graph, e.g. a SavedModel serving signature (`keras_cxr.export`); `explain`
        calls it compiled, chunk by chunk. Inputs are not checked: pass what `explain`
        would after its checks.

        Args:
            images: float32 `(batch, height, width, channels)` raw pixels.
            class_index: int32 `(batch,)` class per image, `-1` for the predicted one.

        Returns:
            A dict of tensors: `"fused"` `(batch, height, width)` in [0, 1],
            `"layer_maps"` `(batch, layers, height, width)`, `"scores"` `(batch,)`,
            `"classes"` int32 `(batch,)` and `"predictions"` `(batch, units)`.

        Raises:
            ValueError: For a subclassed model (no graph to split) or a model of several
                inputs (this core takes images alone); use `explain`.

        Example:
            >>> out = keras_cxr.GradCAM(model).explain_tensors(
            ...     images.astype("float32"), np.full(len(images), -1, "int32")
            ... )
            >>> out["fused"].shape
        """
        if self._split is None:
            raise invalid_value(
                "model", "a Functional or Sequential model (a graph to split)", self.model.name
            )
        if len(self.model.inputs) > 1:
            raise invalid_value(
                "model",
                "a model whose only input is the image (explain_tensors and the export take "
                "images alone); explain a several-input model with explain(images, inputs=...)",
                f"{self.model.name} with {len(self.model.inputs)} inputs",
            )
        return self._run_batch(images, class_index)

    # ------------------------------------------------------------------ internals
    def _explain_chunk(self, chunk: np.ndarray, classes: np.ndarray, others: tuple = ()) -> dict:
        """Explain one chunk; `classes` is int32 with -1 for "the predicted class", and
        `others` the model's other inputs for the chunk's rows."""
        result = self._compiled_for(self._run_batch, chunk, others)(chunk, classes, *others)
        return {key: np.asarray(value) for key, value in result.items()}

    def _compiled_for(self, function, images: np.ndarray, others: tuple = ()):
        """`function(images, int32 per-image vector, *others)`, compiled once per image size.

        The batch axis stays free, so batch sizes never re-trace; the image size is fixed,
        so that heatmap sizes are static (fully convolutional models get one function per
        size they see).
        """
        return compiled_for(self._compiled, function, images, self.model, others)

    def _probe_units(self, image: np.ndarray) -> int:
        return int(self._hooked.call_plain(image).shape[-1])

    def _run_batch(self, images, class_index, *others):
        size = tuple(images.shape[1:3])
        activations, gradients, logits, classes = self._activations_and_gradients(
            images, class_index, others
        )
        raw = [
            self.compute_cam(
                ops.cast(to_grid(a), "float32"),
                None if g is None else ops.cast(to_grid(g), "float32"),
            )
            for to_grid, a, g in zip(self._grids, activations, gradients)
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

    def _activations_and_gradients(self, images, class_index, others=()):
        """Feature maps, their gradients, logits and resolved classes for one batch."""
        if self._split is not None:
            features = self._features(images, others)
            maps = features[: len(self._grids)]  # the targets, before the crossing tensors
            if not self.needs_gradients:
                logits = self._head(features, images, others)
                classes = resolve_classes(logits, class_index)
                return maps, [None] * len(maps), logits, classes

            def score(logits):
                classes = resolve_classes(logits, class_index)
                return select_scores(logits, classes, self.score, self._activation)

            gradients: list = [None] * len(maps)
            for part, targets in enumerate(self._split.head_targets):
                logits, part_gradients = backend.head_gradients(
                    lambda cut, part=part: self._head_part(part, cut, images, features, others),
                    [features[index] for index in targets],
                    score,
                )
                for index, gradient in zip(targets, _as_list(part_gradients)):
                    gradients[index] = gradient
            # Resolved again outside the differentiated function: under JAX, values made
            # inside it must not leak out (the arg-max gives the same classes).
            classes = resolve_classes(logits, class_index)
            return maps, gradients, logits, classes
        return self._hooked.activations_and_gradients(images, class_index, self.score)

    def _features(self, images, others=()) -> list:
        """The target feature maps of a split (Functional or Sequential) model, followed
        by the tensors that cross the cut (`SplitModel.head_crossing`)."""
        return _as_list(self._split.features(self._with_image(images, others), training=False))

    def _head(self, features: list, images, others=()):
        """The model's logits from its target feature maps (with the tensors crossing the
        cut, and the inputs where the head also reads them, e.g. through a skip connection
        or an input such as age)."""
        targets = self._split.head_targets[0]
        return self._head_part(0, [features[index] for index in targets], images, features, others)

    def _head_part(self, part: int, maps: list, images, features: list, others=()):
        """The logits from the maps that head `part` takes (see `SplitModel.head_targets`)
        and what else it reads: tensors of `features` crossing the cut, the inputs."""
        crossing = [features[index] for index in self._split.head_crossing[part]]
        needs_inputs = self._split.heads_need_image[part]
        extra = _as_list(self._with_image(images, others)) if needs_inputs else []
        return self._split.heads[part]([*maps, *crossing, *extra], training=False)


def _identity(tensor):
    return tensor


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]
