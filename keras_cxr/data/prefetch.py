"""Decoding image files ahead of their use, in a bounded pool of threads.

While the model works on one batch, threads decode the next ones (OpenCV and pydicom's
pixel handling release the GIL for most of their work). At most `prefetch + 1` batches
are decoded or decoding at any time, so memory stays bounded however many files there
are, and batches come out in the order of the input.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from keras_cxr._validation import check_int

#: Most decoding threads used when `workers=None`: past this, decoding is rarely the
#: bottleneck of a model on the same machine.
MAX_DEFAULT_WORKERS = 8


@dataclass
class DecodedBatch:
    """One batch of decoded images and the items that could not be decoded.

    Attributes:
        items: The items that decoded, in input order.
        images: Their images, one per item.
        skipped: `(item, reason)` for each item of the batch that failed to decode.

    Args:
        items, images, skipped: The attributes above; `prefetch_batches` makes them.

    Returns:
        The dataclass; `len(batch)` counts the items it was made from, skipped ones too.

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

    def __len__(self) -> int:
        return len(self.items) + len(self.skipped)


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
    and the stream goes on: one bad file never stops an archive. Each batch holds
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
                    pending.append((item, pool.submit(_read_safely, read, item)))
            if not pending:
                return
            batch = DecodedBatch()
            while pending and len(batch) < batch_size:
                item, future = pending.popleft()
                image, reason = future.result()
                if reason is None:
                    batch.items.append(item)
                    batch.images.append(image)
                else:
                    batch.skipped.append((item, reason))
            yield batch
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _read_safely(read: Callable[[Any], np.ndarray], item: Any):
    """`(image, None)`, or `(None, reason)` when `read` raises."""
    try:
        return read(item), None
    except Exception as error:  # one bad file must not stop the stream
        return None, failure_reason(error)


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
