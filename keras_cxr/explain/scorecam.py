"""Score-CAM: channel weights from the score of the image masked by each channel."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from keras_cxr._validation import check_int
from keras_cxr.explain import heatmaps as hm
from keras_cxr.explain.base import BaseCAM
from keras_cxr.explain.class_targets import resolve_classes, select_scores
from keras_cxr.explain.other_inputs import take_rows


class ScoreCAM(BaseCAM):
    """Score-CAM: gradient-free channel weights, measured by masking the input.

    Each channel `A_k` of the target feature map, upsampled bilinearly to the input size
    and min-max scaled to [0, 1], masks the input image: `H_k = s(Up(A_k))`. The weight of
    the channel is its *increase of confidence* over a black baseline image `X_b` (all
    zeros, which is also what the mask leaves where it is 0):

        w_k = f(X ∘ H_k) − f(X_b),    map = ReLU(Σ_k w_k · A_k)

    where `f` is the explained class score, taken through the whole model. With the default
    `score="probability"` it is the class's probability (softmax over the classes; for a
    single sigmoid unit the sigmoid, or 1 − sigmoid for class 0), as in the paper; with
    `score="logit"` it is the pre-activation score, which does not saturate. A model whose
    output has no sigmoid or softmax is scored on its raw output in both modes. A channel
    that is constant over the image gives an all-zero mask, hence the baseline's score and a
    weight of exactly 0 (the authors' code skips such channels). The weights are used as
    they are, as in the authors' code, with no softmax over channels (the paper's
    Algorithm 1 adds one): on probabilities, all within [0, 1], it would make the weights
    nearly equal, and on logits it would cancel the baseline and pile the weight onto the
    few best channels. Unlike the authors' code, the baseline's score is subtracted rather
    than assumed to be 0.
    For a single sigmoid unit, class 0's weights are class 1's negated, so a channel counts
    as evidence for one class or the other.

    Scoring costs one forward pass per channel, so only the `max_channels` channels with
    the highest peak activation (maximum over positions, per image) are used, and masked
    images are scored `batch_size` at a time: memory stays that of one batch whatever the
    channel count. Needs a Functional or Sequential model.

    Args:
        model: The Keras model (Functional or Sequential).
        layer: As for `keras_cxr.GradCAM`. Defaults to `None` (the last spatial layer of
            every branch).
        max_channels: Channels per image and layer, those with the highest peak
            activation. Defaults to 64.
        score: `"probability"` (default, the paper's definition) or `"logit"`.
        **kwargs: `output` and `batch_size`, as for `keras_cxr.GradCAM`.

    Returns:
        An explainer; call `explain(images, class_index=None)` for a
        `keras_cxr.Explanation` (its `scores` are in the chosen `score` mode).

    Raises:
        ValueError: For a subclassed model, a `max_channels` that is not an integer >= 1,
            or as `keras_cxr.GradCAM`.

    Example:
        >>> explainer = keras_cxr.ScoreCAM(model, max_channels=32)
        >>> explanation = explainer.explain(images, class_index=1)

    Reference:
        Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional
        Neural Networks", CVPR Workshops 2020 (the channel-wise increase of confidence,
        on post-softmax scores, over a black baseline image); the authors' code,
        github.com/haofanwang/Score-CAM, `cam/scorecam.py`, and their answers in its
        issues #6 and #17 on the baseline and the softmax.
    """

    method_name = "scorecam"
    needs_gradients = False

    def __init__(
        self,
        model: keras.Model,
        layer: Any = None,
        *,
        max_channels: int = 64,
        score: str = "probability",
        **kwargs,
    ) -> None:
        super().__init__(model, layer, score=score, **kwargs)
        if self._split is None:
            raise ValueError(
                "ScoreCAM needs a Functional or Sequential model to score masked images; "
                "use GradCAM for subclassed models."
            )
        self.max_channels = check_int("max_channels", max_channels)

    def _explain_chunk(self, chunk: np.ndarray, classes: np.ndarray, others: tuple = ()) -> dict:
        features, logits, classes = self._compiled_for(self._features_and_logits, chunk, others)(
            chunk, classes, *others
        )
        compiled = self._compiled_for(self._scores, chunk, others)
        baseline = compiled(np.zeros_like(chunk), classes, *others)

        def score(masked, image_rows, classes):
            return compiled(masked, classes, *take_rows(others, image_rows))

        raw = [
            self._layer_cam(chunk, ops.cast(to_grid(a), "float32"), classes, baseline, score)
            for to_grid, a in zip(self._grids, features)
        ]
        result = self._finish(chunk, raw, logits, classes, chunk.shape[1:3])
        return {key: np.asarray(value) for key, value in result.items()}

    def _features_and_logits(self, images, class_index, *others):
        features = self._features(images, others)
        logits = self._head(features, images, others)
        return features, logits, resolve_classes(logits, class_index)

    def _scores(self, images, classes, *others):
        logits = self._head(self._features(images, others), images, others)
        return select_scores(logits, classes, self.score, self._activation)

    def _layer_cam(self, images: np.ndarray, activations, classes, baseline, score):
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
            masked = ops.expand_dims(images, 1) * ops.expand_dims(part, -1)
            masked = ops.reshape(masked, (batch * size, *images.shape[1:]))
            repeated = ops.repeat(classes, size, axis=0)
            image_rows = np.repeat(np.arange(batch), size)
            scores.append(ops.reshape(score(masked, image_rows, repeated), (batch, size)))
        increase = ops.concatenate(scores, axis=1) - ops.expand_dims(baseline, -1)
        return ops.relu(ops.sum(selected * increase[:, None, None, :], axis=-1))
