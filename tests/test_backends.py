"""The `backends` tests under the Keras backends this process does not run.

Keras fixes its backend when it is imported, so each other backend gets its own pytest
process (`KERAS_BACKEND=jax python -m pytest -m backends`); the processes start as soon as
the suite is collected (`tests/conftest.py`), run beside it, and this test waits for its
backend's. The keras_cxr under test is put first on the child's path, so the child tests the
same copy as this process.

A child run cannot pass empty: it writes a JUnit XML report, whose counts this test checks
against the number of `backends` tests this process collected (every one must have run, and
at most `MAX_SKIPPED_SHARE` of them may skip); the counts are printed in the terminal summary
(`tests/conftest.py`). Under CI (`CI=true`), a backend that is not installed fails instead of
skipping. A child that times out is killed and its last output shown.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import keras
import pytest

import keras_cxr

ROOT = Path(__file__).resolve().parents[1]
#: The folders whose `backends` tests run under every backend: the explainers, layers,
#: models, metrics, callbacks, a smoke test of the command line (the demo and the
#: commands on it) and the tf.data pipeline with augmentation.
FOLDERS = (
    "tests/explain",
    "tests/layers",
    "tests/models",
    "tests/metrics",
    "tests/callbacks",
    "tests/cli",
    "tests/test_keras_internals.py",
    "tests/data/test_image_splits.py",
    "tests/federated/test_federation.py",
)
PACKAGE_ROOT = Path(keras_cxr.__file__).resolve().parents[1]
#: Largest share of a child's tests that may skip (tests of one backend's own behaviour).
MAX_SKIPPED_SHARE = 0.05
#: Seconds a child suite may take, counted from when this test starts waiting.
TIMEOUT = 1500


def backend_environment(backend: str) -> dict:
    """This process's environment with `KERAS_BACKEND=backend` and keras_cxr first on the path.

    JAX processes share one persistent compilation cache in this run's folder: the tests
    build the same tiny models again and again, and XLA then compiles each program once
    for all of them (JAX's explainer tests: 10 % less CPU on a cold cache).
    """
    path = os.pathsep.join(p for p in (str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")) if p)
    environment = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": path}
    if backend == "jax" and "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        environment |= {
            "JAX_COMPILATION_CACHE_DIR": str(suites_folder() / "jax-compilation-cache"),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
        }
    return environment


def in_ci() -> bool:
    """Whether this is a CI run (`CI=true`), where a missing backend is a failure."""
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def skip_unless_available(backend: str) -> None:
    """Skips a test of `backend` where this process runs it or it is not installed.

    Under CI a backend that is not installed fails the test instead: the README's test
    command installs every backend, so its absence there is a broken install.
    """
    if keras.backend.backend() == backend:
        pytest.skip(f"this process runs under {backend}: the suite itself covers it")
    if importlib.util.find_spec(backend) is None:
        message = f"{backend} is not installed (pip install 'keras_cxr[{backend}]')"
        if in_ci():
            pytest.fail(f"CI=true: {message}; the README's test command installs it")
        pytest.skip(message)


#: pytest-xdist workers of each backend's suite. JAX's suite is the longest (XLA compiles
#: each new function on one thread: 1,128 s where PyTorch's took 713 s in the same run), so
#: it runs in two workers, which use the cores the other suites leave idle once they are done.
CHILD_WORKERS = {"jax": 2}


def child_command(report: Path, backend: str = "tensorflow") -> list[str]:
    workers = CHILD_WORKERS.get(backend, 1)
    parallel = ("-n", str(workers), "--dist", "loadfile") if workers > 1 else ()
    return [
        sys.executable,
        *("-m", "pytest", "-m", "backends", "-q", "-p", "no:cacheprovider", *parallel),
        f"--junitxml={report}",
        *FOLDERS,
    ]


@dataclass(frozen=True)
class Counts:
    """What a child suite ran, read from its JUnit XML report."""

    passed: int
    failed: int
    skipped: int
    seconds: float

    @property
    def ran(self) -> int:
        return self.passed + self.failed + self.skipped

    def __str__(self) -> str:
        return (
            f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped "
            f"in {self.seconds:.0f} s"
        )


def read_counts(report: Path) -> Counts:
    """The counts of a JUnit XML report (`failed` includes errors).

    Raises:
        AssertionError: The report is missing or unreadable (the child died before writing
            it).
    """
    try:
        root = ElementTree.parse(report).getroot()
    except (OSError, ElementTree.ParseError) as error:
        raise AssertionError(f"the child wrote no readable JUnit report ({error})") from None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors")}
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    failed = total["failures"] + total["errors"]
    seconds = sum(float(s.get("time", 0.0)) for s in suites)
    return Counts(total["tests"] - failed - skipped, failed, skipped, seconds)


#: Environment variable naming the folder the child suites write into: set once by the
#: process that starts them (the only process, or pytest-xdist's controller), inherited by
#: the xdist workers whose tests wait for them.
SUITES_FOLDER = "KERAS_CXR_BACKEND_SUITES"


def suites_folder() -> Path:
    """The folder of this run's child suites (made, and named in the environment, once)."""
    if SUITES_FOLDER not in os.environ:
        os.environ[SUITES_FOLDER] = tempfile.mkdtemp(prefix="keras-cxr-backends-")
    return Path(os.environ[SUITES_FOLDER])


class ChildSuite:
    """The `backends` suite under another backend, running in the background.

    Started when collection finishes (`tests/conftest.py`), so that it runs beside this
    process's tests instead of after them. It writes `BACKEND.log` (its output),
    `BACKEND.xml` (its JUnit report), `BACKEND.pid` and, once it has ended, `BACKEND.rc`
    (its exit code) into `folder`, so that a test in another process (a pytest-xdist
    worker) can wait for it with `wait_for_suite`.
    """

    def __init__(self, backend: str, folder: Path) -> None:
        self.backend, self.folder = backend, folder
        with open(folder / f"{backend}.log", "w") as output:
            self.process = subprocess.Popen(
                child_command(folder / f"{backend}.xml", backend),
                cwd=ROOT,
                env=backend_environment(backend),
                stdout=output,
                stderr=subprocess.STDOUT,
                text=True,
            )
        (folder / f"{backend}.pid").write_text(str(self.process.pid))
        threading.Thread(target=self._record_exit, daemon=True).start()

    def _record_exit(self) -> None:
        returncode = self.process.wait()
        partial = self.folder / f"{self.backend}.rc.partial"
        partial.write_text(str(returncode))
        partial.replace(self.folder / f"{self.backend}.rc")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()


def wait_for_suite(backend: str, folder: Path, timeout: float) -> tuple[int, str, Counts | None]:
    """Waits for the child suite of `backend` in `folder`; its exit code, output and counts.

    Raises:
        AssertionError: The suite ran past `timeout` seconds (it is killed; the message
            ends with its last output).
    """
    done, deadline = folder / f"{backend}.rc", time.monotonic() + timeout
    while not done.exists():
        if time.monotonic() > deadline:
            _kill(int((folder / f"{backend}.pid").read_text()))
            raise AssertionError(
                f"the child suite ran past {timeout:.0f} s and was killed; its last output:\n"
                f"{(folder / f'{backend}.log').read_text()[-8000:]}"
            )
        time.sleep(0.5)
    report = folder / f"{backend}.xml"
    counts = read_counts(report) if report.exists() else None
    return int(done.read_text()), (folder / f"{backend}.log").read_text(), counts


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def start_child_suites(node_ids) -> dict[str, ChildSuite]:
    """A started `ChildSuite` for every runnable `test_the_backends_tests_pass_under` id."""
    wanted = {
        node_id.rsplit("[", 1)[1].rstrip("]")
        for node_id in node_ids
        if "test_backends.py::test_the_backends_tests_pass_under[" in node_id
    }
    folder = suites_folder()
    return {
        backend: ChildSuite(backend, folder)
        for backend in sorted(wanted)
        if runnable(backend) and not (folder / f"{backend}.pid").exists()
    }


def runnable(backend: str) -> bool:
    return keras.backend.backend() != backend and importlib.util.find_spec(backend) is not None


def collected_backends_tests(items) -> int:
    """How many `backends` tests in `FOLDERS` this process collected: a child's minimum."""
    folders = tuple(str(ROOT / folder) for folder in FOLDERS)
    return sum(
        1
        for item in items
        if item.get_closest_marker("backends") is not None and str(item.path).startswith(folders)
    )


def check_counts(counts: Counts | None, expected: int) -> None:
    """Asserts that a child ran the `expected` tests, no fewer, and skipped few of them."""
    assert counts is not None, "the child wrote no JUnit report"
    assert counts.ran >= expected, (
        f"the child ran {counts.ran} tests ({counts}), fewer than the {expected} `backends` "
        "tests collected here"
    )
    assert counts.skipped <= MAX_SKIPPED_SHARE * counts.ran, (
        f"the child skipped {counts.skipped} of {counts.ran} tests "
        f"(more than {MAX_SKIPPED_SHARE:.0%})"
    )


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_the_backends_tests_pass_under(backend, request):
    skip_unless_available(backend)
    folder = suites_folder()
    if not (folder / f"{backend}.pid").exists():  # run on its own, not after a collection
        start_child_suites(
            [f"tests/test_backends.py::test_the_backends_tests_pass_under[{backend}]"]
        )
    returncode, output, counts = wait_for_suite(backend, folder, timeout=TIMEOUT)
    request.node.user_properties.append(("backend_suite", (backend, str(counts))))
    assert returncode == 0, f"under {backend} ({counts}):\n{output[-8000:]}"
    check_counts(counts, collected_backends_tests(request.session.items))


def write_report(path: Path, tests: int, failures: int, errors: int, skipped: int) -> Path:
    cases = "".join("<testcase/>" for _ in range(tests))
    path.write_text(
        '<?xml version="1.0"?><testsuites><testsuite name="pytest" '
        f'tests="{tests}" failures="{failures}" errors="{errors}" skipped="{skipped}" '
        f'time="12.5">{cases}</testsuite></testsuites>'
    )
    return path


def test_counts_are_read_from_the_junit_report(tmp_path):
    counts = read_counts(write_report(tmp_path / "r.xml", 10, 1, 2, 3))
    assert counts == Counts(passed=4, failed=3, skipped=3, seconds=12.5)
    assert str(counts) == "4 passed, 3 failed, 3 skipped in 12 s"


def test_a_missing_report_fails_clearly(tmp_path):
    with pytest.raises(AssertionError, match="wrote no readable JUnit report"):
        read_counts(tmp_path / "absent.xml")
    with pytest.raises(AssertionError, match="wrote no JUnit report"):
        check_counts(None, 5)


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        (Counts(0, 0, 0, 1.0), "ran 0 tests .* fewer than the 5"),
        (Counts(3, 0, 1, 1.0), "ran 4 tests .* fewer than the 5"),
        (Counts(90, 0, 10, 1.0), "skipped 10 of 100 tests"),
    ],
)
def test_a_child_that_ran_too_little_fails(counts, message):
    with pytest.raises(AssertionError, match=message):
        check_counts(counts, 5 if counts.ran < 5 else 100)


