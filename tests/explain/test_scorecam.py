"""ScoreCAM against a numpy reference: masks, increase of confidence, top-k channels."""

import keras
import numpy as np
import pytest

from keras_cxr import ScoreCAM

#: Run under every Keras backend (tests/test_backends.py).
pytestmark = pytest.mark.backends

SIZE = (6, 7)
BANDS = 4


def blob_images(count: int, seed: int) -> np.ndarray:
    """Each input channel holds one bright blob, placed and scaled anew in every image, over
    faint noise: masks then keep different parts of an image, which move the score either
    way, and every image has its own strongest feature channels."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[: SIZE[0], : SIZE[1]]
    images = rng.uniform(0, 0.1, (count, *SIZE, BANDS))
    for image in images:
        for band in range(BANDS):
            row, col = rng.uniform(0, SIZE[0]), rng.uniform(0, SIZE[1])
            blob = np.exp(-((rows - row) ** 2 + (cols - col) ** 2) / 3.0)
            image[..., band] += rng.uniform(0.5, 2.0) * blob
    return images.astype("float32")


IMAGES = blob_images(3, seed=21)
#: float32 forward passes against a float64 reference, through min-max scaling.
ATOL = 5e-5


def pointwise_model(channels: int, units: int, seed: int):
    """image → 1×1 Conv(channels, ReLU) "features" → GAP → Dense(units) → sigmoid/softmax.

    The 1×1 convolution keeps the image size, so the masks need no upsampling, and every
    forward pass is easy to repeat in numpy.
    """
    rng = np.random.default_rng(seed)
    weights = {
        "kernel": rng.normal(size=(BANDS, channels)).astype("float32"),
        "bias": rng.normal(0.2, 0.3, size=channels).astype("float32"),
        "dense": rng.normal(size=(channels, units)).astype("float32"),
        "dense_bias": rng.normal(size=units).astype("float32"),
    }
    inputs = keras.Input((*SIZE, BANDS))
    conv = keras.layers.Conv2D(channels, 1, activation="relu", name="features")
    dense = keras.layers.Dense(units, name="logits")
    x = dense(keras.layers.GlobalAveragePooling2D()(conv(inputs)))
    outputs = keras.layers.Activation("sigmoid" if units == 1 else "softmax")(x)
    model = keras.Model(inputs, outputs)
    conv.set_weights([weights["kernel"].reshape(1, 1, BANDS, channels), weights["bias"]])
    dense.set_weights([weights["dense"], weights["dense_bias"]])
    return model, weights


def numpy_features(weights, images):
    images = np.asarray(images, np.float64)  # float64: increases are small differences
    return np.maximum(images @ weights["kernel"] + weights["bias"], 0.0)


def numpy_score(weights, images, class_index: int, mode: str):
    """The explained score of each image, as keras_cxr documents it, in numpy."""
    pooled = numpy_features(weights, images).mean(axis=(-3, -2))
    logits = pooled @ weights["dense"].astype(np.float64) + weights["dense_bias"]
    if logits.shape[-1] == 1:
        logit = logits[..., 0] if class_index == 1 else -logits[..., 0]
        return 1 / (1 + np.exp(-logit)) if mode == "probability" else logit
    if mode == "probability":
        exp = np.exp(logits - logits.max(-1, keepdims=True))
        return (exp / exp.sum(-1, keepdims=True))[..., class_index]
    return logits[..., class_index]


def minmax(values):
    spread = values.max() - values.min()
    return (values - values.min()) / spread if spread > 1e-6 * np.abs(values).max() else 0 * values


def scorecam_reference(weights, image, class_index, mode="probability", channels=None):
    """Wang et al. 2020, Definitions 2-3: w_k = f(X ∘ s(A_k)) − f(black), ReLU(Σ w_k A_k)."""
    activations = numpy_features(weights, image)
    if channels is not None:
        activations = activations[..., channels]
    masks = np.stack([minmax(activations[..., k]) for k in range(activations.shape[-1])])
    masked = image[None] * masks[..., None]
    increase = numpy_score(weights, masked, class_index, mode) - numpy_score(
        weights, np.zeros_like(image)[None], class_index, mode
    )
    return minmax(np.maximum((activations * increase).sum(-1), 0))


@pytest.mark.parametrize("class_index", [0, 1])
@pytest.mark.parametrize("mode", ["probability", "logit"])
def test_single_sigmoid_unit_matches_the_reference(class_index, mode):
    # For one sigmoid unit class 0's increases are class 1's negated; in this toy every image
    # has channels of both signs, so neither class's map is empty.
    model, weights = pointwise_model(channels=4, units=1, seed=3)
    explanation = ScoreCAM(model, score=mode, batch_size=4).explain(IMAGES, class_index)
    np.testing.assert_allclose(
        explanation.scores, numpy_score(weights, IMAGES, class_index, mode), rtol=1e-5
    )
    for i, image in enumerate(IMAGES):
        expected = scorecam_reference(weights, image, class_index, mode)
        assert expected.max() == 1.0, "the comparison must not be zeros against zeros"
        np.testing.assert_allclose(explanation.heatmaps[i], expected, atol=ATOL)


@pytest.mark.parametrize("class_index", [0, 2])
def test_softmax_probabilities_match_the_reference(class_index):
    model, weights = pointwise_model(channels=6, units=3, seed=5)
    explanation = ScoreCAM(model).explain(IMAGES, class_index)  # score="probability"
    for i, image in enumerate(IMAGES):
        expected = scorecam_reference(weights, image, class_index)
        np.testing.assert_allclose(explanation.heatmaps[i], expected, atol=ATOL)


def test_the_default_is_the_probability_and_differs_from_the_logit():
    model, weights = pointwise_model(channels=6, units=3, seed=5)
    explainer = ScoreCAM(model)
    assert explainer.score == "probability"
    by_probability = explainer.explain(IMAGES, 2)
    by_logit = ScoreCAM(model, score="logit").explain(IMAGES, 2)
    expected_scores = numpy_score(weights, IMAGES, 2, "probability")
    np.testing.assert_allclose(by_probability.scores, expected_scores, rtol=1e-5)
    assert by_probability.heatmaps.max() == by_logit.heatmaps.max() == 1.0
    assert np.abs(by_probability.heatmaps - by_logit.heatmaps).max() > 0.05


def test_no_softmax_over_channels():
    # A softmax over the channels' probabilities (the former `score="probability"`) nearly
    # equalises the weights; the increase of confidence keeps them apart.
    model, weights = pointwise_model(channels=4, units=1, seed=3)
    image = IMAGES[0]
    activations = numpy_features(weights, image)
    masks = np.stack([minmax(activations[..., k]) for k in range(4)])
    probabilities = numpy_score(weights, image[None] * masks[..., None], 1, "probability")
    softmaxed = np.exp(probabilities) / np.exp(probabilities).sum()
    former = minmax(np.maximum((activations * softmaxed).sum(-1), 0))
    got = ScoreCAM(model).explain(IMAGES[:1], 1).heatmaps[0]
    np.testing.assert_allclose(got, scorecam_reference(weights, image, 1), atol=ATOL)
    assert np.abs(got - former).max() > 0.05


def test_top_k_channels_by_peak_activation():
    model, weights = pointwise_model(channels=8, units=1, seed=3)
    explanation = ScoreCAM(model, max_channels=3, batch_size=5).explain(IMAGES, 1)
    for i, image in enumerate(IMAGES):
        activations = numpy_features(weights, image)
        peaks = activations.max(axis=(0, 1))
        by_peak = np.argsort(-peaks, kind="stable")[:3]
        assert np.sort(peaks)[-3] > np.sort(peaks)[-4], "no tie at the cut"
        expected = scorecam_reference(weights, image, 1, channels=by_peak)
        np.testing.assert_allclose(explanation.heatmaps[i], expected, atol=ATOL)
        # The selection matters: all channels, or the three of highest mean, differ.
        by_mean = np.argsort(-activations.mean(axis=(0, 1)), kind="stable")[:3]
        for other in (None, by_mean):
            if other is None or set(other) != set(by_peak):
                alternative = scorecam_reference(weights, image, 1, channels=other)
                assert np.abs(alternative - expected).max() > 1e-3


def test_channel_selection_is_per_image():
    model, weights = pointwise_model(channels=8, units=1, seed=6)
    chosen = [
        set(np.argsort(-numpy_features(weights, image).max(axis=(0, 1)))[:2]) for image in IMAGES
    ]
    assert len({frozenset(c) for c in chosen}) > 1, "the images must pick different channels"
    together = ScoreCAM(model, max_channels=2).explain(IMAGES, 1).heatmaps
    for i in range(len(IMAGES)):
        alone = ScoreCAM(model, max_channels=2).explain(IMAGES[i : i + 1], 1).heatmaps[0]
        np.testing.assert_allclose(together[i], alone, atol=ATOL)


def test_a_constant_channel_has_no_weight():
    # A channel that is constant over the image gives an all-zero mask, i.e. the black
    # baseline itself, so its increase of confidence is exactly 0.
    model, weights = pointwise_model(channels=4, units=1, seed=7)
    conv = model.get_layer("features")
    kernel, bias = conv.get_weights()
    kernel[..., 0] = 0.0
    bias[0] = 5.0  # channel 0 is 5 everywhere and would dominate any weighted sum
    conv.set_weights([kernel, bias])
    weights["kernel"][:, 0], weights["bias"][0] = 0.0, 5.0
    got = ScoreCAM(model).explain(IMAGES, 1).heatmaps
    for i, image in enumerate(IMAGES):
        without = scorecam_reference(weights, image, 1, channels=[1, 2, 3])
        np.testing.assert_allclose(got[i], without, atol=ATOL)


def test_masked_images_are_scored_in_batches_of_any_size():
    model, _ = pointwise_model(channels=5, units=1, seed=1)
    reference = ScoreCAM(model, batch_size=64).explain(IMAGES, 1).heatmaps
    for batch_size in (1, 2, 4, 7):
        got = ScoreCAM(model, batch_size=batch_size).explain(IMAGES, 1).heatmaps
        np.testing.assert_allclose(got, reference, atol=1e-6)


def test_upsampled_masks_on_a_strided_feature_map():
    # A 2 × 2 map on a 4 × 4 image: masks are the bilinear upsampling (half-pixel centres,
    # as keras.ops.image.resize and OpenCV do) of each channel, scaled to [0, 1].
    inputs = keras.Input((4, 4, 1))
    conv = keras.layers.Conv2D(2, 2, strides=2, use_bias=False, name="features")
    dense = keras.layers.Dense(1, name="logits")
    model = keras.Model(inputs, dense(keras.layers.GlobalAveragePooling2D()(conv(inputs))))
    kernel = np.array([[1.0, 0.5], [-0.5, 1.0], [0.25, -1.0], [1.0, 0.0]], "float32")
    conv.set_weights([kernel.reshape(2, 2, 1, 2)])
    dense.set_weights([np.array([[1.0], [-2.0]], "float32"), np.array([0.3], "float32")])
    image = np.arange(16, dtype="float32").reshape(4, 4) / 8.0

    def forward(x):  # (n, 4, 4) → feature maps (n, 2, 2, 2) and logits (n,)
        patches = x.reshape(-1, 2, 2, 2, 2).transpose(0, 1, 3, 2, 4).reshape(-1, 2, 2, 4)
        features = patches @ kernel
        return features, features.mean(axis=(1, 2)) @ np.array([1.0, -2.0]) + 0.3

    def upsample(cell):  # 2 × 2 → 4 × 4, half-pixel centres, edges clamped
        weights = np.array([[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]])
        return weights @ cell @ weights.T

    features, _ = forward(image[None])
    masks = np.stack([minmax(upsample(features[0, ..., k])) for k in range(2)])
    _, masked_logits = forward(image[None] * masks)
    _, baseline = forward(np.zeros((1, 4, 4)))
    raw = np.maximum((features[0] * (masked_logits - baseline)).sum(-1), 0)
    expected = minmax(upsample(raw))
    got = ScoreCAM(model, score="logit").explain(image[None, ..., None], 1).heatmaps[0]
    np.testing.assert_allclose(got, expected, atol=ATOL)


@pytest.mark.parametrize(
    ("max_channels", "message"),
    [
        (0, r"argument `max_channels`.*integer >= 1.*Received: max_channels=0"),
        (True, r"argument `max_channels`.*Received: max_channels=True"),
        (2.5, r"argument `max_channels`.*Received: max_channels=2.5"),
    ],
)
def test_bad_max_channels(max_channels, message):
    model, _ = pointwise_model(channels=2, units=1, seed=0)
    with pytest.raises(ValueError, match=message):
        ScoreCAM(model, max_channels=max_channels)


def test_bad_score_mode():
    model, _ = pointwise_model(channels=2, units=1, seed=0)
    with pytest.raises(ValueError, match=r"argument `score`.*Received: score='softmax'"):
        ScoreCAM(model, score="softmax")


def test_subclassed_models_are_refused_with_the_alternative():
    class Classifier(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(2, 1, name="features")
            self.pool = keras.layers.GlobalAveragePooling2D()
            self.head = keras.layers.Dense(1)

        def call(self, x):
            return self.head(self.pool(self.conv(x)))

    model = Classifier()
    model(IMAGES)
    with pytest.raises(ValueError, match=r"ScoreCAM needs a Functional or Sequential.*GradCAM"):
        ScoreCAM(model, layer=model.conv)
