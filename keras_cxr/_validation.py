"""Argument checks shared across keras_cxr, with Keras-style error messages."""

from __future__ import annotations

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
