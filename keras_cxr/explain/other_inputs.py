"""The inputs of a several-input model other than the image: found, checked, passed through.

A Functional model may take more than the image: the patient's age, the view position, a
site code. Every explainer attributes the score to the image alone; the other inputs are
given to `explain(images, inputs={"age": ages})`, one row per image, and reach the model
unchanged wherever it runs: batched with the images, and repeated as the method needs
(one copy per Integrated Gradients step, per occluded or masked image, per LIME or SHAP
sample, per noisy SmoothGrad copy). They get no attribution.

The call shape follows captum's `additional_forward_args` (inputs passed to the model
but not attributed) with Keras's naming of inputs: a mapping from input name to array,
as `model({"image": x, "age": a})` takes them. The image stays the first argument of
every `explain`, so the maps keep its shape and every method, wrapper and metric keeps
one signature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np

from keras_cxr._validation import invalid_value

__all__ = [
    "as_called",
    "check_other_inputs",
    "image_input_index",
    "input_names",
    "rows_of",
    "take_rows",
    "with_image",
]


def input_names(model: keras.Model) -> list[str]:
    """The names of a model's inputs, in the order of `model.inputs`.

    A model built on a dict of inputs (`keras.Model({"image": x, "age": a}, y)`) names
    them by its keys, as it is called; any other by its `keras.Input` names, which Keras
    also accepts as the keys of a dict.

    Args:
        model: A Functional or Sequential model.

    Returns:
        One name per input.

    Raises:
        Nothing of its own.

    Example:
        >>> import keras
        >>> from keras_cxr.explain.other_inputs import input_names
        >>> image, age = keras.Input((8, 8, 1), name="image"), keras.Input((1,), name="age")
        >>> input_names(keras.Model([image, age], keras.layers.Concatenate()(
        ...     [keras.layers.Flatten()(image), age])))
        ['image', 'age']
    """
    structure = _built_on(model)
    if isinstance(structure, Mapping):
        return [str(path[0]) for path, _ in keras.tree.flatten_with_path(structure)]
    return [str(getattr(tensor, "name", index)) for index, tensor in enumerate(model.inputs)]


def image_input_index(model: keras.Model, image_input: str | int | None) -> int:
    """Which of the model's inputs is the image the explainers attribute to.

    Args:
        model: A model with symbolic inputs (Functional or Sequential).
        image_input: The image input's name or index; `None` (default) for the model's
            only input, or else its only 4-D input `(batch, height, width, channels)`.

    Returns:
        The index of the image in `model.inputs`.

    Raises:
        ValueError: For a name or index the model does not have, or `None` where the
            model has several inputs and not exactly one of them is 4-D; the message
            lists the inputs and says to pass `image_input=`.

    Example:
        >>> import keras
        >>> from keras_cxr.explain.other_inputs import image_input_index
        >>> image, age = keras.Input((1,), name="age"), keras.Input((8, 8, 1), name="image")
        >>> model = keras.Model([image, age], keras.layers.Concatenate()(
        ...     [image, keras.layers.Flatten()(age)]))
        >>> image_input_index(model, None), image_input_index(model, "image")
        (1, 1)
    """
    names = input_names(model)
    if image_input is None:
        if len(names) == 1:
            return 0
        spatial = [index for index, tensor in enumerate(model.inputs) if len(tensor.shape) == 4]
        if len(spatial) == 1:
            return spatial[0]
        shapes = {name: tuple(t.shape) for name, t in zip(names, model.inputs)}
        raise invalid_value(
            "image_input",
            "the name or index of the input to attribute to, one of "
            f"{names}: the model has {len(names)} inputs and {len(spatial)} of them are "
            "4-D images (batch, height, width, channels)",
            f"None for {model.name} with inputs {shapes}",
        )
    if isinstance(image_input, str) and image_input in names:
        return names.index(image_input)
    index = isinstance(image_input, int) and not isinstance(image_input, bool)
    if index and 0 <= image_input < len(names):
        return image_input
    raise invalid_value(
        "image_input", f"an input name in {names} or an index below {len(names)}", image_input
    )


def check_other_inputs(
    inputs: Mapping | None, model: keras.Model | None, image: int, batch: int
) -> tuple[np.ndarray, ...]:
    """The model's other inputs for `batch` images, checked, in the order of `model.inputs`.

    Args:
        inputs: `None` for a model whose only input is the image, else a mapping from
            each other input's name to an array with one row per image.
        model: The model, `None` for one without symbolic inputs (a subclassed model,
            which is given the image alone).
        image: The index of the image input (`image_input_index`).
        batch: The number of images.

    Returns:
        A tuple of arrays, one per input other than the image, each cast to its input's
        dtype; empty for a model whose only input is the image.

    Raises:
        ValueError: For a missing, unknown or mis-shaped input (rows other than the
            images', or a shape other than the model's), a non-numeric or non-finite one,
            or `inputs` given to a model that has no other input.

    Example:
        >>> import keras, numpy as np
        >>> from keras_cxr.explain.other_inputs import check_other_inputs
        >>> image, age = keras.Input((8, 8, 1), name="image"), keras.Input((1,), name="age")
        >>> model = keras.Model([image, age], keras.layers.Concatenate()(
        ...     [keras.layers.Flatten()(image), age]))
        >>> [a.tolist() for a in check_other_inputs({"age": [[60], [71]]}, model, 0, 2)]
        [[[60.0], [71.0]]]
        >>> check_other_inputs({"age": [[60]]}, model, 0, 2)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: ... Expected an array of shape (2, 1) for input `age`: one row per ...
    """
    tensors = list(model.inputs) if model is not None else []
    names = input_names(model) if tensors else []
    others = [(n, t) for index, (n, t) in enumerate(zip(names, tensors)) if index != image]
    if not others:
        if inputs is None or (isinstance(inputs, Mapping) and not inputs):
            return ()
        raise invalid_value(
            "inputs",
            "None: the model's only input is the image (pass it as `images`)",
            sorted(inputs) if isinstance(inputs, Mapping) else type(inputs).__name__,
        )
    example = (
        "{" + ", ".join(f"'{n}': array of shape {_shape(t, 'batch')}" for n, t in others) + "}"
    )
    if not isinstance(inputs, Mapping):
        raise invalid_value(
            "inputs",
            f"a mapping of the model's other inputs, one row per image: explain(images, "
            f"inputs={example})",
            inputs if inputs is None else type(inputs).__name__,
        )
    unknown = sorted(set(inputs) - {n for n, _ in others})
    if unknown:
        hint = (
            f" (`{names[image]}` is the image: pass it as `images`)"
            if names[image] in unknown
            else ""
        )
        raise invalid_value(
            "inputs", f"only the model's other inputs {[n for n, _ in others]}{hint}", unknown
        )
    return tuple(_checked(name, inputs, tensor, batch, example) for name, tensor in others)


def as_called(model: keras.Model, inputs):
    """`inputs` from `with_image` in the structure `model` was built on (a list, or a dict
    of them), to call the user's model itself; the explainers' own models take lists.

    Args:
        model: A Functional model (or one whose only input is the image).
        inputs: The image batch alone, or the list of every input in the model's order.

    Returns:
        `inputs`, or for a model built on a dict of inputs, that dict.

    Raises:
        Nothing of its own.

    Example:
        >>> import keras
        >>> from keras_cxr.explain.other_inputs import as_called
        >>> inputs = {name: keras.Input((1,), name=name) for name in ("image", "age")}
        >>> model = keras.Model(inputs, keras.layers.Add()(list(inputs.values())))
        >>> sorted(as_called(model, ["a", "x"]).items())
        [('age', 'a'), ('image', 'x')]
    """
    if not isinstance(inputs, list) or not isinstance(_built_on(model), Mapping):
        return inputs
    return keras.tree.pack_sequence_as(model.input, inputs)


def with_image(images, others: Sequence, image: int):
    """The model's inputs for one call: `images` alone, or a list with the others around it.

    Args:
        images: The image batch (array or tensor).
        others: The other inputs for the same rows, in the order of `model.inputs`.
        image: The index of the image input.

    Returns:
        `images` itself where there are no other inputs (a single-input model is called
        exactly as before), else the list of every input in the model's order.

    Raises:
        Nothing of its own.

    Example:
        >>> from keras_cxr.explain.other_inputs import with_image
        >>> with_image("x", (), 0), with_image("x", ("age", "view"), 1)
        ('x', ['age', 'x', 'view'])
    """
    if not others:
        return images
    inputs = list(others)
    inputs.insert(image, images)
    return inputs


def take_rows(others: Sequence, rows) -> tuple:
    """The rows `rows` of every other input: the copies a method runs the model on.

    Args:
        others: The other inputs of a chunk (arrays or tensors, batch first).
        rows: Integer row indices, one per image the model is run on (repeats allowed).

    Returns:
        A tuple of the selected rows of each input (empty for no other inputs).

    Raises:
        IndexError: For a row outside the chunk.

    Example:
        >>> import numpy as np
        >>> from keras_cxr.explain.other_inputs import take_rows
        >>> take_rows((np.array([[60.0], [71.0]]),), np.array([1, 1, 0]))[0].ravel().tolist()
        [71.0, 71.0, 60.0]
    """
    return tuple(
        keras.ops.take(o, rows, axis=0) if keras.ops.is_tensor(o) else np.asarray(o)[rows]
        for o in others
    )


def rows_of(inputs: Mapping | None, rows) -> Mapping | None:
    """The rows `rows` of every input of an `inputs=` mapping, as `explain` takes them.

    For an explainer that calls another one on some rows of its images (SmoothGrad on
    one row per image and finding, an empty result built from the first image).

    Args:
        inputs: `None`, or a mapping from input name to array (anything else is passed
            on as it is, to be refused by the explainer it is given to).
        rows: A slice or integer row indices.

    Returns:
        The mapping of the selected rows, or `inputs` itself when it is not a mapping.

    Raises:
        IndexError: For a row outside an input.

    Example:
        >>> from keras_cxr.explain.other_inputs import rows_of
        >>> rows_of({"age": [[60], [71]]}, [1, 1])["age"].tolist(), rows_of(None, [0])
        ([[71], [71]], None)
    """
    if not isinstance(inputs, Mapping):
        return inputs
    return {name: np.asarray(value)[rows] for name, value in inputs.items()}


def _checked(name: str, inputs: Mapping, tensor, batch: int, example: str) -> np.ndarray:
    if name not in inputs:
        raise invalid_value(
            "inputs",
            f"a value for every other input of the model: explain(images, inputs={example})",
            f"no `{name}` among {sorted(inputs)}",
        )
    array = np.asarray(inputs[name])
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.integer)
        or np.issubdtype(array.dtype, np.floating)
        or np.issubdtype(array.dtype, np.bool_)
    ):
        raise invalid_value("inputs", f"a numeric array for input `{name}`", f"dtype {array.dtype}")
    want = (batch, *tensor.shape[1:])
    if array.ndim != len(want) or any(w is not None and w != g for w, g in zip(want, array.shape)):
        raise invalid_value(
            "inputs",
            f"an array of shape {_shape(tensor, batch)} for input `{name}`: one row per "
            f"image, as the model's input {_shape(tensor, 'batch')}",
            f"`{name}` of shape {array.shape}",
        )
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise invalid_value("inputs", f"finite values for input `{name}`", "NaN or Inf")
    return array.astype(keras.backend.standardize_dtype(tensor.dtype), copy=False)


def _shape(tensor, batch) -> str:
    dims = [str(batch), *("None" if d is None else str(d) for d in tensor.shape[1:])]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _built_on(model: keras.Model):
    """The inputs `model` was built on (a dict of them for a dict-built Functional model),
    or `None` where Keras has none to give (a Sequential model that was never called)."""
    try:
        return model.input
    except (AttributeError, ValueError):
        return None
