"""The run folder of an explained archive: its manifest, what it holds, what is left to do.

`keras_cxr.explain_folder` (one process) and `keras_cxr.scale.ray.explain_dataset` (a Ray
cluster) write the same run folder by the same rules; the pieces both need live here, so
a run started by one can be resumed by the other.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from keras_cxr import __version__
from keras_cxr.data.sources import ImageSource
from keras_cxr.explain.batch_explainer import BatchExplainer
from keras_cxr.models.fingerprint import model_fingerprint
from keras_cxr.scale.heatmap_shards import heatmap_shards
from keras_cxr.scale.results_table import (
    RESULTS_FOLDER,
    SKIPPED_FOLDER,
    manifest_columns,
    part_files,
    part_numbers,
    read_parts,
    resolve_format,
)
from keras_cxr.scale.run_manifest import start_run
from keras_cxr.scale.shard_writer import OVERLAYS_FOLDER, remove_incomplete, result_columns
from keras_cxr.scale.summary import ExplainFolderSummary, ShardCounts

__all__ = [
    "DEFAULT_SAVE",
    "OpenRun",
    "RunSettings",
    "done_paths",
    "manifest_of",
    "next_shard",
    "open_run",
    "pending_images",
    "resolve_save",
    "run_summary",
]

#: What a new run keeps besides its table when `save` is not given, in Python and on the
#: command line alike: compact heatmap shards (overlays cost a PNG per image).
DEFAULT_SAVE = "heatmaps"


def resolve_save(save: str | None, existing: dict[str, Any] | None) -> str:
    """What a run saves: `save` when given, else the resumed run's own, else `DEFAULT_SAVE`.

    So a run started from the command line and resumed from Python (or the other way
    round) without naming `save` continues as it began instead of being refused.

    Args:
        save: One of `keras_cxr.scale.SAVE_OPTIONS`, or None.
        existing: The manifest of the run being resumed, or None.

    Returns:
        One of `keras_cxr.scale.SAVE_OPTIONS`.

    Raises:
        ValueError: `save` is not None and not one of the options.

    Example:
        >>> keras_cxr.scale.run_folder.resolve_save(None, {"save": "overlays"})
        'overlays'
    """
    from keras_cxr._validation import invalid_value
    from keras_cxr.scale.shard_writer import SAVE_OPTIONS

    if save is None:
        save = existing.get("save", DEFAULT_SAVE) if existing else DEFAULT_SAVE
    if save not in SAVE_OPTIONS:
        raise invalid_value("save", f"one of {list(SAVE_OPTIONS)}", save)
    return save


class RunSettings(NamedTuple):
    """What a run keeps and how it cuts it, checked by the caller.

    Attributes:
        save: One of `keras_cxr.scale.SAVE_OPTIONS`.
        table_format: `"parquet"` or `"csv"` (resolved).
        heatmap_size: Longest side of the stored heatmaps (None: the input size).
        shard_size: Files per shard.
    """

    save: str
    table_format: str
    heatmap_size: int | None
    shard_size: int


class OpenRun(NamedTuple):
    """A run started or resumed by `open_run`, ready for `keras_cxr.scale.shard_loop`.

    Attributes:
        out: The run folder.
        explainer: The run's `keras_cxr.explain.BatchExplainer`.
        settings: What the run keeps and how it cuts it.
        manifest: The run's manifest (a resumed run keeps its table format).
        pending: The images that no complete shard holds, in order.
        resumed: How many images an earlier call had done.
    """

    out: Path
    explainer: BatchExplainer
    settings: RunSettings
    manifest: dict[str, Any]
    pending: list[ImageSource]
    resumed: int


def manifest_of(
    explainer: BatchExplainer, save: str, table_format: str, heatmap_size: int | None
) -> dict[str, Any]:
    """The manifest fields of a run made by `explainer`, saving `save` as `table_format`.

    Args:
        explainer: The `keras_cxr.explain.BatchExplainer` of the run.
        save: One of `keras_cxr.scale.SAVE_OPTIONS`.
        table_format: `"parquet"` or `"csv"` (already resolved).
        heatmap_size: Longest side of the stored heatmaps (None: the input size).

    Returns:
        A JSON-ready dict for `keras_cxr.scale.run_manifest.start_run`.

    Raises:
        Nothing of its own: it reads the explainer.

    Example:
        >>> keras_cxr.scale.run_folder.manifest_of(explainer, "heatmaps", "csv", 56)["method"]
        'gradcam'
    """
    return {
        "model_fingerprint": model_fingerprint(explainer.model),
        "model_path": None if explainer.model_path is None else str(explainer.model_path),
        "model_name": explainer.model.name,
        "method": explainer.method,
        "target_layers": explainer.target_layers,
        "branches": explainer.branches,
        "score": explainer.score,
        "threshold": explainer.threshold,
        "threshold_source": explainer.threshold_source,
        "temperature": explainer.temperature,
        "class_names": list(explainer.class_names),
        "image_size": list(explainer.image_size),
        "color_mode": explainer.color_mode,
        "save": save,
        "heatmap_size": heatmap_size,
        "table_format": table_format,
        "keras_cxr_version": __version__,
        "all_classes": bool(getattr(explainer, "all_classes", False)),
        "columns": result_columns(explainer.heatmap_keys, save),
    }


def open_run(
    out: str | os.PathLike,
    explainer: BatchExplainer,
    images: Sequence[ImageSource],
    existing: dict[str, Any] | None,
    settings: RunSettings,
    retry_skipped: bool = False,
) -> OpenRun:
    """Starts or resumes the run in `out`: its manifest, and the images still to explain.

    A new run writes its manifest; a resumed one checks that `explainer` and the options
    are those of the run (`keras_cxr.scale.run_manifest.start_run`) and removes what a
    killed call left half-written.

    Args:
        out: The run folder, checked by `keras_cxr.scale.run_manifest.check_output`.
        explainer: The `keras_cxr.explain.BatchExplainer` of the run.
        images: Every image of the run, as `keras_cxr.data.find_images` lists them.
        existing: `check_output`'s answer: the manifest of the run being resumed, or None.
        settings: What the run keeps and how it cuts it.
        retry_skipped: Also count the files an earlier call skipped as pending (their
            reason may have been fixed: a file re-exported, a larger budget). Defaults
            to False.

    Returns:
        An `OpenRun`: among others the run's manifest (a resumed run keeps its table
        format) and the images of `images` that no complete shard holds, in order.

    Raises:
        keras_cxr.scale.RunMismatchError: `existing` is a run of another model or settings.
        ImportError: A resumed Parquet run without pyarrow.

    Example:
        >>> run = keras_cxr.scale.run_folder.open_run(
        ...     "explained", explainer, images, None, RunSettings("heatmaps", "csv", 56, 256)
        ... )
        >>> len(run.pending)
    """
    save, table_format, heatmap_size, _ = settings
    manifest = start_run(out, manifest_of(explainer, save, table_format, heatmap_size), existing)
    resolve_format(manifest["table_format"])  # a resumed Parquet run still needs pyarrow
    if existing is not None:
        remove_incomplete(out)
    pending = pending_images(out, images, retry_skipped)
    resumed = len(images) - len(pending)
    return OpenRun(Path(out), explainer, settings, manifest, pending, resumed)


def done_paths(out: str | os.PathLike, include_skipped: bool = True) -> set[str]:
    """Paths already in a complete shard of the run, explained or skipped.

    Args:
        out: The run folder.
        include_skipped: Count the skipped files as done. Defaults to True.

    Returns:
        The paths, as the tables hold them.

    Raises:
        keras_cxr.scale.results_table.PartMismatchError: A results part that is not the
            run's (see `keras_cxr.scale.results_table.read_parts`).

    Example:
        >>> len(keras_cxr.scale.run_folder.done_paths("explained"))
        41
    """
    done = {
        str(path)
        for path in read_parts(Path(out) / RESULTS_FOLDER, manifest_columns(out)).get("path", ())
    }
    if include_skipped:
        done.update(str(path) for path in read_parts(Path(out) / SKIPPED_FOLDER).get("path", ()))
    return done


def pending_images(
    out: str | os.PathLike, images: Sequence[ImageSource], retry_skipped: bool = False
) -> list[ImageSource]:
    """The images of `images` that no complete shard of the run in `out` holds, in order.

    Args:
        out: The run folder.
        images: Every image of the run, as `keras_cxr.data.find_images` lists them.
        retry_skipped: Count skipped files as pending too. Defaults to False.

    Returns:
        Those still to explain.

    Raises:
        Nothing of its own.

    Example:
        >>> keras_cxr.scale.run_folder.pending_images("explained", find_images("archive"))
        []
    """
    done = done_paths(out, include_skipped=not retry_skipped)
    return [image for image in images if str(image.path) not in done]


def next_shard(out: str | os.PathLike) -> int:
    """The number of the first shard a (resumed) run writes: one past the last complete one.

    Args:
        out: The run folder.

    Returns:
        0 for a new run.

    Raises:
        Nothing of its own.

    Example:
        >>> keras_cxr.scale.run_folder.next_shard("explained")
        3
    """
    numbers = part_numbers(Path(out) / RESULTS_FOLDER)
    return numbers[-1] + 1 if numbers else 0


def run_summary(
    out: str | os.PathLike,
    save: str,
    counts: ShardCounts,
    *,
    resumed: int,
    started: float,
    explaining_started: float,
) -> ExplainFolderSummary:
    """The summary of one call on the run in `out`, listing the files of the whole run.

    Args:
        out: The run folder.
        save: What the run saves, one of `keras_cxr.scale.SAVE_OPTIONS`.
        counts: What this call wrote (`keras_cxr.scale.shard_loop.write_shards`).
        resumed: Images an earlier call had done.
        started, explaining_started: `time.perf_counter()` at the call's start and at
            the start of its explaining loop; the end is now.

    Returns:
        A `keras_cxr.scale.ExplainFolderSummary`.

    Raises:
        Nothing of its own: it lists files.

    Example:
        >>> keras_cxr.scale.run_folder.run_summary(
        ...     "explained", "both", ShardCounts(40, 1, first_batch), resumed=0,
        ...     started=started, explaining_started=loop_started,
        ... ).explained
        40
    """
    now = time.perf_counter()
    out = Path(out)
    first_batch = now if counts.first_batch is None else counts.first_batch
    return ExplainFolderSummary(
        out=out,
        explained=counts.explained,
        skipped=counts.skipped,
        resumed=resumed,
        seconds=now - started,
        explaining_seconds=now - explaining_started,
        startup_seconds=first_batch - started if counts.explained + counts.skipped else 0.0,
        tables=part_files(out / RESULTS_FOLDER),
        skipped_files=part_files(out / SKIPPED_FOLDER),
        heatmaps=heatmap_shards(out),
        overlays=out / OVERLAYS_FOLDER if save in ("overlays", "both") else None,
        pending=counts.pending,
    )
