"""`GradCAMCallback`: watch a model's explanations evolve while it trains."""

from __future__ import annotations

import contextlib
import math
import os
import sys
import uuid
import warnings
from collections.abc import Sequence
from typing import Any

import cv2
import keras
import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.explain import BaseCAM, get_method
from keras_cxr.metrics.localization import energy_in_mask, pointing_game
from keras_cxr.viz.overlay import to_uint8_rgb

#: Keys added to the epoch logs; the last two only when `masks` are given.
DRIFT_KEY = "gradcam_drift"
POINTING_KEY = "gradcam_pointing"
ENERGY_KEY = "gradcam_energy"

# PNG grid geometry, in pixels at _DPI: small images are enlarged to at least
# _MIN_CELL_PIXELS per cell; margins leave room for the titles.
_DPI = 100
_MIN_CELL_PIXELS = 160
_GAP_PIXELS = 4
_LEFT_PIXELS = 18
_TOP_PIXELS = 40


class GradCAMCallback(keras.callbacks.Callback):
    """Explain a fixed set of images every few epochs and log how the heatmaps evolve.

    The same images are explained at every logged epoch, so their heatmaps are comparable
    across epochs. The explainer (`method`, see `keras_cxr.explain.METHODS`) is built
    once, at `on_train_begin` (when the model is built), and reused: its compiled
    function reads the model's variables when it is called, so each epoch sees the
    current weights. It is also run once there on the images, so that a bad layer, image
    size or class index fails before the first epoch rather than after it.

    The explained class of each image is, in order of precedence: `class_index` when
    given, else the true label when `labels` are given (or come from the dataset), else
    the model's predicted class.

    Epoch `epoch` (0-based, as Keras passes it) is logged when `epoch % every == 0` (so
    the first epoch always is, like `keras.callbacks.TensorBoard(histogram_freq=...)`)
    and at the last epoch of `fit`; when training stops earlier (early stopping, a
    hand-written loop), the last epoch is logged at `on_train_end` if it was not yet.
    Each logged epoch writes:

    - `log_dir/epoch_{epoch + 1:03d}.png` (1-based, like `{epoch}` in
      `keras.callbacks.ModelCheckpoint` file names): one row per image with the image,
      one overlay per branch (for several target layers) and the fused overlay; the row
      title gives the true label (when known), the explained class and its predicted
      probability. Images smaller than 160 pixels are enlarged (nearest neighbour).
      Files are written to a temporary file in `log_dir` and renamed, so a half-written
      PNG never appears.
    - TensorBoard events in `log_dir`: one image per sample under the tags
      `gradcam/image_{i}` (the row of the PNG as one strip, at the image's own size)
      and the values below as scalars under `gradcam/drift`, `gradcam/pointing` and
      `gradcam/energy`, at step `epoch` (0-based, the step `keras.callbacks.TensorBoard`
      uses for epoch summaries; so `epoch_003.png` is step 2). This needs the
      `tensorboard` package; without it, a warning says so and the rest is written.
    - Values added to the epoch `logs`, hence to `History` and `CSVLogger`:
      `gradcam_drift`, 1 − the mean over images of the Pearson correlation between
      this and the previously logged heatmap of each image (0 = unchanged, 1 =
      unrelated, up to 2 = inverted). A constant heatmap has no spatial pattern:
      against another constant map it counts as unchanged (correlation 1), against a
      varying map as unrelated (correlation 0), so drift is never NaN because of it.
      With `masks`, also `gradcam_pointing` and `gradcam_energy`
      (`keras_cxr.metrics.localization.pointing_game` and `energy_in_mask`).

    The keys are added at **every** epoch, because `CSVLogger` fixes its columns at the
    first one: on epochs that are not logged, and for `gradcam_drift` at the first
    logged epoch (there is no previous heatmap), the value is NaN, meaning "not
    measured". To reach `History` and `CSVLogger`, this callback must come **before**
    them in `callbacks=[...]` (`fit` appends its own `History` last, so that one always
    sees the values). The values of every epoch are also kept in `history`, whatever
    the order. In a hand-written loop, `keras.callbacks.CallbackList.on_epoch_end`
    passes a copy of the caller's `logs` to its callbacks: the values reach the
    callbacks after this one (and `History` with `add_history=True`), not the caller's
    dict.

    Writing never stops training: if `log_dir` cannot be created or written, or is
    deleted during training (it is then created again), one warning is issued and
    training goes on with the values still added to the logs; further failures are not
    reported again until a write succeeds.

    Args:
        images: The images to explain, in the model's own input scale: a NumPy array
            `(N, H, W, C)`, a list of image file paths (read with OpenCV as RGB, or gray
            for one-channel models, and resized to the model's input size when training
            begins), or a `tf.data.Dataset` of images, `(image, label)` pairs or
            `(image, label, weight)` triples, batched or not. At most `max_images` are
            taken (the first ones), once, at construction.
        labels: `None`, or the true class of each image as given (ints, a `(N, 1)`
            column of 0/1 for a sigmoid output, or one-hot rows). For a dataset, `None`
            takes the labels from the dataset when it has them; explicit labels must
            cover at least the images taken from it. Defaults to `None`.
        log_dir: Directory for the PNG files and TensorBoard events; created when
            training begins. Defaults to `"logs/gradcam"`.
        every: Log every `every` epochs, an integer >= 1. Defaults to 1.
        method: A name in `keras_cxr.explain.METHODS` (e.g. `"gradcam"`,
            `"gradcam++"`, `"hirescam"`) or a `keras_cxr.explain.BaseCAM` subclass.
            Defaults to `"gradcam"`.
        layer: Target layer(s), as for `keras_cxr.GradCAM`; `None` finds the last
            spatial layer of every branch. Required for subclassed models without a
            Functional graph. Defaults to `None`.
        class_index: `None`, one int for all images, or one int per image as given; it
            overrides `labels` as the explained class (the labels are still shown).
            Defaults to `None`.
        masks: `None`, or one binary region mask per image as given, `(N, H, W)` (or
            `(N, H, W, 1)`), at the images' resolution (masks of path images are
            resized with them, nearest-neighbour). Defaults to `None`.
        max_images: Most images explained, an integer >= 1. Defaults to 16.

    Attributes:
        explainer: The `keras_cxr.explain.BaseCAM` instance, built at `on_train_begin`
            (`None` before).
        last_explanation: The `keras_cxr.Explanation` of the last logged epoch.
        history: Log key → one value per epoch seen (NaN where not measured); an epoch
            logged only at `on_train_end` gets its values here too.
        logged_epochs: The 0-based epochs that were logged.

    Raises:
        ValueError: At construction, for no images, images that are not a 4-D numeric
            batch, a path that cannot be read as an image, labels, masks or
            `class_index` whose length differs from the images, labels that are not
            class indices, non-binary or wrongly sized masks, `every` or `max_images`
            not an integer >= 1, or an unknown `method`. When training begins, for
            images whose size does not match the model's input, a class index out of
            the model's range, or what the explainer rejects (e.g. an unknown layer).

    Example:
        >>> callback = keras_cxr.callbacks.GradCAMCallback(
        ...     x_val[:8], labels=y_val[:8], log_dir="logs/gradcam", every=2
        ... )
        >>> csv_logger = keras.callbacks.CSVLogger("training.csv")  # after the callback
        >>> history = model.fit(x, y, epochs=10, callbacks=[callback, csv_logger])
        >>> history.history["gradcam_drift"]  # NaN on epochs that were not logged
    """

    def __init__(
        self,
        images: Any,
        labels: Any = None,
        log_dir: str | os.PathLike = "logs/gradcam",
        every: int = 1,
        method: str | type[BaseCAM] = "gradcam",
        layer: Any = None,
        class_index: int | Sequence[int] | None = None,
        masks: Any = None,
        max_images: int = 16,
    ) -> None:
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise invalid_value("every", "an integer >= 1", every)
        if isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1:
            raise invalid_value("max_images", "an integer >= 1", max_images)
        if not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir):
            raise invalid_value("log_dir", "a non-empty path", log_dir)
        self.method_class = _method_class(method)
        self.log_dir = os.fspath(log_dir)
        self.every = every
        self.method = method
        self.layer = layer
        self.max_images = max_images

        samples, dataset_labels, given = _take_images(images, max_images)
        count = len(samples)
        exact = not _is_dataset(images)
        if labels is None:
            labels = dataset_labels
            exact = True
        self._labels = None if labels is None else _class_indices(labels, given, count, exact)
        self._masks = None if masks is None else _binary_masks(masks, given, count, exact)
        self.class_index = class_index
        self._targets = _targets(class_index, self._labels, given, count)
        self._samples = samples
        if self._masks is not None and isinstance(samples, np.ndarray):
            _check_mask_size(self._masks, samples.shape[1:3])

        self.explainer: BaseCAM | None = None
        self.last_explanation = None
        self.history: dict[str, list[float]] = {key: [] for key in self._keys()}
        self.logged_epochs: list[int] = []
        self._images: np.ndarray | None = None
        self._explained_masks: np.ndarray | None = None
        self._prepared_for = None
        self._previous: np.ndarray | None = None
        self._last_epoch: int | None = None
        self._writer = None
        self._tensorboard = False
        self._directory_made = False
        self._warned = False

    # ------------------------------------------------------------------ Keras hooks
    def on_train_begin(self, logs: dict | None = None) -> None:
        """Build the explainer for the model (once), run it once and create `log_dir`.

        Args:
            logs: Unused.

        Raises:
            ValueError: If the images do not fit the model's input, a class index is out
                of the model's range, or the explainer rejects the model or `layer`.
        """
        first = self._prepared_for is not self.model
        self._prepare()
        if first:
            # Compiles the explainer and surfaces a bad layer or class before epoch 1.
            self.explainer.explain(self._images, class_index=self._targets)
        self._last_epoch = None
        failures: list[str] = []
        if self._ensure_log_dir(failures) and self._tensorboard:
            try:
                self._open_writer()
            except _write_errors() as error:
                failures.append(f"creating the TensorBoard writer failed ({_first_line(error)})")
        self._report(failures, "when training began")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Explain and write the outputs if `epoch` is due; add the values to `logs`.

        Args:
            epoch: 0-based epoch index.
            logs: The epoch's logs, updated in place with the `gradcam_*` keys (NaN when
                the epoch is not logged); `None` is allowed (see `history`).
        """
        self._prepare()
        self._last_epoch = epoch
        due = epoch % self.every == 0 or self._is_last_epoch(epoch)
        values = self._log(epoch) if due else dict.fromkeys(self._keys(), math.nan)
        for key, value in values.items():
            self.history[key].append(value)
        if logs is not None:
            logs.update(values)

    def on_train_end(self, logs: dict | None = None) -> None:
        """Log the last epoch if it was not logged, then close the TensorBoard writer.

        Args:
            logs: Unused (the last epoch's row of `History`/`CSVLogger` is already
                written; its values go to `history`).
        """
        epoch = self._last_epoch
        if epoch is not None and (not self.logged_epochs or self.logged_epochs[-1] != epoch):
            values = self._log(epoch)
            for key, value in values.items():
                self.history[key][-1] = value
        self._close_writer()

    # ------------------------------------------------------------------ internals
    def _keys(self) -> list[str]:
        return [DRIFT_KEY] + ([] if self._masks is None else [POINTING_KEY, ENERGY_KEY])

    def _is_last_epoch(self, epoch: int) -> bool:
        epochs = (self.params or {}).get("epochs")
        last = epochs is not None and epoch + 1 >= epochs
        return last or bool(getattr(self.model, "stop_training", False))

    def _prepare(self) -> None:
        """Fit the images to the model and build the explainer, once per model."""
        if self._prepared_for is self.model:
            return
        model = self.model
        if model is None:
            raise ValueError(
                "GradCAMCallback has no model: pass it to `model.fit(callbacks=[...])` or "
                "to `keras.callbacks.CallbackList(callbacks, model=model)`."
            )
        input_shape = _model_input_shape(model)
        images, masks = self._samples, self._masks
        if isinstance(images, list):
            images, masks = _fit_path_images(images, masks, input_shape)
        elif input_shape is not None:
            _check_image_size(images, input_shape, model.name)
        self._check_targets(model)
        self.explainer = self.method_class(model, self.layer)
        self._images, self._explained_masks = images, masks
        self._prepared_for = model
        self._tensorboard = _tensorboard_installed()
        if not self._tensorboard:
            warnings.warn(
                "GradCAMCallback: TensorBoard is not installed, so no TensorBoard events are "
                "written (install it with `pip install tensorboard`); the PNG files and the "
                "log values are.",
                stacklevel=3,
            )

    def _check_targets(self, model: keras.Model) -> None:
        units = _output_units(model)
        if self._targets is None or units is None:
            return
        classes = 2 if units == 1 else units  # one sigmoid unit: 0 = negative, 1 = positive
        if np.max(self._targets) >= classes:
            argument = "labels" if self.class_index is None else "class_index"
            raise invalid_value(
                argument,
                f"class indices in [0, {classes - 1}] for the {units} output unit(s) of "
                f"model `{model.name}`",
                np.asarray(self._targets).tolist(),
            )

    def _log(self, epoch: int) -> dict[str, float]:
        explanation = self.explainer.explain(self._images, class_index=self._targets)
        heatmaps = explanation.heatmaps
        drift = math.nan
        if self._previous is not None:
            drift = float(1.0 - np.mean(_heatmap_correlations(heatmaps, self._previous)))
        values = {DRIFT_KEY: drift}
        if self._explained_masks is not None:
            values[POINTING_KEY] = float(pointing_game(heatmaps, self._explained_masks))
            values[ENERGY_KEY] = float(energy_in_mask(heatmaps, self._explained_masks))
        self._previous = heatmaps
        self.last_explanation = explanation
        self.logged_epochs.append(epoch)
        self._write(epoch, explanation, values)
        return values

    def _write(self, epoch: int, explanation, values: dict[str, float]) -> None:
        failures = []
        if self._ensure_log_dir(failures):
            strips = _row_strips(self._images, explanation)
            try:
                self._write_png(epoch, strips, explanation)
            except OSError as error:
                failures.append(f"writing the PNG failed ({error})")
            try:
                if self._tensorboard:
                    self._write_summaries(epoch, strips, values)
            except _write_errors() as error:
                failures.append(f"writing TensorBoard events failed ({_first_line(error)})")
        self._report(failures, f"at epoch {epoch + 1}")

    def _report(self, failures: list[str], when: str) -> None:
        """Warn about the first of a run of write failures; a clean write re-arms it."""
        if not failures:
            self._warned = False
            return
        if self._warned:
            return
        self._warned = True
        warnings.warn(
            f"GradCAMCallback: {when}, {'; '.join(failures)} (log_dir={self.log_dir!r}). "
            "Training continues and the heatmap values are still added to the logs; "
            "further write failures are not reported until a write succeeds again.",
            stacklevel=2,
        )

    def _ensure_log_dir(self, failures: list[str]) -> bool:
        if os.path.isdir(self.log_dir):
            self._directory_made = True
            return True
        if self._directory_made:
            failures.append("log_dir had been deleted during training, so it was created again")
        self._close_writer()  # its event file went with the directory
        try:
            os.makedirs(self.log_dir, exist_ok=True)
        except OSError as error:
            failures.append(f"log_dir could not be created ({error})")
            return False
        self._directory_made = True
        return True

    def _open_writer(self) -> None:
        if self._writer is None:
            import tensorflow as tf  # TensorBoard summaries are written by TensorFlow

            self._writer = tf.summary.create_file_writer(self.log_dir)

    def _close_writer(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None

    def _write_png(self, epoch: int, strips: np.ndarray, explanation) -> None:
        figure = _grid_figure(
            strips,
            column_titles=_column_titles(explanation),
            row_titles=_row_titles(explanation, self._labels),
            title=f"{explanation.method}, epoch {epoch + 1}",
        )
        _save_atomically(figure, os.path.join(self.log_dir, f"epoch_{epoch + 1:03d}.png"))

    def _write_summaries(self, epoch: int, strips: np.ndarray, values: dict[str, float]) -> None:
        import tensorflow as tf

        self._open_writer()
        with self._writer.as_default():
            for index, strip in enumerate(strips):
                tf.summary.image(f"gradcam/image_{index}", strip[None], step=epoch)
            for key, value in values.items():
                if math.isfinite(value):
                    tf.summary.scalar(f"gradcam/{key.removeprefix('gradcam_')}", value, epoch)
        self._writer.flush()


def _heatmap_correlations(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Pearson correlation between two heatmaps of each image, defined for constant maps.

    Args:
        current: `(N, H, W)` heatmaps.
        previous: `(N, H, W)` heatmaps of the same images.

    Returns:
        float64 `(N,)` in [-1, 1], never NaN: 1.0 where both maps of an image are
        constant (neither has a pattern to move), 0.0 where exactly one is.
    """
    count = current.shape[0]
    a = np.asarray(current, np.float64).reshape(count, -1)
    b = np.asarray(previous, np.float64).reshape(count, -1)
    a_constant = np.ptp(a, axis=1) == 0
    b_constant = np.ptp(b, axis=1) == 0
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    scale = np.sqrt(np.sum(a * a, axis=1) * np.sum(b * b, axis=1))
    degenerate = a_constant | b_constant | (scale == 0)
    safe = np.where(degenerate, 1.0, scale)
    correlation = np.clip(np.sum(a * b, axis=1) / safe, -1.0, 1.0)
    return np.where(degenerate, np.where(a_constant & b_constant, 1.0, 0.0), correlation)


