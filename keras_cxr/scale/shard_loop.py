"""`write_shards`: the one loop that turns explained batches into committed shards.

`write_run` wraps it from opening the run folder to the summary of the call.

`keras_cxr.explain_folder` (batches decoded in threads and explained in this process) and
`keras_cxr.scale.ray.explain_dataset` (batches explained by Ray actors) both hand their
batches to this loop as `ExplainedBatch`es, so both cut shards at the same rows, list
skipped files the same way and commit each shard atomically: a run started by one can be
resumed by the other.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from keras_cxr.data.sources import ImageSource
from keras_cxr.explain.batch_explainer import BatchExplainer
from keras_cxr.scale.run_folder import OpenRun, next_shard, run_summary
from keras_cxr.scale.shard_writer import ShardWriter
from keras_cxr.scale.summary import ExplainFolderSummary, ShardCounts

__all__ = ["ExplainedBatch", "write_run", "write_shards"]


@dataclass(frozen=True)
class ExplainedBatch:
    """One batch as the shard loop takes it: explained rows and files that failed.

    Attributes:
        outputs: The explainer's outputs for the decoded rows, with `"path"` and
            `"label"` (see `keras_cxr.explain.BatchExplainer`); None when no file of
            the batch decoded.
        images: The explained images at the model's input size (for overlays), or None
            when no overlay is saved.
        skipped: `(source, reason)` of each file that could not be decoded.
        pending: `(source, reason)` of each file whose read kept failing with I/O errors
            (`keras_cxr.data.prefetch.read_with_retry`): written nowhere, so that a
            resumed run tries it again.

    Args:
        outputs, images, skipped, pending: As above.

    Returns:
        The frozen record; `len(batch)` counts its files, explained, skipped or pending.

    Raises:
        Nothing: a plain record.

    Example:
        >>> batch = keras_cxr.scale.shard_loop.ExplainedBatch(outputs, images, [])
        >>> len(batch)
        16
    """

    outputs: dict[str, Any] | None
    images: np.ndarray | None = None
    skipped: Sequence[tuple[ImageSource, str]] = field(default_factory=tuple)
    pending: Sequence[tuple[ImageSource, str]] = field(default_factory=tuple)

    def __len__(self) -> int:
        explained = 0 if self.outputs is None else len(self.outputs["path"])
        return explained + len(self.skipped) + len(self.pending)


def write_shards(
    batches: Iterable[ExplainedBatch],
    out: str | Path,
    explainer: BatchExplainer,
    manifest: dict[str, Any],
    *,
    shard_size: int,
    total: int,
    progress: bool = True,
) -> ShardCounts:
    """Writes `batches` into the run folder `out`, one committed shard per `shard_size` files.

    The first shard is numbered one past the last complete shard in `out` (0 for a new
    run). A shard is committed when it holds `shard_size` files or more, explained or
    skipped, and at the end; a run killed in between loses at most the shard it was
    filling.

    Args:
        batches: The explained batches, in the order the table keeps.
        out: The run folder (its manifest already written).
        explainer: The run's `keras_cxr.explain.BatchExplainer`: its heatmap keys and
            class names name the columns.
        manifest: The run's manifest (`keras_cxr.scale.run_folder.open_run`): what it
            saves, the heatmap size and the table format.
        shard_size: Files per shard.
        total: Files expected, for the progress bar.
        progress: Show a progress bar with images/s. Defaults to True.

    Returns:
        A `keras_cxr.scale.summary.ShardCounts`.

    Raises:
        OSError: A shard cannot be written (the shards committed before it stay).

    Warns:
        RuntimeWarning: Files were left pending after I/O errors (naming a few).

    Example:
        >>> counts = keras_cxr.scale.shard_loop.write_shards(
        ...     batches, "explained", explainer, manifest, shard_size=256, total=1000
        ... )
        >>> counts.explained + counts.skipped
        1000
    """
    from tqdm.auto import tqdm

    def new_shard(number: int) -> ShardWriter:
        return ShardWriter(
            out,
            number,
            explainer.heatmap_keys,
            manifest["save"],
            manifest["table_format"],
            explainer.class_names,
            manifest["heatmap_size"],
        )

    explained = skipped = pending = 0
    left_pending: list[tuple[ImageSource, str]] = []
    first_batch = None
    writer = new_shard(next_shard(out))
    with tqdm(total=total, desc="explaining", unit="img", disable=not progress) as bar:
        for batch in batches:
            first_batch = first_batch or time.perf_counter()
            writer.add_skipped(batch.skipped)
            skipped += len(batch.skipped)
            pending += len(batch.pending)
            left_pending.extend(batch.pending[: 3 - len(left_pending)])
            if batch.outputs is not None:
                writer.add(batch.outputs, batch.images)
                explained += len(batch.outputs["path"])
            bar.update(len(batch))
            bar.set_postfix(skipped=skipped, pending=pending, refresh=False)
            if len(writer) >= shard_size:
                writer.commit()
                writer = new_shard(writer.number + 1)
        if len(writer):
            writer.commit()
    if pending:
        examples = "; ".join(f"{source.path}: {reason}" for source, reason in left_pending)
        warnings.warn(
            f"{pending} file(s) kept failing with I/O errors and were left pending, not "
            f"skipped ({examples}); resume the run to try them again.",
            RuntimeWarning,
            stacklevel=2,
        )
    return ShardCounts(explained, skipped, first_batch, pending)


def write_run(
    run: OpenRun,
    batches_of: Callable[[list[ImageSource]], AbstractContextManager[Iterable[ExplainedBatch]]],
    *,
    progress: bool,
    started: float,
) -> ExplainFolderSummary:
    """Writes the explained pending images of an opened run as shards, and sums it up.

    When images are left to explain, `batches_of(run.pending)` is entered and its
    batches go through `write_shards`; the context is left before the summary is taken,
    so that what it holds (a Ray cluster) is released first.

    Args:
        run: The run, as `keras_cxr.scale.run_folder.open_run` opened it.
        batches_of: Given the pending images, a context manager whose value iterates
            over their `ExplainedBatch`es in order.
        progress: Show a progress bar with images/s.
        started: `time.perf_counter()` at the start of the call.

    Returns:
        A `keras_cxr.scale.ExplainFolderSummary` of the call.

    Raises:
        OSError: A shard cannot be written (the shards committed before it stay).

    Example:
        >>> run = keras_cxr.scale.run_folder.open_run(
        ...     "explained", explainer, images, None, RunSettings("both", "csv", 56, 256)
        ... )
        >>> summary = keras_cxr.scale.shard_loop.write_run(
        ...     run, lambda pending: contextlib.nullcontext(explained_batches(pending)),
        ...     progress=False, started=time.perf_counter(),
        ... )
    """
    explaining_started = time.perf_counter()
    counts = ShardCounts(0, 0, None)
    if run.pending:
        with batches_of(run.pending) as batches:
            counts = write_shards(
                batches,
                run.out,
                run.explainer,
                run.manifest,
                shard_size=run.settings.shard_size,
                total=len(run.pending),
                progress=progress,
            )
    return run_summary(
        run.out,
        run.settings.save,
        counts,
        resumed=run.resumed,
        started=started,
        explaining_started=explaining_started,
    )
