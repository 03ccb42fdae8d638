"""`LogDir`: a log folder created when needed, and noticed when it is deleted."""

from __future__ import annotations

import os


class LogDir:
    """The folder a callback writes to: made on first use, made again if it disappears.

    Args:
        path: The folder.

    Attributes:
        path: The folder, as a string.

    Example:
        >>> log_dir = keras_cxr.callbacks.log_dir.LogDir("logs/gradcam")
        >>> problems = []
        >>> log_dir.ensure(problems)
        True
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self._made = False

    def exists(self) -> bool:
        """Whether the folder is there now.

        Returns:
            True if `path` is a folder.

        Example:
            >>> keras_cxr.callbacks.log_dir.LogDir("logs/gradcam").exists()
            False
        """
        return os.path.isdir(self.path)

    def ensure(self, problems: list[str]) -> bool:
        """Create the folder if it is missing, noting in `problems` what went wrong.

        Args:
            problems: Appended to (not raised) when the folder had been deleted since it
                was made, or cannot be created.

        Returns:
            Whether the folder exists now.

        Example:
            >>> keras_cxr.callbacks.log_dir.LogDir("logs/gradcam").ensure([])
            True
        """
        if self.exists():
            self._made = True
            return True
        if self._made:
            problems.append("log_dir had been deleted during training, so it was created again")
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as error:
            problems.append(f"log_dir could not be created ({error})")
            return False
        self._made = True
        return True
