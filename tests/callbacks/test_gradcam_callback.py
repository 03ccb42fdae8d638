"""Tests of `keras_cxr.callbacks.GradCAMCallback` on tiny 32×32 conv nets."""

from __future__ import annotations

import csv
import math
import os
import re
import shutil
import sys
import warnings

import cv2
import keras
import matplotlib.figure
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util

import keras_cxr
from keras_cxr.callbacks import GradCAMCallback
from keras_cxr.callbacks.gradcam_callback import _heatmap_correlations

SIZE = 32


# ---------------------------------------------------------------------- helpers
def _two_branch_model() -> keras.Model:
    """Two conv branches on one input, so the grid has a column per branch."""
    inputs = keras.Input((SIZE, SIZE, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(inputs)
    b = keras.layers.Conv2D(4, 5, padding="same", activation="relu", name="conv_b")(inputs)
    pooled = [keras.layers.GlobalAveragePooling2D()(t) for t in (a, b)]
    x = keras.layers.Concatenate()(pooled)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs, name="two_branch")
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
    return model


def _tiny_model(cls=keras.Model, channels: int = 3) -> keras.Model:
    inputs = keras.Input((SIZE, SIZE, channels))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = cls(inputs, outputs, name="tiny")
    if cls is keras.Model:
        model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
    return model


def _data(count: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 1, (count, SIZE, SIZE, 3)).astype("float32")
    labels = rng.integers(0, 2, (count, 1)).astype("float32")
    return images, labels


def _masks(count: int) -> np.ndarray:
    masks = np.zeros((count, SIZE, SIZE), bool)
    masks[:, 8:20, 10:24] = True
    return masks


def _gradcam_warnings(record) -> list[str]:
    return [str(w.message) for w in record if "GradCAMCallback" in str(w.message)]


def _expected_drift(current: np.ndarray, previous: np.ndarray) -> float:
    """1 − mean Pearson correlation, with the documented rule for constant maps."""
    correlations = []
    for c, p in zip(current, previous):
        c_constant, p_constant = c.min() == c.max(), p.min() == p.max()
        if c_constant or p_constant:
            correlations.append(1.0 if c_constant and p_constant else 0.0)
        else:
            correlations.append(np.corrcoef(c.ravel(), p.ravel())[0, 1])
    return 1.0 - float(np.mean(correlations))


def _read_events(log_dir):
    accumulator = event_accumulator.EventAccumulator(
        str(log_dir), size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    return accumulator


def _decoded(event) -> np.ndarray:
    # An image summary is a string tensor [width, height, encoded PNG...].
    values = tensor_util.make_ndarray(event.tensor_proto)
    image = cv2.imdecode(np.frombuffer(values[2], np.uint8), cv2.IMREAD_UNCHANGED)
    assert (image.shape[1], image.shape[0]) == (int(values[0]), int(values[1]))
    return image


def _files(log_dir) -> list[str]:
    return sorted(os.listdir(log_dir))


# ---------------------------------------------------------------------- model.fit
@pytest.fixture(scope="module")
def fit_run(tmp_path_factory):
    """One `fit` (no validation data): 5 images given, 4 kept, logged every 2 of 4 epochs."""
    keras.utils.set_random_seed(0)
    root = tmp_path_factory.mktemp("fit")
    images, labels = _data()
    callback = GradCAMCallback(
        images[:5],
        labels=labels[:5],
        log_dir=root / "gradcam",
        every=2,
        masks=_masks(5),
        max_images=4,
    )
    csv_path = root / "training.csv"
    model = _two_branch_model()
    history = model.fit(
        images,
        labels,
        epochs=4,
        batch_size=8,
        verbose=0,
        callbacks=[callback, keras.callbacks.CSVLogger(str(csv_path))],
    )
    return callback, history, root / "gradcam", csv_path


def test_fit_logs_every_n_epochs_and_the_last(fit_run):
    callback, _, log_dir, _ = fit_run
    assert callback.logged_epochs == [0, 2, 3]
    pngs = [name for name in _files(log_dir) if name.endswith(".png")]
    assert pngs == ["epoch_001.png", "epoch_003.png", "epoch_004.png"]
    assert not [name for name in _files(log_dir) if name.startswith(".")]


def test_fit_png_reads_back_as_a_grid(fit_run):
    _, _, log_dir, _ = fit_run
    picture = cv2.imread(str(log_dir / "epoch_003.png"))
    assert picture is not None and picture.ndim == 3 and picture.shape[2] == 3
    height, width = picture.shape[:2]
    # 4 rows (images) × 4 columns (image, conv_a, conv_b, fused) of 2.2-inch cells.
    assert 0.7 < width / height < 1.1
    assert picture.std() > 10  # not blank


def test_fit_adds_values_to_history(fit_run):
    callback, history, _, _ = fit_run
    for key in ("gradcam_drift", "gradcam_pointing", "gradcam_energy"):
        assert len(history.history[key]) == 4
        assert history.history[key] == pytest.approx(callback.history[key], nan_ok=True)
    drift = history.history["gradcam_drift"]
    assert math.isnan(drift[0]) and math.isnan(drift[1])
    assert 0.0 <= drift[2] <= 2.0 and 0.0 <= drift[3] <= 2.0
    pointing = history.history["gradcam_pointing"]
    assert [math.isnan(v) for v in pointing] == [False, True, False, False]
    assert all(0.0 <= v <= 1.0 for v in pointing if not math.isnan(v))


def test_fit_csv_logger_has_the_columns_at_every_epoch(fit_run):
    _, _, _, csv_path = fit_run
    with open(csv_path, newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        columns = reader.fieldnames
    assert {"gradcam_drift", "gradcam_pointing", "gradcam_energy", "loss"} <= set(columns)
    assert [row["epoch"] for row in rows] == ["0", "1", "2", "3"]
    assert [math.isnan(float(row["gradcam_energy"])) for row in rows] == [
        False,
        True,
        False,
        False,
    ]
    assert 0.0 <= float(rows[2]["gradcam_drift"]) <= 2.0


def test_fit_tensorboard_events_read_back(fit_run):
    callback, _, log_dir, _ = fit_run
    accumulator = _read_events(log_dir)
    tags = accumulator.Tags()["tensors"]
    image_tags = sorted(t for t in tags if t.startswith("gradcam/image_"))
    assert image_tags == [f"gradcam/image_{i}" for i in range(4)]
    assert accumulator.SummaryMetadata("gradcam/image_0").plugin_data.plugin_name == "images"
    events = accumulator.Tensors("gradcam/image_1")
    assert [event.step for event in events] == [0, 2, 3]
    # The PNG's row as one strip: the image and 3 overlays (two branches, fused).
    assert _decoded(events[-1]).shape == (SIZE, 4 * SIZE, 3)
    assert [event.step for event in accumulator.Tensors("gradcam/drift")] == [2, 3]
    logged = tensor_util.make_ndarray(accumulator.Tensors("gradcam/pointing")[-1].tensor_proto)
    assert float(logged) == pytest.approx(callback.history["gradcam_pointing"][-1])


# ---------------------------------------------------------------------- loops and models
def _hand_written_loop(model, callbacks, images, labels, epochs: int) -> list[float]:
    """A custom training loop that drives the callbacks through `CallbackList`."""
    callback_list = keras.callbacks.CallbackList(callbacks, add_history=True, model=model)
    optimizer = keras.optimizers.SGD(0.05)
    loss_fn = keras.losses.BinaryCrossentropy()
    losses = []
    callback_list.on_train_begin()
    for epoch in range(epochs):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        losses.append(float(loss))
        callback_list.on_epoch_end(epoch, {"loss": float(loss)})
    callback_list.on_train_end()
    return losses


def test_hand_written_loop_logs_drift_computed_from_the_heatmaps(tmp_path):
    images, labels = _data(8)
    model = _tiny_model()
    heatmaps = []

    class Recorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            heatmaps.append(callback.last_explanation.heatmaps.copy())

    callback = GradCAMCallback(images[:4], labels=labels[:4], log_dir=tmp_path)
    _hand_written_loop(model, [callback, Recorder()], images, labels, epochs=3)
    assert callback.logged_epochs == [0, 1, 2]
    assert [n for n in _files(tmp_path) if n.endswith(".png")] == [
        "epoch_001.png",
        "epoch_002.png",
        "epoch_003.png",
    ]
    assert all(np.ptp(h, axis=(1, 2)).max() > 0.5 for h in heatmaps)  # not all constant
    drift = model.history.history["gradcam_drift"]  # CallbackList shares its logs dict
    assert math.isnan(drift[0])
    assert drift[1] == pytest.approx(_expected_drift(heatmaps[1], heatmaps[0]), abs=1e-6)
    assert drift[2] == pytest.approx(_expected_drift(heatmaps[2], heatmaps[1]), abs=1e-6)


def test_explainer_is_built_once_and_sees_the_current_weights(tmp_path):
    images, labels = _data(4)
    model = _tiny_model()
    callback = GradCAMCallback(images, labels=labels, log_dir=tmp_path)
    callback_list = keras.callbacks.CallbackList([callback], model=model)
    callback_list.on_train_begin()
    callback_list.on_epoch_end(0)
    before = callback.last_explanation.heatmaps.copy()
    explainer = callback.explainer

    conv = model.get_layer("conv")
    kernel, bias = conv.get_weights()
    rng = np.random.default_rng(1)
    conv.set_weights([rng.normal(size=kernel.shape).astype("float32"), bias])
    callback_list.on_epoch_end(1)
    after = callback.last_explanation

    assert callback.explainer is explainer
    assert not np.allclose(after.heatmaps, before, atol=1e-3)
    fresh = keras_cxr.GradCAM(model).explain(images, class_index=labels[:, 0].astype(int))
    np.testing.assert_allclose(after.heatmaps, fresh.heatmaps, atol=1e-5)
    np.testing.assert_array_equal(after.class_index, labels[:, 0].astype(int))
    assert callback.history["gradcam_drift"][1] > 0.0


def test_subclass_with_custom_train_step(tmp_path):
    class CustomStep(keras.Model):
        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                loss = keras.ops.mean(keras.losses.binary_crossentropy(y, self(x, training=True)))
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            return {"loss": loss}

    images, labels = _data(8)
    model = _tiny_model(CustomStep)
    model.compile(keras.optimizers.SGD(0.05))
    callback = GradCAMCallback(images[:3], log_dir=tmp_path)
    history = model.fit(images, labels, epochs=2, verbose=0, callbacks=[callback])
    assert callback.explainer.target_layers == ["relu"]
    assert len(history.history["gradcam_drift"]) == 2
    assert math.isfinite(history.history["gradcam_drift"][1])
    assert {"epoch_001.png", "epoch_002.png"} <= set(_files(tmp_path))


def test_class_index_overrides_labels_and_method_is_looked_up(tmp_path):
    images, _ = _data(3)
    callback = GradCAMCallback(
        images, labels=[0, 1, 0], class_index=1, method="gradcam++", log_dir=tmp_path
    )
    callback_list = keras.callbacks.CallbackList([callback], model=_tiny_model())
    callback_list.on_train_begin()
    callback_list.on_epoch_end(0)
    assert isinstance(callback.explainer, keras_cxr.GradCAMPlusPlus)
    explanation = callback.last_explanation
    np.testing.assert_array_equal(explanation.class_index, [1, 1, 1])
    probabilities = explanation.predictions[:, 0]  # of class 1, a single sigmoid unit
    np.testing.assert_allclose(explanation.probabilities, probabilities, rtol=1e-6)


class NoGraphNet(keras.Model):
    """A subclassed model without a Functional graph."""

    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.dense = keras.layers.Dense(1, activation="sigmoid", name="dense")

    def call(self, inputs):
        return self.dense(self.pool(self.conv(inputs)))


def test_subclassed_model_without_graph_needs_an_explicit_layer(tmp_path):
    images, _ = _data(4)
    model = NoGraphNet()
    model(images[:1])
    callback = GradCAMCallback(images, log_dir=tmp_path, layer="conv")
    callback_list = keras.callbacks.CallbackList([callback], model=model)
    callback_list.on_train_begin()
    callback_list.on_epoch_end(0)
    assert callback.explainer.target_layers == ["conv"]
    assert callback.last_explanation.heatmaps.shape == (4, SIZE, SIZE)

    automatic = keras.callbacks.CallbackList([GradCAMCallback(images, log_dir=tmp_path)])
    automatic.set_model(model)
    with pytest.raises(ValueError, match="is subclassed, so its graph cannot be searched"):
        automatic.on_train_begin()


def test_train_end_logs_the_last_epoch_when_it_was_not_due(tmp_path):
    images, labels = _data(4)
    model = _tiny_model()
    callback = GradCAMCallback(images, log_dir=tmp_path, every=5)
    _hand_written_loop(model, [callback], images, labels, epochs=2)  # no `epochs` param
    assert callback.logged_epochs == [0, 1]
    assert "epoch_002.png" in _files(tmp_path)
    assert math.isfinite(callback.history["gradcam_drift"][1])
    assert math.isnan(model.history.history["gradcam_drift"][1])  # that row was written


@pytest.mark.slow
def test_stacked_ensemble(tmp_path):
    model = keras_cxr.StackedEnsemble(
        backbones=("mobilenet_v2",), weights=None, input_shape=(SIZE, SIZE, 3), head_units=(8,)
    )
    images, _ = _data(2)
    callback = GradCAMCallback(images, labels=[0, 1], log_dir=tmp_path)
    callback_list = keras.callbacks.CallbackList([callback], model=model)
    callback_list.on_train_begin()
    callback_list.on_epoch_end(0)
    assert callback.explainer.target_layers[0].startswith("stacked_backbones/mobilenet_v2/")
    assert cv2.imread(str(tmp_path / "epoch_001.png")) is not None


# ---------------------------------------------------------------------- sample sources
def test_dataset_of_batches_gives_images_and_labels():
    images, labels = _data(10)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(3)
    callback = GradCAMCallback(dataset, max_images=5)
    assert callback._samples.shape == (5, SIZE, SIZE, 3)
    np.testing.assert_array_equal(callback._samples, images[:5])
    np.testing.assert_array_equal(callback._labels, labels[:5, 0].astype(int))


def test_unbatched_dataset_of_images_and_one_hot_labels():
    images, _ = _data(3)
    callback = GradCAMCallback(tf.data.Dataset.from_tensor_slices(images).repeat())
    assert callback._samples.shape == (16, SIZE, SIZE, 3) and callback._labels is None
    one_hot = np.eye(3, dtype="float32")[[2, 0, 1]]
    callback = GradCAMCallback(tf.data.Dataset.from_tensor_slices((images, one_hot)))
    np.testing.assert_array_equal(callback._labels, [2, 0, 1])


def test_image_paths_are_read_as_rgb_and_resized_with_their_masks(tmp_path):
    paths = []
    for index in range(3):
        picture = np.zeros((40, 48, 3), np.uint8)
        picture[..., 2] = 255  # red in OpenCV's BGR order
        path = tmp_path / f"xray_{index}.png"
        cv2.imwrite(str(path), picture)
        paths.append(str(path))
    masks = np.zeros((3, 40, 48), bool)
    masks[:, :20] = True
    callback = GradCAMCallback(paths, log_dir=tmp_path / "logs", masks=masks)
    callback_list = keras.callbacks.CallbackList([callback], model=_tiny_model())
    callback_list.on_train_begin()
    assert callback._images.shape == (3, SIZE, SIZE, 3)
    assert (callback._images[..., 0] == 255).all() and (callback._images[..., 2] == 0).all()
    assert callback._explained_masks.shape == (3, SIZE, SIZE)
    assert callback._explained_masks[:, :16].all() and not callback._explained_masks[:, 16:].any()


# ---------------------------------------------------------------------- faults
def test_unwritable_log_dir_warns_once_and_training_goes_on(tmp_path):
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("")
    images, labels = _data(8)
    callback = GradCAMCallback(images[:2], log_dir=blocker / "gradcam")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        history = _tiny_model().fit(images, labels, epochs=3, verbose=0, callbacks=[callback])
    messages = _gradcam_warnings(record)
    assert len(messages) == 1
    assert "log_dir could not be created" in messages[0]
    assert "Training continues" in messages[0]
    assert len(history.history["loss"]) == 3
    assert math.isfinite(history.history["gradcam_drift"][2])


@pytest.fixture
def driven(tmp_path):
    """A callback on a tiny model, with a `CallbackList` to drive epochs by hand."""
    images, _ = _data(2)
    callback = GradCAMCallback(images, log_dir=tmp_path / "gradcam")
    callback_list = keras.callbacks.CallbackList([callback], model=_tiny_model())
    callback_list.on_train_begin()
    return callback, callback_list, tmp_path / "gradcam"


def test_deleted_log_dir_is_recreated_with_one_warning(driven):
    _, callback_list, log_dir = driven
    callback_list.on_epoch_end(0)
    shutil.rmtree(log_dir)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for epoch in (1, 2):
            callback_list.on_epoch_end(epoch)
    messages = _gradcam_warnings(record)
    assert len(messages) == 1 and "deleted during training" in messages[0]
    assert [n for n in _files(log_dir) if n.endswith(".png")] == ["epoch_002.png", "epoch_003.png"]
    steps = [e.step for e in _read_events(log_dir).Tensors("gradcam/image_0")]
    assert steps == [1, 2]


def test_failing_png_write_leaves_no_partial_file_and_warns_once(driven, monkeypatch):
    callback, callback_list, log_dir = driven

    def half_written(self, handle, **kwargs):
        handle.write(b"\x89PNG\r\n\x1a\n partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", half_written)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for epoch in range(3):
            callback_list.on_epoch_end(epoch)
        messages = _gradcam_warnings(record)
        assert len(messages) == 1
        assert "writing the PNG failed" in messages[0] and "No space left" in messages[0]
        names = _files(log_dir)
        assert not [n for n in names if n.endswith((".png", ".tmp")) or n.startswith(".")]
        assert [e.step for e in _read_events(log_dir).Tensors("gradcam/image_0")] == [0, 1, 2]

        monkeypatch.undo()  # the disk frees up: writing works again ...
        callback_list.on_epoch_end(3)
        assert "epoch_004.png" in _files(log_dir)
        monkeypatch.setattr(matplotlib.figure.Figure, "savefig", half_written)
        callback_list.on_epoch_end(4)  # ... so a new failure is reported again
        assert len(_gradcam_warnings(record)) == 2
    assert len(callback.history["gradcam_drift"]) == 5


def test_failing_rename_removes_the_temporary_file(driven, monkeypatch):
    _, callback_list, log_dir = driven

    def refuse(source, destination):
        raise PermissionError(13, "Permission denied", destination)

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.warns(UserWarning, match="writing the PNG failed"):
        callback_list.on_epoch_end(0)
    monkeypatch.undo()
    assert not [n for n in _files(log_dir) if not n.startswith("events.out.tfevents")]


def test_failing_tensorboard_write_still_writes_the_png(driven, monkeypatch):
    _, callback_list, log_dir = driven

    def broken(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "quota exceeded")

    monkeypatch.setattr(tf.summary, "image", broken)
    with pytest.warns(UserWarning, match="writing TensorBoard events failed"):
        callback_list.on_epoch_end(0)
    assert "epoch_001.png" in _files(log_dir)


def test_without_tensorboard_a_warning_says_so_and_the_png_is_written(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard.summary.v2", None)  # import fails
    images, _ = _data(2)
    callback = GradCAMCallback(images, log_dir=tmp_path)
    callback_list = keras.callbacks.CallbackList([callback], model=_tiny_model())
    with pytest.warns(UserWarning, match=re.escape("`pip install tensorboard`")):
        callback_list.on_train_begin()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        callback_list.on_epoch_end(0)
        callback_list.on_train_end()
    assert _files(tmp_path) == ["epoch_001.png"]


# ---------------------------------------------------------------------- argument errors
def _message(argument: str, expected: str, received: str) -> str:
    return re.escape(
        f"Invalid value received for argument `{argument}`. Expected {expected}. "
        f"Received: {argument}={received}"
    )


IMAGES, LABELS = _data(4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"images": np.zeros((0, SIZE, SIZE, 3))},
            _message("images", "at least one image", "'shape (0, 32, 32, 3)'"),
        ),
        ({"images": []}, _message("images", "at least one image", "'shape (0,)'")),
        (
            {"images": IMAGES[0]},
            _message(
                "images",
                "a 4-D batch (N, height, width, channels). Add a batch axis with images[None].",
                "'shape (32, 32, 3)'",
            ),
        ),
        (
            {"images": IMAGES, "labels": [0, 1, 1]},
            _message("labels", "one entry per image (4)", "'3 entries'"),
        ),
        (
            {"images": IMAGES, "labels": [0, 1, 0.5, 1]},
            _message(
                "labels",
                "non-negative integer class indices (pass class_index= to explain another class)",
                "[0.0, 1.0, 0.5, 1.0]",
            ),
        ),
        (
            {"images": IMAGES, "masks": _masks(5)},
            _message("masks", "one entry per image (4)", "'5 entries'"),
        ),
        (
            {"images": IMAGES, "masks": _masks(4)[:, :16]},
            _message("masks", "masks of the images' size (32, 32)", "'shape (4, 16, 32)'"),
        ),
        (
            {"images": IMAGES, "masks": _masks(4) * 2},
            _message("masks", "binary masks (bool or 0/1)", "'other values'"),
        ),
        (
            {"images": IMAGES, "class_index": [0, 1]},
            _message("class_index", "one entry per image (4)", "'2 entries'"),
        ),
        (
            {"images": IMAGES, "class_index": -1},
            _message("class_index", "non-negative class indices", "-1"),
        ),
        ({"images": IMAGES, "every": 0}, _message("every", "an integer >= 1", "0")),
        ({"images": IMAGES, "every": 1.5}, _message("every", "an integer >= 1", "1.5")),
        ({"images": IMAGES, "max_images": 0}, _message("max_images", "an integer >= 1", "0")),
        ({"images": IMAGES, "log_dir": ""}, _message("log_dir", "a non-empty path", "''")),
        (
            {"images": IMAGES, "method": "gradcam2"},
            _message(
                "method",
                "one of ['eigencam', 'gradcam', 'gradcam++', 'hirescam', 'layercam', "
                "'scorecam', 'xgradcam']",
                "'gradcam2'",
            ),
        ),
    ],
)
def test_bad_arguments_raise_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        GradCAMCallback(**kwargs)


def test_bad_sources_raise_at_construction(tmp_path):
    empty = tf.data.Dataset.from_tensor_slices(np.zeros((0, SIZE, SIZE, 3), "float32"))
    with pytest.raises(ValueError, match=_message("images", "at least one image", "'an empty")):
        GradCAMCallback(empty)
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match="Expected paths of readable image files"):
        GradCAMCallback([str(tmp_path / "notes.txt")])
    dataset = tf.data.Dataset.from_tensor_slices(IMAGES).batch(2)
    with pytest.raises(
        ValueError,
        match=_message("labels", "at least one entry per image taken (4)", "'3 entries'"),
    ):
        GradCAMCallback(dataset, labels=[0, 1, 0])