# ---------------------------------------------------------------------- samples
def _method_class(method: Any) -> type[BaseCAM]:
    if isinstance(method, type) and issubclass(method, BaseCAM):
        return method
    if not isinstance(method, str):
        raise invalid_value("method", "a method name or a BaseCAM subclass", method)
    return get_method(method)


def _is_dataset(value: Any) -> bool:
    # No dataset can exist unless TensorFlow was imported, so do not import it here.
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(value, tf.data.Dataset)


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


def _take_images(images: Any, max_images: int):
    """The first `max_images` images, labels found with them, and the count given."""
    if _is_dataset(images):
        samples, labels = _take_from_dataset(images, max_images)
        return samples, labels, None
    if _is_path(images):
        raise invalid_value("images", "an array, a list of paths or a tf.data.Dataset", images)
    if isinstance(images, (list, tuple)) and images and all(_is_path(p) for p in images):
        return [_read_image(p) for p in images[:max_images]], None, len(images)
    array = np.asarray(images)
    if array.ndim >= 1 and array.shape[0] == 0:
        raise invalid_value("images", "at least one image", f"shape {array.shape}")
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise invalid_value(
            "images", "a numeric array, a list of paths or a tf.data.Dataset", type(images)
        )
    if array.ndim != 4:
        hint = " Add a batch axis with images[None]." if array.ndim == 3 else ""
        raise invalid_value(
            "images", f"a 4-D batch (N, height, width, channels).{hint}", f"shape {array.shape}"
        )
    return array[:max_images], None, array.shape[0]


