"""`MicroBatcher`: concurrent items meet in one call, results go back to their callers."""

from __future__ import annotations

import asyncio
import threading

import pytest

from keras_cxr.serve import MicroBatcher


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


def test_a_failing_batch_fails_its_callers_only():
    recorder = Recorder(fail_on=3)
    with MicroBatcher(recorder, max_batch_size=2, max_wait_ms=200) as batcher:
        results = asyncio.run(_submit_all(batcher, [1, 3, 5, 7]))
        assert asyncio.run(batcher.submit(4)) == 8  # the worker carries on
    assert [type(r).__name__ for r in results[:2]] == ["ValueError", "ValueError"]
    assert str(results[0]) == "bad item 3" and results[2:] == [10, 14]


def test_a_function_returning_too_few_results_is_an_error():
    with MicroBatcher(lambda items: items[:-1], max_wait_ms=100) as batcher:
        results = asyncio.run(_submit_all(batcher, [1, 2]))
    assert all(isinstance(r, RuntimeError) for r in results)
    assert "returned 1 results for 2 items" in str(results[0])


def test_submit_after_close_and_bad_arguments():
    batcher = MicroBatcher(Recorder()).start()
    batcher.close()
    with pytest.raises(RuntimeError, match="not running"):
        asyncio.run(batcher.submit(1))
    with pytest.raises(ValueError, match="Received: max_batch_size=0"):
        MicroBatcher(Recorder(), max_batch_size=0)
    with pytest.raises(ValueError, match="Received: max_wait_ms=-1"):
        MicroBatcher(Recorder(), max_wait_ms=-1)
