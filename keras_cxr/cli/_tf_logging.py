"""TensorFlow's C++ logging on the command line: errors only, unless the user chose a level.

What TensorFlow 2.21 prints on a CPU-only machine, measured with `import tensorflow` and
a first prediction:

- `TF_CPP_MIN_LOG_LEVEL` (read when TensorFlow's logging first runs: 0 all, 1 no INFO,
  2 no WARNING, 3 no ERROR) hides INFO lines such as `cpu_feature_guard.cc` from level 1.
- At every level, even 3, each of the two TensorFlow libraries that load on import
  prints "WARNING: All log messages before absl::InitializeLog() is called are written to
  STDERR" and "I0000 ... cudart_stub.cc:31] Could not find cuda drivers on your machine,
  GPU will not be used.". These come from Abseil's logging while the shared library is
  being loaded, before TensorFlow applies its level, and Abseil takes its own level only
  from command-line flags (`--minloglevel`, `--stderrthreshold`) that nothing parses in a
  Python process: no environment variable reaches them (`GRPC_VERBOSITY` is gRPC's own;
  `CUDA_VISIBLE_DEVICES` changes nothing here).
- At level 2, the first use of a device adds "E0000 ... cuda_platform.cc:52] failed call
  to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)"; level 3
  hides it, and every other C++ error with it.

So the command line sets level 2, errors only, and imports the backend once, before the
command runs, with file descriptor 2 captured (`start_up_noise_filtered`; building the
parser runs in it too, in case a command's module loads TensorFlow). From that output it
drops the Abseil banner, the INFO and WARNING lines that level 2 means to hide but cannot,
and the cuInit failure with status 303 (`CUDA_ERROR_SHARED_OBJECT_INIT_FAILED`: there is
no NVIDIA driver library to load, the normal case on a CPU-only machine), and writes
everything else back to stderr. Any other error, then and later, still shows; a user who
sets `TF_CPP_MIN_LOG_LEVEL` gets exactly what TensorFlow prints at that level, unfiltered.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator

_LEVEL = "TF_CPP_MIN_LOG_LEVEL"
_ERRORS_ONLY = "2"

_ABSL_BANNER = "WARNING: All log messages before absl::InitializeLog() is called"
# Abseil's "I0000 00:00:1796155058.400364    7518 cudart_stub.cc:31] ..." and the older
# TensorFlow "2024-06-07 14:17:16.238228: I external/.../cudart_stub.cc:32] ...".
_LOG_LINE = re.compile(
    r"(?:(?P<absl>[IWEF])\d{4} \S+\s+\d+ |\d{4}-\d\d-\d\d \S+: (?P<tf>[IWEF]) )\S+:\d+\] "
    r"(?P<message>.*)"
)
_NO_DRIVER = re.compile(r"failed call to cuInit: .*\(303\)")


def default_to_errors_only() -> bool:
    """Sets `TF_CPP_MIN_LOG_LEVEL=2` unless the environment has a value.

    Returns:
        True when this call set it: then the command line filters the start-up noise.
    """
    if _LEVEL in os.environ:
        return False
    os.environ[_LEVEL] = _ERRORS_ONLY
    return True


def start_up_noise_filtered(active: bool) -> contextlib.AbstractContextManager:
    """A context in which TensorFlow's start-up noise is dropped from stderr, if `active`.

    Args:
        active: Filter (what `default_to_errors_only` returned); False changes nothing.

    Returns:
        The context manager.
    """
    return _filtered_stderr(_is_start_up_noise) if active else contextlib.nullcontext()


def import_backend() -> None:
    """Imports Keras, its backend and TensorFlow, and lets TensorFlow look for its devices.

    TensorFlow is imported on every Keras backend: the commands read their data through
    `tf.data`, so under JAX or PyTorch its start-up lines (cuInit) would come later, outside
    the filter.
    """
    import keras

    if keras.backend.backend() == "tensorflow" or importlib.util.find_spec("tensorflow"):
        import tensorflow as tf

        tf.config.list_physical_devices()


def _is_start_up_noise(line: str) -> bool:
    if line.startswith(_ABSL_BANNER):
        return True
    match = _LOG_LINE.match(line)
    if match is None:
        return False
    severity = match["absl"] or match["tf"]
    return severity in "IW" or _NO_DRIVER.search(match["message"]) is not None


@contextlib.contextmanager
def _filtered_stderr(is_noise: Callable[[str], bool]) -> Iterator[None]:
    """Captures file descriptor 2 (C++ writes to it directly) and writes back the rest."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr: nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not is_noise(line)))
            sys.stderr.flush()
