"""Tests of `GradCAMCallback`'s argument errors: at construction and when training begins."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_cxr.callbacks import GradCAMCallback

from ._toy import SIZE, data, invalid_message, masks, tiny_model

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch

IMAGES, LABELS = data(4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"images": np.zeros((0, SIZE, SIZE, 3))},
            invalid_message("images", "at least one image", "'shape (0, 32, 32, 3)'"),
        ),
        ({"images": []}, invalid_message("images", "at least one image", "'shape (0,)'")),
        (
            {"images": IMAGES[0]},
            invalid_message(
                "images",
                "a 4-D batch (N, height, width, channels). Add a batch axis with images[None].",
                "'shape (32, 32, 3)'",
            ),
        ),
        (
            {"images": IMAGES, "labels": [0, 1, 1]},
            invalid_message("labels", "one entry per image (4)", "'3 entries'"),
        ),
        (
            {"images": IMAGES, "labels": [0, 1, 0.5, 1]},
            invalid_message(
                "labels",
                "non-negative integer class indices (pass class_index= to explain another class)",
                "[0.0, 1.0, 0.5, 1.0]",
            ),
        ),
        (
            {"images": IMAGES, "masks": masks(5)},
            invalid_message("masks", "one entry per image (4)", "'5 entries'"),
        ),
        (
            {"images": IMAGES, "masks": masks(4)[:, :16]},
            invalid_message("masks", "masks of the images' size (32, 32)", "'shape (4, 16, 32)'"),
        ),
        (
            {"images": IMAGES, "masks": masks(4) * 2},
            invalid_message("masks", "binary masks (bool or 0/1)", "'other values'"),
        ),
        (
            {"images": IMAGES, "class_index": [0, 1]},
            invalid_message("class_index", "one entry per image (4)", "'2 entries'"),
        ),
        (
            {"images": IMAGES, "class_index": -1},
            invalid_message("class_index", "non-negative class indices", "-1"),
        ),
        ({"images": IMAGES, "every": 0}, invalid_message("every", "an integer >= 1", "0")),
        ({"images": IMAGES, "every": 1.5}, invalid_message("every", "an integer >= 1", "1.5")),
        (
            {"images": IMAGES, "max_images": 0},
            invalid_message("max_images", "an integer >= 1", "0"),
        ),
        ({"images": IMAGES, "log_dir": ""}, invalid_message("log_dir", "a non-empty path", "''")),
        (
            {"images": IMAGES, "model": "tiny"},
            invalid_message("model", "None or a keras.Model", "'str'"),
        ),
        (
            {"images": IMAGES, "method": "gradcam2"},
            invalid_message(
                "method",
                "one of ['attention-gradient', 'attention-rollout', 'eigencam', 'gradcam', "
                "'gradcam++', 'gradient-times-input', "
                "'hirescam', 'integrated-gradients', 'layercam', 'lime', 'occlusion', "
                "'saliency', 'scorecam', 'shap', 'smoothgrad', 'vargrad', 'xgradcam']",
                "'gradcam2'",
            ),
        ),
        (
            {"images": IMAGES, "method": "saliency", "layer": "conv"},
            invalid_message(
                "layer",
                "None for Saliency, which explains the input pixels rather than a layer",
                "'conv'",
            ),
        ),
    ],
)
def test_bad_arguments_raise_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        GradCAMCallback(**kwargs)


def test_bad_sources_raise_at_construction(tmp_path):
    empty = tf.data.Dataset.from_tensor_slices(np.zeros((0, SIZE, SIZE, 3), "float32"))
    with pytest.raises(
        ValueError, match=invalid_message("images", "at least one image", "'an empty")
    ):
        GradCAMCallback(empty)
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match="Expected paths of readable image files"):
        GradCAMCallback([str(tmp_path / "notes.txt")])
    dataset = tf.data.Dataset.from_tensor_slices(IMAGES).batch(2)
    with pytest.raises(
        ValueError,
        match=invalid_message("labels", "at least one entry per image taken (4)", "'3 entries'"),
    ):
        GradCAMCallback(dataset, labels=[0, 1, 0])


def test_mismatches_with_the_model_raise_when_training_begins(tmp_path):
    small = np.zeros((2, 24, 24, 3), "float32")
    callback_list = keras.callbacks.CallbackList(
        [GradCAMCallback(small, log_dir=tmp_path)], model=tiny_model()
    )
    with pytest.raises(ValueError, match=re.escape("Expected images of shape (batch, 32, 32, 3)")):
        callback_list.on_train_begin()
    callback_list = keras.callbacks.CallbackList(
        [GradCAMCallback(IMAGES, labels=[0, 1, 3, 0], log_dir=tmp_path)], model=tiny_model()
    )
    expected = invalid_message(
        "labels", "class indices in [0, 1] for the 1 output unit(s) of model `tiny`", "[0, 1, 3, 0]"
    )
    with pytest.raises(ValueError, match=f"^{expected}$"):
        callback_list.on_train_begin()
