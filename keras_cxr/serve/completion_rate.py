"""`CompletionRate`: the measured seconds per request of a busy server, all of its work counted.

The model is not always what limits a server: with a small model on a few cores, the
HTTP parsing, decoding and encoding of each request take more CPU than its explanation,
and a queue builds in front of them that the model's `keras_cxr.serve.ServiceTime` does
not see. What a client then waits for is the server's whole rate: while the server is
busy, the time between two answers. Answers come in bursts (a batch of 16 ends at
once), so the interval is not averaged answer by answer but as busy seconds over
answers, both decayed with the age of what they count (an exponential window of
`window` seconds): `interval = busy seconds / answers`.
"""

from __future__ import annotations

import math
import threading

from keras_cxr._validation import invalid_value

__all__ = ["DEFAULT_WINDOW", "CompletionRate"]

#: Seconds over which the rate is averaged (the time constant of the exponential decay).
DEFAULT_WINDOW = 2.0


class CompletionRate:
    """Seconds per answered request while the server is busy, over a moving window.

    `completed(now, busy)` is told of each answer and whether work remained after it;
    the time from one answer to the next counts as busy only when work remained after
    the first (an idle gap is not service time).

    Args:
        window: Seconds of the exponential window, > 0. Defaults to `DEFAULT_WINDOW` (2).

    Returns:
        The estimate; `interval` is None until two answers of a busy stretch are seen.

    Raises:
        ValueError: For a `window` that is not a number > 0.

    Example:
        >>> rate = keras_cxr.serve.CompletionRate(window=2.0)
        >>> rate.completed(10.0, busy=True)
        >>> rate.completed(10.0, busy=True)  # a batch answered two at once
        >>> rate.completed(10.3, busy=False)  # 0.3 s later, the next answer
        >>> round(rate.interval, 3)  # 0.3 busy seconds over 2 answers, barely decayed
        0.161
    """

    def __init__(self, window: float = DEFAULT_WINDOW) -> None:
        if not isinstance(window, (int, float)) or not window > 0:
            raise invalid_value("window", "a number of seconds > 0", window)
        self.window = float(window)
        self._busy_seconds = 0.0
        self._answers = 0.0
        self._last: float | None = None  # when the last answer left work behind
        self._lock = threading.Lock()

    @property
    def interval(self) -> float | None:
        """Seconds per answer while busy, or None before any busy interval was seen.

        Returns:
            Decayed busy seconds over decayed answers.

        Raises:
            Nothing: it divides.

        Example:
            >>> keras_cxr.serve.CompletionRate().interval is None
            True
        """
        with self._lock:
            if self._answers == 0:
                return None
            return self._busy_seconds / self._answers

    def completed(self, now: float, busy: bool) -> None:
        """Counts one answer, at `now`, and whether requests remained after it.

        Args:
            now: The clock's seconds (the clock of the caller, the same every call).
            busy: Whether admitted requests remained unanswered after this one.

        Returns:
            None.

        Raises:
            Nothing: a clock that went back counts 0 seconds.

        Example:
            >>> rate.completed(time.perf_counter(), busy=control.pending > 0)
        """
        with self._lock:
            if self._last is not None:
                elapsed = max(0.0, now - self._last)
                decay = math.exp(-elapsed / self.window)
                self._busy_seconds = self._busy_seconds * decay + elapsed
                self._answers = self._answers * decay + 1.0
            self._last = now if busy else None
