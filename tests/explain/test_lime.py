"""LIME: its pieces against scikit-learn, its ranking against the `lime` package."""

import importlib.util
import sys

import keras
import numpy as np
import pytest

from keras_cxr.explain import LIME, get_method
from keras_cxr.explain.lime import kernel_weights, perturb, sample_masks, weighted_ridge
from keras_cxr.explain.superpixels import superpixels

from .models import tiny_cnn, with_random_weights

#: Run under every Keras backend (tests/test_backends.py).
pytestmark = pytest.mark.backends

needs_lime = pytest.mark.skipif(
    importlib.util.find_spec("lime") is None, reason="lime is not installed (pip install lime)"
)
SIZE = 32


@pytest.fixture(scope="module")
def gray_image():
    """A smooth gray image with blobs, three equal channels (as an ImageNet backbone's)."""
    rows, cols = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    gray = 0.5 + 0.3 * np.sin(6 * rows) * np.cos(5 * cols)
    return np.repeat(gray[..., None], 3, axis=-1).astype("float32")


def segment_sum_model(labels, segment_weights):
    """logit 1 = Σ_k w_k · (sum of segment k's pixels over the channels); logit 0 = 0."""
    inputs = keras.Input((SIZE, SIZE, 3))
    dense = keras.layers.Dense(2, name="logits")
    outputs = dense(keras.layers.Flatten()(inputs))
    per_pixel = np.repeat(segment_weights[labels][..., None], 3, axis=-1).reshape(-1)
    kernel = np.stack([np.zeros_like(per_pixel), per_pixel], axis=1).astype("float32")
    dense.set_weights([kernel, np.zeros(2, "float32")])
    return keras.Model(inputs, outputs)


def test_kernel_weights_are_lime_s_cosine_kernel():
    from sklearn.metrics import pairwise_distances

    samples = sample_masks(np.random.default_rng(3), 50, 7)
    samples[1] = 0.0
    distances = pairwise_distances(samples, np.ones((1, 7)), metric="cosine").ravel()
    expected = np.sqrt(np.exp(-(distances**2) / 0.25**2))
    np.testing.assert_allclose(kernel_weights(samples, 0.25), expected, atol=1e-12)
    assert samples[0].tolist() == [1.0] * 7 and set(np.unique(samples)) == {0.0, 1.0}


def test_weighted_ridge_equals_scikit_learn_s_ridge():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(4)
    features, targets, weights = rng.normal(size=(40, 6)), rng.normal(size=40), rng.uniform(size=40)
    coefficients, intercept = weighted_ridge(features, targets, weights, alpha=1.0)
    reference = Ridge(alpha=1.0).fit(features, targets, sample_weight=weights)
    np.testing.assert_allclose(coefficients, reference.coef_, atol=1e-10)
    assert intercept == pytest.approx(reference.intercept_, abs=1e-10)


def test_perturb_takes_hidden_superpixels_from_the_hidden_image():
    image = np.arange(8, dtype="float32").reshape(2, 2, 2)
    hidden = -np.ones_like(image)
    labels = np.array([[0, 1], [1, 2]])
    batch = perturb(image, hidden, labels, np.array([[1, 0, 1], [0, 1, 0]]))
    assert batch.shape == (2, 2, 2, 2) and batch.dtype == np.float32
    assert batch[0, :, :, 0].tolist() == [[0.0, -1.0], [-1.0, 6.0]]
    assert batch[1, :, :, 1].tolist() == [[-1.0, 3.0], [5.0, -1.0]]


def test_an_additive_model_gets_each_superpixel_s_own_contribution(gray_image):
    # Hiding segment k (with 0) removes exactly w_k · S_k from the score: the score is
    # linear in z, so the ridge fit recovers the contributions up to its small shrinkage.
    labels = superpixels(gray_image, n_segments=12)
    count = labels.max() + 1
    weights = np.random.default_rng(5).normal(size=count)
    model = segment_sum_model(labels, weights)
    explanation = LIME(model, num_samples=400, hide=0.0, segmentation=lambda _: labels).explain(
        gray_image[None], class_index=1
    )
    sums = np.bincount(labels.ravel(), weights=gray_image.sum(axis=-1).ravel())
    coefficients = np.array([explanation.attributions[0][labels == k][0] for k in range(count)])
    np.testing.assert_allclose(coefficients, weights * sums, rtol=0.05, atol=0.05)
    assert np.ptp(explanation.attributions[0][labels == 0]) == 0.0, "one value per superpixel"
    assert explanation.method == "lime" and explanation.display == "positive"


