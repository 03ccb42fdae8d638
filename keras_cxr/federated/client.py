"""`train_site` and `site_logits`: what a site computes in a round, on its own images.

A site receives the global weights, trains them on its training split with the reference
pipeline's main stage (`keras_cxr.training.stages.main_stage`: augmentation, balanced
class weights, the Grad-CAM callback, early stopping and the best-epoch checkpoint on
the site's own validation split) for the round's local epochs, and returns the new
weights with its number of training images. For evaluation and calibration it returns
logits of its validation (and test) images with their labels: numbers, never images.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from keras_cxr.federated.site_data import Site
from keras_cxr.models.prediction import predict_logits
from keras_cxr.training.config import TrainConfig
from keras_cxr.training.history import read_history
from keras_cxr.training.run_folder import CHECKPOINTS_FOLDER, HISTORY_FILE
from keras_cxr.training.stages import Run, main_stage


@dataclass
class SiteUpdate:
    """What a site sends back after training in a round.

    Attributes:
        site: The site's name.
        weights: The trained weights (`keras.Model.get_weights()` order).
        num_examples: Training images the site trained on (FedAvg's weight).
        seconds: Wall time of the local training.
        history: The local history (`history.csv` of the round: log key → values).

    Example:
        >>> update = keras_cxr.federated.train_site(model, config, site, weights, folder)
        >>> update.num_examples
        1565
    """

    site: str
    weights: list[np.ndarray] = field(repr=False)
    num_examples: int
    seconds: float
    history: dict[str, list] = field(default_factory=dict, repr=False)


def train_site(
    model: keras.Model,
    config: TrainConfig,
    site: Site,
    weights: Sequence[np.ndarray],
    folder: str | Path,
) -> SiteUpdate:
    """Trains the global weights on one site for `config.epochs` local epochs.

    The model is recompiled with a fresh optimizer (no optimizer state crosses rounds or
    sites) and trained by the pipeline's main stage, which ends with the weights of the
    epoch best on the site's validation split (`config.monitor`). The round's
    `history.csv` and Grad-CAM grids stay in `folder`; its checkpoints are removed.

    Args:
        model: The site's model (`keras_cxr.training.build_model(config)`); its weights
            are replaced.
        config: The local training settings (`epochs` are the local epochs).
        site: The site and its images.
        weights: The global weights to start from.
        folder: The round's working folder at the site.

    Returns:
        A `SiteUpdate`.

    Example:
        >>> update = keras_cxr.federated.train_site(model, config, site, weights, "run/s1/r1")
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.set_weights(list(weights))
    tic = time.perf_counter()
    main_stage(Run(config, folder, model, site.splits))
    seconds = time.perf_counter() - tic
    shutil.rmtree(folder / CHECKPOINTS_FOLDER, ignore_errors=True)
    return SiteUpdate(
        site=site.name,
        weights=[np.asarray(w) for w in model.get_weights()],
        num_examples=len(site.splits.train),
        seconds=seconds,
        history=read_history(folder / HISTORY_FILE),
    )


def site_logits(
    model: keras.Model, site: Site, batch_size: int = 32
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The model's logits on a site's validation (and test) images, with their labels.

    Args:
        model: The global model.
        site: The site.
        batch_size: Images per forward pass. Defaults to 32.

    Returns:
        Split name → `(labels (N,) int64, logits (N,) float64)`, for `"val"` and, when the
        site has one, `"test"`.

    Example:
        >>> labels, logits = keras_cxr.federated.site_logits(model, site)["val"]
    """
    found = {}
    for name in ("val", "test"):
        part = getattr(site.splits, name)
        if part is not None and len(part):
            logits = predict_logits(model, part.images, batch_size)[:, 0]
            found[name] = (part.labels.astype(np.int64), logits)
    return found


__all__ = ["SiteUpdate", "site_logits", "train_site"]
