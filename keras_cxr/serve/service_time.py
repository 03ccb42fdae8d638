"""`ServiceTime`: a measured, moving estimate of how long the explain worker takes a batch.

Admission control (`keras_cxr.serve.AdmissionControl`) needs to know how long the work
already accepted will take. A batch of `n` images costs a fixed part (the call, the
backbones' kernels launched once) and a part per image, so the estimate is a line,
`seconds(n) = overhead + n * per_image`, whose shape is measured at start-up (an idle
call at batch 1 and one at the largest batch) and whose level follows the live calls: each
observed batch moves a scale factor a step towards `observed / line(n)`. A machine that
gets slower under load (decoding threads and the event loop take CPU from the model) is
followed within a few batches; a lone slow call (a garbage collection) moves it only a step.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from keras_cxr._validation import invalid_value

__all__ = ["DEFAULT_SMOOTHING", "ServiceTime"]

#: Weight of each new observation in the moving scale factor (an exponential moving
#: average over about the last 1 / 0.2 = 5 batches).
DEFAULT_SMOOTHING = 0.2


class ServiceTime:
    """The expected seconds of one batch call, `scale * (overhead + n * per_image)`.

    Args:
        overhead: Seconds of a call whatever its size, >= 0.
        per_image: Seconds each image adds, >= 0; `overhead + per_image` must be > 0.
        smoothing: Weight of a new observation in the scale factor, in (0, 1]. Defaults
            to `DEFAULT_SMOOTHING` (0.2).

    Returns:
        The estimate; `seconds(n)` predicts, `observe(n, seconds)` learns. Safe to share
        between the worker thread (which observes) and the event loop (which predicts).

    Raises:
        ValueError: For a negative `overhead` or `per_image`, both 0, or a `smoothing`
            outside (0, 1].

    Example:
        >>> estimate = keras_cxr.serve.ServiceTime(overhead=0.010, per_image=0.001)
        >>> round(estimate.seconds(16), 3)
        0.026
        >>> estimate.observe(16, 0.052)  # twice as slow as expected: the scale moves a step
        >>> round(estimate.scale, 2), round(estimate.seconds(16), 4)
        (1.2, 0.0312)
    """

    def __init__(
        self, overhead: float, per_image: float, smoothing: float = DEFAULT_SMOOTHING
    ) -> None:
        for name, value in (("overhead", overhead), ("per_image", per_image)):
            if not isinstance(value, (int, float)) or not value >= 0:
                raise invalid_value(name, "a number of seconds >= 0", value)
        if not overhead + per_image > 0:
            raise invalid_value(
                "per_image", "a number of seconds > 0 when `overhead` is 0", per_image
            )
        if not isinstance(smoothing, (int, float)) or not 0 < smoothing <= 1:
            raise invalid_value("smoothing", "a number in (0, 1]", smoothing)
        self.overhead = float(overhead)
        self.per_image = float(per_image)
        self.smoothing = float(smoothing)
        #: The live level against the start-up line: 1.0 until a call is observed.
        self.scale = 1.0
        #: Batch calls observed so far.
        self.observed = 0
        self._lock = threading.Lock()

    @classmethod
    def from_timings(
        cls, timings: Mapping[int, float], smoothing: float = DEFAULT_SMOOTHING
    ) -> ServiceTime:
        """The line through measured `{batch size: seconds}` (least squares for 3 or more).

        Args:
            timings: Seconds of one call at each batch size; one size gives a line with
                no overhead (all of it per image).
            smoothing: As the constructor takes it.

        Returns:
            The estimate, with `overhead` and `per_image` clipped at 0 (a larger batch
            measured faster than a smaller one is noise, not a negative cost).

        Raises:
            ValueError: For no timings, a batch size below 1, or a time that is not > 0.

        Example:
            >>> estimate = keras_cxr.serve.ServiceTime.from_timings({1: 0.011, 16: 0.026})
            >>> round(estimate.overhead, 3), round(estimate.per_image, 3)
            (0.01, 0.001)
        """
        if not timings:
            raise invalid_value("timings", "at least one {batch size: seconds}", timings)
        for size, seconds in timings.items():
            if not isinstance(size, int) or size < 1 or not seconds > 0:
                raise invalid_value("timings", "batch sizes >= 1 and seconds > 0", timings)
        sizes = list(timings)
        if len(sizes) == 1:
            return cls(0.0, timings[sizes[0]] / sizes[0], smoothing)
        mean_n = sum(sizes) / len(sizes)
        mean_t = sum(timings.values()) / len(sizes)
        spread = sum((n - mean_n) ** 2 for n in sizes)
        slope = sum((n - mean_n) * (timings[n] - mean_t) for n in sizes) / spread
        per_image = max(0.0, slope)
        overhead = max(0.0, mean_t - per_image * mean_n)
        if overhead + per_image == 0:  # every point fell on a falling line: keep the mean
            per_image = mean_t / mean_n
        return cls(overhead, per_image, smoothing)

    def seconds(self, size: int) -> float:
        """The expected seconds of one call of `size` images (0 for none).

        Args:
            size: Images in the call, >= 0.

        Returns:
            `scale * (overhead + size * per_image)`, or 0.0 for `size` 0.

        Raises:
            Nothing: it multiplies.

        Example:
            >>> keras_cxr.serve.ServiceTime(0.01, 0.001).seconds(0)
            0.0
        """
        if size <= 0:
            return 0.0
        return self.scale * (self.overhead + size * self.per_image)

    def observe(self, size: int, seconds: float) -> None:
        """Moves the scale a step towards what one call of `size` images took.

        Args:
            size: Images in the call, >= 1 (calls of 0 images are ignored).
            seconds: How long it took.

        Returns:
            None.

        Raises:
            Nothing: a call of no images, or a time below 0 (a clock that went back),
                teaches nothing and is ignored.

        Example:
            >>> estimate = keras_cxr.serve.ServiceTime(0.0, 0.010, smoothing=1.0)
            >>> estimate.observe(2, 0.040)
            >>> estimate.seconds(1)
            0.02
        """
        if size < 1 or seconds < 0:
            return
        ratio = seconds / (self.overhead + size * self.per_image)
        with self._lock:
            self.scale += self.smoothing * (ratio - self.scale)
            self.observed += 1
