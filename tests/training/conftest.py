"""Shared tiny training runs: trained once per test session, read by many tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from keras_cxr.data.synthetic import write_chest_xray
from keras_cxr.training import TrainConfig, train
from keras_cxr.training.checkpoints import TrainingSnapshot

#: The epoch (0-based) after whose snapshot the interrupted run is stopped.
INTERRUPT_AFTER = 0


class Interrupted(Exception):
    """Stands for a kill: raised right after a snapshot was written."""


def tiny_config(data: Path, out: Path, **overrides) -> TrainConfig:
    """The demo recipe shrunk to 32-pixel phantoms, a 8-unit head and no progress bars."""
    settings = dict(
        data=data,
        out=out,
        image_size=32,
        epochs=3,
        batch_size=16,
        head_units=(8,),
        val_fraction=0.25,
        gradcam_images=2,
        gradcam_every=1,
        progress=False,
    )
    settings.update(overrides)
    return TrainConfig.recipe("demo", **settings)


@pytest.fixture(scope="session")
def phantom_data(tmp_path_factory) -> Path:
    """A Kermany-layout folder of 64 train and 20 test phantoms, 32 × 32; read only."""
    root = tmp_path_factory.mktemp("training_data") / "chest_xray"
    return write_chest_xray(root, n_train=64, n_test=20, image_size=32, seed=0)


@pytest.fixture(scope="session")
def resumed_run(phantom_data, tmp_path_factory):
    """An end-to-end run killed after its first epoch's snapshot, then resumed.

    Returns `(state_at_interruption, history_at_interruption, result)`; `result` is the
    finished run, which the other tests read (model, metadata, logs).
    """
    import json

    import pytest as _pytest

    from keras_cxr.training import read_history

    out = tmp_path_factory.mktemp("e2e")
    original = TrainingSnapshot.on_epoch_end

    def stop_after_snapshot(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == INTERRUPT_AFTER:
            raise Interrupted

    patch = _pytest.MonkeyPatch()
    patch.setattr(TrainingSnapshot, "on_epoch_end", stop_after_snapshot)
    try:
        with _pytest.raises(Interrupted):
            train(tiny_config(phantom_data, out, backbones=("cnn_3x3",)))
    finally:
        patch.undo()
    state = json.loads((out / "checkpoints" / "last" / "state.json").read_text())
    history = read_history(out / "history.csv")
    result = train(tiny_config(phantom_data, out, backbones=("cnn_3x3",), resume=True))
    return state, history, result


@pytest.fixture(scope="session")
def cached_run(phantom_data, tmp_path_factory):
    """A head trained on cached features of frozen compact CNNs, with 2 augmented views.

    Its threshold is chosen for a sensitivity of at least 0.9 on validation.
    """
    out = tmp_path_factory.mktemp("cached")
    config = tiny_config(
        phantom_data,
        out,
        backbones=("cnn_3x3",),
        train_backbones=False,
        augmented_views=2,
        operating_point="sensitivity:0.9",
        epochs=4,
        gradcam_images=2,
        gradcam_every=2,
        tensorboard=False,
    )
    return config, train(config)


@pytest.fixture(scope="session")
def trained(resumed_run):
    """The finished `TrainResult` of `resumed_run`."""
    return resumed_run[2]


@pytest.fixture(scope="session")
def test_set(trained, phantom_data):
    """The 20 test phantoms, decoded at the model's 32 px."""
    from keras_cxr.data import load_image_folder

    return load_image_folder(phantom_data / "test", 32, progress=False)
