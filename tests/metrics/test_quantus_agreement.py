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
