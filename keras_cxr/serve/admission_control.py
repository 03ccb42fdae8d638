"""`AdmissionControl`: a request is refused (503) when it would wait too long, not at a count.

On a machine with a few cores, a server that accepts every request it can queue keeps
them all waiting: under overload the latency of accepted requests grows with the queue,
whatever its length limit. To keep accepted requests near their idle latency, a server
must shed what it cannot answer in time, as early and as cheaply as possible: before the
upload is decoded. So each request asks, once its body is read, how long it would wait
behind the work already accepted, the larger of two measured estimates:

* the model's: what is left of the batch in flight, then the admitted requests ahead in
  batches of `max_batch_size`, each timed by `keras_cxr.serve.ServiceTime`;
* the whole server's: the admitted requests ahead times the seconds per answer of the
  busy server (`keras_cxr.serve.CompletionRate`), which counts the decoding, encoding and
  HTTP work that compete with the model for the CPU.

Past the budget it gets 503 with a `Retry-After` of the time that work needs.

The default budget is `DEFAULT_QUEUE_WAIT_FACTOR` (1) times the idle time of a request:
the lower envelope of how long the server took over the requests that had it to
themselves (`IDLE_RISE`), starting from the model's idle time of one image measured at
start-up. An
accepted request then waits about its own idle time at most, and as the requests that
share the cores with it slow its own work too, it is answered within about 3 times its
idle latency (the target of issue #29). In `benchmarks/serve_soak.py` on 2 shared cores, a
budget of twice the idle time gave a p99 of 6 times the idle one; once, 2.9 times.
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
from keras_cxr.serve.completion_rate import CompletionRate
from keras_cxr.serve.micro_batcher import QueueFullError
from keras_cxr.serve.service_time import ServiceTime

__all__ = ["DEFAULT_QUEUE_WAIT_FACTOR", "AdmissionControl", "OverloadedError"]

#: The default `max_queue_wait`: this many times the measured idle time of a request.
DEFAULT_QUEUE_WAIT_FACTOR = 1.0
#: How far a slower idle request moves the idle time towards itself (a faster one moves it
#: all the way): the idle time follows the lower envelope of what requests alone take, so
#: a loaded machine, where even a request alone in the server competes for the cores,
#: cannot raise the budget that is meant to protect it.
IDLE_RISE = 0.01


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
    """Admits a request only when its expected wait is within the budget.

    The expected wait of a new request is the larger of (a) the model time of the work
    ahead of it beyond its own idle time: what is left of the batch in flight, the
    admitted requests not yet answered in full batches, and the extra time of its own
    batch over a batch of one; and (b) the admitted requests ahead times the measured
    seconds per answer of the busy server (`rate`). `admit()` holds a place for a
    request from its admission until its answer is ready (or it fails);
    `timed(function)` wraps the micro-batcher's batch function so that the batch in
    flight is known and every call teaches `service_time`.

    Args:
        service_time: The measured estimate (`keras_cxr.serve.ServiceTime`).
        max_batch_size: The most images per batch call, >= 1.
        max_queue_wait: The budget: the most seconds of expected wait a request is
            admitted with, >= 0; `math.inf` admits everything (the fixed `max_queue`
            still applies). None (default): `DEFAULT_QUEUE_WAIT_FACTOR` times
            `idle_seconds`, the measured idle time of a request.
        clock: Seconds for timing, shared by admission and the worker. Defaults to
            `time.perf_counter` (tests give a fake one).
        rate: The server's seconds per answer. Defaults to a new
            `keras_cxr.serve.CompletionRate()`.

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
        max_queue_wait: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
        rate: CompletionRate | None = None,
    ) -> None:
        self.service_time = service_time
        self.max_batch_size = check_int("max_batch_size", max_batch_size)
        wait = max_queue_wait
        if wait is not None and (not isinstance(wait, (int, float)) or not wait >= 0):
            raise invalid_value("max_queue_wait", "a number of seconds >= 0, or None", wait)
        self.max_queue_wait = None if wait is None else float(wait)
        self.clock = clock
        self.rate = CompletionRate() if rate is None else rate
        #: The lower envelope of how long requests that had the server to themselves
        #: (none ahead, none admitted before their answer) took from admission to answer
        #: (`IDLE_RISE`), from the model's idle time of one image at start-up.
        self.idle_seconds = service_time.seconds(1)
        #: Requests admitted whose answer has not come back yet (in flight included).
        self.pending = 0
        #: Requests admitted and refused so far.
        self.admitted = 0
        self.shed = 0
        self._in_flight: tuple[int, float] | None = None  # (images, started)
        self._lock = threading.Lock()

    @property
    def budget(self) -> float:
        """The most seconds of expected wait admitted now.

        Returns:
            `max_queue_wait`, or `DEFAULT_QUEUE_WAIT_FACTOR * idle_seconds` when it is None.

        Raises:
            Nothing: it multiplies.

        Example:
            >>> control.budget
            0.02
        """
        if self.max_queue_wait is not None:
            return self.max_queue_wait
        return DEFAULT_QUEUE_WAIT_FACTOR * self.idle_seconds

    def expected_wait(self) -> float:
        """Seconds a request arriving now would wait for the work ahead of it.

        Returns:
            The larger of the model's wait (what is left of the batch in flight, plus
            the admitted requests not in it explained in full batches, plus the extra
            time of the new request's batch over a batch of one image alone) and the
            server's (the admitted requests times `rate.interval`); 0.0 on an idle
            server.

        Raises:
            Nothing: it reads counts and the estimate.

        Example:
            >>> control.expected_wait()
            0.0
        """
        estimate = self.service_time
        in_flight, now = self._in_flight, self.clock()
        with self._lock:
            ahead = pending = self.pending
        interval = self.rate.interval
        server_wait = 0.0 if interval is None else pending * interval
        left = 0.0
        if in_flight is not None:
            size, started = in_flight
            left = max(0.0, estimate.seconds(size) - (now - started))
            ahead = max(0, ahead - size)
        full, rest = divmod(ahead, self.max_batch_size)
        answered = left + full * estimate.seconds(self.max_batch_size)
        answered += estimate.seconds(rest + 1)
        return max(0.0, answered - estimate.seconds(1), server_wait)

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
            OverloadedError: If `expected_wait()` is over `budget`; its message names
                both and its `retry_after` is `retry_after()`.

        Example:
            >>> with control.admit():
            ...     row = await batcher.submit(request)
        """
        wait, budget = self.expected_wait(), self.budget
        with self._lock:
            ahead = self.pending
            if wait <= budget:
                self.pending += 1
                self.admitted += 1
                mark = self.admitted
            else:
                self.shed += 1
        if wait > budget:
            retry = max(1, math.ceil(wait))
            raise OverloadedError(
                f"The server is busy: a new request would wait about {wait:.3f} s for the "
                f"{ahead} ahead of it, over the budget of {budget:.3f} s "
                f"(--max-queue-wait); retry after {retry} s.",
                retry,
            )
        admitted, answered = self.clock(), False
        try:
            yield
            answered = True
        finally:  # a failure (a bomb refused in a millisecond) teaches no idle time
            self._release(admitted, alone=ahead == 0 and answered, mark=mark)

    def _release(self, admitted: float, alone: bool, mark: int) -> None:
        now = self.clock()
        with self._lock:
            self.pending -= 1
            busy = self.pending > 0
            if alone and self.admitted == mark:  # alone from start to end: the idle time
                took = now - admitted
                rise = 1.0 if took < self.idle_seconds else IDLE_RISE
                self.idle_seconds += rise * (took - self.idle_seconds)
        self.rate.completed(now, busy)

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
            `{"max_queue_wait_s", "idle_s", "interval_s", "expected_wait_s", "pending",
            "admitted", "shed"}`: the budget now (None when it is infinite: JSON has no
            infinity), the idle time of a request, the seconds per answer of the busy
            server (None before it was measured), and the counts.

        Raises:
            Nothing: it reads counts.

        Example:
            >>> sorted(control.describe())
            ['admitted', 'expected_wait_s', 'idle_s', 'interval_s', 'max_queue_wait_s', ...]
        """
        budget = self.budget
        return {
            "max_queue_wait_s": None if math.isinf(budget) else budget,
            "idle_s": self.idle_seconds,
            "interval_s": self.rate.interval,
            "expected_wait_s": self.expected_wait(),
            "pending": self.pending,
            "admitted": self.admitted,
            "shed": self.shed,
        }
