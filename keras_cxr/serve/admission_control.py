"""`AdmissionControl`: a request is refused (503) when it would wait too long, not at a count.

On a machine with a few cores, a server that accepts every request it can queue keeps
them all waiting: under overload the latency of accepted requests grows with the queue,
whatever its length limit. To keep accepted requests near their idle latency, a server
must shed what it cannot answer in time, as early and as cheaply as possible: before the
upload is decoded. So each request asks, on arrival, how long it would wait behind the
work already accepted (the batch in flight, then the admitted requests ahead of it in
batches of `max_batch_size`, each timed by a measured `keras_cxr.serve.ServiceTime`); past
`max_queue_wait` it gets 503 with a `Retry-After` of the time that work needs.

The default budget is `DEFAULT_QUEUE_WAIT_FACTOR` (2) times the idle time of one image
measured at start-up: an accepted request then waits at most twice its own model time,
and as that is a lower bound of its idle latency, it is answered within about 3 times its
idle latency (the target of issue #29) while the machine's other work keeps pace.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.serve.micro_batcher import QueueFullError
from keras_cxr.serve.service_time import ServiceTime

__all__ = ["DEFAULT_QUEUE_WAIT_FACTOR", "AdmissionControl", "OverloadedError"]

#: The default `max_queue_wait`: this many times the idle time of one image at start-up.
DEFAULT_QUEUE_WAIT_FACTOR = 2.0


class OverloadedError(QueueFullError):
    """The request would wait past the budget: come back after `retry_after` seconds (503).

    Args:
        message: The reason, naming the expected wait and the budget.
        retry_after: Whole seconds, >= 1, the client should wait (`Retry-After`).

    Returns:
        The error.

    Raises:
        Nothing: an exception record.

    Example:
        >>> keras_cxr.serve.OverloadedError("busy", retry_after=3).retry_after
        3
    """

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AdmissionControl:
    """Admits a request only when its expected wait is within `max_queue_wait` seconds.

    The expected wait of a new request is the model time of the work ahead of it beyond
    its own idle time: what is left of the batch in flight, the admitted requests not yet
    answered in full batches, and the extra time of its own batch over a batch of one.
    `admit()` holds a place for a request from its arrival until its answer (or its
    failure); `timed(function)` wraps the micro-batcher's batch function so that the
    batch in flight is known and every call teaches `service_time`.

    Args:
        service_time: The measured estimate (`keras_cxr.serve.ServiceTime`).
        max_batch_size: The most images per batch call, >= 1.
        max_queue_wait: The most seconds of expected wait a request is admitted with,
            >= 0; `math.inf` admits everything (the fixed `max_queue` still applies).
        clock: Seconds for timing, shared by admission and the worker. Defaults to
            `time.perf_counter` (tests give a fake one).

    Returns:
        The admission control.

    Raises:
        ValueError: For a `max_batch_size` below 1 or a negative `max_queue_wait`.

    Example:
        >>> estimate = keras_cxr.serve.ServiceTime(overhead=0.010, per_image=0.001)
        >>> control = keras_cxr.serve.AdmissionControl(estimate, 4, max_queue_wait=0.020)
        >>> control.expected_wait()  # idle: no wait
        0.0
        >>> places = [control.admit() for _ in range(8)]
        >>> for place in places:
        ...     place.__enter__()
        >>> round(control.expected_wait(), 3)  # 8 ahead: two full batches, then its own
        0.028
        >>> control.admit().__enter__()
        Traceback (most recent call last):
        ...
        keras_cxr.serve.admission_control.OverloadedError: The server is busy: a new request would wait about 0.028 s for the 8 ahead of it, over the budget of 0.020 s (--max-queue-wait); retry after 1 s.
    """  # noqa: E501

    def __init__(
        self,
        service_time: ServiceTime,
        max_batch_size: int,
        max_queue_wait: float,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.service_time = service_time
        self.max_batch_size = check_int("max_batch_size", max_batch_size)
        if not isinstance(max_queue_wait, (int, float)) or not max_queue_wait >= 0:
            raise invalid_value("max_queue_wait", "a number of seconds >= 0", max_queue_wait)
        self.max_queue_wait = float(max_queue_wait)
        self.clock = clock
        #: Requests admitted whose answer has not come back yet (in flight included).
        self.pending = 0
        #: Requests admitted and refused so far.
        self.admitted = 0
        self.shed = 0
        self._in_flight: tuple[int, float] | None = None  # (images, started)
        self._lock = threading.Lock()

    def expected_wait(self) -> float:
        """Seconds a request arriving now would wait for the work ahead of it.

        Returns:
            What is left of the batch in flight, plus the admitted requests not in it
            explained in full batches, plus the extra time of the new request's batch
            over a batch of one image alone; 0.0 on an idle server.

        Raises:
            Nothing: it reads counts and the estimate.

        Example:
            >>> control.expected_wait()
            0.0
        """
        estimate = self.service_time
        in_flight, now = self._in_flight, self.clock()
        with self._lock:
            ahead = self.pending
        left = 0.0
        if in_flight is not None:
            size, started = in_flight
            left = max(0.0, estimate.seconds(size) - (now - started))
            ahead = max(0, ahead - size)
        full, rest = divmod(ahead, self.max_batch_size)
        answered = left + full * estimate.seconds(self.max_batch_size)
        answered += estimate.seconds(rest + 1)
        return max(0.0, answered - estimate.seconds(1))

    def retry_after(self) -> int:
        """Whole seconds, at least 1, for the work admitted now to be answered.

        Returns:
            `ceil(expected_wait())`, at least 1 (`Retry-After` counts whole seconds).

        Raises:
            Nothing: it rounds.

        Example:
            >>> control.retry_after()
            1
        """
        return max(1, math.ceil(self.expected_wait()))

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        """Holds a place for one request while it runs, or refuses it at once.

        Returns:
            A context manager; the place is given back when it exits, however it does.

        Raises:
            OverloadedError: If `expected_wait()` is over `max_queue_wait`; its message
                names both and its `retry_after` is `retry_after()`.

        Example:
            >>> with control.admit():
            ...     row = await batcher.submit(request)
        """
        wait = self.expected_wait()
        with self._lock:
            if wait > self.max_queue_wait:
                self.shed += 1
                ahead = self.pending
            else:
                self.pending += 1
                self.admitted += 1
                ahead = None
        if ahead is not None:
            retry = max(1, math.ceil(wait))
            raise OverloadedError(
                f"The server is busy: a new request would wait about {wait:.3f} s for the "
                f"{ahead} ahead of it, over the budget of {self.max_queue_wait:.3f} s "
                f"(--max-queue-wait); retry after {retry} s.",
                retry,
            )
        try:
            yield
        finally:
            with self._lock:
                self.pending -= 1

    def timed(self, function: Callable[[list[Any]], Sequence[Any]]) -> Callable:
        """Wraps a batch function: the call in flight is known, and each call is learnt.

        Args:
            function: The micro-batcher's batch function
                (`keras_cxr.serve.ModelService.explain_batch`).

        Returns:
            A function of the same items and results.

        Raises:
            Nothing of its own: what `function` raises passes through (the time it took
                is still learnt).

        Example:
            >>> batcher = keras_cxr.serve.MicroBatcher(control.timed(service.explain_batch))
        """

        @functools.wraps(function)
        def call(items: list[Any]) -> Sequence[Any]:
            started = self.clock()
            self._in_flight = (len(items), started)
            try:
                return function(items)
            finally:
                self._in_flight = None
                self.service_time.observe(len(items), self.clock() - started)

        return call

    def describe(self) -> dict[str, Any]:
        """What `/healthz` reports: the budget, the expected wait now, the counts.

        Returns:
            `{"max_queue_wait_s", "expected_wait_s", "pending", "admitted", "shed"}`
            (`max_queue_wait_s` is None when it is infinite: JSON has no infinity).

        Raises:
            Nothing: it reads counts.

        Example:
            >>> sorted(control.describe())
            ['admitted', 'expected_wait_s', 'max_queue_wait_s', 'pending', 'shed']
        """
        budget = self.max_queue_wait
        return {
            "max_queue_wait_s": None if math.isinf(budget) else budget,
            "expected_wait_s": self.expected_wait(),
            "pending": self.pending,
            "admitted": self.admitted,
            "shed": self.shed,
        }
