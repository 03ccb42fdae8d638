"""Decoding image files ahead of their use, in a bounded pool of threads.

While the model works on one batch, threads decode the next ones (OpenCV and pydicom's
pixel handling release the GIL for most of their work). At most `prefetch + 1` batches
are decoded or decoding at any time, so memory stays bounded however many files there
are, and batches come out in the order of the input.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from keras_cxr._validation import check_int

#: Most decoding threads used when `workers=None`: past this, decoding is rarely the
#: bottleneck of a model on the same machine.
MAX_DEFAULT_WORKERS = 8
#: Seconds waited before each retry of a read that failed with an I/O error.
RETRY_DELAYS = (0.05, 0.2, 0.8)
# OSErrors that say something about the file, not the disk: retrying cannot help.
_PERMANENT_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


@dataclass
class DecodedBatch:
    """One batch of decoded images and the items that could not be decoded.

    Attributes:
        items: The items that decoded, in input order.
        images: Their images, one per item.
        skipped: `(item, reason)` for each item of the batch that failed to decode.
        pending: `(item, reason)` for each item whose read kept failing with an I/O error
            (`is_transient`) after its retries: not the file's fault, so try it later.

    Args:
        items, images, skipped, pending: The attributes above; `prefetch_batches` makes
            them.

    Returns:
        The dataclass; `len(batch)` counts the items it was made from, skipped and
        pending ones too.

    Raises:
        Nothing of its own: a plain record.

    Example:
        >>> batch = next(keras_cxr.data.prefetch_batches(paths, keras_cxr.data.read_image))
        >>> len(batch.images) + len(batch.skipped) == len(batch)
        True
    """

    items: list[Any] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)
    skipped: list[tuple[Any, str]] = field(default_factory=list)
    pending: list[tuple[Any, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items) + len(self.skipped) + len(self.pending)


def prefetch_batches(
    items: Iterable[Any],
    read: Callable[[Any], np.ndarray],
    batch_size: int = 16,
    workers: int | None = None,
    prefetch: int = 2,
) -> Iterator[DecodedBatch]:
    """Decodes items in threads, `prefetch` batches ahead, and yields them batch by batch.

    `read(item)` runs in a worker thread. When it raises, the item is reported in the
    batch's `skipped` list with the reason (the error's message on one line, with its
    type unless it is a `ValueError` or `OSError`, whose messages are written for users),
    and the stream goes on: one bad file never stops an archive. A read that fails with
    an I/O error or `MemoryError` (`is_transient`) is retried after each of
    `RETRY_DELAYS`; if it still fails, the item goes to `pending`, not `skipped`. Each batch holds
    `batch_size` items, decoded or skipped (the last one fewer). Closing the iterator
    (or leaving a `for` loop early) cancels the pending reads and waits for the running
    ones.

    Args:
        items: What to read, e.g. paths or `keras_cxr.data.ImageSource`s; consumed lazily.
        read: Turns one item into an image array.
        batch_size: Items per batch. Defaults to 16.
        workers: Decoding threads. Defaults to None: one per CPU core, at most
            `MAX_DEFAULT_WORKERS`.
        prefetch: Batches decoded ahead of the one being used. Defaults to 2.

    Returns:
        An iterator of `keras_cxr.data.DecodedBatch`, in input order.

    Raises:
        ValueError: If `batch_size`, `workers` or `prefetch` is not a positive integer
            (`prefetch` may be 0).

    Example:
        >>> def read(path):
        ...     return keras_cxr.data.read_image(path, image_size=(224, 224))
        >>> for batch in keras_cxr.data.prefetch_batches(paths, read, batch_size=32):
        ...     model.predict_on_batch(np.stack(batch.images))
    """
    batch_size = check_int("batch_size", batch_size)
    prefetch = check_int("prefetch", prefetch, minimum=0)
    if workers is None:
        workers = min(MAX_DEFAULT_WORKERS, os.cpu_count() or 1)
    workers = check_int("workers", workers)
    return _batches(iter(items), read, batch_size, workers, (prefetch + 1) * batch_size)


def _batches(
    items: Iterator[Any],
    read: Callable[[Any], np.ndarray],
    batch_size: int,
    workers: int,
    window: int,
) -> Iterator[DecodedBatch]:
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="keras_cxr-decode")
    pending: deque[tuple[Any, Future]] = deque()
    try:
        exhausted = False
        while True:
            while not exhausted and len(pending) < window:
                item = next(items, _END)
                if item is _END:
                    exhausted = True
                else:
                    pending.append((item, pool.submit(read_with_retry, read, item)))
            if not pending:
                return
            batch = DecodedBatch()
            while pending and len(batch) < batch_size:
                item, future = pending.popleft()
                outcome = future.result()
                if outcome.reason is None:
                    batch.items.append(item)
                    batch.images.append(outcome.image)
                elif outcome.pending:
                    batch.pending.append((item, outcome.reason))
                else:
                    batch.skipped.append((item, outcome.reason))
            yield batch
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class ReadOutcome(NamedTuple):
    """What `read_with_retry` got: the image, or why not and whether to try again later.

    Attributes:
        image: The image, or None when the read failed.
        reason: None, or why it failed (`failure_reason`).
        pending: True when it failed with a transient error each time (`is_transient`).
    """

    image: np.ndarray | None
    reason: str | None
    pending: bool


def read_with_retry(
    read: Callable[[Any], np.ndarray], item: Any, delays: tuple[float, ...] | None = None
) -> ReadOutcome:
    """Calls `read(item)`, retrying transient failures after short, growing pauses.

    A file that does not decode fails at once (retrying gives the same answer); an I/O
    error or `MemoryError` (`is_transient`) is retried after each delay, and reported
    as `pending` if it persists, so a resumed run tries it again instead of listing it
    as skipped for ever.

    Args:
        read: Turns one item into an image array.
        item: What to read.
        delays: Seconds to wait before each retry. Defaults to None: `RETRY_DELAYS`.

    Returns:
        A `ReadOutcome`.

    Raises:
        Nothing: every `Exception` becomes a reason.

    Example:
        >>> keras_cxr.data.prefetch.read_with_retry(np.load, "missing.npy").reason
        "[Errno 2] No such file or directory: 'missing.npy'"
    """
    delays = RETRY_DELAYS if delays is None else delays
    for attempt in range(len(delays) + 1):
        try:
            return ReadOutcome(read(item), None, False)
        except Exception as error:  # one bad file must not stop the stream
            if not is_transient(error):
                return ReadOutcome(None, failure_reason(error), False)
            if attempt == len(delays):
                return ReadOutcome(None, failure_reason(error), True)
            time.sleep(delays[attempt])
    raise AssertionError("unreachable")  # pragma: no cover


def is_transient(error: BaseException) -> bool:
    """Whether a read error may go away by itself: an I/O error, or memory running out.

    Args:
        error: The exception a reader raised.

    Returns:
        True for `MemoryError` and `OSError`s other than a missing file, a folder or a
        permission refused; False for everything else (a file that does not decode).

    Raises:
        Nothing: it only looks at the type.

    Example:
        >>> keras_cxr.data.prefetch.is_transient(OSError(5, "Input/output error"))
        True
    """
    if isinstance(error, MemoryError):
        return True
    return isinstance(error, OSError) and not isinstance(error, _PERMANENT_OS_ERRORS)


def failure_reason(error: BaseException) -> str:
    """Why a file could not be used, on one line: the message, with the type if needed.

    Args:
        error: The exception a reader raised.

    Returns:
        The message on one line; prefixed by the exception's type unless it is a
        `ValueError` or `OSError` (their messages are written for users).

    Raises:
        Nothing: it only formats the error.

    Example:
        >>> keras_cxr.data.prefetch.failure_reason(KeyError("PixelData"))
        "KeyError: 'PixelData'"
    """
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, (ValueError, OSError)):
        return text
    return f"{type(error).__name__}: {text}"


_END = object()