def _take_from_dataset(dataset, max_images: int):
    images, labels = [], []
    taken = 0
    for element in dataset:
        if isinstance(element, dict):
            raise invalid_value(
                "images", "a Dataset of images or (image, label) tuples", "dict elements"
            )
        parts = list(element) if isinstance(element, (tuple, list)) else [element]
        batch = np.asarray(parts[0])
        label = None if len(parts) < 2 else np.asarray(parts[1])
        if batch.ndim == 3:  # an unbatched dataset
            batch = batch[None]
            label = None if label is None else label[None]
        if batch.ndim != 4:
            raise invalid_value(
                "images", "a Dataset of (height, width, channels) images", f"shape {batch.shape}"
            )
        keep = min(batch.shape[0], max_images - taken)
        images.append(batch[:keep])
        labels.append(None if label is None else label[:keep])
        taken += keep
        if taken >= max_images:
            break
    if taken == 0:
        raise invalid_value("images", "at least one image", "an empty Dataset")
    found = None if any(label is None for label in labels) else np.concatenate(labels)
    return np.concatenate(images), found


def _read_image(path) -> np.ndarray:
    image = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR)
    if image is None:
        raise invalid_value("images", "paths of readable image files", os.fspath(path))
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _check_count(argument: str, length: int, given: int | None, count: int, exact: bool) -> None:
    if exact and given is not None and length != given:
        raise invalid_value(argument, f"one entry per image ({given})", f"{length} entries")
    if length < count:
        raise invalid_value(
            argument, f"at least one entry per image taken ({count})", f"{length} entries"
        )


