"""Tests of `keras_cxr.callbacks.GradCAMCallback` on tiny 32×32 conv nets: fit, loops, models."""

from __future__ import annotations

import csv
import math

import cv2
import keras
import numpy as np
import pytest
from tensorboard.util import tensor_util

import keras_cxr
from keras_cxr.callbacks import GradCAMCallback
from keras_cxr.data import read_image

from ._files import write_dicom, write_png
from ._loop import train_step
from ._toy import (
    SIZE,
    data,
    decoded,
    expected_drift,
    files,
    masks,
    read_events,
    tiny_model,
    two_branch_model,
)

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


# ---------------------------------------------------------------------- model.fit
@pytest.fixture(scope="module")
def fit_run(tmp_path_factory):
    """One `fit` (no validation data): 5 images given, 4 kept, logged every 2 of 4 epochs."""
    keras.utils.set_random_seed(0)
    root = tmp_path_factory.mktemp("fit")
    images, labels = data()
    callback = GradCAMCallback(
        images[:5],
        labels=labels[:5],
        log_dir=root / "gradcam",
        every=2,
        masks=masks(5),
        max_images=4,
    )
    csv_path = root / "training.csv"
    model = two_branch_model()
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
    pngs = [name for name in files(log_dir) if name.endswith(".png")]
    assert pngs == ["epoch_001.png", "epoch_003.png", "epoch_004.png"]
    assert not [name for name in files(log_dir) if name.startswith(".")]


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
    accumulator = read_events(log_dir)
    tags = accumulator.Tags()["tensors"]
    image_tags = sorted(t for t in tags if t.startswith("gradcam/image_"))
    assert image_tags == [f"gradcam/image_{i}" for i in range(4)]
    assert accumulator.SummaryMetadata("gradcam/image_0").plugin_data.plugin_name == "images"
    events = accumulator.Tensors("gradcam/image_1")
    assert [event.step for event in events] == [0, 2, 3]
    # The PNG's row as one strip: the image and 3 overlays (two branches, fused).
    assert decoded(events[-1]).shape == (SIZE, 4 * SIZE, 3)
    assert [event.step for event in accumulator.Tensors("gradcam/drift")] == [2, 3]
    logged = tensor_util.make_ndarray(accumulator.Tensors("gradcam/pointing")[-1].tensor_proto)
    assert float(logged) == pytest.approx(callback.history["gradcam_pointing"][-1])


# ---------------------------------------------------------------------- loops and models
def _hand_written_loop(model, callbacks, images, labels, epochs: int) -> list[float]:
    """A custom training loop (this backend's own) driving the callbacks via `CallbackList`."""
    callback_list = keras.callbacks.CallbackList(callbacks, add_history=True, model=model)
    optimizer = keras.optimizers.SGD(0.05)
    loss_fn = keras.losses.BinaryCrossentropy()
    losses = []
    callback_list.on_train_begin()
    for epoch in range(epochs):
        losses.append(train_step(model, optimizer, loss_fn, images, labels))
        callback_list.on_epoch_end(epoch, {"loss": losses[-1]})
    callback_list.on_train_end()
    return losses


def test_hand_written_loop_logs_drift_computed_from_the_heatmaps(tmp_path):
    images, labels = data(8)
    model = tiny_model()
    heatmaps = []

    class Recorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            heatmaps.append(callback.last_explanation.heatmaps.copy())

    callback = GradCAMCallback(images[:4], labels=labels[:4], log_dir=tmp_path)
    _hand_written_loop(model, [callback, Recorder()], images, labels, epochs=3)
    assert callback.logged_epochs == [0, 1, 2]
    assert [n for n in files(tmp_path) if n.endswith(".png")] == [
        "epoch_001.png",
        "epoch_002.png",
        "epoch_003.png",
    ]
    assert all(np.ptp(h, axis=(1, 2)).max() > 0.5 for h in heatmaps)  # not all constant
    drift = model.history.history["gradcam_drift"]  # CallbackList shares its logs dict
    assert math.isnan(drift[0])
    assert drift[1] == pytest.approx(expected_drift(heatmaps[1], heatmaps[0]), abs=1e-6)
    assert drift[2] == pytest.approx(expected_drift(heatmaps[2], heatmaps[1]), abs=1e-6)


