"""Class weights that balance an imbalanced training set, as `fit(class_weight=...)` takes them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


def balanced_class_weight(labels: Iterable[int]) -> dict[int, float]:
    """Weights each class by `n_samples / (n_classes * count_c)`, like scikit-learn's "balanced".

    With these weights every class contributes the same total weight to the loss, so a
    model trained on 1,341 normal and 3,875 pneumonia images is not rewarded for calling
    everything pneumonia. Only the classes present in `labels` get a weight (and count in
    `n_classes`), as in `sklearn.utils.class_weight.compute_class_weight`.

    Args:
        labels: Integer class index of every training sample.

    Returns:
        A dict from class index to weight, sorted by class index; empty for no labels.

    Example:
        >>> keras_cxr.data.balanced_class_weight([0, 1, 1, 1])
        {0: 2.0, 1: 0.6666666666666666}
    """
    counts = Counter(int(label) for label in labels)
    total = sum(counts.values())
    return {label: total / (len(counts) * counts[label]) for label in sorted(counts)}