def _class_indices(labels: Any, given: int | None, count: int, exact: bool) -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim == 2:
        array = array[:, 0] if array.shape[1] == 1 else np.argmax(array, axis=1)
    if array.ndim != 1 or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise invalid_value(
            "labels", "class indices, a 0/1 column or one-hot rows", f"shape {array.shape}"
        )
    _check_count("labels", array.shape[0], given, count, exact)
    array = array[:count]
    if not np.array_equal(array, np.rint(array)) or (array < 0).any():
        raise invalid_value(
            "labels",
            "non-negative integer class indices (pass class_index= to explain another class)",
            array.tolist(),
        )
    return array.astype(np.int64)


def _binary_masks(masks: Any, given: int | None, count: int, exact: bool) -> np.ndarray:
    array = np.asarray(masks)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise invalid_value("masks", "an (N, height, width) array", f"shape {array.shape}")
    _check_count("masks", array.shape[0], given, count, exact)
    if array.dtype != np.bool_ and not np.isin(array, (0, 1)).all():
        raise invalid_value("masks", "binary masks (bool or 0/1)", "other values")
    return array[:count].astype(bool)


def _check_mask_size(masks: np.ndarray, size: tuple[int, int]) -> None:
    if tuple(masks.shape[1:3]) != tuple(size):
        raise invalid_value(
            "masks", f"masks of the images' size {tuple(size)}", f"shape {masks.shape}"
        )


