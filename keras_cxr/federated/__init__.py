"""Federated training across hospitals: sites train on their own images, only weights move.

`federate` runs FedAvg rounds over sites (real folders, or one Kermany folder cut into
simulated sites by `partition_sites`), grades every round per site, fits the temperature
and threshold on logits the sites send, and saves a `model.keras` that the other
commands use like any other. `keras_cxr.federated.flower` wraps the same site training in
a Flower `ClientApp` and `ServerApp` for real deployments
(`pip install "keras_cxr[federated]"`).

Example:
    >>> config = keras_cxr.federated.FederatedConfig("chest_xray", "label:3", rounds=5)
    >>> result = keras_cxr.federated.federate(config)
    >>> result.test_metrics["roc_auc"]
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - for type checkers, IDEs and the API docs
    from keras_cxr.federated.aggregation import federated_average
    from keras_cxr.federated.calibration import calibrate_across_sites
    from keras_cxr.federated.client import SiteUpdate, site_logits, train_site
    from keras_cxr.federated.config import FederatedConfig
    from keras_cxr.federated.federation import FederatedResult, federate
    from keras_cxr.federated.privacy import DifferentialPrivacy
    from keras_cxr.federated.site_data import Site, load_sites
    from keras_cxr.federated.sites import parse_sites, partition_sites

#: Public name → the module of this package that defines it, imported on first use.
_EXPORTS = {
    "federated_average": "aggregation",
    "calibrate_across_sites": "calibration",
    "SiteUpdate": "client",
    "site_logits": "client",
    "train_site": "client",
    "FederatedConfig": "config",
    "FederatedResult": "federation",
    "federate": "federation",
    "DifferentialPrivacy": "privacy",
    "Site": "site_data",
    "load_sites": "site_data",
    "parse_sites": "sites",
    "partition_sites": "sites",
}

__all__ = [
    "DifferentialPrivacy",
    "FederatedConfig",
    "FederatedResult",
    "Site",
    "SiteUpdate",
    "calibrate_across_sites",
    "federate",
    "federated_average",
    "load_sites",
    "parse_sites",
    "partition_sites",
    "site_logits",
    "train_site",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'keras_cxr.federated' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"keras_cxr.federated.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
