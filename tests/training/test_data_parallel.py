"""Data-parallel training (`TrainConfig(distribute=True)`) on 2 CPU devices, and its errors.

The 2-device checks run `data_parallel_worker.py` in a child process per backend, since
devices must be configured before TensorFlow or JAX starts; this process (one device)
then loads the models the children saved.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_cxr
from keras_cxr.training import TrainConfig, train
from keras_cxr.training.data_parallel import padded, validation_data

from ..test_backends import backend_environment
from .conftest import tiny_config

WORKER = Path(__file__).with_name("data_parallel_worker.py")

#: Largest weight difference accepted between a 2-device and a 1-device fit of the same
#: batches (measured: 6e-8 on TensorFlow and on JAX).
WEIGHT_TOLERANCE = 1e-5


@pytest.fixture(scope="module", params=["tensorflow", "jax"])
def worker(request, phantom_data, tmp_path_factory):
    backend = request.param
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    out = tmp_path_factory.mktemp(f"data_parallel_{backend}")
    result_path = out / "result.json"
    completed = subprocess.run(
        [sys.executable, str(WORKER), str(phantom_data), str(out), str(result_path)],
        env=backend_environment(backend),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(result_path.read_text()), out


@pytest.mark.slow
def test_two_devices_give_the_weights_of_one(worker):
    result, _ = worker
    equivalence = result["equivalence"]
    assert equivalence["devices"] == 2
    assert equivalence["max_weight_difference"] < WEIGHT_TOLERANCE
    assert equivalence["synchronized_after"] == [False]
    if result["backend"] == "tensorflow":
        assert equivalence["synchronized_in_fit"] == [True]


@pytest.mark.slow
def test_padded_validation_gives_the_plain_metrics(worker):
    equivalence = worker[0]["equivalence"]
    plain, padded_ = equivalence["plain_evaluation"], equivalence["padded_evaluation"]
    for name in ("loss", "accuracy", "auc"):
        assert padded_[name] == pytest.approx(plain[name], abs=1e-6), name


@pytest.mark.slow
def test_batch_size_must_split_between_the_devices(worker):
    error = worker[0]["batch_size_error"]
    assert error["type"] == "ValueError"
    assert "Expected a multiple of the 2 devices" in error["message"]
    assert "batch_size=15" in error["message"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["end_to_end", "cached_features"])
def test_distributed_run_saves_a_model_that_loads_on_one_device(worker, mode):
    result, out = worker
    run = result["runs"][mode]
    assert run["mode"] == mode
    assert len(run["history"]["epoch"]) == 2
    assert all(math.isfinite(v) for v in run["history"]["val_loss"])
    assert all(math.isfinite(v) for k, v in run["val_metrics"].items() if k == "roc_auc")
    with zipfile.ZipFile(run["model_path"]) as archive:
        saved = archive.read("config.json").decode()
    assert '"synchronized": true' not in saved
    model = keras_cxr.load_model(run["model_path"])
    config = json.loads((Path(run["model_path"]).parent / "config.json").read_text())
    assert config["distribute"] is True
    from keras_cxr.data import load_image_splits

    splits = load_image_splits(
        config["data"], image_size=32, val_fraction=config["val_fraction"], progress=False
    )
    expected = np.load(out / f"{mode}_val_probabilities.npy")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.predict(splits.val.images, verbose=0)),
        expected,
        atol=1e-5,
    )


@pytest.mark.slow
def test_augmented_fine_tuned_run_resumes_data_parallel(worker):
    result, out = worker
    run = result["fine_tuned"]
    assert run["first_stages"] == ["main", "fine_tune"]
    assert run["resumed"] == [["fine_tune", 1]]
    assert run["stages"] == ["main", "fine_tune", "fine_tune"]
    assert all(math.isfinite(v) for v in run["val_loss"])
    model = keras_cxr.load_model(run["model_path"])
    config = json.loads((Path(run["model_path"]).parent / "config.json").read_text())
    assert (config["distribute"], config["augment"], config["fine_tune_epochs"]) == (True, True, 2)
    from keras_cxr.data import load_image_splits

    splits = load_image_splits(
        config["data"], image_size=32, val_fraction=config["val_fraction"], progress=False
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.predict(splits.val.images, verbose=0)),
        np.load(out / "fine_tuned_val_probabilities.npy"),
        atol=1e-5,
    )


# ------------------------------------------------------------------ one process, no child
def test_one_device_is_refused_with_the_count_and_the_fix(phantom_data, tmp_path):
    # This process has one CPU device: TensorFlow's or JAX's, by the active backend.
    with pytest.raises(RuntimeError, match=r"at least 2 devices; found 1 .*device\(s\)"):
        train(tiny_config(phantom_data, tmp_path / "run", distribute=True))
    assert not (tmp_path / "run").exists()


def test_jax_names_its_device_flag_on_one_device():
    pytest.importorskip("jax")
    from keras_cxr.backend import jax as jax_backend

    with (
        pytest.raises(RuntimeError, match="xla_force_host_platform_device_count=N"),
        jax_backend.data_parallel(16),
    ):
        pass


def test_tensorflow_names_logical_devices_on_one_device():
    pytest.importorskip("tensorflow")
    from keras_cxr.backend import tensorflow as tf_backend

    with (
        pytest.raises(RuntimeError, match="set_logical_device_configuration"),
        tf_backend.data_parallel(16),
    ):
        pass


def test_torch_refuses_and_names_the_supported_backends():
    pytest.importorskip("torch")
    from keras_cxr.backend import torch as torch_backend

    with pytest.raises(NotImplementedError, match="runs on the tensorflow and jax backends"):
        torch_backend.data_parallel(16)


def test_padding_weights_keep_the_mean_of_the_real_rows():
    inputs, labels, weights = validation_data(np.ones((3, 2)), np.array([0, 1, 1]), 2)
    assert inputs.shape == (4, 2) and labels.tolist() == [[0], [1], [1], [1]]
    np.testing.assert_allclose(weights, [4 / 3, 4 / 3, 4 / 3, 0])
    losses = np.array([1.0, 2.0, 6.0, 6.0])
    assert np.sum(weights * losses) / 4 == pytest.approx(3.0)  # the mean of 1, 2, 6
    assert padded(np.arange(4), 2).tolist() == [0, 1, 2, 3]


def test_distribute_is_a_flag_and_keeps_the_fingerprint():
    from ..cli._helpers import train_parser

    args = train_parser().parse_args(["--data", "d", "--distribute"])
    assert args.distribute is True
    assert train_parser().parse_args(["--data", "d", "--no-distribute"]).distribute is False
    assert TrainConfig(distribute=True).fingerprint() == TrainConfig().fingerprint()