def test_mismatches_with_the_model_raise_when_training_begins(tmp_path):
    small = np.zeros((2, 24, 24, 3), "float32")
    callback_list = keras.callbacks.CallbackList(
        [GradCAMCallback(small, log_dir=tmp_path)], model=_tiny_model()
    )
    with pytest.raises(ValueError, match=re.escape("Expected images of shape (N, 32, 32, 3)")):
        callback_list.on_train_begin()
    callback_list = keras.callbacks.CallbackList(
        [GradCAMCallback(IMAGES, labels=[0, 1, 3, 0], log_dir=tmp_path)], model=_tiny_model()
    )
    expected = _message(
        "labels", "class indices in [0, 1] for the 1 output unit(s) of model `tiny`", "[0, 1, 3, 0]"
    )
    with pytest.raises(ValueError, match=f"^{expected}$"):
        callback_list.on_train_begin()


# ---------------------------------------------------------------------- drift
maps = hnp.arrays(
    np.float32,
    st.tuples(st.integers(1, 3), st.integers(2, 6), st.integers(2, 6)),
    elements=st.floats(0, 1, width=32),
)


@settings(max_examples=60, deadline=None)
@given(maps, st.data())
def test_heatmap_correlation_properties(current, data):
    previous = data.draw(hnp.arrays(np.float32, current.shape, elements=st.floats(0, 1, width=32)))
    correlation = _heatmap_correlations(current, previous)
    assert correlation.shape == (current.shape[0],)
    assert np.isfinite(correlation).all() and (np.abs(correlation) <= 1.0).all()
    np.testing.assert_allclose(_heatmap_correlations(previous, current), correlation, atol=1e-12)
    np.testing.assert_allclose(_heatmap_correlations(current, current), 1.0, atol=1e-9)
    varying = (np.ptp(current, axis=(1, 2)) > 1e-3) & (np.ptp(previous, axis=(1, 2)) > 1e-3)
    for index in np.flatnonzero(varying):
        a, b = current[index].ravel(), previous[index].ravel()
        expected = np.corrcoef(a.astype(np.float64), b.astype(np.float64))[0, 1]
        assert correlation[index] == pytest.approx(expected, abs=1e-6)
        scaled = _heatmap_correlations(
            3 * current[index : index + 1] + 0.5, previous[index : index + 1]
        )
        assert scaled[0] == pytest.approx(expected, abs=1e-6)


def test_constant_heatmaps_have_a_defined_correlation():
    zeros, ones = np.zeros((1, 4, 4)), np.ones((1, 4, 4))
    ramp = np.arange(16, dtype=float).reshape(1, 4, 4)
    assert _heatmap_correlations(zeros, ones).tolist() == [1.0]
    assert _heatmap_correlations(zeros, ramp).tolist() == [0.0]
    assert _heatmap_correlations(ramp, -ramp).tolist() == [-1.0]
