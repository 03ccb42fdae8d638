"""Relative input, output and representation stability against a loop written out here."""

import numpy as np
import pytest

from keras_cxr import metrics

pytestmark = pytest.mark.backends

IMAGES = np.random.default_rng(0).uniform(1.2, 1.8, size=(3, 5, 5, 1)).astype("float32")


def squared(images, classes):
    return np.asarray(images, np.float64)[..., 0] ** 2


def two_scores(images):
    mean = np.asarray(images, np.float64).mean(axis=(1, 2, 3))
    return np.stack([mean, 2 - mean], axis=1)  # class 0 while the mean stays above 1


def reference(images, denominator, samples=4, seed=3, eps=1e-6):
    """The definition, one copy at a time, with the noise drawn as the metrics draw it."""
    rng = np.random.default_rng(seed)
    clean = squared(images, None).reshape(len(images), -1)
    labels = two_scores(images).argmax(axis=1)
    ratios = np.empty((samples, len(images)))
    for sample in range(samples):
        noisy = images + rng.uniform(0.02, 0.2, images.shape).astype("float32")
        maps = squared(noisy, None).reshape(len(images), -1)
        for n in range(len(images)):
            change = np.linalg.norm((clean[n] - maps[n]) / clean[n])
            moved = denominator(images[n : n + 1], noisy[n : n + 1])
            ratios[sample, n] = change / max(moved, eps)
        ratios[sample, two_scores(noisy).argmax(axis=1) != labels] = np.nan
    return np.nanmax(ratios, axis=0)


def relative_input(x, noisy):
    x, noisy = x.astype(np.float64).ravel(), noisy.astype(np.float64).ravel()
    return np.linalg.norm((x - noisy) / x)


def output_change(x, noisy):
    return np.linalg.norm(two_scores(x) - two_scores(noisy))


@pytest.mark.parametrize(
    ("metric", "denominator"),
    [("relative_input_stability", relative_input), ("relative_output_stability", output_change)],
)
def test_matches_the_definition(metric, denominator):
    values = getattr(metrics, metric)(squared, two_scores, IMAGES, num_samples=4, seed=3,
                                      batch_size=2, per_image=True)  # fmt: skip
    np.testing.assert_allclose(values, reference(IMAGES, denominator), rtol=1e-6)


def test_small_batches_pack_several_copies_per_call_with_the_same_values():
    sizes = {"explain": [], "predict": []}

    def explain(images, classes):
        sizes["explain"].append(len(images))
        return squared(images, classes)

    def predict(images):
        sizes["predict"].append(len(images))
        return two_scores(images)

    packed = metrics.relative_output_stability(explain, predict, IMAGES, num_samples=5, seed=3,
                                               batch_size=6, per_image=True)  # fmt: skip
    # The clean images, then 2 copies of the 3 images a call: 6, 6 and the last 3.
    assert sizes == {"explain": [3, 6, 6, 3], "predict": [3, 6, 6, 3]}
    single = metrics.relative_output_stability(squared, two_scores, IMAGES, num_samples=5,
                                               seed=3, batch_size=3, per_image=True)  # fmt: skip
    np.testing.assert_array_equal(packed, single)


def test_the_input_as_representation_gives_input_stability():
    ris = metrics.relative_input_stability(squared, two_scores, IMAGES, per_image=True)
    rrs = metrics.relative_representation_stability(
        squared, two_scores, lambda x: x, IMAGES, per_image=True
    )
    np.testing.assert_array_equal(rrs, ris)
    assert np.all(ris > 1.5)  # (x² − x′²) / x² is about twice (x − x′) / x


def test_copies_that_change_the_prediction_are_left_out():
    borderline = np.full((2, 5, 5, 1), 0.95, "float32")  # mean 0.95 + noise crosses 1
    borderline[1] = 0.5  # stays class 1
    values = metrics.relative_input_stability(squared, two_scores, borderline, per_image=True,
                                              num_samples=3)  # fmt: skip
    assert np.isnan(values[0]) and np.isfinite(values[1])
    kept = metrics.relative_input_stability(
        squared, two_scores, borderline, num_samples=3, nan_when_prediction_changes=False,
        per_image=True,
    )  # fmt: skip
    assert np.all(np.isfinite(kept))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"noise_range": (0.2, 0.02)}, "noise_range"),
        ({"noise_range": 0.2}, "noise_range"),
        ({"num_samples": 0}, "num_samples"),
        ({"explain_fn": None}, "explain_fn"),
        ({"predict_fn": "model"}, "`predict_fn`. Expected a callable images -> class probab"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    call = {"explain_fn": squared, "predict_fn": two_scores, "images": IMAGES, **kwargs}
    with pytest.raises(ValueError, match=match):
        metrics.relative_input_stability(**call)


def test_a_representation_fn_must_be_callable():
    with pytest.raises(ValueError, match="representation_fn"):
        metrics.relative_representation_stability(squared, two_scores, "layer", IMAGES)


def test_the_class_the_explainer_picks_on_the_clean_images_is_kept_for_the_copies():
    calls = []

    class Result:
        def __init__(self, maps, classes):
            self.heatmaps, self.class_index = maps, classes

    class Explainer:
        def explain(self, images, class_index):
            calls.append(None if class_index is None else np.asarray(class_index).tolist())
            picked = np.arange(len(images)) % 2 if class_index is None else class_index
            return Result(squared(images, None), picked)

    metrics.relative_input_stability(Explainer(), two_scores, IMAGES, num_samples=2,
                                     batch_size=2)  # fmt: skip
    assert calls == [None, None, [0, 1], [0], [0, 1], [0]]
