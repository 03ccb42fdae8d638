"""`MicroBatcher`: concurrent items meet in one call, results go back to their callers."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from keras_cxr.serve import MicroBatcher
from keras_cxr.serve.micro_batcher import QueueFullError, WorkerUnavailableError


class Recorder:
    """A batch function that doubles its items and records each call's items and thread."""

    def __init__(self, fail_on=None):
        self.batches: list[list[int]] = []
        self.threads: set[str] = set()
        self.fail_on = fail_on

    def __call__(self, items):
        self.batches.append(list(items))
        self.threads.add(threading.current_thread().name)
        if self.fail_on in items:
            raise ValueError(f"bad item {self.fail_on}")
        return [2 * item for item in items]


async def _submit_all(batcher, items):
    return await asyncio.gather(*(batcher.submit(item) for item in items), return_exceptions=True)


def test_concurrent_items_share_calls_of_bounded_size():
    recorder = Recorder()
    with MicroBatcher(recorder, max_batch_size=4, max_wait_ms=200) as batcher:
        results = asyncio.run(_submit_all(batcher, range(10)))
    assert results == [2 * i for i in range(10)]
    assert sorted(i for batch in recorder.batches for i in batch) == list(range(10))
    assert [len(batch) for batch in recorder.batches] == [4, 4, 2]
    assert recorder.threads == {"keras-cxr-micro-batcher"}
    assert (batcher.calls, batcher.items) == (3, 10)


def test_a_lone_item_waits_at_most_max_wait():
    recorder = Recorder()
    with MicroBatcher(recorder, max_batch_size=8, max_wait_ms=0) as batcher:
        assert asyncio.run(batcher.submit(5)) == 10
        assert asyncio.run(batcher.submit(6)) == 12
    assert recorder.batches == [[5], [6]]


def test_a_failing_batch_is_retried_item_by_item_so_only_the_bad_item_fails():
    # It used to fail every caller of the batch (1 with 3); now 1 is answered from a retry.
    recorder = Recorder(fail_on=3)
    with MicroBatcher(recorder, max_batch_size=2, max_wait_ms=200) as batcher:
        results = asyncio.run(_submit_all(batcher, [1, 3, 5, 7]))
        assert asyncio.run(batcher.submit(4)) == 8  # the worker carries on
    assert results[0] == 2 and results[2:] == [10, 14]
    assert type(results[1]) is ValueError and str(results[1]) == "bad item 3"
    assert recorder.batches == [[1, 3], [1], [3], [5, 7], [4]]


def test_a_function_returning_too_few_results_is_an_error():
    with MicroBatcher(lambda items: items[:-1], max_wait_ms=100) as batcher:
        results = asyncio.run(_submit_all(batcher, [1, 2]))
    assert all(isinstance(r, RuntimeError) for r in results)
    assert "returned 0 results for 1 items" in str(results[0])  # each retried alone


def test_submit_after_close_and_bad_arguments():
    batcher = MicroBatcher(Recorder()).start()
    batcher.close()
    with pytest.raises(RuntimeError, match="not running"):
        asyncio.run(batcher.submit(1))
    with pytest.raises(ValueError, match="Received: max_batch_size=0"):
        MicroBatcher(Recorder(), max_batch_size=0)
    with pytest.raises(ValueError, match="Received: max_wait_ms=-1"):
        MicroBatcher(Recorder(), max_wait_ms=-1)


class Gate:
    """A batch function that blocks until opened, then doubles its items."""

    def __init__(self):
        self.open = threading.Event()
        self.entered = threading.Event()
        self.batches: list[list[int]] = []

    def __call__(self, items):
        self.entered.set()
        assert self.open.wait(10)
        self.batches.append(list(items))
        return [2 * item for item in items]


def test_a_full_queue_refuses_at_once():
    gate = Gate()

    async def scenario(batcher):
        busy = asyncio.ensure_future(batcher.submit(1))  # the worker holds it
        await asyncio.to_thread(gate.entered.wait, 10)
        queued = [asyncio.ensure_future(batcher.submit(n)) for n in (2, 3)]
        await asyncio.sleep(0.05)
        with pytest.raises(QueueFullError, match="2 requests are already waiting"):
            await batcher.submit(4)
        gate.open.set()
        return await asyncio.gather(busy, *queued)

    with MicroBatcher(gate, max_batch_size=1, max_wait_ms=0, max_queue=2) as batcher:
        assert asyncio.run(scenario(batcher)) == [2, 4, 6]


