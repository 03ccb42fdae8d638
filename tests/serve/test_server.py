"""Where the server listens: loopback by default, a warning anywhere else."""

from __future__ import annotations

import warnings

import pytest

from keras_cxr.serve import RequestLimits, allowed_hosts_for, is_loopback, serve, serve_run
from keras_cxr.serve.server import DEFAULT_HOST, warn_if_exposed


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected


def test_only_an_exposed_address_warns():
    assert is_loopback(DEFAULT_HOST)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_exposed(DEFAULT_HOST, 8000)
    with pytest.warns(UserWarning, match=r"Serving on 0\.0\.0\.0:8000, reachable from other"):
        warn_if_exposed("0.0.0.0", 8000)


@pytest.mark.parametrize(
    ("address", "given", "expected"),
    [
        ("127.0.0.1", None, ("localhost", "127.0.0.1", "[::1]")),
        ("10.0.0.5", None, ("localhost", "127.0.0.1", "[::1]", "10.0.0.5")),
        ("CXR.Local", [], ("localhost", "127.0.0.1", "[::1]", "cxr.local")),
        ("fe80::1", None, ("localhost", "127.0.0.1", "[::1]", "[fe80::1]")),
        ("::1", None, ("localhost", "127.0.0.1", "[::1]")),
        ("0.0.0.0", None, ("localhost", "127.0.0.1", "[::1]")),
        ("::", None, ("localhost", "127.0.0.1", "[::1]")),
        ("0.0.0.0", ["cxr.hospital.org"], ("cxr.hospital.org",)),
    ],
)
def test_allowed_hosts_for_an_address(address, given, expected):
    assert allowed_hosts_for(address, given) == expected


def _handed_app(monkeypatch, start, *args, **options):
    """The app `start` (serve or serve_run) hands to uvicorn, which is not run."""
    import uvicorn

    handed = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: handed.update(app=app, **kw))
    with pytest.warns(UserWarning, match="reachable from other machines"):
        start(*args, host="10.0.0.5", **options)
    return handed["app"]


def test_serve_from_python_answers_the_address_it_binds(model_file, monkeypatch):
    """`serve(model, host=...)` allows its own address as `keras-cxr serve` does."""
    testclient = pytest.importorskip("fastapi.testclient")
    app = _handed_app(monkeypatch, serve, model_file)
    assert app.state.limits.allowed_hosts[-1] == "10.0.0.5"
    with testclient.TestClient(app, base_url="http://10.0.0.5:8000") as client:
        assert client.get("/healthz").status_code == 200
    with testclient.TestClient(app, base_url="http://evil.example") as client:
        assert client.get("/healthz").status_code == 400
    # Limits that name their own hosts are kept as they are.
    limits = RequestLimits(max_queue=3, allowed_hosts=("cxr.hospital.org",))
    kept = _handed_app(monkeypatch, serve, model_file, limits=limits).state.limits
    assert kept == limits
    widened = _handed_app(monkeypatch, serve, model_file, limits=RequestLimits(max_queue=3))
    assert widened.state.limits.max_queue == 3
    assert widened.state.limits.allowed_hosts == allowed_hosts_for("10.0.0.5")


def test_serve_run_from_python_answers_the_address_it_binds(explained_run, monkeypatch):
    testclient = pytest.importorskip("fastapi.testclient")
    app = _handed_app(monkeypatch, serve_run, explained_run)
    assert testclient.TestClient(app, base_url="http://10.0.0.5").get("/v1/run").status_code == 200
    assert (
        testclient.TestClient(app, base_url="http://evil.example").get("/v1/run").status_code == 400
    )
