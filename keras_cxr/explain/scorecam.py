"""Score-CAM: channel weights from the score of the image masked by each channel."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from keras_cxr import backend
from keras_cxr._validation import invalid_value
from keras_cxr.explain import heatmaps as hm
from keras_cxr.explain.base import BaseCAM
from keras_cxr.explain.class_targets import resolve_classes, select_scores


class ScoreCAM(BaseCAM):
    """Score-CAM: gradient-free weights measured by masking the input.

    Each selected channel, upsampled and scaled to [0, 1], masks the input image; the
    class score of the masked image (through the whole model) measures that channel's
    importance, and a softmax over channels gives the weights. This costs one forward
    pass per channel, so only the `max_channels` most activated channels of each image
    are used, and masked images are scored `batch_size` at a time: memory stays that of
    one batch whatever the channel count. Needs a Functional or Sequential model.

    Args:
        model: The Keras model (Functional or Sequential).
        layer: As for `keras_cxr.GradCAM`.
        max_channels: Channels per image and layer (those with the highest peak
            activation). Defaults to 64.
        **kwargs: `output`, `score`, `batch_size` as for `keras_cxr.GradCAM`.

    Raises:
        ValueError: For a subclassed model, a bad `max_channels`, or as `GradCAM`.

    Example:
        >>> explanation = keras_cxr.explain.ScoreCAM(model, max_channels=32).explain(images)

    Reference:
        Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional
        Neural Networks", CVPR Workshops 2020.
    """

    method_name = "scorecam"
    needs_gradients = False

    def __init__(self, model: keras.Model, layer: Any = None, *, max_channels: int = 64, **kwargs):
        super().__init__(model, layer, **kwargs)
        if self._split is None:
            raise ValueError(
                "ScoreCAM needs a Functional or Sequential model to score masked images; "
                "use GradCAM for subclassed models."
            )
        if isinstance(max_channels, bool) or not isinstance(max_channels, int) or max_channels < 1:
            raise invalid_value("max_channels", "an integer >= 1", max_channels)
        self.max_channels = max_channels
        self._forward = None
        self._masked_scores = None

    def _explain_chunk(self, chunk: np.ndarray, classes: np.ndarray) -> dict:
        if self._forward is None:
            signature = self._signature(chunk)
            self._forward = backend.compile_function(self._features_and_logits, signature)
            self._masked_scores = backend.compile_function(self._scores, signature)
        features, logits, classes = self._forward(chunk, classes)
        raw = [self._layer_cam(chunk, ops.cast(a, "float32"), classes) for a in features]
        result = self._finish(chunk, raw, logits, classes, chunk.shape[1:3])
        return {key: np.asarray(value) for key, value in result.items()}

    def _head(self, features, images):
        extra = [images] if self._split.head_needs_image else []
        return self._split.head([*features, *extra], training=False)

    def _features_and_logits(self, images, class_index):
        features = self._split.features(images, training=False)
        features = list(features) if isinstance(features, (list, tuple)) else [features]
        logits = self._head(features, images)
        return features, logits, resolve_classes(logits, class_index)

    def _scores(self, images, classes):
        features = self._split.features(images, training=False)
        features = list(features) if isinstance(features, (list, tuple)) else [features]
        logits = self._head(features, images)
        return select_scores(logits, classes, self.score, self._split.activation)

    def _layer_cam(self, images: np.ndarray, activations, classes):
        batch, height, width = images.shape[:3]
        count = min(self.max_channels, int(activations.shape[-1]))
        _, chosen = ops.top_k(ops.max(activations, axis=(1, 2)), count)
        selected = ops.take_along_axis(activations, chosen[:, None, None, :], axis=-1)
        masks = ops.image.resize(selected, (height, width), interpolation="bilinear")
        masks = ops.transpose(masks, (0, 3, 1, 2))
        masks = ops.reshape(
            hm.normalize(ops.reshape(masks, (-1, height, width))), (batch, count, height, width)
        )
        per_call = max(1, self.batch_size // batch)
        scores = []
        for start in range(0, count, per_call):
            part = masks[:, start : start + per_call]
            size = int(part.shape[1])
            masked = images[:, None] * ops.expand_dims(part, -1)
            masked = ops.reshape(masked, (batch * size, *images.shape[1:]))
            repeated = ops.repeat(classes, size, axis=0)
            scores.append(ops.reshape(self._masked_scores(masked, repeated), (batch, size)))
        weights = ops.softmax(ops.concatenate(scores, axis=1), axis=-1)
        return ops.relu(ops.sum(selected * weights[:, None, None, :], axis=-1))
