"""Flower's `ClientApp` and `ServerApp` around keras_cxr's site training, for real sites.

`keras_cxr.federated.federate` simulates a federation in one process. On real sites the
same `train_site` runs inside a Flower `ClientApp` on each hospital's machine
(`flower-supernode`), and the `ServerApp` (`flower-superlink`) runs Flower's `FedAvg`
strategy, which averages exactly as `keras_cxr.federated.federated_average` does
(tests/federated/test_aggregation.py compares them). After the last round the server asks
every site for its validation logits and saves the model calibrated on them
(`keras_cxr.federated.final_model.save_federated_model`).

A site finds its images in its node config: `data` (a Kermany-layout folder at the site),
or, in Flower's simulation, `partition-id` (the index of a simulated site of
`FederatedConfig.sites` over `FederatedConfig.data`).

Needs Flower: `pip install "keras_cxr[federated]"`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_cxr.data.image_splits import load_image_splits
from keras_cxr.federated.client import site_logits, train_site
from keras_cxr.federated.config import FederatedConfig
from keras_cxr.federated.final_model import save_federated_model
from keras_cxr.federated.site_data import Site, load_sites_of
from keras_cxr.training.config import TrainConfig
from keras_cxr.training.model_building import build_model

#: The key of the site's training images in a reply's metrics (FedAvg's weight).
NUM_EXAMPLES = "num-examples"


def require_flower() -> Any:
    """Imports Flower, or says how to install it.

    Returns:
        The `flwr` module.

    Raises:
        ImportError: Without Flower, naming `pip install "keras_cxr[federated]"`.

    Example:
        >>> keras_cxr.federated.flower.require_flower().__name__
        'flwr'
    """
    try:
        import flwr
    except ImportError as error:
        raise ImportError(
            'keras_cxr.federated.flower needs Flower: pip install "keras_cxr[federated]" '
            "(the simulation, keras_cxr.federated.federate, does not)."
        ) from error
    return flwr


def client_app(
    config: FederatedConfig,
    site_of: Callable[[Any], Site] | None = None,
    model_builder: Callable[[TrainConfig], keras.Model] = build_model,
) -> Any:
    """A Flower `ClientApp` that trains and evaluates keras_cxr models on one site.

    Its `train` handler sets the received `"arrays"`, trains them with `train_site` and
    replies with the new arrays and `{"num-examples": n}` (with `config.dp_clipping_norm`,
    clipped by Flower's `fixedclipping_mod`); its `evaluate` handler replies
    with the site's validation metrics and, as the `"logits"` array record, its validation
    labels and logits (numbers the server calibrates on; no image leaves the site).

    Args:
        config: The federation's settings (recipe, sizes, `out` for the site's history).
        site_of: Maps Flower's `Context` to the site's images; None reads the node config
            (see the module docstring).
        model_builder: Builds the model. Defaults to `keras_cxr.training.build_model`.

    Returns:
        A `flwr.clientapp.ClientApp`.

    Raises:
        ImportError: Without Flower.

    Example:
        >>> app = keras_cxr.federated.flower.client_app(
        ...     keras_cxr.federated.FederatedConfig(sites="iid:3", data="chest_xray"))
    """
    require_flower()
    from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.clientapp.mod import fixedclipping_mod

    train_config = config.train_config()
    site_of = site_of or _site_from_node_config(config)
    models: dict[str, keras.Model] = {}
    # With privacy, Flower's mod clips the update to the norm the server's wrapper sends.
    app = ClientApp(mods=[fixedclipping_mod] if config.privacy() is not None else [])

    def _model(site: Site, arrays) -> keras.Model:
        if site.name not in models:
            models[site.name] = model_builder(train_config)
        model = models[site.name]
        model.set_weights(arrays.to_numpy_ndarrays())
        return model

    @app.train()
    def train(message, context):
        site = site_of(context)
        model = _model(site, message.content["arrays"])
        round_ = int(message.content["config"].get("server-round", 0))
        folder = Path(config.out) / "sites" / site.name / f"round_{round_:03d}"
        local = dataclasses.replace(train_config, seed=config.seed + round_)
        update = train_site(model, local, site, model.get_weights(), folder)
        metrics = MetricRecord({NUM_EXAMPLES: update.num_examples, "seconds": update.seconds})
        content = RecordDict({"arrays": ArrayRecord(update.weights), "metrics": metrics})
        return Message(content=content, reply_to=message)

    @app.evaluate()
    def evaluate(message, context):
        site = site_of(context)
        model = _model(site, message.content["arrays"])
        labels, logits = site_logits(model, site, train_config.batch_size)["val"]
        loss = float(np.mean(np.logaddexp(0.0, logits) - labels * logits))
        metrics = MetricRecord({NUM_EXAMPLES: len(labels), "loss": loss})
        logit_record = ArrayRecord([labels.astype(np.float64), logits])
        content = RecordDict({"metrics": metrics, "logits": logit_record})
        return Message(content=content, reply_to=message)

    return app


def server_app(
    config: FederatedConfig,
    min_nodes: int = 2,
    model_builder: Callable[[TrainConfig], keras.Model] = build_model,
) -> Any:
    """A Flower `ServerApp` that runs FedAvg, then calibrates and saves the model.

    With `config.dp_clipping_norm`, `FedAvg` runs inside Flower's
    `DifferentialPrivacyClientSideFixedClipping` (noise `dp_noise_multiplier`, `min_nodes`
    sites per round), and the privacy settings go into the model's metadata.

    Args:
        config: The federation's settings (`rounds`, `out`).
        min_nodes: Sites that must be connected before a round starts. Defaults to 2.
        model_builder: Builds the initial model. Defaults to `keras_cxr.training.build_model`.

    Returns:
        A `flwr.serverapp.ServerApp`; its main function saves `<out>/model.keras`.

    Raises:
        ImportError: Without Flower.

    Example:
        >>> app = keras_cxr.federated.flower.server_app(
        ...     keras_cxr.federated.FederatedConfig(sites="iid:3", data="chest_xray"))
    """
    require_flower()
    from flwr.app import ArrayRecord
    from flwr.serverapp import ServerApp
    from flwr.serverapp.strategy import DifferentialPrivacyClientSideFixedClipping, FedAvg

    privacy = config.privacy()
    app = ServerApp()

    @app.main()
    def main(grid, context):
        keras.utils.set_random_seed(config.seed)
        model = model_builder(config.train_config())
        strategy = FedAvg(
            min_train_nodes=min_nodes,
            min_evaluate_nodes=min_nodes,
            min_available_nodes=min_nodes,
            weighted_by_key=NUM_EXAMPLES,
        )
        if privacy is not None:
            strategy = DifferentialPrivacyClientSideFixedClipping(
                strategy, privacy.noise_multiplier, privacy.clipping_norm, min_nodes
            )
        result = strategy.start(
            grid=grid, initial_arrays=ArrayRecord(model.get_weights()), num_rounds=config.rounds
        )
        model.set_weights(result.arrays.to_numpy_ndarrays())
        final_logits(grid, model, config)

    return app


def final_logits(grid: Any, model: keras.Model, config: FederatedConfig) -> dict[str, Any]:
    """Asks every site for its validation logits under `model`, and saves the model.

    Args:
        grid: Flower's `Grid` of the running `ServerApp`.
        model: The final global model.
        config: The federation's settings.

    Returns:
        The summary of `keras_cxr.federated.final_model.save_federated_model`.

    Example:
        >>> keras_cxr.federated.flower.final_logits(grid, model, config)
    """
    from flwr.app import ArrayRecord, Message, RecordDict

    arrays = ArrayRecord(model.get_weights())
    messages = [
        Message(content=RecordDict({"arrays": arrays}), dst_node_id=node, message_type="evaluate")
        for node in grid.get_node_ids()
    ]
    val_logits, examples = {}, {}
    for reply in grid.send_and_receive(messages):
        if reply.has_error():
            continue
        labels, logits = reply.content["logits"].to_numpy_ndarrays()
        name = f"node{reply.metadata.src_node_id}"
        val_logits[name] = (labels.astype(np.int64), logits)
        examples[name] = int(reply.content["metrics"][NUM_EXAMPLES])
    return save_federated_model(config, model, val_logits, examples, None, ("NORMAL", "PNEUMONIA"))


def _site_from_node_config(config: FederatedConfig) -> Callable[[Any], Site]:
    """Finds a site's images from `data` or `partition-id` in the node config (cached)."""
    cache: dict[Any, Site] = {}
    train_config = config.train_config()

    def site_of(context) -> Site:
        node = context.node_config
        key = node.get("data", node.get("partition-id"))
        if key not in cache:
            if "data" in node:
                splits = load_image_splits(
                    node["data"],
                    image_size=train_config.image_size,
                    val_fraction=config.val_fraction,
                    seed=config.seed,
                    max_images=config.max_images,
                    progress=False,
                )
                cache[key] = Site(Path(str(node["data"])).name, splits)
            elif "partition-id" in node:
                sites, _ = load_sites_of(config)
                cache[key] = sites[int(node["partition-id"])]
            else:
                raise ValueError(
                    "A keras_cxr site needs `data` (its Kermany-layout folder) or "
                    "`partition-id` (a simulated site) in its node config, e.g. "
                    "flower-supernode --node-config 'data=\"/data/chest_xray\"'."
                )
        return cache[key]

    return site_of


__all__ = ["NUM_EXAMPLES", "client_app", "final_logits", "require_flower", "server_app"]
