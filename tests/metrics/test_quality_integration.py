"""Integration: the explanation-quality metrics on a tiny CNN trained on synthetic phantoms.

A model that has learned to detect lesions must give Grad-CAM maps that localize them
better than chance, and destroying its weights (cascading model randomization) must
change those maps. This ties `keras_cxr.data.synthetic`, `keras_cxr.explain` and
`keras_cxr.metrics` together; `benchmarks/explanation_quality.py` is the full version.
"""

from __future__ import annotations

import cv2
import keras
import numpy as np
import pytest

from keras_cxr.data.synthetic import make_phantoms
from keras_cxr.explain import GradCAM
from keras_cxr.metrics import (
    energy_in_mask,
    model_randomization_test,
    roc_auc,
    spearman_rank_correlation,
)

SIZE = 48
SEED = 0

pytestmark = pytest.mark.slow


def _conv_block(x, filters: int, name: str):
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
    # Few training steps: the moving statistics need a faster momentum than 0.99.
    x = keras.layers.BatchNormalization(momentum=0.9)(x)
    return keras.layers.ReLU()(x)


def _tiny_cnn() -> keras.Model:
    """Three convolutions, two max-pools, a GAP head: Grad-CAM's map is 12 x 12."""
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.MaxPooling2D()(_conv_block(x, 16, "conv1"))
    x = keras.layers.MaxPooling2D()(_conv_block(x, 32, "conv2"))
    x = keras.layers.GlobalAveragePooling2D()(_conv_block(x, 32, "last_conv"))
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="head")(x))


@pytest.fixture(scope="module")
def trained():
    """A tiny CNN fitted on 48 px phantoms, with held-out positives and their lesions."""
    keras.utils.set_random_seed(SEED)
    train = make_phantoms(480, image_size=SIZE, seed=SEED)
    test = make_phantoms(64, image_size=SIZE, seed=SEED + 1)
    model = _tiny_cnn()
    epochs, batch_size = 8, 32
    schedule = keras.optimizers.schedules.CosineDecay(3e-3, epochs * len(train) // batch_size)
    model.compile(keras.optimizers.Adam(schedule), "binary_crossentropy")
    model.fit(train.images[..., :1], train.labels, epochs=epochs, batch_size=batch_size, verbose=0)
    images = test.images[..., :1].astype("float32")
    auc = roc_auc(test.labels, model.predict(images, verbose=0)[:, 0])
    positives = test.labels == 1
    return model, images[positives], test.lesion_masks[positives], auc


def _random_heatmaps(count: int) -> np.ndarray:
    """Seeded noise as smooth as the CAM (drawn on its 12 x 12 grid, then upsampled)."""
    coarse = np.random.default_rng(SEED).random((count, SIZE // 4, SIZE // 4), dtype=np.float32)
    return np.stack([cv2.resize(c, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR) for c in coarse])


def _gradcam(model, images):
    return GradCAM(model).explain(images, class_index=1).heatmaps


def test_gradcam_localizes_lesions_better_than_random(trained):
    model, images, masks, auc = trained
    assert auc > 0.8, f"the tiny model did not learn the task (test AUC {auc:.3f})"
    gradcam = energy_in_mask(_gradcam(model, images), masks)
    random = energy_in_mask(_random_heatmaps(len(images)), masks)
    # A smooth random map puts about the lesion's area fraction (~4%) inside it.
    assert gradcam > 2 * random, f"Grad-CAM {gradcam:.3f} vs random {random:.3f}"


def test_cascading_randomization_lowers_similarity(trained):
    model, images, _, _ = trained
    images = images[:8]
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    unmodified = spearman_rank_correlation(_gradcam(model, images), _gradcam(copy, images))
    assert unmodified == pytest.approx(1.0)

    rows = model_randomization_test(_gradcam, model, images, mode="cascading", seed=SEED)
    assert [row["layer"] for row in rows] == ["head", "last_conv", "conv2", "conv1"]
    fully_randomized = rows[-1]["spearman"]
    # NaN would mean every randomized map is constant (all-zero), which also differs from
    # the original; with this seed the maps vary, so the correlation is defined.
    assert fully_randomized < 0.75, f"fully randomized Spearman {fully_randomized:.3f}"
