"""Flower's ClientApp around `train_site`, driven in-process with Flower's own messages."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from keras_cxr.data.synthetic import write_chest_xray
from keras_cxr.federated import FederatedConfig, load_sites

flwr = pytest.importorskip("flwr")
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, Metadata, RecordDict  # noqa: E402

from keras_cxr.federated.flower import NUM_EXAMPLES, client_app, server_app  # noqa: E402

SIZE = 32


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_model):
    base = tmp_path_factory.mktemp("flower")
    root = write_chest_xray(base / "data", n_train=48, n_test=8, image_size=SIZE, seed=1)
    sites, _ = load_sites(root, "iid:2", SIZE)
    config = FederatedConfig(
        root, "iid:2", rounds=1, out=base / "run", recipe="demo", image_size=SIZE,
        batch_size=16, gradcam_images=0, progress=False,
    )  # fmt: skip
    app = client_app(config, site_of=lambda context: sites[0], model_builder=tiny_model)
    context = Context(run_id=1, node_id=7, node_config={}, state=RecordDict(), run_config={})
    return config, sites, app, context


def _message(kind, weights, **content):
    """A message from the server, as the SuperLink would deliver it to node 7."""
    records = RecordDict({"arrays": ArrayRecord(weights), **content})
    metadata = Metadata(
        run_id=1,
        message_id=f"{kind}-1",
        src_node_id=0,
        dst_node_id=7,
        reply_to_message_id="",
        group_id="1",
        created_at=0.0,
        ttl=3600.0,
        message_type=kind,
    )
    return Message(content=records, metadata=metadata)


def test_the_train_handler_replies_with_weights_and_the_example_count(setup, tiny_model):
    config, sites, app, context = setup
    weights = tiny_model(config.train_config()).get_weights()
    config_record = ConfigRecord({"server-round": 1})
    reply = app(_message("train", weights, config=config_record), context)
    assert not reply.has_error()
    trained = reply.content["arrays"].to_numpy_ndarrays()
    assert [w.shape for w in trained] == [w.shape for w in weights]
    assert any(not np.allclose(a, b) for a, b in zip(trained, weights))
    assert reply.content["metrics"][NUM_EXAMPLES] == len(sites[0].splits.train)
    assert (config.out / "sites" / "site1" / "round_001" / "history.csv").is_file()


def test_the_evaluate_handler_sends_logits_not_images(setup, tiny_model):
    config, sites, app, context = setup
    model = tiny_model(config.train_config())
    reply = app(_message("evaluate", model.get_weights()), context)
    labels, logits = reply.content["logits"].to_numpy_ndarrays()
    np.testing.assert_array_equal(labels, sites[0].splits.val.labels)
    expected = model.predict(sites[0].splits.val.images, verbose=0)
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), expected[:, 0], atol=1e-5)
    assert reply.content["metrics"][NUM_EXAMPLES] == len(labels)


def test_with_privacy_flowers_mod_clips_the_update(setup, tiny_model):
    config, sites, _, context = setup
    private = dataclasses.replace(config, dp_clipping_norm=1e-3, dp_noise_multiplier=0.5)
    app = client_app(private, site_of=lambda context: sites[1], model_builder=tiny_model)
    weights = tiny_model(config.train_config()).get_weights()
    # DifferentialPrivacyClientSideFixedClipping sends the norm with every train message.
    config_record = ConfigRecord({"server-round": 2, "clipping_norm": 1e-3})
    reply = app(_message("train", weights, config=config_record), context)
    assert not reply.has_error()
    update = [a - b for a, b in zip(reply.content["arrays"].to_numpy_ndarrays(), weights)]
    norm = float(np.sqrt(sum(np.sum(u.astype(np.float64) ** 2) for u in update)))
    assert 0 < norm <= 1e-3 * (1 + 1e-5)


def test_the_server_app_builds(setup, tiny_model):
    config, *_ = setup
    assert type(server_app(config, model_builder=tiny_model)).__name__ == "ServerApp"
