"""The data randomization sanity check (Adebayo et al., 2018): labels permuted at random.

Reference:
    Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim. "Sanity Checks for Saliency Maps."
    NeurIPS 2018. https://arxiv.org/abs/1810.03292
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_cxr._validation import check_int, invalid_value


def label_randomization(labels: Any, seed: int = 0) -> np.ndarray:
    """Return a random permutation of the labels, for the data randomization test.

    The data randomization test trains a second model on permuted labels (same images,
    same class balance, no learnable relation) and checks that its heatmaps differ from
    those of the model trained on the true labels. Rows are permuted along the first axis,
    so one-hot labels work too; the input is not modified.

    Args:
        labels: Array of labels of shape (N, ...).
        seed: Non-negative integer seeding the permutation. Defaults to 0.

    Returns:
        A permuted copy of `labels`, same shape and dtype.

    Raises:
        ValueError: If `labels` is a scalar or `seed` is not an integer >= 0.

    Example:
        >>> import numpy as np
        >>> shuffled = keras_cxr.metrics.label_randomization(np.array([0, 0, 1, 1]), seed=0)
        >>> sorted(shuffled.tolist())
        [0, 0, 1, 1]

    Reference:
        Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim. "Sanity Checks for Saliency Maps."
        NeurIPS 2018. https://arxiv.org/abs/1810.03292
    """
    array = np.asarray(labels)
    if array.ndim == 0:
        raise invalid_value("labels", "an array of shape (N, ...)", labels)
    seed = check_int("seed", seed, minimum=0)
    return np.random.default_rng(seed).permutation(array)