def _targets(class_index: Any, labels: np.ndarray | None, given: int | None, count: int):
    if class_index is None:
        return labels
    array = np.asarray(class_index)
    if not np.issubdtype(array.dtype, np.integer) or isinstance(class_index, bool):
        raise invalid_value("class_index", "None, an int or one int per image", class_index)
    if (array < 0).any():
        raise invalid_value("class_index", "non-negative class indices", class_index)
    if array.ndim == 0:
        return int(array)
    if array.ndim != 1:
        raise invalid_value("class_index", "None, an int or one int per image", class_index)
    _check_count("class_index", array.shape[0], given, count, True)
    return array[:count]


# ---------------------------------------------------------------------- model
def _model_input_shape(model: keras.Model) -> tuple | None:
    try:
        return tuple(model.inputs[0].shape[1:])
    except (AttributeError, IndexError, TypeError, ValueError):
        return None


def _output_units(model: keras.Model) -> int | None:
    try:
        return int(model.outputs[0].shape[-1])
    except (AttributeError, IndexError, TypeError, ValueError):
        return None


def _check_image_size(images: np.ndarray, input_shape: tuple, name: str) -> None:
    for want, got in zip(input_shape, images.shape[1:]):
        if want is not None and want != got:
            raise invalid_value(
                "images",
                f"images of shape (N, {', '.join(map(str, input_shape))}) as the input of "
                f"model `{name}`",
                f"shape {images.shape}",
            )


