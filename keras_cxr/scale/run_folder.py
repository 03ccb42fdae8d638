"""The run folder of an explained archive: its manifest, what it holds, what is left to do.

`keras_cxr.explain_folder` (one process) and `keras_cxr.scale.ray.explain_dataset` (a Ray
cluster) write the same run folder by the same rules; the pieces both need live here, so
a run started by one can be resumed by the other.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from keras_cxr import __version__
from keras_cxr.data.sources import ImageSource
from keras_cxr.explain.batch_explainer import BatchExplainer
from keras_cxr.models.fingerprint import model_fingerprint
from keras_cxr.scale.heatmap_shards import heatmap_shards
from keras_cxr.scale.results_table import (
    RESULTS_FOLDER,
    SKIPPED_FOLDER,
    part_files,
    part_numbers,
    read_parts,
)
from keras_cxr.scale.shard_writer import OVERLAYS_FOLDER
from keras_cxr.scale.summary import ExplainFolderSummary

__all__ = ["done_paths", "manifest_of", "next_shard", "pending_images", "run_summary"]


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
    }


def done_paths(out: str | os.PathLike) -> set[str]:
    """Paths already in a complete shard of the run, explained or skipped.

    Args:
        out: The run folder.

    Returns:
        The paths, as the tables hold them.

    Raises:
        Nothing of its own: a folder without parts gives an empty set.

    Example:
        >>> len(keras_cxr.scale.run_folder.done_paths("explained"))
        41
    """
    done: set[str] = set()
    for folder in (RESULTS_FOLDER, SKIPPED_FOLDER):
        done.update(str(path) for path in read_parts(Path(out) / folder).get("path", ()))
    return done


def pending_images(out: str | os.PathLike, images: Sequence[ImageSource]) -> list[ImageSource]:
    """The images of `images` that no complete shard of the run in `out` holds, in order.

    Args:
        out: The run folder.
        images: Every image of the run, as `keras_cxr.data.find_images` lists them.

    Returns:
        Those still to explain.

    Raises:
        Nothing of its own.

    Example:
        >>> keras_cxr.scale.run_folder.pending_images("explained", find_images("archive"))
        []
    """
    done = done_paths(out)
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
    *,
    explained: int,
    skipped: int,
    resumed: int,
    seconds: float,
    explaining_seconds: float,
) -> ExplainFolderSummary:
    """The summary of one call on the run in `out`, listing the files of the whole run.

    Args:
        out: The run folder.
        save: What the run saves, one of `keras_cxr.scale.SAVE_OPTIONS`.
        explained, skipped, resumed: This call's counts.
        seconds, explaining_seconds: This call's wall time, whole and of its loop.

    Returns:
        A `keras_cxr.scale.ExplainFolderSummary`.

    Raises:
        Nothing of its own: it lists files.

    Example:
        >>> keras_cxr.scale.run_folder.run_summary(
        ...     "explained", "both", explained=40, skipped=1, resumed=0, seconds=3.0,
        ...     explaining_seconds=2.5,
        ... ).images_per_second
        16.4
    """
    out = Path(out)
    return ExplainFolderSummary(
        out=out,
        explained=explained,
        skipped=skipped,
        resumed=resumed,
        seconds=seconds,
        explaining_seconds=explaining_seconds,
        tables=part_files(out / RESULTS_FOLDER),
        skipped_files=part_files(out / SKIPPED_FOLDER),
        heatmaps=heatmap_shards(out),
        overlays=out / OVERLAYS_FOLDER if save in ("overlays", "both") else None,
    )
