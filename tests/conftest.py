"""Shared test fixtures: quiet TensorFlow, deterministic seeds, the real-data location."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: Set to 1 to run the tests with the frameworks' default compiler optimisation and
#: threads (see "Testing" in docs/layout.md).
FULL_OPTIMIZATION = os.environ.get("KERAS_CXR_TEST_FULL_OPTIMIZATION", "") == "1"


def fast_test_settings(environ=os.environ) -> None:
    """Cheaper compilers and no thread spinning for this run and the processes it starts.

    The tests check what keras_cxr computes on tiny models, several processes at a time on
    2 cores; the settings below change how fast and in which order the frameworks compute
    (float rounding in the last bits: every comparison has a tolerance), not what:

    - one OpenMP thread: PyTorch's and oneDNN's threads spin waiting for a core that other
      test processes hold (PyTorch's suite: 39 % less CPU);
    - XLA's backend optimisation level 0: JAX compiles every new function, and at these
      sizes LLVM's optimisation costs more than it saves (JAX's explain tests: 34 % less);
    - TensorFlow's graph optimiser (Grappler) off, in `pytest_configure` below, for the
      same reason (the explainer tests: 20 % less).
    """
    if FULL_OPTIMIZATION:
        return
    environ.setdefault("OMP_NUM_THREADS", "1")
    flags = environ.get("XLA_FLAGS", "")
    if "xla_backend_optimization_level" not in flags:
        environ["XLA_FLAGS"] = f"{flags} --xla_backend_optimization_level=0".strip()


fast_test_settings()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

#: The real Kermany train split, present on developer machines only.
REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "chest_xray" / "train"


def pytest_collection_finish(session):
    """Starts the other backends' suites in the background (see `tests/test_backends.py`).

    Under pytest-xdist the controller starts them instead (below), once.
    """
    if session.config.option.collectonly or "PYTEST_XDIST_WORKER" in os.environ:
        return
    from tests.test_backends import start_child_suites

    session.config.backend_child_suites = start_child_suites(item.nodeid for item in session.items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    """Under pytest-xdist: the controller starts the suites when the first worker has
    collected (workers wait for them through the files they write)."""
    config = node.config
    if getattr(config, "backend_child_suites", None) is None:
        from tests.test_backends import start_child_suites

        config.backend_child_suites = start_child_suites(ids)


def pytest_configure(config):
    """Names the child suites' folder before pytest-xdist starts its workers (they inherit
    it); the process that made it removes it at the end. Turns Grappler off (above)."""
    if keras.backend.backend() == "tensorflow" and not FULL_OPTIMIZATION:
        import tensorflow as tf

        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    from tests.test_backends import SUITES_FOLDER, suites_folder

    if SUITES_FOLDER not in os.environ and not config.option.collectonly:
        config.backend_suites_folder = suites_folder()


def pytest_sessionfinish(session):
    """Stops the child suites no test waited for (a run stopped early, `-x`) and removes
    their folder."""
    for suite in (getattr(session.config, "backend_child_suites", None) or {}).values():
        suite.kill()
    folder = getattr(session.config, "backend_suites_folder", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_runtest_logreport(report):
    """Keeps the counts each backend's child suite reported (shown in the summary)."""
    if report.when == "call":
        for name, value in report.user_properties:
            if name == "backend_suite":
                _BACKEND_COUNTS[value[0]] = value[1]


#: Backend name -> what its child suite ran, filled by `pytest_runtest_logreport`.
_BACKEND_COUNTS: dict[str, str] = {}


def pytest_terminal_summary(terminalreporter):
    """Prints the passed/failed/skipped counts of the other backends' suites."""
    if _BACKEND_COUNTS:
        terminalreporter.section("backend suites")
        for backend, counts in sorted(_BACKEND_COUNTS.items()):
            terminalreporter.line(f"{backend}: {counts}")


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)
    yield


#: Side of the images the tiny two-branch ensemble takes.
TINY_SIZE = 32


@pytest.fixture(scope="module")
def two_branch_ensemble():
    """`make_two_branch_ensemble()`. Module-scoped: a test that trains it changes it for the
    module."""
    return make_two_branch_ensemble()


def make_two_branch_ensemble():
    """A `StackedEnsemble` of two small compact CNNs (3×3 and 5×5 stems), 32 px, a 6-unit head.

    The head's BatchNorm has non-trivial moving statistics, so inference and training
    modes differ; its dropout rate is 0.5.
    """
    import keras_cxr
    from keras_cxr.layers import compact_cnn

    keras.utils.set_random_seed(1)
    branches = [
        compact_cnn((TINY_SIZE, TINY_SIZE, 3), width=4, stages=3, first_kernel=k, name=f"b{k}")
        for k in (3, 5)
    ]
    model = keras_cxr.StackedEnsemble(
        backbones=branches,
        input_shape=(TINY_SIZE, TINY_SIZE, 3),
        weights=None,
        head_units=(6,),
        dropout=0.5,
    )
    bn = model.get_layer("head_bn_1")
    bn.moving_mean.assign(np.linspace(-1, 1, bn.moving_mean.shape[0]).astype("float32"))
    bn.moving_variance.assign(np.full(bn.moving_variance.shape, 4.0, "float32"))
    return model


@pytest.fixture(scope="module")
def tiny_images():
    """Ten random uint8 images for `two_branch_ensemble`."""
    return np.random.default_rng(0).integers(0, 256, (10, TINY_SIZE, TINY_SIZE, 3)).astype(np.uint8)
