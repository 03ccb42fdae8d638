"""Max- and avg-sensitivity against a loop over noise samples, and on a real explainer."""

import keras
import numpy as np
import pytest

from keras_cxr.explain import Saliency
from keras_cxr.metrics import avg_sensitivity, local_lipschitz_estimate, max_sensitivity
from keras_cxr.metrics.explanation_sensitivity import sensitivities

#: Run under every Keras backend (tests/test_backends.py).
pytestmark = pytest.mark.backends


def squared(images, class_index):
    """A nonlinear toy explanation: the squared first channel."""
    return np.asarray(images)[..., 0] ** 2


def by_hand(explain, images, radius, samples, seed, chunk):
    """One noisy copy at a time, the noise drawn as `sensitivities` documents."""
    rng = np.random.default_rng(seed)
    clean = explain(images, None)
    ratios = np.empty((len(images), samples))
    for start in range(0, samples, chunk):
        draws = min(chunk, samples - start)
        noise = rng.uniform(-radius, radius, (draws, *images.shape)).astype(np.float32)
        for s in range(draws):
            for n, image in enumerate(images):
                noisy = explain((image + noise[s, n])[None], None)[0]
                ratios[n, start + s] = np.linalg.norm(noisy - clean[n]) / np.linalg.norm(clean[n])
    return ratios


def test_sensitivities_equal_a_loop_over_samples():
    images = np.random.default_rng(0).uniform(0, 1, (3, 5, 5, 2)).astype("float32")
    values = sensitivities(squared, images, radius=0.1, num_samples=7, seed=3, batch_size=6)
    np.testing.assert_allclose(values, by_hand(squared, images, 0.1, 7, 3, 2), rtol=1e-5)
    per_image = values.max(axis=1)
    np.testing.assert_allclose(
        max_sensitivity(squared, images, radius=0.1, num_samples=7, seed=3, batch_size=6,
                        per_image=True),
        per_image, rtol=1e-12,
    )  # fmt: skip
    assert avg_sensitivity(
        squared, images, radius=0.1, num_samples=7, seed=3, batch_size=6
    ) == pytest.approx(values.mean())


def test_local_lipschitz_estimate_equals_a_loop_over_gaussian_samples():
    images = np.random.default_rng(5).uniform(0, 1, (2, 4, 4, 1)).astype("float32")
    rng = np.random.default_rng(2)
    noise = rng.normal(0.0, 0.05, (6, *images.shape)).astype(np.float32)
    expected = np.zeros(2)
    for sample in noise:
        noisy = images + sample
        change = np.linalg.norm(
            (squared(noisy, None) - squared(images, None)).reshape(2, -1), axis=1
        )
        moved = np.linalg.norm((noisy - images).reshape(2, -1), axis=1)
        expected = np.maximum(expected, change / moved)
    values = local_lipschitz_estimate(
        squared, images, std=0.05, num_samples=6, seed=2, batch_size=12, per_image=True
    )
    np.testing.assert_allclose(values, expected, rtol=1e-5)
    linear = local_lipschitz_estimate(lambda x, c: -3 * x[..., 0], images, num_samples=4)
    assert linear == pytest.approx(3.0, rel=1e-5)
    with pytest.raises(ValueError, match=r"argument `std`. Expected a finite number > 0"):
        local_lipschitz_estimate(squared, images, std=-1.0)


def test_an_explanation_that_ignores_the_input_has_zero_sensitivity():
    images = np.random.default_rng(1).uniform(0, 1, (2, 4, 4, 1))
    constant = lambda x, c: np.ones(np.shape(x)[:3])  # noqa: E731
    assert max_sensitivity(constant, images, num_samples=3) == 0.0


def test_a_real_explainer_is_explained_in_batches_for_its_own_class():
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, activation="tanh"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    )
    images = np.random.default_rng(2).uniform(0, 1, (2, 8, 8, 3)).astype("float32")
    saliency = Saliency(model)
    calls = []

    class Recording:
        def explain(self, batch, class_index=None):
            calls.append((len(batch), None if class_index is None else list(class_index)))
            return saliency.explain(batch, class_index)

    values = max_sensitivity(Recording(), images, num_samples=5, batch_size=4, per_image=True)
    classes = saliency.explain(images).class_index.tolist()
    assert calls[0] == (2, None)
    assert calls[1:] == [(4, classes * 2), (4, classes * 2), (2, classes)]
    assert values.shape == (2,) and np.all((values > 0) & np.isfinite(values))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"radius": 0}, r"argument `radius`. Expected a finite number > 0"),
        ({"num_samples": 0}, r"argument `num_samples`"),
        ({"explain_fn": 3}, r"argument `explain_fn`. Expected an explainer or a callable"),
        ({"images": np.zeros((4, 4))}, r"argument `images`. Expected a non-empty array"),
        ({"explain_fn": lambda x, c: np.zeros((1, 2))}, r"argument `explain_fn`. Expected maps"),
    ],
)
def test_bad_input(kwargs, message):
    arguments = {"explain_fn": squared, "images": np.ones((2, 4, 4, 1)), **kwargs}
    with pytest.raises(ValueError, match=message):
        max_sensitivity(**arguments)
