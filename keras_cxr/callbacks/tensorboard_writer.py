"""`TensorBoardWriter`: images and scalars of a callback as TensorBoard events."""

from __future__ import annotations

import contextlib
import math
import os

import numpy as np


class TensorBoardWriter:
    """Write per-image pictures and scalar values to a TensorBoard event file.

    The event file is opened on first use and can be closed and opened again (e.g. after
    its folder was deleted). TensorFlow's own write errors (`tf.errors.OpError`) are
    raised as `OSError` with the first line of their message, so a caller handles one
    error type for every file it writes.

    Args:
        log_dir: The folder of the event file; it must exist when writing.
        prefix: First part of every tag. Defaults to `"gradcam"`.

    Attributes:
        log_dir: The folder, as a string.
        prefix: First part of every tag.

    Example:
        >>> writer = keras_cxr.callbacks.tensorboard_writer.TensorBoardWriter("logs/gradcam")
        >>> writer.write(0, strips, {"gradcam_drift": 0.1})  # tags gradcam/image_0, ...
        >>> writer.close()
    """

    def __init__(self, log_dir: str | os.PathLike, prefix: str = "gradcam") -> None:
        self.log_dir = os.fspath(log_dir)
        self.prefix = prefix
        self._writer = None

    @staticmethod
    def available() -> bool:
        """Whether the `tensorboard` package, which writes the summaries, is installed.

        Returns:
            True if `tf.summary.image` can write.

        Example:
            >>> keras_cxr.callbacks.tensorboard_writer.TensorBoardWriter.available()
            True
        """
        try:  # what `tf.summary.image` delegates to; TensorBoard is an optional dependency
            import tensorboard.summary.v2  # noqa: F401
        except ImportError:
            return False
        return True

    def open(self) -> None:
        """Open the event file in `log_dir`, if it is not open.

        Raises:
            OSError: If the file cannot be created.

        Example:
            >>> keras_cxr.callbacks.tensorboard_writer.TensorBoardWriter("logs/gradcam").open()
        """
        if self._writer is not None:
            return
        import tensorflow as tf  # TensorBoard summaries are written by TensorFlow

        with _as_os_error():
            self._writer = tf.summary.create_file_writer(self.log_dir)

    def write(self, step: int, strips: np.ndarray, values: dict[str, float]) -> None:
        """Write one image per strip and the finite values as scalars at `step`.

        Images go under `<prefix>/image_{i}`, values under `<prefix>/<key>`, less the
        key's own `<prefix>_` (with the default prefix, `gradcam_drift` → `gradcam/drift`).

        Args:
            step: The step, e.g. the 0-based epoch.
            strips: uint8 RGB `(N, H, W, 3)`, one picture per image.
            values: Log key → value; NaN values (not measured) are skipped.

        Raises:
            OSError: If writing fails.

        Example:
            >>> writer.write(2, grid.rows(), {"gradcam_drift": 0.05})
        """
        import tensorflow as tf

        self.open()
        with _as_os_error(), self._writer.as_default():
            for index, strip in enumerate(strips):
                tf.summary.image(f"{self.prefix}/image_{index}", strip[None], step=step)
            for key, value in values.items():
                if math.isfinite(value):
                    name = key.removeprefix(f"{self.prefix}_")
                    tf.summary.scalar(f"{self.prefix}/{name}", value, step=step)
            self._writer.flush()

    def close(self) -> None:
        """Close the event file, if open; errors while closing are ignored.

        Example:
            >>> writer.close()
        """
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None


@contextlib.contextmanager
def _as_os_error():
    import tensorflow as tf

    try:
        yield
    except tf.errors.OpError as error:
        text = str(error).strip()
        raise OSError(text.splitlines()[0] if text else type(error).__name__) from error
