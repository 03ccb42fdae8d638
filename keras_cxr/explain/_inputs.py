"""Checks of what every explainer is given: the model, its explained output, the images.

Shared by the CAM family (`base.py`) and the pixel attribution methods
(`base_attribution.py`), so both accept and refuse the same inputs with the same messages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np

from keras_cxr._keras_internals import sublayers
from keras_cxr._validation import check_int, invalid_value
from keras_cxr.explain.class_targets import SCORE_MODES, check_class_index
from keras_cxr.explain.findings import expand_findings
from keras_cxr.explain.other_inputs import (
    as_called,
    check_other_inputs,
    image_input_index,
    take_rows,
    with_image,
)
from keras_cxr.explain.stored_threshold import CHECKED, warn_if_threshold_ignored


def has_inputs(model: keras.Model) -> bool:
    """Whether `model` has symbolic inputs (a Functional, Sequential or built model)."""
    try:
        return bool(model.inputs)
    except (AttributeError, ValueError):
        return False


def image_shape_of(model: keras.Model, image: int = 0) -> tuple | None:
    """The image input's shape without the batch axis, or `None` when it has no inputs."""
    return tuple(model.inputs[image].shape[1:]) if has_inputs(model) else None


def check_image_model(model: keras.Model) -> None:
    """Refuse a model that the explainers would explain wrongly: channels-first layers.

    Every explainer (the CAM family and the pixel methods alike) calls it first, so both
    refuse the same models with the same message. A `channels_first` model would give
    maps of the wrong shape, (batch, channels, width), silently. (A model of several
    inputs is explained through its image input, `keras_cxr.explain.other_inputs`.)

    Args:
        model: The model to explain.

    Returns:
        None.

    Raises:
        ValueError: Naming the first channels-first layer and the fix.

    Example:
        >>> from keras_cxr.explain._inputs import check_image_model
        >>> check_image_model(keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten()]))
    """
    for layer in [model, *sublayers(model, recursive=True)]:
        if getattr(layer, "data_format", None) == "channels_first":
            raise invalid_value(
                "model",
                "a channels_last model (batch, height, width, channels): channels_first "
                "feature maps would give heatmaps of the wrong shape. Rebuild it under "
                'keras.config.set_image_data_format("channels_last") and copy the weights '
                "over with set_weights (convolution kernels are stored alike in both)",
                f"{model.name} whose layer `{layer.name}` has data_format='channels_first'",
            )


def output_index(model: keras.Model, output: int | str | None) -> int:
    """The index of the explained output: `output` as an index or an output name."""
    if output is None:
        return 0
    names = list(getattr(model, "output_names", None) or [])
    count = len(model.outputs) if has_inputs(model) else max(len(names), 1)
    if isinstance(output, int) and not isinstance(output, bool) and 0 <= output < count:
        return output
    if isinstance(output, str) and output in names:
        return names.index(output)
    raise invalid_value("output", f"an index below {count} or one of {names}", output)


def output_values(
    model: keras.Model,
    output: int,
    images: np.ndarray,
    batch_size: int,
    others: tuple = (),
    image: int = 0,
):
    """The model's explained output for `images`, run `batch_size` images at a time.

    `others` are the model's other inputs for the same images, and `image` the image
    input's index (`keras_cxr.explain.other_inputs`). Returns a float numpy array
    `(batch, units)`: what the model returns (probabilities for a sigmoid or softmax head).
    """
    pieces = []
    for start in range(0, images.shape[0], batch_size):
        chunk = slice(start, start + batch_size)
        inputs = with_image(images[chunk], tuple(o[chunk] for o in others), image)
        values = model(as_called(model, inputs), training=False)
        pieces.append(np.asarray(keras.ops.convert_to_numpy(keras.tree.flatten(values)[output])))
    return np.concatenate(pieces)


def check_images(images, expected: Sequence | None) -> np.ndarray:
    """`images` as a float32 4-D batch matching the model's input shape `expected`.

    Raises a `ValueError` naming the fix for a non-numeric array, a wrong rank, an empty
    batch, a size or channel count other than the model's, or non-finite values.
    """
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


