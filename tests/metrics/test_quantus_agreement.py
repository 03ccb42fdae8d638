"""Every metric that keras_cxr and Quantus (0.6) both have, on the same arrays.

Quantus is installed without its dependencies (`pip install --no-deps quantus cachetools`):
its `tensorflow` extra pins keras<3, but the metrics themselves import neither. The
complexity and localisation metrics are given precomputed maps and no model; the
sensitivity metrics an explanation function of the input and, for the noise, a
`perturb_func` that replays keras_cxr's own draws, so that both see the same noisy images.
"""

import importlib.util
import warnings

import numpy as np
import pytest

from keras_cxr import metrics

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("quantus") is None,
    reason="quantus is not installed (pip install --no-deps quantus cachetools)",
)

COUNT, SIZE = 6, 12


@pytest.fixture(scope="module")
def quantus():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import quantus
    return quantus


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(COUNT, SIZE, SIZE))
    maps[:, :4, :] *= rng.uniform(size=(COUNT, 4, SIZE)) > 0.5  # zeros for the counts
    maps[0, 0, :3] = [1e-9, 2e-9, 3e-9]  # below effective complexity's threshold
    masks = rng.uniform(size=(COUNT, SIZE, SIZE)) > 0.7
    masks[-1] = False  # an image without a lesion
    images = rng.uniform(size=(COUNT, SIZE, SIZE, 1)).astype("float32")
    return maps, masks, images