@needs_lime
def test_top_five_superpixels_equal_the_lime_package_s(gray_image):
    from lime.lime_image import LimeImageExplainer

    labels = superpixels(gray_image, n_segments=25)
    count = labels.max() + 1
    weights = np.random.default_rng(6).normal(size=count)
    model = segment_sum_model(labels, weights)
    ours = LIME(model, hide=0.0, segmentation=lambda _: labels).explain(gray_image[None], 1)
    theirs = LimeImageExplainer(random_state=0).explain_instance(
        gray_image.astype("float64"),
        lambda batch: np.asarray(model.predict(batch, verbose=0)),
        labels=(1,),
        top_labels=None,
        hide_color=0,
        num_samples=1000,
        batch_size=500,
        segmentation_fn=lambda _: labels,
        random_seed=0,
    )
    assert count >= 10
    coefficients = np.array([ours.attributions[0][labels == k][0] for k in range(count)])
    by_magnitude = np.argsort(-np.abs(coefficients), kind="stable")[:5].tolist()
    assert by_magnitude == [feature for feature, _ in theirs.local_exp[1][:5]]
    lime_weights = dict(theirs.local_exp[1])
    # Different random samples, the same exactly linear scores: the fits differ only by
    # the ridge shrinkage's dependence on the samples, under 1 % of the largest weight.
    scale = np.abs(coefficients).max()
    expected = [lime_weights[k] for k in range(count)]
    np.testing.assert_allclose(coefficients, expected, rtol=0, atol=0.01 * scale)


def test_explaining_a_batch_equals_explaining_each_image():
    model = with_random_weights(tiny_cnn(input_shape=(SIZE, SIZE, 3)), seed=2, scale=0.3)
    images = np.random.default_rng(7).uniform(0, 1, (2, SIZE, SIZE, 3)).astype("float32")
    explainer = LIME(model, num_samples=64, internal_batch_size=20, batch_size=2)
    both = explainer.explain(images, class_index=0)
    second = explainer.explain(images[1:], class_index=0)
    np.testing.assert_allclose(both.attributions[1], second.attributions[0], rtol=1e-5, atol=1e-7)
    assert np.abs(both.attributions).max() > 0


def test_gray_superpixels_do_not_depend_on_the_channel_count(gray_image):
    three = superpixels(gray_image, n_segments=20)
    one = superpixels(gray_image[..., :1] * 255.0, n_segments=20)
    np.testing.assert_array_equal(three, one)
    assert 10 <= three.max() + 1 <= 30
    quick = superpixels(gray_image, "quickshift")
    assert quick.shape == (SIZE, SIZE) and quick.min() == 0


def test_get_method_finds_lime():
    assert get_method("lime") is LIME
    assert get_method("LIME")(tiny_cnn()).num_samples == 1000


def test_a_missing_scikit_image_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)
    with pytest.raises(ImportError, match=r"pip install 'keras_cxr\[lime\]'"):
        LIME(tiny_cnn()).explain(np.zeros((1, 16, 16, 3)))


def test_a_segmentation_of_the_wrong_shape_is_refused():
    explainer = LIME(tiny_cnn(), segmentation=lambda image: np.zeros((3, 3), int))
    with pytest.raises(ValueError, match=r"argument `segmentation`. Expected labels of shape"):
        explainer.explain(np.zeros((1, 16, 16, 3)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"segmentation": "felzenszwalb"}, r"argument `segmentation`. Expected one of \('slic'"),
        ({"hide": "blur"}, r"argument `hide`. Expected \"mean\" or a finite number"),
        ({"hide": float("nan")}, r"argument `hide`"),
        ({"kernel_width": 0}, r"argument `kernel_width`. Expected a finite number > 0"),
        ({"alpha": -1.0}, r"argument `alpha`"),
        ({"num_samples": 1}, r"argument `num_samples`. Expected an integer >= 2"),
        ({"internal_batch_size": 0}, r"argument `internal_batch_size`"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LIME(tiny_cnn(), **kwargs)


@pytest.mark.parametrize("module", ["lime", "superpixels"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    import keras_cxr

    images = np.random.default_rng(8).uniform(0, 1, (1, 16, 16, 3)).astype("float32")
    extra = {"keras_cxr": keras_cxr, "model": tiny_cnn(units=2), "images": images}
    result = doctest.testmod(
        importlib.import_module(f"keras_cxr.explain.{module}"), extraglobs=extra
    )
    assert result.attempted > 0 and result.failed == 0


def test_the_batch_explainer_of_the_server_serves_lime():
    from keras_cxr.explain import BatchExplainer

    model = with_random_weights(tiny_cnn(input_shape=(SIZE, SIZE, 3)), seed=3, scale=0.3)
    images = np.random.default_rng(9).uniform(0, 1, (2, SIZE, SIZE, 3)).astype("float32")
    served = BatchExplainer(model, "lime")({"image": images})
    expected = LIME(model).explain(images)
    np.testing.assert_allclose(served["heatmap"], expected.heatmaps, atol=1e-5)
    np.testing.assert_allclose(served["score"], expected.scores, rtol=1e-5)
