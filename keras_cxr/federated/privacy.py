"""`DifferentialPrivacy`: central DP with client-side fixed clipping, as Flower does it.

Each site clips its update (its trained weights minus the global weights it started
from) to an L2 norm of at most `clipping_norm`, over all weight arrays together; the
server averages the clipped updates and adds Gaussian noise of standard deviation
`noise_multiplier * clipping_norm / sites` to every weight. This is the mechanism of
Flower's `DifferentialPrivacyClientSideFixedClipping` (with `fixedclipping_mod` at the
clients), and its formulas (tests/federated/test_privacy.py compares them). Like Flower's
wrapper around `FedAvg`, the average stays weighted by the sites' training images.

The privacy budget (epsilon, delta) this gives over the rounds needs a privacy accountant,
which neither Flower nor keras_cxr runs: the model's metadata records the noise
multiplier, the clipping norm and the rounds, from which an accountant computes it.

Reference:
    McMahan et al., "Learning Differentially Private Recurrent Language Models", ICLR 2018.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from keras_cxr._validation import invalid_value


@dataclass(frozen=True)
class DifferentialPrivacy:
    """The settings of central DP with client-side fixed clipping.

    Attributes:
        clipping_norm: Largest L2 norm of a site's update, > 0.
        noise_multiplier: Noise standard deviation in units of `clipping_norm / sites`,
            >= 0 (0: clipping only).

    Example:
        >>> dp = keras_cxr.federated.DifferentialPrivacy(clipping_norm=1.0, noise_multiplier=0.5)
        >>> dp.noise_stddev(sites=4)
        0.125
    """

    clipping_norm: float
    noise_multiplier: float = 1.0

    def __post_init__(self) -> None:
        if not self.clipping_norm > 0:
            raise invalid_value("clipping_norm", "a float > 0", self.clipping_norm)
        if not self.noise_multiplier >= 0:
            raise invalid_value("noise_multiplier", "a float >= 0", self.noise_multiplier)

    def noise_stddev(self, sites: int) -> float:
        """The standard deviation of the noise added to the averaged weights.

        Args:
            sites: Sites whose updates were averaged.

        Returns:
            `noise_multiplier * clipping_norm / sites`.

        Example:
            >>> keras_cxr.federated.DifferentialPrivacy(2.0, 1.0).noise_stddev(2)
            1.0
        """
        return float(self.noise_multiplier * self.clipping_norm / sites)

    def metadata(self, sites: int, rounds: int) -> dict[str, Any]:
        """The record stored as `metadata["federated"]["privacy"]`.

        Args:
            sites: Sites per round.
            rounds: Rounds trained.

        Returns:
            The mechanism, its parameters, the noise per round and `"epsilon": None`
            (no accountant ran).

        Example:
            >>> keras_cxr.federated.DifferentialPrivacy(1.0, 0.8).metadata(3, 10)["mechanism"]
            'central DP, client-side fixed clipping'
        """
        return {
            "mechanism": "central DP, client-side fixed clipping",
            "clipping_norm": self.clipping_norm,
            "noise_multiplier": self.noise_multiplier,
            "noise_stddev": self.noise_stddev(sites),
            "sites_per_round": sites,
            "rounds": rounds,
            "epsilon": None,
        }


def clip_update(
    local: Sequence[np.ndarray], start: Sequence[np.ndarray], clipping_norm: float
) -> list[np.ndarray]:
    """A site's weights with its update `local - start` clipped to `clipping_norm`.

    Args:
        local: The weights the site trained.
        start: The global weights it started from.
        clipping_norm: Largest L2 norm of the update over all arrays together.

    Returns:
        `start + update * min(1, clipping_norm / ||update||)`, array by array.

    Example:
        >>> import numpy as np
        >>> keras_cxr.federated.privacy.clip_update([np.array([3.0, 4.0])], [np.zeros(2)], 1.0)
        [array([0.6, 0.8])]
    """
    update = [np.asarray(a, np.float64) - np.asarray(b, np.float64) for a, b in zip(local, start)]
    norm = float(np.sqrt(sum(float(np.sum(u * u)) for u in update)))
    scale = 1.0 if norm <= clipping_norm else clipping_norm / norm
    return [
        (np.asarray(b, np.float64) + scale * u).astype(np.asarray(a).dtype)
        for a, b, u in zip(local, start, update)
    ]


def add_noise(
    weights: Sequence[np.ndarray], stddev: float, rng: np.random.Generator
) -> list[np.ndarray]:
    """The weights plus independent Gaussian noise of standard deviation `stddev`.

    Args:
        weights: The averaged weights.
        stddev: Standard deviation, >= 0.
        rng: The random generator (seeded per round, so a resumed run draws the same).

    Returns:
        New arrays, each in its own dtype.

    Example:
        >>> import numpy as np
        >>> noisy = keras_cxr.federated.privacy.add_noise(
        ...     [np.zeros(3)], 0.0, np.random.default_rng(0))
        >>> noisy[0].tolist()
        [0.0, 0.0, 0.0]
    """
    return [
        (np.asarray(w, np.float64) + rng.normal(0.0, stddev, np.shape(w))).astype(
            np.asarray(w).dtype
        )
        for w in weights
    ]


__all__ = ["DifferentialPrivacy", "add_noise", "clip_update"]
