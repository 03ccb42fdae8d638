"""Operating points: which trade-off of sensitivity and specificity the threshold is chosen for.

An operating point is written as a short spec, the form `keras-cxr train --operating-point`
takes and the model file stores (metadata key `"operating_point"`):

- `"youden"`: maximise sensitivity + specificity - 1;
- `"f1"`: maximise the F1 score;
- `"sensitivity:0.95"`: sensitivity at least 0.95, and the best specificity under it (a
  screening test that must miss few cases);
- `"specificity:0.90"`: specificity at least 0.90, and the best sensitivity under it (a
  confirmatory test that must raise few false alarms).

A bare `"sensitivity"` or `"specificity"` means a target of 0.95.
`keras_cxr.metrics.select_threshold` picks the threshold for an operating point on
validation data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from keras_cxr._validation import invalid_value

#: Operating points that maximise an objective, and those that hold a target rate.
OBJECTIVES = ("youden", "f1")
TARGETED = ("sensitivity", "specificity")
#: Target of a bare `"sensitivity"` / `"specificity"`.
DEFAULT_TARGET = 0.95

_FORMAT = (
    "'youden', 'f1', 'sensitivity:T' or 'specificity:T' with a target T in (0, 1], "
    "e.g. 'sensitivity:0.95'"
)


@dataclass(frozen=True)
class OperatingPoint:
    """A rule for the decision threshold: an objective, or a target sensitivity/specificity.

    Attributes:
        kind: `"youden"`, `"f1"`, `"sensitivity"` or `"specificity"`.
        target: The least sensitivity or specificity, in (0, 1], for the targeted kinds;
            None for the objectives.

    Args:
        kind, target: The attributes above; `parse_operating_point` builds one from a spec.

    Raises:
        ValueError: For an unknown kind, a target given to an objective, or a target
            outside (0, 1].

    Example:
        >>> keras_cxr.metrics.OperatingPoint("sensitivity", 0.95).spec
        'sensitivity:0.95'
    """

    kind: str
    target: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in (*OBJECTIVES, *TARGETED):
            raise invalid_value("operating_point", _FORMAT, self.kind)
        if self.kind in OBJECTIVES:
            if self.target is not None:
                raise invalid_value(
                    "operating_point",
                    f"{_FORMAT} ({self.kind} takes no target)",
                    f"{self.kind}:{self.target}",
                )
            return
        target = DEFAULT_TARGET if self.target is None else self.target
        if isinstance(target, bool) or not isinstance(target, (int, float)):
            raise invalid_value("operating_point", _FORMAT, f"{self.kind}:{target}")
        if not (math.isfinite(target) and 0 < target <= 1):
            raise invalid_value("operating_point", _FORMAT, f"{self.kind}:{target}")
        object.__setattr__(self, "target", float(target))

    @property
    def spec(self) -> str:
        """The spec string, as stored in a model file (`"sensitivity:0.95"`)."""
        return self.kind if self.target is None else f"{self.kind}:{self.target:g}"

    def __str__(self) -> str:
        return self.spec


def parse_operating_point(spec: str | OperatingPoint) -> OperatingPoint:
    """An `OperatingPoint` from a spec such as `"youden"` or `"sensitivity:0.95"`.

    Args:
        spec: A spec string (see the module docstring; case and spaces are ignored) or an
            `OperatingPoint`, returned as it is.

    Returns:
        The `keras_cxr.metrics.OperatingPoint`.

    Raises:
        ValueError: For an unknown kind, a target that is not a number in (0, 1], or a
            target given to `youden` or `f1`.

    Example:
        >>> keras_cxr.metrics.parse_operating_point("specificity:0.9")
        OperatingPoint(kind='specificity', target=0.9)
        >>> keras_cxr.metrics.parse_operating_point("sensitivity").target
        0.95
    """
    if isinstance(spec, OperatingPoint):
        return spec
    if not isinstance(spec, str):
        raise invalid_value("operating_point", _FORMAT, spec)
    kind, separator, target = spec.strip().lower().partition(":")
    kind = kind.strip()
    if not separator:
        return OperatingPoint(kind)
    try:
        value = float(target)
    except ValueError:
        raise invalid_value("operating_point", _FORMAT, spec) from None
    if kind in OBJECTIVES:
        raise invalid_value("operating_point", f"{_FORMAT} ({kind} takes no target)", spec)
    return OperatingPoint(kind, value)
