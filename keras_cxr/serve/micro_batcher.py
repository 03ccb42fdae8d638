"""`MicroBatcher`: concurrent requests gathered into one batch call, in one worker thread.

A compiled explainer answers a batch of 16 images in little more time than one image, so
a server that explains each request alone wastes most of its throughput under load. The
batcher queues the items of concurrent requests and hands them to a batch function in
groups: as many as arrive within `max_wait_ms` of the first one, at most
`max_batch_size`. The function runs in a single worker thread that owns it (the model is
never called from two threads at once, and never on the event loop); each caller awaits an
asyncio future that the worker resolves.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from keras_cxr._validation import check_int, invalid_value

_STOP = object()


@dataclass
class _Entry:
    item: Any
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    queued_at: float


class MicroBatcher:
    """Gathers items submitted from asyncio code into batches for one worker thread.

    `await batcher.submit(item)` queues the item and waits for its result. The worker
    takes the first queued item, then waits until `max_wait_ms` after that item arrived
    for more, up to `max_batch_size`, and calls `function(items)` once for the group.
    Items that queued while the worker was busy are taken at once, without waiting. An
    exception raised by `function` is set on every future of its batch; the worker keeps
    serving the next batches. A caller that stops waiting (a cancelled request) leaves
    its future cancelled, and the result is dropped.

    Args:
        function: Called with a list of items, returns a sequence of results, one per
            item, in order. Runs only in the worker thread.
        max_batch_size: The most items per call, an integer >= 1. Defaults to 16.
        max_wait_ms: How long, in milliseconds after the first item of a batch arrived,
            to wait for more; >= 0. Defaults to 5.
        name: The worker thread's name. Defaults to "keras-cxr-micro-batcher".

    Returns:
        The batcher; `start()` it (or use it as a context manager), `close()` it.

    Raises:
        ValueError: For a `max_batch_size` below 1 or a negative `max_wait_ms`.

    Example:
        >>> with keras_cxr.serve.MicroBatcher(lambda xs: [2 * x for x in xs]) as batcher:
        ...     asyncio.run(batcher.submit(21))
        42
    """

    def __init__(
        self,
        function: Callable[[list[Any]], Sequence[Any]],
        max_batch_size: int = 16,
        max_wait_ms: float = 5.0,
        name: str = "keras-cxr-micro-batcher",
    ) -> None:
        self.function = function
        self.max_batch_size = check_int("max_batch_size", max_batch_size)
        if not isinstance(max_wait_ms, (int, float)) or not max_wait_ms >= 0:
            raise invalid_value("max_wait_ms", "a number of milliseconds >= 0", max_wait_ms)
        self.max_wait_ms = float(max_wait_ms)
        #: Number of calls of `function` so far, and of the items they held.
        self.calls = 0
        self.items = 0
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._closed = False

    def start(self) -> MicroBatcher:
        """Starts the worker thread.

        Returns:
            The batcher itself.

        Raises:
            RuntimeError: If it was started before.

        Example:
            >>> batcher = keras_cxr.serve.MicroBatcher(function).start()
        """
        self._thread.start()
        return self

    def close(self, timeout: float | None = 30.0) -> None:
        """Stops the worker after the batches already queued, and waits for it.

        Items submitted after `close` fail with `RuntimeError`.

        Args:
            timeout: Seconds to wait for the worker; None waits as long as it takes.
                Defaults to 30.

        Returns:
            None.

        Raises:
            Nothing: a worker still busy after `timeout` is left to finish (it is a
                daemon thread).

        Example:
            >>> batcher.close()
        """
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def __enter__(self) -> MicroBatcher:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def submit(self, item: Any) -> Any:
        """Queues one item and waits for its result.

        Args:
            item: What `function` takes in its list.

        Returns:
            The result `function` gave for this item.

        Raises:
            RuntimeError: If the batcher is closed or its worker is not running.
            Exception: Whatever `function` raised for the batch holding the item.

        Example:
            >>> result = await batcher.submit(image)
        """
        if self._closed or not self._thread.is_alive():
            raise RuntimeError("The micro-batcher is not running (closed or never started).")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Entry(item, future, loop, time.perf_counter()))
        return await future

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            deadline = first.queued_at + self.max_wait_ms / 1000.0
            while len(batch) < self.max_batch_size:
                entry = self._next(deadline)
                if entry is None:
                    break
                if entry is _STOP:
                    stopping = True
                    break
                batch.append(entry)
            self._process(batch)
        self._fail_queued()

    def _next(self, deadline: float):
        """The next queued entry, waiting until `deadline`; None when none came."""
        remaining = deadline - time.perf_counter()
        try:
            return self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None

    def _process(self, batch: list[_Entry]) -> None:
        self.calls += 1
        self.items += len(batch)
        try:
            results = list(self.function([entry.item for entry in batch]))
            if len(results) != len(batch):
                raise RuntimeError(
                    f"The batch function returned {len(results)} results for {len(batch)} "
                    "items; it must return one result per item."
                )
        except Exception as error:  # every waiting caller gets it; the worker carries on
            for entry in batch:
                _settle(entry, _fail, error)
            return
        for entry, result in zip(batch, results):
            _settle(entry, _resolve, result)

    def _fail_queued(self) -> None:
        error = RuntimeError("The micro-batcher was closed before this item was processed.")
        while True:
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                return
            if entry is not _STOP:
                _settle(entry, _fail, error)


def _settle(entry: _Entry, settle: Callable[[asyncio.Future, Any], None], value: Any) -> None:
    # A closed event loop raises RuntimeError: nobody is waiting for the answer any more.
    with contextlib.suppress(RuntimeError):
        entry.loop.call_soon_threadsafe(settle, entry.future, value)


def _resolve(future: asyncio.Future, result: Any) -> None:
    if not future.done():  # the caller may have given up (a cancelled request)
        future.set_result(result)


def _fail(future: asyncio.Future, error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
