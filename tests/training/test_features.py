"""`keras_cxr.training.extract_features`: pooled features of images and augmented views."""

from __future__ import annotations

import numpy as np
import pytest

from keras_cxr.training import extract_features

SIZE = 32


def test_view_zero_is_the_backbone_output_and_views_are_reproducible(
    two_branch_ensemble, tiny_images
):
    features = extract_features(
        two_branch_ensemble, tiny_images, augmented_views=2, batch_size=4, seed=3
    )
    assert features.shape == (3, 10, 16 + 16)
    direct = two_branch_ensemble.stacked_backbones.predict(tiny_images.astype("float32"), verbose=0)
    np.testing.assert_allclose(features[0], direct, rtol=1e-5, atol=1e-6)
    again = extract_features(
        two_branch_ensemble, tiny_images, augmented_views=2, batch_size=4, seed=3
    )
    np.testing.assert_allclose(features, again, rtol=1e-5, atol=1e-6)
    assert not np.allclose(features[1], features[0])


def test_extract_features_checks_its_arguments(two_branch_ensemble, tiny_images):
    with pytest.raises(ValueError, match="`augmented_views`"):
        extract_features(two_branch_ensemble, tiny_images, augmented_views=-1)
    with pytest.raises(ValueError, match="`images`"):
        extract_features(two_branch_ensemble, tiny_images[:, :16])
