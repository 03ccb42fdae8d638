"""`benchmarks/serve_soak.py` in a short form: hostile traffic for a few seconds, right answers."""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

import pytest

from ._http import alive

_SCRIPT = Path(__file__).parents[2] / "benchmarks" / "serve_soak.py"


@pytest.fixture(scope="module")
def serve_soak():
    spec = importlib.util.spec_from_file_location("serve_soak", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_a_short_soak_gets_no_server_errors_and_the_offline_answers(
    serve_soak, server, client, model_file, phantom_pngs, caplog
):
    uploads = [path.read_bytes() for path in phantom_pngs]
    expected = serve_soak.offline_probabilities(model_file, uploads)
    with caplog.at_level(logging.ERROR):
        run = serve_soak.soak("127.0.0.1", server.port, uploads, expected, clients=4, duration=3)
    crashes = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert crashes == []  # a client hanging up mid-body is no "Exception in ASGI application"
    kinds = {kind for kind, _ in run.statuses}
    assert kinds == {"good", "bomb", "malformed", "slow"}, run.statuses
    assert {status for kind, status in run.statuses if kind == "bomb"} == {413}
    assert {status for kind, status in run.statuses if kind == "malformed"} == {400}
    assert run.server_errors == 0 and set(run.statuses) <= {
        ("good", 200), ("good", 503), ("good", 504), ("bomb", 413), ("malformed", 400),
        ("slow", "hung up"),
    }  # fmt: skip
    assert run.latencies and run.mismatches == 0
    assert alive(client)
