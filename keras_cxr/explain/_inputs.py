"""Checks of what every explainer is given: the model, its explained output, the images.

Shared by the CAM family (`base.py`) and the pixel attribution methods
(`base_attribution.py`), so both accept and refuse the same inputs with the same messages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.explain.class_targets import check_class_index


def has_inputs(model: keras.Model) -> bool:
    """Whether `model` has symbolic inputs (a Functional, Sequential or built model)."""
    try:
        return bool(model.inputs)
    except (AttributeError, ValueError):
        return False


def image_shape_of(model: keras.Model) -> tuple | None:
    """The model's input shape without the batch axis, or `None` when it has no inputs."""
    return tuple(model.inputs[0].shape[1:]) if has_inputs(model) else None


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
    images, class_index, expected: Sequence | None, units: int | None, probe: Callable
) -> tuple[np.ndarray, np.ndarray, int]:
    """The inputs of an explainer's `explain`, checked: images, class indices, unit count.

    `images` go through `check_images`; where the explained output's unit count is not
    known yet (a subclassed model has no symbolic outputs), `probe(images[:1])` gives it;
    `class_index` then goes through `check_class_index`. Raises their `ValueError`s.
    """
    images = check_images(images, expected)
    if units is None:
        units = int(probe(images[:1]))
    return images, check_class_index(class_index, images.shape[0], units), units
