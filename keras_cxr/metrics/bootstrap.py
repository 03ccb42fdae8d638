"""Bootstrap confidence intervals of metrics, resampling whole patients.

Several images of one child are not independent cases: resampling images would treat
them as such and give intervals that are too narrow. `bootstrap_intervals` resamples
*groups* (patients, `keras_cxr.data.patient_id`) with replacement, each drawn group
bringing all its images, and recomputes every metric on each resample; the interval is
the percentile interval of those values (Efron and Tibshirani, 1993, ch. 13).

A resample can lack a class (a few patients, mostly of one label), where the AUC or a rate
is undefined (NaN): such values are left out of that metric's interval and counted in
`Interval.dropped`, so that a reader sees how many resamples the interval rests on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from keras_cxr._validation import check_int, check_unit_interval, invalid_value, shape_error

#: Resamples of `bootstrap_intervals` unless told otherwise.
DEFAULT_RESAMPLES = 1000

Statistic = Callable[[np.ndarray, np.ndarray], "float | Mapping[str, float]"]


@dataclass(frozen=True)
class Interval:
    """A metric's value and its bootstrap percentile interval.

    Attributes:
        point: The metric on the data as given.
        low: Lower end of the interval (NaN when every resample was dropped).
        high: Upper end.
        confidence: Coverage of the interval, e.g. 0.95.
        resamples: Bootstrap resamples drawn.
        dropped: Resamples left out because the metric was undefined (NaN) on them.

    Example:
        >>> interval = keras_cxr.metrics.Interval(0.9, 0.85, 0.94, 0.95, 1000, 0)
        >>> str(interval)
        '0.9000 [0.8500, 0.9400]'
    """

    point: float
    low: float
    high: float
    confidence: float
    resamples: int
    dropped: int

    def __str__(self) -> str:
        return f"{self.point:.4f} [{self.low:.4f}, {self.high:.4f}]"

    def to_dict(self) -> dict[str, float | int]:
        """The fields as a JSON-friendly dict.

        Returns:
            `{"point", "low", "high", "confidence", "resamples", "dropped"}`.

        Example:
            >>> keras_cxr.metrics.Interval(0.9, 0.85, 0.94, 0.95, 1000, 0).to_dict()["low"]
            0.85
        """
        return {
            "point": self.point,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "resamples": self.resamples,
            "dropped": self.dropped,
        }


def bootstrap_intervals(
    metrics: Statistic | Mapping[str, Callable[[np.ndarray, np.ndarray], float]],
    y_true: Any,
    y_score: Any,
    groups: Sequence[Any] | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Interval]:
    """Percentile bootstrap intervals of metrics, resampling groups (patients) whole.

    Each resample draws as many groups as there are, with replacement, and takes every
    case of each drawn group (a group drawn twice counts twice). With `groups=None` every
    case is its own group. The interval is `[q(a/2), q(1 - a/2)]` of the metric over the
    resamples, `a = 1 - confidence`, skipping the resamples where it is NaN.

    Args:
        metrics: Either a dict name → `metric(labels, scores) -> float`, or one callable
            returning a float (named by its `__name__`) or a dict name → float (all the
            metrics of one pass, e.g. a wrapper of `keras_cxr.metrics.classification_report`).
        y_true: Labels, shape (N,).
        y_score: Scores or probabilities, shape (N,) or (N, k); rows follow `y_true`.
        groups: The group (patient) of each case, shape (N,); None for one group per case.
        n_resamples: Bootstrap resamples, >= 1. Defaults to 1000.
        confidence: Coverage in (0, 1). Defaults to 0.95.
        seed: Seed of the resampling. Defaults to 0.

    Returns:
        Metric name → `keras_cxr.metrics.Interval`, in the metrics' order.

    Raises:
        ValueError: If lengths differ, `n_resamples` < 1, `confidence` is not in (0, 1),
            or a metric returns something other than a number.

    Example:
        >>> intervals = keras_cxr.metrics.bootstrap_intervals(
        ...     {"auc": keras_cxr.metrics.roc_auc}, [0, 1, 0, 1, 1, 0], [.1, .8, .3, .7, .4, .5],
        ...     groups=["a", "a", "b", "b", "c", "c"], n_resamples=200)
        >>> intervals["auc"].point
        0.8888888888888888

    Reference:
        Efron, Tibshirani. "An Introduction to the Bootstrap." Chapman & Hall, 1993.
    """
    labels = np.asarray(y_true)
    scores = np.asarray(y_score)
    n_resamples = check_int("n_resamples", n_resamples)
    confidence = check_unit_interval("confidence", confidence)
    if confidence >= 1:
        raise invalid_value("confidence", "a float in (0, 1)", confidence)
    if labels.ndim != 1 or len(labels) == 0:
        raise shape_error("y_true", "a non-empty 1-D array of shape (N,)", labels.shape)
    if len(scores) != len(labels):
        raise shape_error("y_score", f"one entry per label ({len(labels)})", scores.shape)
    members = group_members(groups, len(labels))
    statistic = _as_statistic(metrics)
    point = statistic(labels, scores)
    rng = np.random.default_rng(seed)
    values = {name: np.empty(n_resamples) for name in point}
    for row in range(n_resamples):
        cases = resample_cases(members, rng)
        for name, value in statistic(labels[cases], scores[cases]).items():
            values[name][row] = value
    tail = 100 * (1 - confidence) / 2
    intervals = {}
    for name, draws in values.items():
        kept = draws[~np.isnan(draws)]
        low, high = np.percentile(kept, [tail, 100 - tail]) if kept.size else (np.nan, np.nan)
        intervals[name] = Interval(
            point[name], float(low), float(high), confidence, n_resamples, n_resamples - kept.size
        )
    return intervals


def bootstrap_settings(
    n_resamples: int, confidence: float, groups: Sequence[Any] | None, count: int
) -> dict[str, Any]:
    """How intervals were drawn, for a metrics file: resamples, coverage, unit, groups.

    Args:
        n_resamples: Bootstrap resamples.
        confidence: Coverage of the intervals.
        groups: Group (patient) of each case; None when every case was its own group.
        count: Number of cases.

    Returns:
        `{"resamples", "confidence", "unit"` ("patient" or "image")`, "groups"}`.

    Example:
        >>> keras_cxr.metrics.bootstrap.bootstrap_settings(1000, 0.95, ["a", "a", "b"], 3)
        {'resamples': 1000, 'confidence': 0.95, 'unit': 'patient', 'groups': 2}
    """
    return {
        "resamples": int(n_resamples),
        "confidence": float(confidence),
        "unit": "image" if groups is None else "patient",
        "groups": count if groups is None else len(set(map(str, groups))),
    }


def group_members(groups: Sequence[Any] | None, count: int) -> list[np.ndarray]:
    """The case indices of each group, groups in order of first appearance.

    Args:
        groups: Group of each case, length `count`; None for one group per case.
        count: Number of cases.

    Returns:
        One int64 index array per group.

    Raises:
        ValueError: If `groups` does not have `count` entries.

    Example:
        >>> [m.tolist() for m in keras_cxr.metrics.bootstrap.group_members(["b", "a", "b"], 3)]
        [[0, 2], [1]]
    """
    if groups is None:
        return [np.array([i]) for i in range(count)]
    keys = np.asarray([str(g) for g in groups])
    if keys.shape != (count,):
        raise shape_error("groups", f"one group per case ({count})", keys.shape)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    by_group = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse))[:-1]
    members = np.split(by_group, bounds)
    return [members[i] for i in order]


def resample_cases(members: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """One bootstrap resample: `len(members)` groups drawn with replacement, all their cases.

    Args:
        members: Case indices per group (`group_members`).
        rng: The random generator.

    Returns:
        int64 case indices of the resample.

    Example:
        >>> import numpy as np
        >>> members = keras_cxr.metrics.bootstrap.group_members(["a", "a", "b"], 3)
        >>> keras_cxr.metrics.bootstrap.resample_cases(members, np.random.default_rng(0))
        array([2, 2])
    """
    drawn = rng.integers(0, len(members), size=len(members))
    return np.concatenate([members[i] for i in drawn])


def _as_statistic(metrics: Any) -> Callable[[np.ndarray, np.ndarray], dict[str, float]]:
    """One function computing every metric of `metrics` as a dict of floats."""
    if isinstance(metrics, Mapping):
        table = dict(metrics)

        def statistic(labels, scores):
            return {name: metric(labels, scores) for name, metric in table.items()}

    elif callable(metrics):
        name = getattr(metrics, "__name__", "metric")

        def statistic(labels, scores):
            value = metrics(labels, scores)
            return dict(value) if isinstance(value, Mapping) else {name: value}

    else:
        raise invalid_value("metrics", "a callable or a dict of callables", metrics)

    def checked(labels, scores):
        values = statistic(labels, scores)
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise invalid_value("metrics", f"numbers; {key!r} returned {value!r}", metrics)
        return {key: float(value) for key, value in values.items()}

    return checked