def test_items_whose_caller_gave_up_are_dropped_before_the_function_runs():
    gate = Gate()

    async def scenario(batcher):
        busy = asyncio.ensure_future(batcher.submit(1))
        await asyncio.to_thread(gate.entered.wait, 10)
        with pytest.raises(TimeoutError):
            await batcher.submit(2, timeout=0.05)  # a deadline passes while queued
        gone = asyncio.ensure_future(batcher.submit(3))
        await asyncio.sleep(0.01)
        gone.cancel()  # a client that disconnected
        await asyncio.gather(gone, return_exceptions=True)  # its cancellation has run
        gate.open.set()
        return await busy, await batcher.submit(4)

    with MicroBatcher(gate, max_batch_size=4, max_wait_ms=0) as batcher:
        assert asyncio.run(scenario(batcher)) == (2, 8)
    assert gate.batches == [[1], [4]] and batcher.dropped == 2


class _Killed(BaseException):
    """Not an `Exception`: what used to end the worker thread silently."""


def test_a_dead_worker_fails_its_callers_turns_unhealthy_and_is_restarted():
    def function(items):
        if 13 in items:
            raise _Killed("out of luck")
        return [2 * item for item in items]

    async def scenario(batcher):
        results = await asyncio.gather(
            *(batcher.submit(n) for n in (13, 1)), return_exceptions=True
        )
        unhealthy = batcher.healthy
        with pytest.raises(WorkerUnavailableError, match=r"died \(_Killed\('out of luck'\)\)"):
            await batcher.submit(2)
        return results, unhealthy

    with MicroBatcher(function, max_batch_size=2, max_wait_ms=100, restart_delay=0.2) as b:
        results, unhealthy = asyncio.run(scenario(b))
        assert all(isinstance(r, WorkerUnavailableError) for r in results) and not unhealthy
        for _ in range(100):  # the supervisor restarts it after restart_delay
            if b.healthy:
                break
            time.sleep(0.05)
        assert b.healthy and b.restarts == 1 and b.last_death == "_Killed('out of luck')"
        assert asyncio.run(b.submit(5)) == 10
    assert not b.healthy  # closed


class _Blank:
    """Stands in for a BatchExplainer: records the sizes of the blank batches it explains."""

    image_size = (8, 8)

    def __init__(self, color_mode="grayscale"):
        self.color_mode, self.sizes = color_mode, []

    def __call__(self, batch):
        channels = 1 if self.color_mode == "grayscale" else 3
        images = batch["image"]
        assert images.shape[1:] == (8, 8, channels) and images.dtype == np.uint8
        assert not images.any()
        self.sizes.append(len(images))
        return {"probability": np.zeros(len(images))}


def _service(color_mode="grayscale"):
    from keras_cxr.serve import ModelService

    service = ModelService.__new__(ModelService)  # no model: only the explainer's calls
    service.explainer = _Blank(color_mode)
    return service


def test_the_service_is_warmed_up_at_every_batch_size_the_batcher_sends():
    service = _service()
    assert service.warm_up(16) == service.explainer.sizes == [1, 2, 4, 8, 16]
    service = _service()
    assert service.warm_up(6) == service.explainer.sizes == [1, 2, 4, 6]
    assert service.warm_up(1) == [1]


def test_an_item_cancelled_after_the_worker_took_it_is_dropped_before_the_call():
    # Between being taken and the model call (while its batch fills) a caller may give up:
    # the batch is filtered just before the call, so the model never sees the item.
    recorder = Recorder()

    async def scenario(batcher):
        gone = asyncio.ensure_future(batcher.submit(1))
        await asyncio.to_thread(_wait_until, lambda: batcher.queued == 0)  # the worker has it
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        return await batcher.submit(2)  # fills the batch of 2: the call happens now

    with MicroBatcher(recorder, max_batch_size=2, max_wait_ms=10_000) as batcher:
        assert asyncio.run(scenario(batcher)) == 4
    assert recorder.batches == [[2]] and (batcher.dropped, batcher.items) == (1, 1)


def _wait_until(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_time_batches_times_one_warm_call_of_blank_images_per_size():
    service = _service("rgb")
    timings = service.time_batches((1, 16))
    assert service.explainer.sizes == [1, 16] and list(timings) == [1, 16]
    assert all(seconds > 0 for seconds in timings.values())
    with pytest.raises(ValueError, match="Received: sizes=0"):
        service.time_batches((0,))
