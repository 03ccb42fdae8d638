"""`BaseAttribution`: the plumbing every pixel attribution method shares.

A pixel method attributes the explained score to the input pixels themselves, not to a
feature map: the whole model, from the image to its logits, is differentiated (or run on
perturbed images). A gradient method subclasses `BaseAttribution` and overrides one hook,
`compute_attribution(images, gradients)`, written with `keras.ops`; a method that needs
more (a path integral, perturbations, sampling) overrides `_explain_chunk` instead. The
base checks the inputs, resolves the explained class and score exactly as the CAM family
does (`keras_cxr.explain.class_targets`), batches with compiled functions and turns the
raw attributions into display heatmaps.
"""

from __future__ import annotations

import dataclasses

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
from keras_cxr.explain.other_inputs import rows_of
from keras_cxr.explain.output_head import check_score
from keras_cxr.explain.split import logits_model


class BaseAttribution(ExplainRows):
    """Shared machinery of the pixel attribution methods; subclasses compute attributions.

    Functional and Sequential models are explained through their logits (a final sigmoid or
    softmax is taken off, as for the CAMs); a subclassed model is run whole and its output
    is explained as it is (its `call` should return logits).

    Args:
        model: Any Keras model of the image (and, for a Functional model, of other
            inputs such as age, given to `explain` as `inputs=`).
        output: For models with several outputs, the output's index or name. Defaults to
            the first.
        score: `"logit"` (default: the pre-activation score), `"probability"` or
            `"output"` (the output as the model returns it; see `keras_cxr.explain.BaseCAM`).
        batch_size: Images per compiled call; bounds memory. Defaults to 16.
        display: How `heatmaps` show the signed `attributions`: `"abs"` or `"positive"`
            (see `keras_cxr.explain.attribution_heatmaps`). Defaults to the method's
            `default_display`.
        image_input: For a model of several inputs, the name or index of the image input
            (`keras_cxr.explain.BaseCAM`). Defaults to `None`: the only input, or else
            the only 4-D input.

    Returns:
        An explainer bound to `model`; `explain(images, class_index=None)` gives a
        `keras_cxr.Explanation` with `attributions` and `display` set.

    Raises:
        ValueError: For a `model` that is not a Keras model or has `channels_first`
            layers, an unknown `output` or `image_input`, an output whose activation
            cannot be told (unless `score="output"`), or a bad `score`, `batch_size` or
            `display`.

    Example:
        >>> class GradientSign(keras_cxr.explain.BaseAttribution):
        ...     method_name = "gradient-sign"
        ...
        ...     def compute_attribution(self, images, gradients):
        ...         return keras.ops.sum(keras.ops.sign(gradients), axis=-1)
        >>> explanation = GradientSign(model).explain(images)
    """

    #: Name used in `Explanation.method`.
    method_name = "base-attribution"
    #: The `display` used when none is given.
    default_display = "positive"

    def __init__(
        self,
        model: keras.Model,
        *,
        output: int | str | None = None,
        score: str = "logit",
        batch_size: int = 16,
        display: str | None = None,
        image_input: str | int | None = None,
    ) -> None:
        self._bind(model, output, score, batch_size, image_input)
        display = self.default_display if display is None else display
        if display not in hm.DISPLAYS:
            raise invalid_value("display", f"one of {hm.DISPLAYS}", display)
        self.display = display
        if functional_graph(model) is not None:
            graph = flatten_model(model)
            self._logits_model, self._activation, source = logits_model(
                graph, graph.outputs[self._output]
            )
            check_score(self._activation, score, source, model.name)
            self._units: int | None = int(self._logits_model.outputs[0].shape[-1])
        else:
            self._logits_model, self._activation, self._units = None, None, None

    # ------------------------------------------------------------------ hooks
    def compute_attribution(self, images, gradients):
        """Combine the images and d(score)/d(images) into one raw attribution per pixel.

        Args:
            images: float32 `(batch, height, width, channels)`.
            gradients: float32 `(batch, height, width, channels)`.

        Returns:
            `(batch, height, width)` raw attributions (signed, not normalised).

        Raises:
            NotImplementedError: Always, in `BaseAttribution` itself: gradient methods
                implement it.

        Example:
            >>> import numpy as np
            >>> images = np.ones((1, 2, 2, 3), "float32")
            >>> saliency = keras_cxr.explain.Saliency(model)
            >>> float(np.asarray(saliency.compute_attribution(images, -2 * images))[0, 0, 0])
            2.0
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ public
    def explain(self, images, class_index=None, *, threshold=0.5, inputs=None) -> Explanation:
        """Attribute the explained score of each image to its pixels.

        Args:
            images, class_index, threshold, inputs: As for
                `keras_cxr.explain.BaseCAM.explain`: raw pixels in the model's own input
                scale, and `None` (each image's predicted class), an int, one int per
                image, or several classes per image (one list per image; a list of
                findings or `"positive"` on a multi-label head, with its `threshold`);
                a several-input model's other inputs by name, passed through unchanged
                to every run of the model (no attribution).

        Returns:
            A `keras_cxr.Explanation` with `attributions` (raw, float32 `(batch, height,
            width)`), `heatmaps` (their display form in [0, 1]) and `display`; its
            `layer_heatmaps` and `target_layers` are empty.

        Raises:
            ValueError: For a wrong rank, channel count, size or dtype, non-finite pixel
                values, an out-of-range class index, images that the method's own
                arguments do not fit (e.g. an occlusion patch larger than the image), or
                a missing, unknown or mis-shaped input in `inputs`.

        Example:
            >>> explanation = keras_cxr.explain.Saliency(model).explain(images, class_index=1)
            >>> explanation.attributions.shape == images.shape[:3]
            True
        """
        rows, classes, self._units, image_index, others = self._checked_rows(
            images, class_index, threshold, inputs
        )
        if rows.shape[0] == 0:  # "positive" and no finding above its threshold
            first = rows_of(inputs, slice(0, 1))
            return self.explain(images[:1], [[0]], inputs=first).take(slice(0, 0))
        self._check_fits(rows)
        merged = self._in_batches(rows, classes, others, **self._per_image_inputs(rows))
        return dataclasses.replace(self._explanation(merged), image_index=image_index)

    __call__ = explain

    # ------------------------------------------------------------------ for subclasses
    def _check_fits(self, images: np.ndarray) -> None:
        """Refuse images that the method's own arguments do not fit (nothing by default)."""

    def _per_image_inputs(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Arrays with one row per image (e.g. baselines), cut into chunks with the images
        and passed to `_explain_chunk` as keyword arguments. None by default."""
        return {}

    def _explain_chunk(self, images: np.ndarray, classes: np.ndarray, others: tuple = ()) -> dict:
        """`attributions`, `logits` and resolved `classes` of one chunk, as numpy arrays.

        `others` are the model's other inputs for the chunk's rows; a method that runs
        the model on copies of an image passes the rows of each copy
        (`keras_cxr.explain.other_inputs.take_rows`). The default takes the input
        gradients once and calls `compute_attribution`.
        """
        gradients = self._compiled_for(self._input_gradients, images, others)
        result = gradients(images, classes, *others)
        attributions = self.compute_attribution(images, result["gradients"])
        return {
            "attributions": to_numpy(attributions),
            "logits": to_numpy(result["logits"]),
            "classes": to_numpy(result["classes"]),
        }

    def _compiled_for(self, function, images: np.ndarray, others: tuple = ()):
        """`function(images, int32 per-image vector, *others)`, compiled once per image
        size."""
        return compiled_for(self._compiled, function, images, self.model, others)

    def _probe_units(self, image: np.ndarray) -> int:
        return int(self._logits(image).shape[-1])

    def _logits(self, images, others=()):
        """The explained output's logits (a subclassed model's output as it is)."""
        if self._logits_model is not None:
            return self._logits_model(self._with_image(images, others), training=False)
        outputs = self.model(images, training=False)
        return outputs[self._output] if isinstance(outputs, (list, tuple)) else outputs

    def _scores_of(self, logits, classes):
        return select_scores(logits, classes, self.score, self._activation)

    def _input_gradients(self, images, class_index, *others):
        """Compiled: logits, resolved classes, and d(score)/d(images)."""

        def score(logits):
            return self._scores_of(logits, resolve_classes(logits, class_index))

        def logits_of(images):
            return self._logits(images, others)

        logits, gradients = backend.input_gradients(logits_of, images, score)
        # Resolved again outside the differentiated function: under JAX, values made
        # inside it must not leak out (the arg-max gives the same classes).
        classes = resolve_classes(logits, class_index)
        return {"logits": logits, "classes": classes, "gradients": gradients}

    def _predict(self, images, class_index, *others):
        """Compiled: logits and resolved classes, without gradients."""
        logits = self._logits(images, others)
        return {"logits": logits, "classes": resolve_classes(logits, class_index)}

    def _scores(self, images, classes, *others):
        """Compiled: the explained score of each image for the given (resolved) classes."""
        return self._scores_of(self._logits(images, others), classes)

    def _explanation(self, merged: dict) -> Explanation:
        logits, classes = merged["logits"], merged["classes"]
        gap = merged.get("completeness_gap")
        return Explanation(
            heatmaps=to_numpy(hm.attribution_heatmaps(merged["attributions"], self.display)),
            layer_heatmaps={},
            scores=to_numpy(self._scores_of(logits, classes)),
            class_index=classes.astype(np.int32),
            predictions=to_numpy(apply_activation(logits, self._activation)),
            target_layers=[],
            method=self.method_name,
            attributions=merged["attributions"].astype(np.float32),
            display=self.display,
            completeness_gap=None if gap is None else gap.astype(np.float32),
        )


def to_numpy(value) -> np.ndarray:
    """A backend tensor (or array) as a numpy array: what every explainer returns.

    Args:
        value: A TensorFlow, JAX or PyTorch tensor, or anything `numpy.asarray` takes.

    Returns:
        The numpy array.

    Raises:
        Nothing of its own.

    Example:
        >>> from keras_cxr.explain.base_attribution import to_numpy
        >>> to_numpy(keras.ops.ones((2,))).tolist()
        [1.0, 1.0]
    """
    return np.asarray(ops.convert_to_numpy(value))
