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
    assert run.clients == 4 and 1 <= run.most_in_flight <= 4 and run.in_flight == 0
    assert 0 < run.percentile(0.5) <= run.percentile(0.99) <= 1000 * max(run.latencies)
    assert 0 < run.percentile(0.5, server=True) <= run.percentile(0.99, server=True)
    assert alive(client)


def test_clients_told_503_wait_as_retry_after_says(serve_soak, server, phantom_pngs, admission):
    from keras_cxr.serve import AdmissionControl, ServiceTime

    # One request ahead at 0.6 s an image, no wait allowed: every upload is shed, told 1 s.
    control = admission(AdmissionControl(ServiceTime(0.0, 0.6), 8, max_queue_wait=0.0))
    with control.admit():
        uploads = [path.read_bytes() for path in phantom_pngs]
        run = serve_soak.soak("127.0.0.1", server.port, uploads, [0.0] * 4, clients=3, duration=0.3)
    shed = sum(n for (kind, status), n in run.statuses.items() if status == 503)
    assert 1 <= shed <= 3 and shed == control.shed  # each client once, then it waited
    assert shed * 1.0 <= run.backoff <= shed * 1.2  # Retry-After: 1, plus at most 20 % jitter
    assert run.statuses[("good", 200)] == 0
