"""Differential privacy: clipping and noise as Flower computes them, wired into `federate`."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_cxr.data.synthetic import write_chest_xray
from keras_cxr.federated import DifferentialPrivacy, FederatedConfig, federate, load_sites
from keras_cxr.federated.privacy import add_noise, clip_update
from keras_cxr.models import read_metadata


def _norm(arrays):
    return float(np.sqrt(sum(np.sum(np.asarray(a, np.float64) ** 2) for a in arrays)))


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**16), st.floats(1e-3, 10.0))
def test_the_clipped_update_is_at_most_the_norm_and_points_the_same_way(seed, norm):
    rng = np.random.default_rng(seed)
    start = [rng.normal(size=(3, 2)), rng.normal(size=(4,))]
    local = [s + rng.normal(scale=rng.uniform(0.01, 5), size=s.shape) for s in start]
    clipped = clip_update(local, start, norm)
    update = [c - s for c, s in zip(clipped, start)]
    original = [a - s for a, s in zip(local, start)]
    assert _norm(update) <= norm * (1 + 1e-9)
    if _norm(original) <= norm:  # small updates pass unchanged
        for u, o in zip(update, original):
            np.testing.assert_allclose(u, o, atol=1e-12)
    else:  # large ones are scaled, not bent
        scale = norm / _norm(original)
        for u, o in zip(update, original):
            np.testing.assert_allclose(u, scale * o, rtol=1e-9, atol=1e-12)


def test_clipping_and_noise_equal_flowers():
    pytest.importorskip("flwr")
    from flwr.supercore.differential_privacy import compute_clip_model_update, compute_stdv

    rng = np.random.default_rng(3)
    start = [rng.normal(size=(5, 3)), rng.normal(size=(3,))]
    local = [s + rng.normal(size=s.shape) for s in start]
    theirs = [a.copy() for a in local]
    compute_clip_model_update(theirs, start, 0.7)
    for ours, flower in zip(clip_update(local, start, 0.7), theirs):
        np.testing.assert_allclose(ours, flower, rtol=1e-12)
    assert DifferentialPrivacy(0.7, 1.3).noise_stddev(4) == pytest.approx(compute_stdv(1.3, 0.7, 4))


def test_the_noise_has_the_stated_standard_deviation():
    noisy = add_noise([np.zeros((400, 250), np.float32)], 0.05, np.random.default_rng(0))[0]
    assert noisy.dtype == np.float32
    assert noisy.mean() == pytest.approx(0.0, abs=1e-3)
    assert noisy.std() == pytest.approx(0.05, rel=0.01)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"clipping_norm": 0.0}, "argument `clipping_norm`"),
        ({"clipping_norm": 1.0, "noise_multiplier": -1.0}, "argument `noise_multiplier`"),
    ],
)
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        DifferentialPrivacy(**settings)
    config = {"dp_clipping_norm": settings["clipping_norm"]}
    config["dp_noise_multiplier"] = settings.get("noise_multiplier", 1.0)
    with pytest.raises(ValueError, match=message):
        FederatedConfig("d", **config).validate()


def test_federate_clips_the_sites_updates_and_records_the_privacy(tmp_path, tiny_model):
    root = write_chest_xray(tmp_path / "data", n_train=48, n_test=8, image_size=32, seed=2)
    sites, held_out = load_sites(root, "iid:2", 32)
    config = FederatedConfig(
        root, "iid:2", rounds=1, out=tmp_path / "run", recipe="demo", image_size=32,
        batch_size=16, gradcam_images=0, progress=False,
        dp_clipping_norm=1e-3, dp_noise_multiplier=0.0,
    )  # fmt: skip
    result = federate(config, sites, held_out, model_builder=tiny_model)
    with np.load(result.out / "rounds" / "global_000.npz") as before:
        start = [before[f"arr_{i}"] for i in range(len(before.files))]
    update = [a - b for a, b in zip(result.model.get_weights(), start)]
    # The average of updates clipped to 1e-3 is no longer than 1e-3 (a step of Adam is
    # ~1e-3 per weight, so unclipped it would be far longer).
    assert 0 < _norm(update) <= 1e-3 * (1 + 1e-5)
    privacy = read_metadata(result.model_path)["federated"]["privacy"]
    assert privacy["clipping_norm"] == 1e-3 and privacy["noise_multiplier"] == 0.0
    assert privacy["sites_per_round"] == 2 and privacy["epsilon"] is None