def test_a_full_child_passes():
    check_counts(Counts(97, 0, 3, 1.0), 100)


def test_a_missing_backend_fails_under_ci(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(keras.backend, "backend", lambda: "tensorflow")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: jax is not installed"):
        skip_unless_available("jax")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="jax is not installed"):
        skip_unless_available("jax")


def child_running(script: str, backend: str, folder: Path, monkeypatch) -> ChildSuite:
    """A `ChildSuite` whose process runs `script` instead of the backend's tests."""
    command = [sys.executable, "-c", script]
    monkeypatch.setattr(sys.modules[__name__], "child_command", lambda report, name: command)
    return ChildSuite(backend, folder)


def test_a_child_past_its_timeout_is_killed_and_shows_its_output(monkeypatch, tmp_path):
    script = "import sys, time; print('last words', flush=True); time.sleep(60)"
    suite = child_running(script, "jax", tmp_path, monkeypatch)
    with pytest.raises(AssertionError, match=r"(?s)ran past 3 s and was killed.*last words"):
        wait_for_suite("jax", tmp_path, timeout=3)
    assert suite.process.wait(timeout=10) == -signal.SIGKILL


def test_a_finished_child_is_read_from_its_files(monkeypatch, tmp_path):
    child_running("import sys; print('done here'); sys.exit(3)", "torch", tmp_path, monkeypatch)
    returncode, output, counts = wait_for_suite("torch", tmp_path, timeout=60)
    assert (returncode, output.strip(), counts) == (3, "done here", None)


def test_the_jax_suite_runs_in_two_workers_and_the_others_in_one(tmp_path):
    assert child_command(tmp_path / "r.xml", "jax")[-len(FOLDERS) - 6 : -len(FOLDERS) - 1] == [
        "no:cacheprovider",
        "-n",
        "2",
        "--dist",
        "loadfile",
    ]
    torch = child_command(tmp_path / "r.xml", "torch")
    assert "-n" not in torch and torch[-len(FOLDERS) - 1] == f"--junitxml={tmp_path / 'r.xml'}"
