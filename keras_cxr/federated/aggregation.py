"""`federated_average`: FedAvg, the example-weighted mean of the sites' weights."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def federated_average(
    site_weights: Sequence[Sequence[np.ndarray]], num_examples: Sequence[int]
) -> list[np.ndarray]:
    """Averages the sites' model weights, each weighted by its number of training examples.

    `w = sum_k n_k w_k / sum_k n_k` for every weight array (trainable or not: BatchNorm's
    moving statistics are averaged like the kernels), computed in float64 and returned in
    each array's own dtype. This is what Flower's `FedAvg` strategy does with
    `weighted_by_key="num-examples"`; tests/federated/test_aggregation.py checks both.

    Args:
        site_weights: One list of arrays per site, as `keras.Model.get_weights()` returns
            them, in the same order and shapes for every site.
        num_examples: Training examples of each site, >= 0, not all 0.

    Returns:
        The averaged arrays, one per weight.

    Raises:
        ValueError: For no sites, a count per site missing, negative or all-zero counts,
            or sites whose weight lists differ in length or shape.

    Reference:
        McMahan et al., "Communication-Efficient Learning of Deep Networks from
        Decentralized Data", AISTATS 2017.

    Example:
        >>> import numpy as np
        >>> keras_cxr.federated.federated_average(
        ...     [[np.array([0.0, 2.0])], [np.array([3.0, 2.0])]], [1, 2])
        [array([2., 2.])]
    """
    if not site_weights or len(site_weights) != len(num_examples):
        raise ValueError(
            "federated_average needs one weight list and one example count per site. "
            f"Received {len(site_weights)} weight lists and {len(num_examples)} counts."
        )
    counts = np.asarray(num_examples, np.float64)
    if (counts < 0).any() or counts.sum() <= 0:
        raise ValueError(
            "Example counts must be >= 0 and not all 0. "
            f"Received num_examples={list(num_examples)}."
        )
    first = site_weights[0]
    for index, weights in enumerate(site_weights):
        shapes = [np.shape(w) for w in weights]
        if shapes != [np.shape(w) for w in first]:
            raise ValueError(
                f"Site {index} sends weights of shapes {shapes[:3]}... but site 0 sends "
                f"{[np.shape(w) for w in first][:3]}...: every site must train the same model."
            )
    shares = counts / counts.sum()
    return [
        np.asarray(
            sum(share * np.asarray(w[i], np.float64) for share, w in zip(shares, site_weights)),
            dtype=np.asarray(first[i]).dtype,
        )
        for i in range(len(first))
    ]


__all__ = ["federated_average"]