def checked_batch(
    images,
    class_index,
    expected: Sequence | None,
    units: int | None,
    probe: Callable,
    *,
    activation: str | None = None,
    outputs: Callable | None = None,
    threshold=0.5,
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray | None]:
    """The inputs of an explainer's `explain`, checked, as the rows to explain.

    `images` go through `check_images`; where the explained output's unit count is not
    known yet (a subclassed model has no symbolic outputs), `probe(images[:1])` gives it.
    `class_index` is expanded into rows (`keras_cxr.explain.findings.expand_findings`:
    several findings per image; `outputs(images)` gives the model's output for
    `"positive"`), and the per-row classes go through `check_class_index`. Raises their
    `ValueError`s.

    Returns `(rows, classes, units, image_index)`: the images of the rows, their int32
    classes, the unit count, and each row's image (`None` where rows are the images).
    """
    images = check_images(images, expected)
    if units is None:
        units = int(probe(images[:1]))
    image_index, classes = expand_findings(
        class_index, images.shape[0], units, activation, lambda: outputs(images), threshold
    )
    rows = images if image_index is None else images[image_index]
    return rows, check_class_index(classes, rows.shape[0], units), units, image_index


class ExplainRows:
    """Mixin of both explainer bases (`BaseCAM`, `BaseAttribution`): the arguments every
    explainer is bound to, checked alike (`_bind`); the checked rows of an `explain`
    call, from the explainer's input shape, unit count, activation, model, output and
    batch size (see `checked_batch`); and the rows explained `batch_size` at a time by
    the base's `_explain_chunk` (`_in_batches`)."""

    def _bind(
        self,
        model: keras.Model,
        output: int | str | None,
        score: str,
        batch_size: int,
        image_input: str | int | None = None,
    ) -> None:
        """Checks and keeps `model`, `output`, `score`, `batch_size` and the image input
        (`keras_cxr.explain.other_inputs.image_input_index`), and the image's shape.

        Raises the `ValueError` naming the first bad argument: a `model` that is not a
        `keras.Model` or that `check_image_model` refuses, an unknown `score`, `output`
        or `image_input`, a `batch_size` below 1.
        """
        if not isinstance(model, keras.Model):
            raise invalid_value("model", "a keras.Model", type(model).__name__)
        if score not in SCORE_MODES:
            raise invalid_value("score", f"one of {SCORE_MODES}", score)
        check_image_model(model)
        self.model = model
        self._output = output_index(model, output)
        self.score = score
        self.batch_size = check_int("batch_size", batch_size)
        # Compiled functions, keyed by (function name, image shape without the batch axis).
        self._compiled: dict[tuple, object] = {}
        symbolic = has_inputs(model)
        self._image = image_input_index(model, image_input) if symbolic else 0
        self._image_shape = image_shape_of(model, self._image)

    def _checked_rows(self, images, class_index, threshold, inputs=None):
        """`checked_batch`'s `(rows, classes, units, image_index)`, and the model's other
        inputs for the rows (`keras_cxr.explain.other_inputs`; empty for a model whose
        only input is the image)."""
        images = check_images(images, self._image_shape)
        symbolic = self.model if has_inputs(self.model) else None
        others = check_other_inputs(inputs, symbolic, self._image, images.shape[0])
        checked = checked_batch(
            images,
            class_index,
            self._image_shape,
            self._units,
            self._probe_units,
            activation=self._activation,
            outputs=lambda batch: output_values(
                self.model, self._output, batch, self.batch_size, others, self._image
            ),
            threshold=threshold,
        )
        if class_index is None and not getattr(self, CHECKED, False):
            # The explainer decides the class itself: say so once if the file would not.
            setattr(self, CHECKED, True)
            warn_if_threshold_ignored(self.model, checked[2], type(self).__name__)
        image_index = checked[3]
        return (*checked, others if image_index is None else take_rows(others, image_index))

    def _with_image(self, images, others: tuple):
        """The model's inputs for one call (`keras_cxr.explain.other_inputs.with_image`)."""
        return with_image(images, others, self._image)

    def _in_batches(
        self, rows: np.ndarray, classes: np.ndarray, others: tuple = (), **per_row
    ) -> dict:
        """`_explain_chunk` on `batch_size` rows at a time, its arrays concatenated by key.

        `per_row` arrays (one entry per row) are cut into the same chunks and passed to
        `_explain_chunk` by name; so are the model's other inputs `others`, as `others=`,
        where there are any.
        """
        pieces = []
        for start in range(0, rows.shape[0], self.batch_size):
            chunk = slice(start, start + self.batch_size)
            extras = {key: value[chunk] for key, value in per_row.items()}
            if others:
                extras["others"] = tuple(other[chunk] for other in others)
            pieces.append(self._explain_chunk(rows[chunk], classes[chunk], **extras))
        return {key: np.concatenate([piece[key] for piece in pieces]) for key in pieces[0]}
