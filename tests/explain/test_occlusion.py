"""Occlusion against a hand-written loop over patches scored by `model.predict`."""

import numpy as np
import pytest

from keras_cxr.explain import Occlusion
from keras_cxr.explain.occlusion import patch_windows

from .models import tiny_cnn, with_random_weights

#: Run under every Keras backend (tests/test_backends.py).
pytestmark = pytest.mark.backends


def occlusion_by_hand(model, images, class_index, patch, stride, value):
    """Mean drop of p(class) over the patches covering each pixel, one patch at a time."""
    height, width = images.shape[1:3]
    tops = sorted({*range(0, height - patch[0] + 1, stride[0]), height - patch[0]})
    lefts = sorted({*range(0, width - patch[1] + 1, stride[1]), width - patch[1]})
    occluded, boxes = [], []
    for image in images:
        for top in tops:
            for left in lefts:
                copy = image.copy()
                copy[top : top + patch[0], left : left + patch[1], :] = value
                occluded.append(copy)
                boxes.append((top, left))

    def probability(batch):
        positive = np.asarray(model.predict(np.stack(batch), verbose=0))[:, 0]
        return positive if class_index == 1 else 1.0 - positive

    drops = np.repeat(probability(list(images)), len(tops) * len(lefts)) - probability(occluded)
    total = np.zeros(images.shape[:3])
    count = np.zeros(images.shape[:3])
    for number, ((top, left), drop) in enumerate(zip(boxes, drops)):
        image = number // (len(tops) * len(lefts))
        total[image, top : top + patch[0], left : left + patch[1]] += drop
        count[image, top : top + patch[0], left : left + patch[1]] += 1
    return total / count


@pytest.mark.parametrize(
    ("patch", "stride", "value"),
    # The last: the largest stride allowed tiles the image (plus the flush last position).
    [((5, 5), (3, 3), 0.0), ((4, 6), (4, 5), 128.0), ((5, 5), (5, 5), 0.0)],
)
@pytest.mark.parametrize("class_index", [0, 1])
def test_occlusion_by_hand(patch, stride, value, class_index):
    model = with_random_weights(tiny_cnn(), seed=2, scale=0.05)
    images = np.random.default_rng(1).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    explainer = Occlusion(
        model,
        patch=patch,
        stride=stride,
        baseline=value,
        score="probability",
        internal_batch_size=7,
    )
    explanation = explainer.explain(images, class_index=class_index)
    expected = occlusion_by_hand(model, images, class_index, patch, stride, value)
    assert np.abs(expected).max() > 1e-3, "the patches change the score"
    assert np.isfinite(explanation.attributions).all()
    np.testing.assert_allclose(explanation.attributions, expected, rtol=1e-3, atol=1e-6)
    assert explanation.method == "occlusion" and explanation.display == "positive"


def test_windows_cover_every_pixel_and_reach_the_edges():
    windows = patch_windows((10, 7), (4, 3), (3, 3))
    assert [(r.start, c.start) for r, c in windows][:4] == [(0, 0), (0, 3), (0, 4), (3, 0)]
    covered = np.zeros((10, 7), int)
    for rows, cols in windows:
        covered[rows, cols] += 1
    assert covered.min() >= 1
    assert {r.stop for r, _ in windows} >= {10} and {c.stop for _, c in windows} >= {7}


def test_default_stride_is_half_the_patch():
    assert Occlusion(tiny_cnn(), patch=(6, 5)).stride == (3, 2)
    assert Occlusion(tiny_cnn(), patch=1).stride == (1, 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patch": 0}, r"argument `patch`. Expected a positive integer or a pair of them"),
        ({"patch": (4, 4, 4)}, r"argument `patch`.*Received: patch=\(4, 4, 4\)"),
        ({"stride": 1.5}, r"argument `stride`.*Received: stride=1.5"),
        (
            {"patch": 4, "stride": 5},
            r"argument `stride`. Expected a stride no larger than the patch \(4, 4\), so "
            r"that every pixel is covered by some patch position. Received: stride=5",
        ),
        ({"patch": (4, 6), "stride": (4, 7)}, r"no larger than the patch \(4, 6\)"),
        ({"baseline": "black"}, r"argument `baseline`. Expected a finite number"),
        ({"baseline": np.nan}, r"argument `baseline`. Expected a finite number"),
        ({"internal_batch_size": 0}, r"argument `internal_batch_size`"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Occlusion(tiny_cnn(), **kwargs)


def test_a_patch_larger_than_the_image_is_refused_before_any_work():
    explainer = Occlusion(tiny_cnn(), patch=(8, 20))
    with pytest.raises(
        ValueError,
        match=r"argument `patch`. Expected a patch no larger than the images \(16×16\). "
        r"Received: patch=\(8, 20\)",
    ):
        explainer.explain(np.zeros((1, 16, 16, 3)))
    assert explainer._compiled == {}