def test_explainer_is_built_once_and_sees_the_current_weights(tmp_path):
    images, labels = data(4)
    model = tiny_model()
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


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="a train_step override is backend-specific"
)
def test_subclass_with_custom_train_step(tmp_path):
    import tensorflow as tf

    class CustomStep(keras.Model):
        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                loss = keras.ops.mean(keras.losses.binary_crossentropy(y, self(x, training=True)))
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            return {"loss": loss}

    images, labels = data(8)
    model = tiny_model(CustomStep)
    model.compile(keras.optimizers.SGD(0.05))
    callback = GradCAMCallback(images[:3], log_dir=tmp_path)
    history = model.fit(images, labels, epochs=2, verbose=0, callbacks=[callback])
    assert callback.explainer.target_layers == ["relu"]
    assert len(history.history["gradcam_drift"]) == 2
    assert math.isfinite(history.history["gradcam_drift"][1])
    assert {"epoch_001.png", "epoch_002.png"} <= set(files(tmp_path))


def test_class_index_overrides_labels_and_method_is_looked_up(tmp_path):
    images, _ = data(3)
    callback = GradCAMCallback(
        images, labels=[0, 1, 0], class_index=1, method="gradcam++", log_dir=tmp_path
    )
    callback_list = keras.callbacks.CallbackList([callback], model=tiny_model())
    callback_list.on_train_begin()
    callback_list.on_epoch_end(0)
    assert isinstance(callback.explainer, keras_cxr.GradCAMPlusPlus)
    explanation = callback.last_explanation
    np.testing.assert_array_equal(explanation.class_index, [1, 1, 1])
    probabilities = explanation.predictions[:, 0]  # of class 1, a single sigmoid unit
    np.testing.assert_allclose(explanation.probabilities, probabilities, rtol=1e-6)


@pytest.mark.parametrize(
    ("method", "cls"),
    [("integrated-gradients", keras_cxr.explain.IntegratedGradients), ("lime", keras_cxr.LIME)],
)
def test_a_pixel_method_is_built_from_the_model_alone_and_logged(tmp_path, method, cls):
    images, labels = data(3)
    callback = GradCAMCallback(images, labels=labels, method=method, log_dir=tmp_path)
    callback_list = keras.callbacks.CallbackList([callback], model=tiny_model())
    callback_list.on_train_begin()
    callback_list.on_epoch_end(0)
    assert isinstance(callback.explainer, cls)
    explanation = callback.last_explanation
    assert explanation.attributions.shape == explanation.heatmaps.shape == (3, SIZE, SIZE)
    np.testing.assert_array_equal(explanation.class_index, labels[:, 0])
    assert "epoch_001.png" in files(tmp_path)


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
    images, _ = data(4)
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
    images, labels = data(4)
    model = tiny_model()
    callback = GradCAMCallback(images, log_dir=tmp_path, every=5)
    _hand_written_loop(model, [callback], images, labels, epochs=2)  # no `epochs` param
    assert callback.logged_epochs == [0, 1]
    assert "epoch_002.png" in files(tmp_path)
    assert math.isfinite(callback.history["gradcam_drift"][1])
    assert math.isnan(model.history.history["gradcam_drift"][1])  # that row was written


@pytest.mark.slow
def test_stacked_ensemble(tmp_path):
    model = keras_cxr.StackedEnsemble(
        backbones=("mobilenet_v2",), weights=None, input_shape=(SIZE, SIZE, 3), head_units=(8,)
    )
    images, _ = data(2)
    callback = GradCAMCallback(images, labels=[0, 1], log_dir=tmp_path)
    callback_list = keras.callbacks.CallbackList([callback], model=model)
    callback_list.on_train_begin()
    callback_list.on_epoch_end(0)
    assert callback.explainer.target_layers[0].startswith("stacked_backbones/mobilenet_v2/")
    assert cv2.imread(str(tmp_path / "epoch_001.png")) is not None


# ---------------------------------------------------------------------- sample sources
def test_png_and_dicom_paths_are_explained_at_the_model_input_size(tmp_path):
    red = np.zeros((40, 48, 3), np.uint8)
    red[..., 0] = 255
    ramp = np.tile(np.linspace(0, 4000, 48, dtype=np.uint16), (40, 1))
    paths = [write_png(tmp_path / "a.png", red), write_dicom(tmp_path / "b.dcm", ramp)]
    masks = np.zeros((2, 40, 48), bool)
    masks[:, :20] = True
    model = tiny_model()
    callback = GradCAMCallback(paths, labels=[1, 0], masks=masks, log_dir=tmp_path / "logs")
    callback_list = keras.callbacks.CallbackList([callback], model=model)
    callback_list.on_train_begin()
    callback_list.on_epoch_end(0)

    images = np.stack([read_image(path, "rgb", image_size=(SIZE, SIZE)) for path in paths])
    expected = keras_cxr.GradCAM(model).explain(images, class_index=[1, 0])
    np.testing.assert_allclose(callback.last_explanation.heatmaps, expected.heatmaps, atol=1e-5)
    assert "epoch_001.png" in files(tmp_path / "logs")
    assert math.isfinite(callback.history["gradcam_pointing"][0])
