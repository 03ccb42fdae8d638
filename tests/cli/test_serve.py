"""`keras-cxr serve`: the options, a real server started and stopped, and its errors."""

from __future__ import annotations

import sys

import pytest

import keras_cxr.serve
from keras_cxr.cli import build_parser, main
from keras_cxr.cli import serve as serve_command
from keras_cxr.serve import model_service, server, uploads

from ._helpers import error_line

httpx = pytest.importorskip("httpx", reason="httpx is not installed (the test extra)")
pytest.importorskip("uvicorn", reason='the serve extra is not installed: pip install ".[serve]"')


def test_defaults_are_the_librarys():
    args = build_parser().parse_args(["serve", "--model", "m.keras"])
    assert (args.host, args.port) == (server.DEFAULT_HOST, server.DEFAULT_PORT)
    assert args.max_upload_mb * 2**20 == uploads.DEFAULT_MAX_UPLOAD_BYTES
    assert args.mc_samples == model_service.DEFAULT_MC_SAMPLES
    assert (args.max_batch_size, args.max_wait_ms, args.method) == (16, 5.0, "gradcam")
    limits = keras_cxr.serve.RequestLimits()
    assert limits.allowed_hosts == serve_command.DEFAULT_ALLOWED_HOSTS and not args.allowed_host
    assert (args.max_queue, args.request_timeout) == (limits.max_queue, limits.timeout)
    assert args.max_queue_wait is limits.max_queue_wait is None  # measured at start-up
    for bad in ("-1", "soon"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["serve", "--model", "m.keras", "--max-queue-wait", bad])
    with pytest.raises(SystemExit):  # one sample has no spread
        build_parser().parse_args(["serve", "--model", "m.keras", "--mc-samples", "1"])


def test_serve_builds_the_app_from_the_options_and_runs_it(demo, monkeypatch, capsys):
    """`keras-cxr serve` as the user runs it, up to uvicorn: the app it hands to
    `uvicorn.run` is run here in a background server instead, and asked over HTTP."""
    import uvicorn

    handed = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: handed.update(app=app, **options))
    model = str(demo / "model.keras")
    options = ["--threshold", "0.3", "--method", "hirescam", "--max-upload-mb", "1"]
    assert main(["serve", "--model", model, "--port", "8123", *options]) == 0
    assert capsys.readouterr().out.startswith(
        f"Loading {model}, then serving it on http://127.0.0.1:8123/"
    )
    assert (handed["host"], handed["port"]) == ("127.0.0.1", 8123)
    limits = handed["app"].state.limits
    assert limits.allowed_hosts == ("localhost", "127.0.0.1", "[::1]")
    admission = handed["app"].state.admission  # the idle time of a request
    assert admission.service_time.observed == 0 and admission.service_time.seconds(1) > 0
    assert admission.max_queue_wait is None  # measured: from the model's at start-up
    assert admission.budget == admission.idle_seconds == admission.service_time.seconds(1)
    with keras_cxr.serve.BackgroundServer(handed["app"]) as running:
        info = httpx.get(f"{running.url}/v1/model").json()
        assert (info["threshold"], info["method"]) == (0.3, "hirescam")
        image = sorted((demo / "data" / "test" / "PNEUMONIA").glob("*.jpeg"))[0]
        files = {"file": (image.name, image.read_bytes(), "image/jpeg")}
        answer = httpx.post(f"{running.url}/v1/explain", files=files, timeout=60).json()
        assert answer["threshold"] == 0.3 and answer["method"] == "hirescam"
        big = {"file": ("big.jpeg", image.read_bytes() + bytes(2**20), "image/jpeg")}
        refused = httpx.post(f"{running.url}/v1/explain", files=big, timeout=60)
        assert refused.status_code == 413 and "limit of 1,048,576 bytes" in refused.text


def test_a_missing_model_is_one_error_line(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path / "missing.keras")]) == 1
    assert "missing.keras" in error_line(capsys)


def test_without_the_extra_the_error_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    with pytest.raises(ImportError, match=r'pip install "keras-cxr\[serve\]"'):
        keras_cxr.serve.serve(tmp_path / "m.keras")
    assert serve_command.DEFAULT_HOST == server.DEFAULT_HOST


def test_allowed_hosts_and_limits_reach_the_app(demo, monkeypatch):
    import uvicorn

    handed = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: handed.update(app=app, **options))
    model = str(demo / "model.keras")
    options = ["--allowed-host", "cxr.hospital.org", "--allowed-host", "CXR2.local"]
    options += ["--max-queue", "5", "--request-timeout", "2.5", "--host", "0.0.0.0"]
    options += ["--max-queue-wait", "0.25"]
    with pytest.warns(UserWarning, match="reachable from other machines"):
        assert main(["serve", "--model", model, *options]) == 0
    limits = handed["app"].state.limits
    assert limits.allowed_hosts == ("cxr.hospital.org", "cxr2.local")
    assert (limits.max_queue, limits.timeout) == (5, 2.5)
    assert handed["app"].state.admission.max_queue_wait == limits.max_queue_wait == 0.25
    with keras_cxr.serve.BackgroundServer(handed["app"]) as running:
        refused = httpx.get(f"{running.url}/healthz")  # Host: 127.0.0.1 is not allowed now
        allowed = httpx.get(f"{running.url}/healthz", headers={"host": "cxr.hospital.org"})
    assert (refused.status_code, allowed.status_code) == (400, 200)
