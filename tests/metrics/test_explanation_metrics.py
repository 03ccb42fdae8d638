"""`EXPLANATION_METRICS`: every entry scores per image, with the metric's own function at the
settings it documents, and its name is a public metric."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_cxr
from keras_cxr import metrics
from keras_cxr.metrics import EXPLANATION_METRICS, MetricInputs
from tests.explain.models import tiny_cnn, with_random_weights

FAMILIES = {"localisation", "faithfulness", "robustness", "randomisation", "complexity"}


@pytest.fixture(scope="module")
def inputs():
    """Three 16 px images of a tiny random CNN, its Saliency maps and square masks.

    The weights are drawn here, small: Keras's own unseeded draws (a module fixture is
    built before the autouse per-test seed) often saturated the sigmoid on 0-255 pixels,
    and then faithfulness correlation is NaN (no prediction moves).
    """
    model = with_random_weights(tiny_cnn((16, 16, 1)), seed=0, scale=0.05)
    images = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 1)).astype("float32")
    explainer = keras_cxr.explain.Saliency(model)
    heatmaps = np.asarray(explainer.explain(images, class_index=1).heatmaps, np.float64)
    masks = np.zeros((3, 16, 16), bool)
    masks[0, 2:8, 2:8] = masks[1, 8:, 8:] = True  # the third image has no finding

    def explain_with(other, batch):
        return keras_cxr.explain.Saliency(other).explain(batch, class_index=1).heatmaps

    return MetricInputs(
        heatmaps, masks, images, lambda batch: keras.ops.convert_to_numpy(model(batch)), 1, 2,
        explainer, explain_with, model, 255.0, 8,
    )  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPLANATION_METRICS))
def test_every_metric_scores_each_image(inputs, name):
    entry = EXPLANATION_METRICS[name]
    values = np.asarray(entry.score(inputs), np.float64)
    assert values.shape == (3,)
    assert entry.family in FAMILIES and entry.better in ("higher", "lower")
    assert callable(getattr(metrics, name, None)) or name in ("deletion_auc", "insertion_auc")
    if entry.needs_masks:  # the image without a finding has nothing to localise
        assert np.isnan(values[2]) and np.isfinite(values[:2]).all()
    else:
        assert np.isfinite(values).any()


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("pointing_game", lambda i: metrics.pointing_game(i.heatmaps, i.masks, per_image=True)),
        ("top_k_iou", lambda i: metrics.top_k_iou(i.heatmaps, i.masks, k=0.05, per_image=True)),
        # k: 2% of the pixels, Quantus's 1000 of 224 x 224.
        ("top_k_intersection",
         lambda i: metrics.top_k_intersection(i.heatmaps, i.masks, k=5, per_image=True)),
        ("complexity", lambda i: metrics.complexity(i.heatmaps, per_image=True)),
        # Quantus's radius 0.2 for [0, 1] images, here in 0-255 units.
        ("max_sensitivity", lambda i: metrics.max_sensitivity(
            i.explainer, i.images, 1, radius=51.0, num_samples=10, per_image=True)),
        ("deletion_auc", lambda i: metrics.deletion_auc(
            i.predict_fn, i.images, i.heatmaps, 1, per_image=True)),
    ],
)  # fmt: skip
def test_an_entry_is_its_metric_at_the_stated_settings(inputs, name, call):
    np.testing.assert_allclose(EXPLANATION_METRICS[name].score(inputs), call(inputs), rtol=1e-6)


def test_the_defaults_cover_four_families_cheaply():
    defaults = metrics.DEFAULT_EXPLANATION_METRICS
    assert {EXPLANATION_METRICS[name].family for name in defaults} == FAMILIES - {"robustness"}


def test_random_logit_reuses_the_maps_it_is_given(inputs):
    calls = []

    class Counting:
        def explain(self, images, class_index):
            calls.append(np.asarray(class_index).tolist())
            return inputs.explainer.explain(images, class_index)

    maps = np.asarray(inputs.explainer.explain(inputs.images, 1).attributions)
    score = EXPLANATION_METRICS["random_logit"].score
    given = score(inputs._replace(explainer=Counting(), maps=maps))
    assert calls == [[0, 0, 0]]  # the other class only
    np.testing.assert_allclose(given, score(inputs), rtol=1e-6)
