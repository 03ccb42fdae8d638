"""Random logit: the off-classes are uniform among the others, and the similarity is theirs."""

import numpy as np
import pytest

from keras_cxr import metrics
from keras_cxr.metrics.off_class_similarity import off_classes

pytestmark = pytest.mark.backends

WEIGHTS = np.random.default_rng(0).normal(size=(4, 12, 12))
IMAGES = np.random.default_rng(1).uniform(size=(5, 12, 12, 1)).astype("float32")


def class_maps(images, classes):
    return images[..., 0] * WEIGHTS[np.asarray(classes)]


def test_off_classes_never_repeat_the_class_and_cover_the_others():
    classes = np.repeat(np.arange(4), 500)
    drawn = off_classes(classes, 4, seed=0)
    assert np.all(drawn != classes)
    for own in range(4):
        counts = np.bincount(drawn[classes == own], minlength=4)
        assert counts[own] == 0 and counts.sum() == 500
        assert np.all(counts[np.arange(4) != own] > 120)  # about 167 each


def test_similarity_is_that_of_the_two_explanations():
    classes = np.array([0, 1, 2, 3, 0])
    others = off_classes(classes, 4, seed=5)
    values = metrics.random_logit(class_maps, IMAGES, classes, 4, similarity="spearman",
                                  seed=5, per_image=True)  # fmt: skip
    expected = metrics.spearman_rank_correlation(
        class_maps(IMAGES, classes), class_maps(IMAGES, others), per_image=True
    )
    np.testing.assert_allclose(values, expected)
    ssim = metrics.random_logit(class_maps, IMAGES, classes, 4, seed=5, per_image=True)
    scaled = [m - m.min(axis=(1, 2), keepdims=True) for m in
              (class_maps(IMAGES, classes), class_maps(IMAGES, others))]  # fmt: skip
    scaled = [m / m.max(axis=(1, 2), keepdims=True) for m in scaled]
    np.testing.assert_allclose(ssim, metrics.ssim(*scaled, per_image=True))
    assert metrics.per_image_interval(ssim, n_resamples=50).point == pytest.approx(ssim.mean())


def test_the_explainer_gets_one_class_per_image_and_an_explain_method_is_used():
    seen = []

    class Explainer:
        def explain(self, images, class_index):
            seen.append(np.asarray(class_index).tolist())
            return class_maps(images, class_index)

    metrics.random_logit(Explainer(), IMAGES[:2], 1, num_classes=2, similarity="spearman")
    assert seen == [[1, 1], [0, 0]]


def test_given_maps_save_the_first_call_and_give_the_same_values():
    seen = []

    def explain(images, classes):
        seen.append(np.asarray(classes).tolist())
        return class_maps(images, classes)

    classes = np.array([0, 1, 2, 3, 0])
    given = metrics.random_logit(explain, IMAGES, classes, 4, seed=5, per_image=True,
                                 maps=class_maps(IMAGES, classes))  # fmt: skip
    assert len(seen) == 1 and seen[0] != classes.tolist()  # only the other classes
    computed = metrics.random_logit(class_maps, IMAGES, classes, 4, seed=5, per_image=True)
    np.testing.assert_array_equal(given, computed)
    with pytest.raises(
        ValueError, match=r"argument `maps`. Expected an array of shape \(5, H, W\)"
    ):
        metrics.random_logit(explain, IMAGES, classes, 4, maps=np.zeros((4, 12, 12)))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"class_index": 4}, r"class_index.*\[0, 4\)"),
        ({"class_index": [0, 1]}, "class_index"),
        ({"num_classes": 1}, "num_classes"),
        ({"similarity": "pearson"}, "similarity"),
        ({"explain_fn": 3}, "explain_fn"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    call = {"explain_fn": class_maps, "class_index": 0, "num_classes": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        metrics.random_logit(images=IMAGES, **call)