def score(metric, maps, masks=None, images=None, **call):
    """Quantus's per-image scores, with channel-first (N, 1, H, W) arrays and no model."""
    x = np.ones((len(maps), 1, SIZE, SIZE)) if images is None else images.transpose(0, 3, 1, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = metric(
            model=None,
            x_batch=x,
            y_batch=np.zeros(len(maps), int),
            a_batch=maps[:, None].copy(),
            s_batch=None if masks is None else masks[:, None].astype(float),
            channel_first=True,
            **call,
        )
    return np.asarray(values, np.float64)


#: (keras_cxr metric, its keyword arguments, Quantus class name, its arguments, tolerance).
#: Tolerances: Quantus adds 1e-7 to every |a| (max-normalised) in Sparseness and 1e-9 to
#: the denominator of AttributionLocalisation; the others agree to rounding.
MASK_FREE = [
    ("sparseness", {}, "Sparseness", {}, 1e-5),
    ("complexity", {}, "Complexity", {}, 1e-9),
    ("effective_complexity", {}, "EffectiveComplexity", {}, 0),
]
WITH_MASKS = [
    ("relevance_mass_accuracy", {}, "RelevanceMassAccuracy", {}, 1e-9),
    ("relevance_rank_accuracy", {}, "RelevanceRankAccuracy", {}, 1e-12),
    ("attribution_localisation", {}, "AttributionLocalisation", {}, 1e-7),
    # Quantus clips to positive values after its default `abs=True`, so its
    # `positive_attributions` only acts with `abs=False`.
    (
        "attribution_localisation",
        {"positive_only": True},
        "AttributionLocalisation",
        {"positive_attributions": True, "abs": False},
        1e-7,
    ),
    ("top_k_intersection", {"k": 20}, "TopKIntersection", {"k": 20}, 1e-12),
    (
        "top_k_intersection",
        {"k": 20, "concept_influence": True},
        "TopKIntersection",
        {"k": 20, "concept_influence": True},
        1e-12,
    ),
    ("auc", {}, "AUC", {}, 1e-12),
    ("pointing_game", {}, "PointingGame", {}, 0),
]


@pytest.mark.parametrize(("ours", "kwargs", "theirs", "settings", "tolerance"), MASK_FREE)
def test_complexity_metrics_agree(quantus, arrays, ours, kwargs, theirs, settings, tolerance):
    maps, _, _ = arrays
    expected = score(getattr(quantus, theirs)(**settings), maps)
    values = getattr(metrics, ours)(maps, per_image=True, **kwargs)
    np.testing.assert_allclose(values, expected, rtol=0, atol=tolerance)
    if ours == "effective_complexity":
        assert len(set(values)) > 1, "the counts differ between images"


def test_effective_complexity_differs_where_quantus_normalises_by_the_batch_maximum(
    quantus, arrays
):
    # Quantus's `normalise_by_max` is called without `normalise_axes`, so it divides the
    # whole batch by its one largest |a|: a relative `eps` then depends on the other images
    # of the batch. keras_cxr takes each image's own maximum, which Quantus gives one image
    # at a time.
    maps, _, _ = arrays
    metric = quantus.EffectiveComplexity(eps=0.3)
    one_by_one = np.concatenate([score(metric, maps[i : i + 1]) for i in range(COUNT)])
    ours = metrics.effective_complexity(maps, eps=0.3, per_image=True)
    np.testing.assert_array_equal(ours, one_by_one)
    batch_max = np.abs(maps).max()
    by_batch = (np.abs(maps) > 0.3 * batch_max).sum(axis=(1, 2))
    np.testing.assert_array_equal(score(metric, maps), by_batch)
    assert np.any(ours != by_batch)


@pytest.mark.parametrize(("ours", "kwargs", "theirs", "settings", "tolerance"), WITH_MASKS)
def test_localisation_metrics_agree(quantus, arrays, ours, kwargs, theirs, settings, tolerance):
    maps, masks, _ = arrays
    expected = score(getattr(quantus, theirs)(**settings), maps, masks)
    values = getattr(metrics, ours)(maps, masks, per_image=True, **kwargs)
    if ours == "pointing_game":  # Quantus scores an empty mask as a miss, keras_cxr as NaN
        values, expected = values[:-1], expected[:-1]
    else:
        assert np.isnan(values[-1]) and np.isnan(expected[-1])
    np.testing.assert_allclose(values, expected, rtol=0, atol=tolerance)


def squared(images):
    return np.asarray(images, np.float64)[..., 0] ** 2


def uniform(generator, shape):
    return generator.uniform(-0.2, 0.2, shape)


def gaussian(generator, shape):
    return generator.normal(0.0, 0.1, shape)


#: keras_cxr metric, Quantus class and settings, keras_cxr's noise argument, its draw.
#: Quantus's LocalLipschitzEstimate defaults to `normalise=True`: it divides the clean
#: maps and each batch of noisy maps by their own batch's largest |a|, which changes the
#: ratio; keras_cxr uses the maps as given, which Quantus does with `normalise=False`.
ROBUSTNESS = [
    ("max_sensitivity", "MaxSensitivity", {}, {"radius": 0.2}, uniform),
    ("avg_sensitivity", "AvgSensitivity", {}, {"radius": 0.2}, uniform),
    (
        "local_lipschitz_estimate",
        "LocalLipschitzEstimate",
        {"normalise": False},
        {"std": 0.1},
        gaussian,
    ),
]


@pytest.mark.parametrize(("ours", "theirs", "settings", "noise_kwargs", "draw"), ROBUSTNESS)
def test_robustness_metrics_agree_on_the_same_noise(
    quantus, arrays, ours, theirs, settings, noise_kwargs, draw
):
    _, _, images = arrays
    samples = 5
    # keras_cxr draws (samples, N, H, W, C) at once when one call takes them all.
    noise = draw(np.random.default_rng(7), (samples, *images.shape)).astype(np.float32)
    noise = noise.transpose(0, 1, 4, 2, 3).reshape(samples, COUNT, -1)
    steps = iter(range(samples))

    def replay(arr, indices, **_):
        return arr + noise[next(steps)]

    def explain_func(model, inputs, targets, **_):
        return np.asarray(inputs, np.float64) ** 2

    metric = getattr(quantus, theirs)(
        nr_samples=samples, perturb_func=replay, disable_warnings=True, **settings
    )
    expected = score(metric, squared(images), images=images, explain_func=explain_func)
    values = getattr(metrics, ours)(
        lambda x, c: squared(x), images, num_samples=samples, seed=7,
        batch_size=samples * COUNT, per_image=True, **noise_kwargs,
    )  # fmt: skip
    assert np.all(values > 0)
    np.testing.assert_allclose(values, expected, rtol=1e-5)


class LinearSoftmax:
    """One torch model scored by both: logits for Quantus (softmax=True), probabilities here.

    The faithfulness metrics see the model only through `predict_fn`, so a plain
    `torch.nn.Module` checks the metric code the same way a Keras model under
    `KERAS_BACKEND=torch` would, under any backend of this test session.
    """

    def __init__(self, torch, classes=3, seed=0):
        self.torch = torch
        torch.manual_seed(seed)
        self.module = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(SIZE * SIZE, classes)
        ).eval()

    def __call__(self, batch):  # channel-last float32, as keras_cxr passes it
        x = self.torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))
        with self.torch.no_grad():
            return self.torch.softmax(self.module(x), dim=-1).numpy()