def _fit_path_images(images: list[np.ndarray], masks: np.ndarray | None, input_shape):
    """Resize images read from files (and their masks) to the model's input size."""
    if input_shape is None or len(input_shape) != 3:
        input_shape = (None, None, None)
    height, width, channels = input_shape
    sizes = {image.shape[:2] for image in images}
    if (height is None or width is None) and len(sizes) > 1:
        raise invalid_value(
            "images",
            "files of one size when the model's input size is not fixed",
            sorted(sizes),
        )
    fitted, fitted_masks = [], []
    for index, image in enumerate(images):
        size = (width or image.shape[1], height or image.shape[0])
        original = image.shape[:2]
        if image.shape[:2] != (size[1], size[0]):
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        if channels == 1:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None]
        fitted.append(image)
        if masks is not None:
            mask = masks[index]
            if mask.shape != original:
                raise invalid_value(
                    "masks", f"masks of each file's size {original}", f"shape {mask.shape}"
                )
            resized = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
            fitted_masks.append(resized.astype(bool))
    return np.stack(fitted), (None if masks is None else np.stack(fitted_masks))


# ---------------------------------------------------------------------- output
def _row_strips(images: np.ndarray, explanation) -> np.ndarray:
    """Per image, the PNG's row as one uint8 RGB strip: image, branch overlays, fused."""
    columns = [to_uint8_rgb(images)]
    if len(explanation.layer_heatmaps) > 1:
        columns += [explanation.overlay(images, layer=p) for p in explanation.layer_heatmaps]
    columns.append(explanation.overlay(images))
    return np.concatenate(columns, axis=2)


