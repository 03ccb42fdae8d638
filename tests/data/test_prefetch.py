"""`keras_cxr.data.prefetch_batches`: ordered batches, skipped failures, bounded read-ahead."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from keras_cxr.data import prefetch_batches
from keras_cxr.data.prefetch import failure_reason


def test_batches_keep_the_input_order_and_list_failures():
    def read(item: int) -> np.ndarray:
        if item % 4 == 3:
            raise ValueError(f"item {item} is\nbroken")
        if item == 5:
            raise KeyError("PixelData")
        return np.full((2, 2), item)

    batches = list(prefetch_batches(range(10), read, batch_size=4, workers=3))
    assert [len(batch) for batch in batches] == [4, 4, 2]
    assert [batch.items for batch in batches] == [[0, 1, 2], [4, 6], [8, 9]]
    assert [int(image[0, 0]) for batch in batches for image in batch.images] == [
        0, 1, 2, 4, 6, 8, 9
    ]  # fmt: skip
    assert [skip for batch in batches for skip in batch.skipped] == [
        (3, "item 3 is broken"),
        (5, "KeyError: 'PixelData'"),
        (7, "item 7 is broken"),
    ]


def test_reading_runs_only_a_bounded_window_ahead():
    started = []
    lock = threading.Lock()

    def read(item: int) -> np.ndarray:
        with lock:
            started.append(item)
        return np.zeros(1)

    stream = prefetch_batches(range(1000), read, batch_size=5, workers=2, prefetch=2)
    first = next(stream)
    assert first.items == [0, 1, 2, 3, 4]
    # The batch handed out plus two batches in flight: never the whole input.
    assert len(started) <= 15
    stream.close()
    assert len(started) <= 15


def test_options_are_checked():
    with pytest.raises(ValueError, match=r"`batch_size`. Expected an integer >= 1"):
        prefetch_batches([], np.zeros, batch_size=0)
    with pytest.raises(ValueError, match=r"`prefetch`. Expected an integer >= 0"):
        prefetch_batches([], np.zeros, prefetch=-1)
    with pytest.raises(ValueError, match=r"`workers`. Expected an integer >= 1"):
        prefetch_batches([], np.zeros, workers=0)


def test_failure_reasons_are_one_line():
    assert failure_reason(OSError("disk\n  gone")) == "disk gone"
    assert failure_reason(RuntimeError()) == "RuntimeError: RuntimeError"


def test_io_errors_are_retried_and_left_pending_when_they_persist(monkeypatch):
    import errno

    from keras_cxr.data import prefetch

    waits = []
    monkeypatch.setattr(prefetch.time, "sleep", waits.append)
    calls: dict[int, int] = {}

    def read(item: int) -> np.ndarray:
        calls[item] = calls.get(item, 0) + 1
        if item == 1 and calls[item] <= 2:  # a flaky share: two failures, then fine
            raise OSError(errno.EIO, "Input/output error")
        if item == 2:  # a disk that stays broken
            raise OSError(errno.EIO, "Input/output error")
        if item == 3:
            raise MemoryError
        if item == 4:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory")
        return np.full((2, 2), item)

    (batch,) = prefetch_batches(range(5), read, batch_size=5, workers=1)
    assert batch.items == [0, 1]
    assert batch.pending == [(2, "[Errno 5] Input/output error"), (3, "MemoryError: MemoryError")]
    assert batch.skipped == [(4, "[Errno 2] No such file or directory")]  # the file's fault
    assert calls == {0: 1, 1: 3, 2: 4, 3: 4, 4: 1}
    assert len(batch) == 5
    assert sorted(waits) == sorted([0.05, 0.2] + 2 * list(prefetch.RETRY_DELAYS))
