"""Argument checks shared across keras_cxr, with Keras-style error messages.

Every module checks its arguments through these helpers, so a bad value fails early and
the message always reads "Invalid value received for argument `x`. Expected ….
Received: x=…".
"""

from __future__ import annotations

import numbers
from typing import Any


def invalid_value(argument: str, expected: str, received: Any) -> ValueError:
    """Build the error raised for a bad argument, worded the way Keras words it.

    Args:
        argument: Name of the offending argument.
        expected: What would have been accepted, e.g. "a positive integer".
        received: The value actually passed.

    Returns:
        A `ValueError` to raise, whose message reads
        "Invalid value received for argument `x`. Expected .... Received: x=...".

    Example:
        >>> raise invalid_value("num_classes", "an integer >= 1", 0)
        Traceback (most recent call last):
        ValueError: Invalid value received for argument `num_classes`. ...
    """
    return ValueError(
        f"Invalid value received for argument `{argument}`. "
        f"Expected {expected}. Received: {argument}={received!r}"
    )


def shape_error(argument: str, expected: str, shape: tuple[int, ...]) -> ValueError:
    """Build the error for an array of the wrong shape, worded like `invalid_value`.

    Args:
        argument: Name of the offending argument.
        expected: The accepted shape, e.g. "an array of shape (N, H, W)".
        shape: The shape actually passed.

    Returns:
        A `ValueError` whose message ends "Received: x.shape=(...)".

    Example:
        >>> raise shape_error("images", "a batch of shape (N, H, W, C)", (3, 4))
        Traceback (most recent call last):
        ValueError: Invalid value received for argument `images`. ...
    """
    return ValueError(
        f"Invalid value received for argument `{argument}`. "
        f"Expected {expected}. Received: {argument}.shape={tuple(shape)}"
    )


def check_int(argument: str, value: Any, minimum: int = 1) -> int:
    """Return `value` as an int, raising unless it is an integer >= `minimum`.

    Booleans are refused (`True` is an `int` to Python, never a count to a user).

    Args:
        argument: Name of the argument, for the message.
        value: The value to check.
        minimum: The smallest accepted value. Defaults to 1.

    Returns:
        `value` as a plain `int`.

    Raises:
        ValueError: If `value` is not an integer >= `minimum`.

    Example:
        >>> check_int("epochs", 3)
        3
        >>> check_int("augmented_views", 0, minimum=0)
        0
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise invalid_value(argument, f"an integer >= {minimum}", value)
    return int(value)


def check_unit_interval(argument: str, value: Any, *, include_zero: bool = False) -> float:
    """Return `value` as a float, raising unless it lies in (0, 1] (or [0, 1]).

    Args:
        argument: Name of the argument, for the message.
        value: The value to check.
        include_zero: Accept 0 as well. Defaults to False.

    Returns:
        `value` as a plain `float`.

    Raises:
        ValueError: If `value` is not a real number in the interval.

    Example:
        >>> check_unit_interval("fraction", 0.5)
        0.5
    """
    interval = "[0, 1]" if include_zero else "(0, 1]"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise invalid_value(argument, f"a float in {interval}", value)
    lower_ok = value >= 0 if include_zero else value > 0
    if not (lower_ok and value <= 1):
        raise invalid_value(argument, f"a float in {interval}", value)
    return float(value)
