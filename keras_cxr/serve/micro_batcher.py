"""`MicroBatcher`: concurrent requests gathered into one batch call, in one supervised worker.

A compiled explainer answers a batch of 16 images in little more time than one image, so
a server that explains each request alone wastes most of its throughput under load. The
batcher queues the items of concurrent requests and hands them to a batch function in
groups: as many as arrive within `max_wait_ms` of the first one, at most
`max_batch_size`. The function runs in a single worker thread that owns it (the model is
never called from two threads at once, and never on the event loop); each caller awaits an
asyncio future that the worker resolves.

Under overload and faults it degrades one request at a time: the queue is bounded
(`QueueFullError`), a caller waits at most its deadline, an item whose caller gave up is
dropped before the model runs, a failing batch is retried item by item so only the bad
item fails, and a worker killed by a `BaseException` fails the requests waiting on it and
is restarted by a supervisor thread.
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

__all__ = ["MicroBatcher", "QueueFullError", "WorkerUnavailableError"]

_STOP = object()


@dataclass
class _Entry:
    item: Any
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    queued_at: float
    abandoned: bool = False  # the caller stopped waiting: do not spend the model on it


class QueueFullError(RuntimeError):
    """The batcher already holds `max_queue` items: come back later (HTTP 503).

    Example:
        >>> try:
        ...     await batcher.submit(image)
        ... except keras_cxr.serve.micro_batcher.QueueFullError:
        ...     ...  # answer 503 with Retry-After
    """


class WorkerUnavailableError(RuntimeError):
    """The worker died (its requests failed) and is being restarted (HTTP 503).

    Example:
        >>> batcher.healthy
        False
    """


class MicroBatcher:
    """Gathers items submitted from asyncio code into batches for one supervised worker thread.

    `await batcher.submit(item)` queues the item and waits for its result. The worker
    takes the first queued item, then waits until `max_wait_ms` after that item arrived
    for more, up to `max_batch_size`, and calls `function(items)` once for the group.
    Items that queued while the worker was busy are taken at once, without waiting.

    Faults stay with the item that caused them:

    * when `function` raises an `Exception` for a batch of several items, each item is
      run again alone, so only the bad item's caller gets the error;
    * an item whose caller stopped waiting (a deadline passed, a client disconnected:
      its `submit` was cancelled) is dropped before the function runs (`dropped`);
    * with `max_queue` items waiting, `submit` raises `QueueFullError` at once;
    * a `BaseException` (not an `Exception`) kills the worker: the callers of its batch
      and every queued item fail with `WorkerUnavailableError`, `healthy` turns False,
      and a supervisor thread starts a new worker after `restart_delay` seconds
      (`restarts` counts them).

    Args:
        function: Called with a list of items, returns a sequence of results, one per
            item, in order. Runs only in the worker thread.
        max_batch_size: The most items per call, an integer >= 1. Defaults to 16.
        max_wait_ms: How long, in milliseconds after the first item of a batch arrived,
            to wait for more; >= 0. Defaults to 5.
        name: The worker thread's name. Defaults to "keras-cxr-micro-batcher".
        max_queue: The most items waiting for the worker; None (default) for no limit.
        restart_delay: Seconds between a worker's death and its replacement. Defaults
            to 1.

    Returns:
        The batcher; `start()` it (or use it as a context manager), `close()` it.

    Raises:
        ValueError: For a `max_batch_size` or `max_queue` below 1, or a negative
            `max_wait_ms` or `restart_delay`.

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
        max_queue: int | None = None,
        restart_delay: float = 1.0,
    ) -> None:
        self.function = function
        self.max_batch_size = check_int("max_batch_size", max_batch_size)
        if not isinstance(max_wait_ms, (int, float)) or not max_wait_ms >= 0:
            raise invalid_value("max_wait_ms", "a number of milliseconds >= 0", max_wait_ms)
        self.max_wait_ms = float(max_wait_ms)
        self.max_queue = None if max_queue is None else check_int("max_queue", max_queue)
        if not isinstance(restart_delay, (int, float)) or not restart_delay >= 0:
            raise invalid_value("restart_delay", "a number of seconds >= 0", restart_delay)
        self.restart_delay = float(restart_delay)
        self.name = name
        #: Calls of `function` so far, the items they held, the items dropped because
        #: their caller had gone, and the workers restarted after a death.
        self.calls = 0
        self.items = 0
        self.dropped = 0
        self.restarts = 0
        #: Why the last worker died (`repr` of the exception), or None.
        self.last_death: str | None = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = self._new_worker()
        self._supervisor = threading.Thread(
            target=self._supervise, name=f"{name}-supervisor", daemon=True
        )
        self._closed = False
        self._wake = threading.Event()

    @property
    def healthy(self) -> bool:
        """Whether the worker runs and takes items (False while a dead one is replaced)."""
        return not self._closed and self._thread.is_alive()

    @property
    def queued(self) -> int:
        """Items waiting for the worker (approximate, as `queue.SimpleQueue.qsize`)."""
        return self._queue.qsize()

    def start(self) -> MicroBatcher:
        """Starts the worker thread and its supervisor.

        Returns:
            The batcher itself.

        Raises:
            RuntimeError: If it was started before.

        Example:
            >>> batcher = keras_cxr.serve.MicroBatcher(function).start()
        """
        self._thread.start()
        self._supervisor.start()
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
        self._wake.set()
        self._queue.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._supervisor.is_alive():
            self._supervisor.join(timeout)

    def __enter__(self) -> MicroBatcher:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def submit(self, item: Any, timeout: float | None = None) -> Any:
        """Queues one item and waits for its result, at most `timeout` seconds.

        Args:
            item: What `function` takes in its list.
            timeout: Seconds to wait; None (default) waits as long as it takes. When it
                passes (or the caller is cancelled), the item is dropped if the worker
                has not taken it yet.

        Returns:
            The result `function` gave for this item.

        Raises:
            RuntimeError: If the batcher is closed or was never started.
            QueueFullError: If `max_queue` items are already waiting.
            WorkerUnavailableError: If the worker is dead, or died with this item.
            TimeoutError: If `timeout` passed first.
            Exception: Whatever `function` raised for this item (run alone).

        Example:
            >>> result = await batcher.submit(image, timeout=30.0)
        """
        if self._closed or not self._supervisor.is_alive():
            raise RuntimeError("The micro-batcher is not running (closed or never started).")
        if not self._thread.is_alive():
            raise WorkerUnavailableError(
                f"The explain worker died ({self.last_death}) and is being restarted; "
                "retry in a moment."
            )
        if self.max_queue is not None and self._queue.qsize() >= self.max_queue:
            raise QueueFullError(
                f"The server is busy: {self.max_queue} requests are already waiting; "
                "retry in a moment."
            )
        loop = asyncio.get_running_loop()
        entry = _Entry(item, loop.create_future(), loop, time.perf_counter())
        self._queue.put(entry)
        try:
            return await asyncio.wait_for(entry.future, timeout)
        except (asyncio.CancelledError, TimeoutError):
            entry.abandoned = True
            raise

    def _new_worker(self) -> threading.Thread:
        return threading.Thread(target=self._run, name=self.name, daemon=True)

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
            try:
                self._process(batch)
            except BaseException as death:  # the thread ends; the supervisor replaces it
                self.last_death = repr(death)
                self._fail(batch, self._death_error())
                return
        self._fail_queued(
            RuntimeError("The micro-batcher was closed before this item was processed.")
        )

    def _supervise(self) -> None:
        """Replaces a worker that died, after failing what waited on it."""
        while True:
            self._thread.join()
            if self._closed:
                return
            self._fail_queued(self._death_error())
            if self._wake.wait(self.restart_delay) or self._closed:
                return
            self.restarts += 1
            self._thread = self._new_worker()
            self._thread.start()

    def _death_error(self) -> WorkerUnavailableError:
        return WorkerUnavailableError(
            f"The explain worker died ({self.last_death}) before answering; it is being "
            "restarted: retry in a moment."
        )

    def _next(self, deadline: float):
        """The next queued entry, waiting until `deadline`; None when none came."""
        remaining = deadline - time.perf_counter()
        try:
            return self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None

    def _process(self, batch: list[_Entry]) -> None:
        live = [entry for entry in batch if not entry.abandoned]
        self.dropped += len(batch) - len(live)
        if not live:
            return
        try:
            results = self._call(live)
        except Exception as error:
            if len(live) == 1:
                self._fail(live, error)
                return
            for entry in live:  # alone, so that only the bad item fails
                self._process([entry])
            return
        for entry, result in zip(live, results):
            _settle(entry, _resolve, result)

    def _call(self, batch: list[_Entry]) -> list[Any]:
        self.calls += 1
        self.items += len(batch)
        results = list(self.function([entry.item for entry in batch]))
        if len(results) != len(batch):
            raise RuntimeError(
                f"The batch function returned {len(results)} results for {len(batch)} "
                "items; it must return one result per item."
            )
        return results

    @staticmethod
    def _fail(batch: list[_Entry], error: BaseException) -> None:
        for entry in batch:
            _settle(entry, _fail, error)

    def _fail_queued(self, error: BaseException) -> None:
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
