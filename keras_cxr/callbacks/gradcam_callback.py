"""`GradCAMCallback`: watch a model's explanations evolve while it trains."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from typing import Any

import keras

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.callbacks.drift import heatmap_drift
from keras_cxr.callbacks.epoch_grid import EpochGrid
from keras_cxr.callbacks.log_dir import LogDir
from keras_cxr.callbacks.png_writer import write_png
from keras_cxr.callbacks.samples import Samples
from keras_cxr.callbacks.tensorboard_writer import TensorBoardWriter
from keras_cxr.callbacks.warn_once import WarnOnce
from keras_cxr.explain import BaseAttribution, BaseCAM, SmoothGrad, get_method, is_cam
from keras_cxr.metrics.localization import energy_in_mask, pointing_game

#: Keys added to the epoch logs; the last two only when `masks` are given.
DRIFT_KEY = "gradcam_drift"
POINTING_KEY = "gradcam_pointing"
ENERGY_KEY = "gradcam_energy"


class GradCAMCallback(keras.callbacks.Callback):
    """Explain a fixed set of images every few epochs and log how the heatmaps evolve.

    The same images are explained at every logged epoch, so their heatmaps are comparable
    across epochs. The model explained is `model` when given, else the model being
    trained. Its explainer (`method`, see `keras_cxr.explain.METHODS`) is built once, at
    `on_train_begin` (when the model is built), and reused: its compiled function reads
    the model's variables when it is called, so each epoch sees the current weights. It
    is also run once there on the images, so that a bad layer, image size or class index
    fails before the first epoch rather than after it.

    `model` serves training that does not run the full model: e.g. a head trained on
    cached backbone features (`fit` sees a features → predictions model) whose layers are
    the very layer objects of the image → predictions model. Pass the latter as `model`:
    it shares the trained variables, so it is explained as it is at each epoch, with no
    weights copied.

    The explained class of each image is, in order of precedence: `class_index` when
    given, else the true label when `labels` are given (or come from the dataset), else
    the model's predicted class (see `keras_cxr.callbacks.samples.Samples`).

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
      unrelated, up to 2 = inverted; `keras_cxr.callbacks.drift.heatmap_drift`, never
      NaN because of a constant map). With `masks`, also `gradcam_pointing` and
      `gradcam_energy` (`keras_cxr.metrics.localization.pointing_game` and
      `energy_in_mask`).

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
            `(N, H, W, C)`, a list of image file paths (JPEG, PNG or DICOM, read with
            `keras_cxr.data.read_image` as RGB, or gray for one-channel models, at the
            model's input size when training begins), or a `tf.data.Dataset` of images,
            `(image, label)` pairs or `(image, label, weight)` triples, batched or not.
            At most `max_images` are taken (the first ones), once, at construction.
        labels: `None`, or the true class of each image as given (ints, a `(N, 1)`
            column of 0/1 for a sigmoid output, or one-hot rows). For a dataset, `None`
            takes the labels from the dataset when it has them; explicit labels must
            cover at least the images taken from it. Defaults to `None`.
        log_dir: Directory for the PNG files and TensorBoard events; created when
            training begins. Defaults to `"logs/gradcam"`.
        every: Log every `every` epochs, an integer >= 1. Defaults to 1.
        method: A name in `keras_cxr.explain.METHODS` (e.g. `"gradcam"`,
            `"gradcam++"`, `"hirescam"`, `"integrated-gradients"`, `"attention-gradient"`)
            or an explainer class (a `keras_cxr.explain.BaseCAM` or `BaseAttribution`
            subclass, `BaseAttention` included, or
            `SmoothGrad`), built as `method(model, layer)` for a CAM and `method(model)`
            otherwise. Defaults to `"gradcam"`.
        layer: Target layer(s) of a CAM, as for `keras_cxr.GradCAM`; `None` finds the
            last spatial layer of every branch. Required for subclassed models without a
            Functional graph; must be `None` for the pixel attribution methods, which
            explain the input itself. Defaults to `None`.
        class_index: `None`, one int for all images, or one int per image as given; it
            overrides `labels` as the explained class (the labels are still shown).
            Defaults to `None`.
        masks: `None`, or one binary region mask per image as given, `(N, H, W)` (or
            `(N, H, W, 1)`), at the images' resolution (masks of path images are
            resized with them, nearest-neighbour). Defaults to `None`.
        max_images: Most images explained, an integer >= 1. Defaults to 16.
        model: The model to explain; `None` explains the model being trained
            (`self.model`). Defaults to `None`.

    Attributes:
        samples: The `keras_cxr.callbacks.samples.Samples` taken at construction.
        explainer: The explainer (e.g. a `keras_cxr.GradCAM`), built at
            `on_train_begin` (`None` before).
        last_explanation: The `keras_cxr.Explanation` of the last logged epoch.
        history: Log key → one value per epoch seen (NaN where not measured); an epoch
            logged only at `on_train_end` gets its values here too.
        logged_epochs: The 0-based epochs that were logged.

    Raises:
        ValueError: At construction, for no images, images that are not a 4-D numeric
            batch, a path that cannot be read as an image, labels, masks or
            `class_index` whose length differs from the images, labels that are not
            class indices, non-binary or wrongly sized masks, `every` or `max_images`
            not an integer >= 1, an unknown `method`, a `layer` given to a pixel
            attribution method, or a `model` that is not a `keras.Model`. When training
            begins, for images whose size does not match the model's input, a class
            index out of the model's range, or what the explainer rejects (e.g. an
            unknown layer, or a model without attention for an attention method).

    Example:
        >>> callback = keras_cxr.callbacks.GradCAMCallback(
        ...     x_val[:8], labels=y_val[:8], log_dir="logs/gradcam", every=2
        ... )
        >>> csv_logger = keras.callbacks.CSVLogger("training.csv")  # after the callback
        >>> history = model.fit(x, y, epochs=10, callbacks=[callback, csv_logger])
        >>> history.history["gradcam_drift"]  # NaN on epochs that were not logged
        >>> # Train a head on cached features; explain the image model sharing its layers:
        >>> head_callback = keras_cxr.callbacks.GradCAMCallback(x_val[:8], model=ensemble)
        >>> head.fit(features, y, epochs=10, callbacks=[head_callback])
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
        model: keras.Model | None = None,
    ) -> None:
        super().__init__()
        self.every = check_int("every", every)
        self.max_images = check_int("max_images", max_images)
        if not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir):
            raise invalid_value("log_dir", "a non-empty path", log_dir)
        if model is not None and not isinstance(model, keras.Model):
            raise invalid_value("model", "None or a keras.Model", type(model).__name__)
        self.method_class = _method_class(method)
        if layer is not None and not is_cam(self.method_class):
            raise invalid_value(
                "layer",
                f"None for {self.method_class.__name__}, which explains the input pixels "
                "rather than a layer",
                layer,
            )
        self.method = method
        self.layer = layer
        self.class_index = class_index
        self.samples = Samples(images, labels, masks, class_index, self.max_images)
        self._explained_model = model

        self.explainer: BaseCAM | BaseAttribution | SmoothGrad | None = None
        self.last_explanation = None
        self.history: dict[str, list[float]] = {key: [] for key in self._keys()}
        self.logged_epochs: list[int] = []
        self._images, self._masks = None, None  # the samples as the explainer takes them
        self._last_epoch: int | None = None
        self._log_dir = LogDir(log_dir)
        self._tensorboard: TensorBoardWriter | None = None
        self._warning = WarnOnce()

    @property
    def log_dir(self) -> str:
        """The directory of the PNG files and TensorBoard events."""
        return self._log_dir.path

    @property
    def explained_model(self) -> keras.Model | None:
        """The model explained: `model` when given, else the model being trained."""
        trained = self.model  # on JAX, reading it syncs the trained (and shared) variables
        return trained if self._explained_model is None else self._explained_model

    # ------------------------------------------------------------------ Keras hooks
    def on_train_begin(self, logs: dict | None = None) -> None:
        """Build the explainer for the model (once), run it once and create `log_dir`.

        Args:
            logs: Unused.

        Raises:
            ValueError: If the images do not fit the model's input, a class index is out
                of the model's range, or the explainer rejects the model or `layer`.
        """
        if self._prepare():
            # Compiles the explainer and surfaces a bad size, layer or class before epoch 1.
            self.explainer.explain(self._images, class_index=self.samples.targets)
        self._last_epoch = None
        problems: list[str] = []
        if self._ensure_log_dir(problems) and self._tensorboard is not None:
            try:
                self._tensorboard.open()
            except OSError as error:
                problems.append(f"creating the TensorBoard writer failed ({error})")
        self._report(problems, "when training began")

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
            for key, value in self._log(epoch).items():
                self.history[key][-1] = value
        if self._tensorboard is not None:
            self._tensorboard.close()

    # ------------------------------------------------------------------ scheduling
    def _keys(self) -> list[str]:
        masked = self.samples.masks is not None
        return [DRIFT_KEY] + ([POINTING_KEY, ENERGY_KEY] if masked else [])

    def _is_last_epoch(self, epoch: int) -> bool:
        epochs = (self.params or {}).get("epochs")
        last = epochs is not None and epoch + 1 >= epochs
        return last or bool(getattr(self.model, "stop_training", False))

    def _prepare(self) -> bool:
        """Fit the samples to the explained model and build its explainer, once per model.

        Returns:
            Whether a new explainer was built.
        """
        model = self.explained_model
        if model is None:
            raise ValueError(
                "GradCAMCallback has no model: pass it to `model.fit(callbacks=[...])`, "
                "to `keras.callbacks.CallbackList(callbacks, model=model)`, or as "
                "`GradCAMCallback(..., model=model)`."
            )
        if self.explainer is not None and self.explainer.model is model:
            return False
        images, masks = self.samples.fit_to(model)
        if is_cam(self.method_class):
            self.explainer = self.method_class(model, self.layer)
        else:
            self.explainer = self.method_class(model)
        self._images, self._masks = images, masks
        if self._tensorboard is None and TensorBoardWriter.available():
            self._tensorboard = TensorBoardWriter(self.log_dir)
        elif self._tensorboard is None:
            warnings.warn(
                "GradCAMCallback: TensorBoard is not installed, so no TensorBoard events are "
                "written (install it with `pip install tensorboard`); the PNG files and the "
                "log values are.",
                stacklevel=3,
            )
        return True

    def _log(self, epoch: int) -> dict[str, float]:
        explanation = self.explainer.explain(self._images, class_index=self.samples.targets)
        heatmaps = explanation.heatmaps
        previous = None if self.last_explanation is None else self.last_explanation.heatmaps
        drift = math.nan
        if previous is not None and previous.shape == heatmaps.shape:
            drift = heatmap_drift(heatmaps, previous)
        values = {DRIFT_KEY: drift}
        if self._masks is not None:
            values[POINTING_KEY] = float(pointing_game(heatmaps, self._masks))
            values[ENERGY_KEY] = float(energy_in_mask(heatmaps, self._masks))
        self.last_explanation = explanation
        self.logged_epochs.append(epoch)
        self._write(epoch, explanation, values)
        return values

    # ------------------------------------------------------------------ writing
    def _write(self, epoch: int, explanation, values: dict[str, float]) -> None:
        problems: list[str] = []
        if self._ensure_log_dir(problems):
            grid = EpochGrid.from_explanation(explanation, self._images, self.samples.labels, epoch)
            try:
                write_png(grid.figure(), os.path.join(self.log_dir, f"epoch_{epoch + 1:03d}.png"))
            except OSError as error:
                problems.append(f"writing the PNG failed ({error})")
            if self._tensorboard is not None:
                try:
                    self._tensorboard.write(epoch, grid.rows(), values)
                except OSError as error:
                    problems.append(f"writing TensorBoard events failed ({error})")
        self._report(problems, f"at epoch {epoch + 1}")

    def _ensure_log_dir(self, problems: list[str]) -> bool:
        if self._tensorboard is not None and not self._log_dir.exists():
            self._tensorboard.close()  # its event file went with the folder
        return self._log_dir.ensure(problems)

    def _report(self, problems: list[str], when: str) -> None:
        message = None
        if problems:
            message = (
                f"GradCAMCallback: {when}, {'; '.join(problems)} (log_dir={self.log_dir!r}). "
                "Training continues and the heatmap values are still added to the logs; "
                "further write failures are not reported until a write succeeds again."
            )
        self._warning.report(message, stacklevel=3)


def _method_class(method: Any) -> type:
    if isinstance(method, type) and issubclass(method, (BaseCAM, BaseAttribution, SmoothGrad)):
        return method
    if not isinstance(method, str):
        raise invalid_value("method", "a method name or an explainer class", method)
    return get_method(method)
