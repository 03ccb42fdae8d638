"""`WarnOnce`: one warning for a run of failures, re-armed by the next success."""

from __future__ import annotations

import warnings


class WarnOnce:
    """Warn about the first failure of a run; stay silent until a success re-arms it.

    A callback that writes files every epoch must not stop training when the disk is
    full, nor flood the log with one warning per epoch: `report` warns on the first
    failure, ignores the next ones, and a report without failure starts over.

    Attributes:
        armed: Whether the next failure is warned about.

    Example:
        >>> warn = keras_cxr.callbacks.warn_once.WarnOnce()
        >>> warn.report("writing the PNG failed")  # warns
        True
        >>> warn.report("writing the PNG failed")  # silent
        False
        >>> warn.report(None)  # a success: the next failure warns again
        False
    """

    def __init__(self) -> None:
        self.armed = True

    def report(self, failure: str | None, stacklevel: int = 2) -> bool:
        """Warn with `failure` if armed; `None` (a success) re-arms.

        Args:
            failure: The warning's message, or `None` when everything succeeded.
            stacklevel: As for `warnings.warn`, counted from the caller. Defaults to 2.

        Returns:
            Whether a warning was issued.

        Example:
            >>> keras_cxr.callbacks.warn_once.WarnOnce().report("log_dir is read-only")
            True
        """
        if failure is None:
            self.armed = True
            return False
        if not self.armed:
            return False
        self.armed = False
        warnings.warn(failure, UserWarning, stacklevel=stacklevel + 1)
        return True