def _column_titles(explanation) -> list[str]:
    """Titles of the grid's columns, named as `keras_cxr.Explanation.plot` names them."""
    paths = list(explanation.layer_heatmaps)
    if len(paths) == 1:
        return ["image", explanation.method]
    return ["image", *("/".join(path.split("/")[-2:]) for path in paths), "fused"]


def _row_titles(explanation, labels: np.ndarray | None) -> list[str]:
    titles = []
    for index, (klass, probability) in enumerate(
        zip(explanation.class_index, explanation.probabilities)
    ):
        text = f"class {klass} p={probability:.2f}"
        titles.append(text if labels is None else f"label {labels[index]} | {text}")
    return titles


def _grid_figure(strips: np.ndarray, column_titles: list[str], row_titles: list[str], title: str):
    """A figure showing the strips as a grid of cells, pixel for pixel, with titles.

    `keras_cxr.Explanation.plot` draws one Axes per cell under a constrained layout,
    which takes seconds for 8 rows; an epoch-end callback cannot afford that. Here the
    grid is composed in NumPy and placed with `figimage` (no Axes, no resampling, no
    layout pass), and the titles are figure text, so a figure costs tens of
    milliseconds plus the PNG encoding.
    """
    from matplotlib.figure import Figure  # a Figure needs no GUI backend or pyplot state

    count, height, width, _ = strips.shape
    columns = len(column_titles)
    width //= columns
    cells = strips.reshape(count, height, columns, width, 3)
    zoom = max(1, math.ceil(_MIN_CELL_PIXELS / max(height, width)))
    if zoom > 1:  # small images: enlarge with nearest neighbour so pixels stay visible
        cells = cells.repeat(zoom, axis=1).repeat(zoom, axis=3)
        height, width = height * zoom, width * zoom
    gap = _GAP_PIXELS
    cells = np.pad(cells, ((0, 0), (0, gap), (0, 0), (0, gap), (0, 0)), constant_values=255)
    grid = cells.reshape(count * (height + gap), columns * (width + gap), 3)[:-gap, :-gap]

    left, top, margin = _LEFT_PIXELS, _TOP_PIXELS, gap
    figure_width = left + grid.shape[1] + margin
    figure_height = top + grid.shape[0] + margin
    figure = Figure(figsize=(figure_width / _DPI, figure_height / _DPI), dpi=_DPI)
    figure.figimage(grid, xo=left, yo=margin, origin="upper")
    figure.text(0.5, 1 - 4 / figure_height, title, ha="center", va="top", fontsize=9)
    for column, text in enumerate(column_titles):
        x = (left + column * (width + gap) + width / 2) / figure_width
        figure.text(x, 1 - (top - 4) / figure_height, text, ha="center", va="bottom", fontsize=8)
    for row, text in enumerate(row_titles):
        y = 1 - (top + row * (height + gap) + height / 2) / figure_height
        figure.text(
            (left - 4) / figure_width, y, text, ha="right", va="center", rotation=90, fontsize=7
        )
    return figure


def _save_atomically(figure, path: str) -> None:
    """Write `figure` as a PNG next to `path`, then rename it: readers never see half."""
    directory, name = os.path.split(path)
    temporary = os.path.join(directory, f".{name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(temporary, "xb") as handle:
            # Level 1 compresses X-rays about as well as the default 6, several times faster.
            figure.savefig(handle, format="png", dpi=_DPI, pil_kwargs={"compress_level": 1})
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def _tensorboard_installed() -> bool:
    try:  # what `tf.summary.image` delegates to; TensorBoard is an optional dependency
        import tensorboard.summary.v2  # noqa: F401
    except ImportError:
        return False
    return True


def _write_errors() -> tuple[type[BaseException], ...]:
    """Errors of a failed write: the OS's, and TensorFlow's for its file writer."""
    import tensorflow as tf

    return (OSError, tf.errors.OpError)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