@pytest.fixture(scope="module")
def linear_model():
    torch = pytest.importorskip("torch")
    return LinearSoftmax(torch)


@pytest.fixture(scope="module")
def distinct_maps():
    """Maps without ties: Quantus orders pixels with an unstable `np.argsort(-a)`, keras_cxr
    breaks ties in row-major order, so tied pixels (the zeros of `arrays`) may be removed in
    another order."""
    return np.random.default_rng(5).normal(size=(COUNT, SIZE, SIZE))


def model_score(metric, model, maps, images, labels, **call):
    """Quantus's scores of `metric` on the torch model, channel-first, labels as y_batch."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return metric(
            model=model.module,
            x_batch=images.transpose(0, 3, 1, 2).copy(),
            y_batch=labels,
            a_batch=maps[:, None].copy(),
            channel_first=True,
            softmax=True,
            device="cpu",
            **call,
        )


def test_pixel_flipping_agrees_with_quantus(quantus, arrays, linear_model, distinct_maps):
    _, _, images = arrays
    maps = distinct_maps
    labels = np.arange(COUNT) % 3
    step = 4
    expected = model_score(
        quantus.PixelFlipping(features_in_step=step, disable_warnings=True),
        linear_model, maps, images, labels,
    )  # fmt: skip
    # keras_cxr tracks one class for all images; Quantus each image's y. Compare per class.
    for label in range(3):
        fractions, curves = metrics.pixel_flipping_curve(
            linear_model, images[labels == label], maps[labels == label], label,
            features_in_step=step,
        )  # fmt: skip
        np.testing.assert_allclose(curves, np.asarray(expected)[labels == label], atol=1e-6)
    # Quantus's AUC integrates its curve over the step number (dx=1), keras_cxr over the
    # share of flipped pixels: with 4 of 144 pixels a step, Quantus's area is 36 times
    # keras_cxr's. (Quantus 0.6's `return_auc_per_sample=True` calls `np.trapz`, which
    # NumPy 2.4 removed, so its area is recomputed here from its curves.)
    quantus_auc = np.trapezoid(np.asarray(expected)[labels == 0], dx=1, axis=1)
    ours = metrics.pixel_flipping(
        linear_model, images[labels == 0], maps[labels == 0], 0, features_in_step=step,
        per_image=True,
    )  # fmt: skip
    assert len(fractions) == SIZE * SIZE // step
    np.testing.assert_allclose(quantus_auc, ours * SIZE * SIZE / step, rtol=1e-5)


def test_faithfulness_correlation_agrees_on_the_same_subsets(
    quantus, arrays, linear_model, distinct_maps, monkeypatch
):
    # Quantus draws its subsets with the global `np.random.choice`, run by run and image by
    # image; replaying keras_cxr's generator through it gives both the same subsets.
    _, _, images = arrays
    maps = distinct_maps
    generator = np.random.default_rng(11)
    monkeypatch.setattr(
        np.random, "choice", lambda n, size, replace=True: generator.choice(n, size, replace)
    )
    labels = np.zeros(COUNT, int)
    metric = quantus.FaithfulnessCorrelation(
        nr_runs=12, subset_size=20, return_aggregate=False, disable_warnings=True
    )
    expected = model_score(metric, linear_model, maps, images, labels)
    values = metrics.faithfulness_correlation(
        linear_model, images, maps, 0, nr_runs=12, subset_size=20, seed=11, per_image=True
    )
    assert np.ptp(values) > 0.1, "the images must differ"
    np.testing.assert_allclose(values, expected, atol=1e-5)


def test_road_agrees_with_quantus_without_noise(quantus, arrays, linear_model, distinct_maps):
    # The imputation noise is Quantus's global `np.random.randn` (percentage by percentage)
    # and keras_cxr's generator (image by image): with noise=0, the deterministic special
    # case, both impute the same values and must keep or lose the same predictions.
    _, _, images = arrays
    maps = distinct_maps
    labels = np.argmax(linear_model(images), axis=1)
    percentages = list(range(1, 100, 7))
    metric = quantus.ROAD(percentages=percentages, noise=0.0, disable_warnings=True)
    expected = model_score(metric, linear_model, maps, images, labels)
    _, kept = metrics.road_curve(
        linear_model, images, maps, labels, percentages=percentages, noise=0.0
    )
    accuracy = kept.mean(axis=0)
    assert 0 < accuracy.min() < accuracy.max() == 1, "the curve must move"
    np.testing.assert_allclose(accuracy, [expected[p] for p in percentages], atol=0)


CLASS_WEIGHTS = np.random.default_rng(9).normal(size=(3, SIZE, SIZE))


def class_maps(images, classes):
    """Input x weight of the explained class: a class-dependent map of channel-last images."""
    return np.asarray(images, np.float64)[..., 0] * CLASS_WEIGHTS[np.asarray(classes)]


def test_random_logit_agrees_on_the_same_other_classes(quantus, arrays, monkeypatch):
    # Quantus seeds the global generator and draws with `np.random.randint`; replaying
    # keras_cxr's generator through it gives both the same off-classes. Quantus's default
    # similarity is a 1-D SSIM of the flattened maps (skimage), keras_cxr's the 2-D SSIM
    # of keras_cxr.metrics.ssim: both are compared with Spearman's correlation.
    _, _, images = arrays
    generator = np.random.default_rng(13)
    monkeypatch.setattr(np.random, "randint", lambda low, high, size: generator.integers(
        low, high, size))  # fmt: skip
    labels = np.arange(COUNT) % 3

    def explain_func(model, inputs, targets, **_):
        return class_maps(np.asarray(inputs).transpose(0, 2, 3, 1), targets)

    metric = quantus.RandomLogit(
        num_classes=3, similarity_func=quantus.similarity_func.correlation_spearman,
        disable_warnings=True,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = metric(
            model=None, x_batch=images.transpose(0, 3, 1, 2).copy(), y_batch=labels,
            a_batch=class_maps(images, labels)[:, None], channel_first=True,
            explain_func=explain_func,
        )  # fmt: skip
    values = metrics.random_logit(
        class_maps, images, labels, num_classes=3, similarity="spearman", seed=13,
        per_image=True,
    )  # fmt: skip
    assert np.ptp(values) > 0.05
    np.testing.assert_allclose(values, expected, atol=1e-12)


def test_efficient_mprt_agrees_given_the_same_explanations(quantus, arrays, linear_model):
    # The randomized weights cannot match: Quantus re-initialises torch modules with
    # `reset_parameters`, keras_cxr Keras kernels and biases with its own noise. Each side's
    # explainer therefore returns fixed maps, one set for the original model and one for
    # any randomized copy, so that both score the same pair with their own entropy code.
    keras = pytest.importorskip("keras")
    _, _, images = arrays
    rng = np.random.default_rng(17)
    before = rng.normal(size=(COUNT, SIZE, SIZE)) * np.linspace(0.2, 1, COUNT)[:, None, None]
    after = rng.uniform(size=(COUNT, SIZE, SIZE)) ** np.arange(1, COUNT + 1)[:, None, None]
    original = linear_model.module

    def quantus_explain(model, inputs, targets, **_):
        return (before if model is original else after)[:, None].copy()

    keras_model = keras.Sequential([keras.Input((SIZE, SIZE, 1)), keras.layers.Dense(2)])

    def explain_fn(model, batch):
        return before if model is keras_model else after

    metric = quantus.EfficientMPRT(disable_warnings=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = metric(
            model=original, x_batch=images.transpose(0, 3, 1, 2).copy(),
            y_batch=np.zeros(COUNT, int), a_batch=None, channel_first=True,
            explain_func=quantus_explain, device="cpu",
        )  # fmt: skip
    values = metrics.efficient_mprt(explain_fn, keras_model, images, per_image=True)
    assert np.ptp(values) > 0.1
    np.testing.assert_allclose(values, expected, rtol=1e-12)


# smooth_mprt has no Quantus comparison: Quantus 0.6's SmoothMPRT denoises with
# `quantus.explain` (captum) and ignores a custom `explain_func`, and its randomized torch
# weights cannot be matched (see above). tests/metrics/test_parameter_randomization.py
# checks it against a loop over the same noisy copies instead.


#: keras_cxr metric, Quantus class and its extra settings.
STABILITY = [
    ("relative_input_stability", "RelativeInputStability", {}),
    ("relative_output_stability", "RelativeOutputStability", {}),
    ("relative_representation_stability", "RelativeRepresentationStability",
     {"layer_names": ["1"]}),
]  # fmt: skip


@pytest.mark.parametrize(("ours", "theirs", "settings"), STABILITY)
def test_relative_stability_agrees_on_the_same_noise(
    quantus, arrays, linear_model, monkeypatch, ours, theirs, settings
):
    # Quantus draws each copy's noise with the global `np.random.uniform(0.02, 0.2)` over
    # the (N, C·H·W) batch; replaying keras_cxr's generator (copy by copy, (N, H, W, 1))
    # gives both the same noisy images. The explanation is the input times the weights of
    # the labelled class (through a sine), the representation of RRS the linear layer's
    # logits. Copies whose predicted class changes are NaN on both sides.
    _, _, images = arrays
    generator = np.random.default_rng(19)
    monkeypatch.setattr(np.random, "uniform", lambda low, high, size: generator.uniform(
        low, high, size))  # fmt: skip
    torch = linear_model.torch
    weights = linear_model.module[1].weight.detach().numpy().reshape(3, SIZE, SIZE)
    labels = np.argmax(linear_model(images), axis=1)

    def explain_images(batch, classes):  # not proportional to x, so RIS is not 1
        return np.sin(5 * np.asarray(batch, np.float64)[..., 0]) * weights[np.asarray(classes)]

    def explain_func(model, inputs, targets, **_):
        return explain_images(np.asarray(inputs).transpose(0, 2, 3, 1), targets)[:, None]

    def logits(batch):
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))
            return linear_model.module(x).numpy()

    samples = 6
    metric = getattr(quantus, theirs)(nr_samples=samples, disable_warnings=True, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = metric(
            model=linear_model.module, x_batch=images.transpose(0, 3, 1, 2).copy(),
            y_batch=labels, a_batch=explain_images(images, labels)[:, None],
            channel_first=True, explain_func=explain_func, softmax=True, device="cpu",
        )  # fmt: skip
    extra = (logits,) if ours == "relative_representation_stability" else ()
    values = getattr(metrics, ours)(
        explain_images, linear_model, *extra, images, labels, num_samples=samples, seed=19,
        per_image=True,
    )  # fmt: skip
    assert np.isfinite(values).sum() >= COUNT - 1 and np.nanstd(values) > 0.01
    np.testing.assert_allclose(values, expected, rtol=1e-6)  # NaN where Quantus has NaN
