"""`save_federated_model`: the final global model, calibrated on the sites' logits, saved.

Shared by the simulation (`keras_cxr.federated.federate`) and Flower's `ServerApp`
(`keras_cxr.federated.flower`): the temperature and threshold are fitted on the sites'
pooled validation logits (`keras_cxr.federated.calibrate_across_sites`), and the model is
saved with the metadata `train` writes (`temperature`, `threshold`, `operating_point`,
`calibration`, `class_names`, `image_size`, `config`, `version`...) plus `"federated"`:
the aggregation, the sites and their training images, the rounds, and the privacy
options (None: none).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_cxr.federated.calibration import calibrate_across_sites
from keras_cxr.federated.config import FederatedConfig
from keras_cxr.metrics import classification_report
from keras_cxr.models.metadata import save_model
from keras_cxr.training.calibrating import positive_probability_of
from keras_cxr.training.provenance import version_record
from keras_cxr.training.run_folder import MODEL_FILE


def save_federated_model(
    config: FederatedConfig,
    model: keras.Model,
    val_logits: Mapping[str, tuple[np.ndarray, np.ndarray]],
    site_examples: Mapping[str, int],
    test_logits: tuple[np.ndarray, np.ndarray] | None,
    class_names: Sequence[str],
    privacy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Calibrates the final model on the sites' validation logits and saves it.

    Args:
        config: The federation's settings (`out` receives `model.keras`).
        model: The final global model.
        val_logits: Site → `(labels, logits)` of its validation images.
        site_examples: Site → training images (FedAvg's weights).
        test_logits: `(labels, logits)` of the held-out test images, or None.
        class_names: Names of the labels.
        privacy: The privacy options used, recorded in the metadata. Defaults to None.

    Returns:
        `{"model", "threshold", "temperature", "operating_point", "val_metrics",
        "test_metrics", "site_metrics", "federated"}`.

    Raises:
        ValueError: As `keras_cxr.federated.calibrate_across_sites`.

    Example:
        >>> summary = keras_cxr.federated.final_model.save_federated_model(
        ...     config, model, {"site1": (y, z)}, {"site1": 120}, None, ("NORMAL", "PNEUMONIA"))
    """
    train_config = config.train_config()
    spec = train_config.operating_point or train_config.threshold_method
    calibration, site_metrics = calibrate_across_sites(val_logits, spec, train_config.calibrate)
    threshold, temperature = calibration.threshold, calibration.temperature
    labels = np.concatenate([np.asarray(y).reshape(-1) for y, _ in val_logits.values()])
    val_metrics = classification_report(labels, calibration.probabilities, threshold)
    test_metrics = None
    if test_logits is not None:
        probabilities = positive_probability_of(test_logits[1], temperature)
        test_metrics = classification_report(test_logits[0], probabilities, threshold)
    federated = {
        "aggregation": "fedavg",
        "sites": config.sites,
        "site_names": list(site_examples),
        "site_examples": dict(site_examples),
        "rounds": config.rounds,
        "local_epochs": config.local_epochs,
        "alpha": config.alpha if config.sites.startswith("label:") else None,
        "calibration_data": "validation logits sent by the sites (no images pooled)",
        "privacy": privacy,
    }
    metadata = {
        **calibration.metadata(),
        "threshold_method": train_config.threshold_method,
        "threshold_split": "validation",
        "class_names": list(class_names),
        "labels": "binary",
        "decision": "threshold",
        "image_size": train_config.image_size,
        "color_mode": "rgb",
        "recipe": train_config.recipe_name,
        "config": train_config.to_dict(),
        "val_metrics": val_metrics,
        "best_epoch": None,
        "version": version_record(model, config.fingerprint(), train_config.weights),
        "federated": federated,
    }
    path = save_model(model, Path(config.out) / MODEL_FILE, metadata)
    return {
        "model": path,
        "threshold": threshold,
        "temperature": temperature,
        "operating_point": calibration.operating_point,
        "val_metrics": val_metrics,
        "test_metrics": test_metrics,
        "site_metrics": site_metrics,
        "federated": federated,
    }


__all__ = ["save_federated_model"]
