"""Shared tiny training runs: trained once per test session, read by many tests."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from keras_cxr.data.synthetic import write_chest_xray
from keras_cxr.training import TrainConfig, train
from keras_cxr.training.checkpoints import TrainingSnapshot

#: The epoch (0-based) after whose snapshot the interrupted run is stopped.
INTERRUPT_AFTER = 0


class Interrupted(Exception):
    """Stands for a kill: raised right after a snapshot was written."""


@contextlib.contextmanager
def counting_data_passes():
    """Counts the folder walks, image scans and patient splits of the `train` calls inside.

    Yields a dict `{"walk": n, "scan": n, "split": n}` that fills as they run; the wrapped
    functions behave as before, so a session run can count them for a test to read.
    """
    import keras_cxr.data.index as index

    calls = {"walk": 0, "scan": 0, "split": 0}

    def counted(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)

        return wrapper

    patch = pytest.MonkeyPatch()
    patch.setattr(index, "find_image_files", counted("walk", index.find_image_files))
    patch.setattr(index, "scan_images", counted("scan", index.scan_images))
    patch.setattr(index, "split_by_patient", counted("split", index.split_by_patient))
    try:
        yield calls
    finally:
        patch.undo()


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
def resumed_run(resumed_run_and_data_passes):
    """An end-to-end run killed after its first epoch's snapshot, then resumed.

    Returns `(state_at_interruption, history_at_interruption, result)`; `result` is the
    finished run, which the other tests read (model, metadata, logs).
    """
    return resumed_run_and_data_passes[:3]


@pytest.fixture(scope="session")
def resumed_run_and_data_passes(phantom_data, tmp_path_factory):
    """`resumed_run`'s three values and the `counting_data_passes` of its resumed run."""
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
    with counting_data_passes() as passes:
        result = train(tiny_config(phantom_data, out, backbones=("cnn_3x3",), resume=True))
    return state, history, result, passes


@pytest.fixture(scope="session")
def cached_run(cached_run_and_data_passes):
    """A head trained on cached features of frozen compact CNNs, with 2 augmented views.

    Its threshold is chosen for a sensitivity of at least 0.9 on validation. Returns
    `(config, result)`.
    """
    return cached_run_and_data_passes[:2]


@pytest.fixture(scope="session")
def cached_run_and_data_passes(phantom_data, tmp_path_factory):
    """`cached_run`'s two values and the `counting_data_passes` of its run."""
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
    with counting_data_passes() as passes:
        result = train(config)
    return config, result, passes


@pytest.fixture(scope="session")
def trained(resumed_run):
    """The finished `TrainResult` of `resumed_run`."""
    return resumed_run[2]


@pytest.fixture(scope="session")
def test_set(trained, phantom_data):
    """The 20 test phantoms, decoded at the model's 32 px."""
    from keras_cxr.data import load_image_folder

    return load_image_folder(phantom_data / "test", 32, progress=False)
