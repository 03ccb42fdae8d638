"""Overload, deadlines, a dying worker and foreign Host names: each gets its own answer."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from keras_cxr.serve import MicroBatcher, RequestLimits
from keras_cxr.serve.request_limits import ClientGoneError, DeadlineError, until_done_or_gone

from ._http import alive, post_image


@contextlib.contextmanager
def _worker(server, function, limits=None, **options):
    """Runs the server's requests through `function` (given the real batch function)."""
    state = server.app.state
    real, real_limits = state.batcher, state.limits
    batcher = MicroBatcher(lambda items: function(real.function, items), **options).start()
    state.batcher, state.limits = batcher, limits or real_limits
    try:
        yield batcher
    finally:
        state.batcher, state.limits = real, real_limits
        batcher.close(timeout=10)


def _wait_for(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_foreign_host_name_is_refused(client):
    # DNS rebinding: evil.example resolves to 127.0.0.1, the browser sends its own name.
    response = client.get("/healthz", headers={"host": "evil.example:8000"})
    assert (response.status_code, response.text) == (400, "Invalid host header")
    assert client.get("/healthz", headers={"host": "localhost:8000"}).status_code == 200
    assert alive(client)


def test_a_full_queue_answers_503_with_retry_after(server, client, phantom_pngs):
    gate, entered = threading.Event(), threading.Event()

    def held(explain, items):
        entered.set()
        assert gate.wait(20)
        return explain(items)

    data = phantom_pngs[0].read_bytes()
    with (
        _worker(server, held, max_batch_size=1, max_wait_ms=0, max_queue=1) as batcher,
        ThreadPoolExecutor(2) as pool,
    ):
        if True:
            first = pool.submit(post_image, client, data)  # in the worker
            assert entered.wait(20)
            second = pool.submit(post_image, client, data)  # waits in the queue
            _wait_for(lambda: batcher.queued == 1)
            refused = post_image(client, data)
            gate.set()
            answers = [first.result(), second.result()]
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert "1 requests are already waiting" in refused.json()["detail"]
    assert [answer.status_code for answer in answers] == [200, 200]


def test_a_request_past_its_deadline_gets_504_and_is_dropped(server, client, phantom_pngs):
    gate = threading.Event()

    def blocked(explain, items):
        gate.wait(20)
        return explain(items)

    limits = RequestLimits(timeout=0.5)
    with _worker(server, blocked, limits, max_batch_size=1, max_wait_ms=0) as batcher:
        with ThreadPoolExecutor(2) as pool:  # one in the worker, one queued behind it
            answers = [
                pool.submit(post_image, client, path.read_bytes()) for path in phantom_pngs[:2]
            ]
            answers = [answer.result() for answer in answers]
        gate.set()
        _wait_for(lambda: batcher.dropped == 1)  # the queued one never reached the model
        assert batcher.items == 1
    assert [answer.status_code for answer in answers] == [504, 504]
    assert answers[0].json()["detail"] == "The request took more than its 0.5 s."
    assert alive(client)


class _Fatal(BaseException):
    pass


def test_a_dead_worker_turns_healthz_red_until_its_supervisor_restarts_it(
    server, client, phantom_pngs
):
    deaths = [True]

    def fragile(explain, items):
        if deaths and deaths.pop():
            raise _Fatal("segfault-like")
        return explain(items)

    with _worker(server, fragile, restart_delay=2.0) as batcher:
        failed = post_image(client, phantom_pngs[0].read_bytes())
        health = client.get("/healthz")
        _wait_for(lambda: batcher.healthy)
        again = post_image(client, phantom_pngs[0].read_bytes())
        recovered = client.get("/healthz").json()
    assert failed.status_code == 503 and failed.headers["retry-after"] == "1"
    assert "The explain worker died (_Fatal('segfault-like'))" in failed.json()["detail"]
    assert health.status_code == 503 and health.json()["status"] == "unavailable"
    assert again.status_code == 200
    assert recovered["status"] == "ok" and recovered["worker_restarts"] == 1
    assert recovered["last_worker_death"] == "_Fatal('segfault-like')"


def test_a_client_that_disconnects_stops_waiting_and_cancels_its_work():
    async def scenario():
        cancelled = asyncio.Event()

        async def work():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        looks = iter([False, False, True])

        async def is_disconnected():
            return next(looks)

        with pytest.raises(ClientGoneError, match="closed the connection"):
            await until_done_or_gone(work(), is_disconnected, timeout=5, poll=0.01)
        assert cancelled.is_set()
        with pytest.raises(DeadlineError, match=r"more than its 0.1 s"):
            await until_done_or_gone(asyncio.sleep(10), _never, timeout=0.1, poll=0.02)
        return await until_done_or_gone(asyncio.sleep(0, "answer"), _never, timeout=1)

    assert asyncio.run(scenario()) == "answer"


async def _never():
    return False


def test_limits_are_checked():
    with pytest.raises(ValueError, match="Received: max_queue=0"):
        RequestLimits(max_queue=0)
    with pytest.raises(ValueError, match=r"`timeout`. Expected a number of seconds > 0"):
        RequestLimits(timeout=0)
    with pytest.raises(ValueError, match=r"`allowed_hosts`. Expected one or more host names"):
        RequestLimits(allowed_hosts=())
    assert RequestLimits(allowed_hosts=("Scanner.Local",)).allowed_hosts == ("scanner.local",)


def test_at_most_max_decodes_uploads_are_decoded_at_once(server, client, phantom_pngs, monkeypatch):
    from keras_cxr.serve import app as app_module

    running, most, lock = [0], [0], threading.Lock()
    real_decode = app_module._decode

    def counted(*args):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.1)  # long enough for the others to arrive meanwhile
        try:
            return real_decode(*args)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(app_module, "_decode", counted)
    state = server.app.state
    real_decodes, state.decodes = state.decodes, asyncio.Semaphore(1)
    try:
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda p: post_image(client, p.read_bytes()), phantom_pngs))
    finally:
        state.decodes = real_decodes
    assert [answer.status_code for answer in answers] == [200] * 4
    assert most[0] == 1
