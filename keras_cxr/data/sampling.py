"""Choosing a few images per class: balanced samples for display, stratified ones for speed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from keras_cxr._validation import check_int


def balanced_sample(
    labels: Sequence[int] | np.ndarray, count: int, seed: int | None = None
) -> np.ndarray:
    """Up to `count` indices taken from each class in turn, so every class is shown.

    Classes are visited in label order, one image each per round, until `count` images are
    chosen or every class is used up (a rare class then gives all it has). With `seed`,
    the images of each class are taken in a seeded random order; with None, in the order
    they come. This is how the pipeline picks the validation images the training callback
    explains and the test images the demo draws.

    Args:
        labels: `(N,)` integer class labels.
        count: Number of indices wanted, >= 0.
        seed: Seed of the order within each class, or None for the given order.
            Defaults to None.

    Returns:
        int64 indices into `labels`, sorted, at most `count` of them.

    Raises:
        ValueError: If `count` is not an integer >= 0.

    Example:
        >>> keras_cxr.data.balanced_sample([0, 0, 0, 1, 1], 3)
        array([0, 1, 3])
    """
    count = check_int("count", count, minimum=0)
    labels = np.asarray(labels).reshape(-1)
    rng = None if seed is None else np.random.default_rng(seed)
    per_class = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        per_class.append(list(members if rng is None else rng.permutation(members)))
    chosen: list[int] = []
    while len(chosen) < count and any(per_class):
        for members in per_class:
            if members and len(chosen) < count:
                chosen.append(int(members.pop(0)))
    return np.asarray(sorted(chosen), dtype=np.int64)


def stratified_sample(labels: Sequence[int] | np.ndarray, count: int, seed: int) -> np.ndarray:
    """About `count` indices drawn at random with each class's share of `labels` kept.

    Each class contributes `round(count * class_size / N)` images, at least one, so a
    quick run on a subset sees the same class balance as the whole split.

    Args:
        labels: `(N,)` integer class labels.
        count: Number of indices wanted, >= 1.
        seed: Seed of the draw.

    Returns:
        int64 indices into `labels`, sorted.

    Raises:
        ValueError: If `count` is not an integer >= 1.

    Example:
        >>> len(keras_cxr.data.stratified_sample([0] * 30 + [1] * 70, 10, seed=0))
        10
    """
    count = check_int("count", count)
    labels = np.asarray(labels).reshape(-1)
    rng = np.random.default_rng([seed, 7])
    chosen: list[int] = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        share = max(1, round(count * len(members) / len(labels)))
        chosen += rng.permutation(members)[:share].tolist()
    return np.asarray(sorted(chosen), dtype=np.int64)
