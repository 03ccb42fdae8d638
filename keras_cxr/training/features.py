"""Frozen-backbone feature caching: pooled features computed once, the head trained on them.

With frozen backbones, an epoch of `model.fit` on images spends nearly all its time
recomputing backbone features that never change. `extract_features` computes them once
(for the images as they are and for a fixed set of augmented views), and
`feature_batches` serves them to `keras_cxr.models.HeadModel`, which shares the
ensemble's head layers, one random view of each image per epoch.
"""

from __future__ import annotations

from collections.abc import Iterator

import keras
import numpy as np

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.models.head import feature_extractor


def extract_features(
    model: keras.Model,
    images: np.ndarray,
    augmented_views: int = 0,
    augmentation=None,
    batch_size: int = 32,
    seed: int = 0,
    progress: bool = False,
) -> np.ndarray:
    """Computes the pooled backbone features of images and of `augmented_views` augmented copies.

    View 0 is the images as they are; view `v >= 1` applies `augmentation` (by default
    `keras_cxr.data.make_augmentation(seed=seed + v)`) once, so each image has the same
    `augmented_views` fixed augmented versions for the whole training, and a head
    trained on them sees each image in one of `1 + augmented_views` versions per epoch.
    The same `seed` and `batch_size` give the same views.

    Args:
        model: A `keras_cxr.StackedEnsemble` (its `stacked_backbones` are used) or a
            feature model mapping images to `(batch, features)`.
        images: `(N, H, W, C)` raw pixels in [0, 255], uint8 or float.
        augmented_views: Number of augmented views `K` besides the original, >= 0.
            Defaults to 0.
        augmentation: A function `view -> callable` returning the augmentation of view
            `view` (a callable `(images, training=True) -> images`); None for
            `keras_cxr.data.make_augmentation(seed=seed + view)`.
        batch_size: Images per forward pass. Defaults to 32.
        seed: Seed of the default augmentation. Defaults to 0.
        progress: Show a progress bar. Defaults to False.

    Returns:
        float32 `(1 + augmented_views, N, features)`.

    Raises:
        ValueError: For a bad `augmented_views` or `batch_size`, or images that do not
            match the model's input shape.

    Example:
        >>> model = keras_cxr.StackedEnsemble(weights="imagenet")
        >>> features = keras_cxr.training.extract_features(model, x_train, augmented_views=4)
        >>> features.shape
        (5, 4177, 2944)
    """
    from tqdm.auto import tqdm

    from keras_cxr.data.augmentation import make_augmentation

    augmented_views = check_int("augmented_views", augmented_views, minimum=0)
    batch_size = check_int("batch_size", batch_size)
    extractor = feature_extractor(model)
    images = np.asarray(images)
    expected = tuple(extractor.input_shape[1:])
    if images.ndim != 4 or tuple(images.shape[1:]) != expected:
        raise invalid_value(
            "images", f"a batch of shape (N, {', '.join(map(str, expected))})", images.shape
        )
    size = int(extractor.output_shape[-1])
    features = np.empty((1 + augmented_views, len(images), size), dtype=np.float32)
    steps = (1 + augmented_views) * -(-len(images) // batch_size)
    bar = tqdm(total=steps, desc="caching features", disable=not progress, leave=False)
    for view in range(1 + augmented_views):
        augment = None
        if view:
            augment = (
                make_augmentation(seed=seed + view) if augmentation is None else augmentation(view)
            )
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size].astype(np.float32)
            if augment is not None:
                batch = keras.ops.convert_to_numpy(augment(batch, training=True))
            # Under a MirroredStrategy, Keras runs the whole batch on every replica and
            # stacks the copies: the first `len(batch)` rows are the batch's.
            features[view, start : start + len(batch)] = keras.ops.convert_to_numpy(
                extractor.predict_on_batch(batch)
            )[: len(batch)]
            bar.update()
    bar.close()
    return features


def feature_batches(
    features: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    batch_size: int,
    seed: int,
    first_epoch: int = 0,
    drop_remainder: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yields `(features, labels, weights)` batches of cached features, epoch after epoch.

    Each epoch visits every image once, in an order and a view drawn from `(seed,
    epoch)`, so a resumed run sees exactly the batches the interrupted one would have.

    Args:
        features: `(views, N, features)` from `extract_features`.
        labels: `(N,)` labels.
        weights: `(N,)` sample weights.
        batch_size: Images per batch.
        seed: Seed of the orders and views.
        first_epoch: The 0-based epoch to start at. Defaults to 0.
        drop_remainder: Leave out each epoch's last partial batch (data-parallel
            training, where batches must split evenly). Defaults to False.

    Yields:
        Batches of `(features (B, F), labels (B, 1), weights (B,))`, forever.

    Example:
        >>> batches = keras_cxr.training.features.feature_batches(f, y, w, 32, seed=0)
        >>> head.fit(batches, steps_per_epoch=len(y) // 32 + 1, epochs=10)
    """
    views, count = features.shape[:2]
    epoch = first_epoch
    while True:
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(count)
        chosen_views = rng.integers(0, views, count)
        end = count - count % batch_size if drop_remainder else count
        for start in range(0, end, batch_size):
            index = order[start : start + batch_size]
            yield features[chosen_views[index], index], labels[index, None], weights[index]
        epoch += 1
