"""Checking that an output folder could be written, before any work starts."""

from __future__ import annotations

import os
from pathlib import Path


def check_writable(out: str | os.PathLike) -> None:
    """Fails early if the folder `out` could not be created or written, creating nothing.

    Args:
        out: A folder that may not exist yet.

    Raises:
        NotADirectoryError: If `out`, or a folder on its path, is a file.
        PermissionError: If the nearest existing folder is not writable.

    Example:
        >>> keras_cxr.training.check_writable("runs/new/deeper")  # creates nothing
    """
    out = Path(out).absolute()
    for candidate in (out, *out.parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise NotADirectoryError(
                    f"Cannot write to the output folder {str(out)!r}: {str(candidate)!r} is a file."
                )
            if not os.access(candidate, os.W_OK | os.X_OK):
                raise PermissionError(
                    f"Cannot write to the output folder {str(out)!r}: {str(candidate)!r} is "
                    "not writable."
                )
            return
