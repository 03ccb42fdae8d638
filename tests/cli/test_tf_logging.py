"""TensorFlow's C++ logging on the command line: errors only, its start-up noise dropped."""

from __future__ import annotations

import os

import pytest

from keras_cxr.cli import _tf_logging

from ._helpers import run_python

# Lines that TensorFlow 2.21 prints on `import tensorflow` and on the first device use of
# a CPU-only machine at TF_CPP_MIN_LOG_LEVEL=2 (copied from a run), and older formats.
NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    "I0000 00:00:1796155058.400364    7518 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.\n",
    "E0000 00:00:1796155202.697058   10196 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n",
    "2024-06-07 14:17:16.238228: I external/local_tsl/tsl/cuda/cudart_stub.cc:32] Could not "
    "find cuda drivers on your machine, GPU will not be used.\n",
    "W0000 00:00:1758131437.322781 3722519 computation_placer.cc:177] computation placer "
    "already registered.\n",
]
KEPT = [
    "E0000 00:00:1796155202.697058   10196 cuda_platform.cc:52] failed call to cuInit: "
    "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE (804)\n",
    "E0000 00:00:1758131045.203198 3722035 cuda_dnn.cc:8579] Unable to register cuDNN factory\n",
    "F0000 00:00:1758131045.203198 3722035 logging.cc:10] Check failed: x\n",
    "/site-packages/keras/src/foo.py:12: UserWarning: a Python warning\n",
    "error: No model file at 'm.keras'.\n",
    "I0000 is not how a log line starts\n",
]


@pytest.mark.parametrize("line", NOISE)
def test_start_up_noise_is_recognised(line):
    assert _tf_logging._is_start_up_noise(line)


@pytest.mark.parametrize("line", KEPT)
def test_errors_and_other_output_are_kept(line):
    assert not _tf_logging._is_start_up_noise(line)


def test_the_level_defaults_to_errors_only(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    assert _tf_logging.default_to_errors_only() is True
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"


@pytest.mark.parametrize("chosen", ["0", "3", ""])
def test_a_level_the_user_set_is_kept(monkeypatch, chosen):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", chosen)
    assert _tf_logging.default_to_errors_only() is False
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == chosen


def test_the_filter_drops_noise_written_to_file_descriptor_2(capfd):
    with _tf_logging._filtered_stderr(_tf_logging._is_start_up_noise):
        for line in [*NOISE, *KEPT]:
            os.write(2, line.encode())  # as C++ writes: past sys.stderr
    assert capfd.readouterr().err == "".join(KEPT)


def test_an_error_inside_the_filter_restores_stderr(capfd):
    with pytest.raises(ImportError), _tf_logging._filtered_stderr(lambda line: False):
        os.write(2, b"kept\n")
        raise ImportError("no backend")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "kept\nafter\n"


def test_a_command_that_loads_tensorflow_prints_no_cuda_lines(tmp_path):
    """On any machine, and on a CPU-only one in particular: only the error line."""
    probe = (
        "import sys; from keras_cxr.cli import main; code = main(sys.argv[1:]);"
        "print('tensorflow' in sys.modules); sys.exit(code)"
    )
    model, data = tmp_path / "m.keras", str(tmp_path)
    model.write_text("not a model")  # found, so TensorFlow loads; then refused
    completed = run_python("-c", probe, "evaluate", "--model", str(model), "--data", data)
    assert completed.returncode == 1
    assert completed.stdout == "True\n"  # the command did load TensorFlow
    for word in ("cuda", "cudart", "cuinit", "absl"):
        assert word not in completed.stderr.lower()
    assert completed.stderr == (
        f"error: The model file '{model}' is not a complete `.keras` archive: it is "
        "truncated or in another format. Save it again with `model.save('model.keras')`.\n"
    )
