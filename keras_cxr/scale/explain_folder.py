"""`explain_folder`: predictions, heatmaps and their statistics for a whole image archive.

The pieces: `keras_cxr.data.find_images` lists the files, `keras_cxr.data.prefetch_batches`
decodes them in threads a few batches ahead, `keras_cxr.explain.BatchExplainer` predicts
and explains each batch, and `ShardWriter` commits shard after shard atomically. Memory
is bounded by the batches in flight and one shard of results, never by the archive.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

import keras
import numpy as np

from keras_cxr._validation import check_int, invalid_value
from keras_cxr.data.images import MIN_IMAGE_SIDE, read_image
from keras_cxr.data.prefetch import prefetch_batches
from keras_cxr.data.sources import ImageSource, find_images
from keras_cxr.explain.batch_explainer import BatchExplainer
from keras_cxr.scale.results_table import resolve_format
from keras_cxr.scale.run_folder import RunSettings, open_run, resolve_save
from keras_cxr.scale.run_manifest import check_output
from keras_cxr.scale.shard_loop import ExplainedBatch, write_run
from keras_cxr.scale.shard_writer import DEFAULT_HEATMAP_SIZE, SAVE_OPTIONS
from keras_cxr.scale.summary import ExplainFolderSummary

__all__ = ["DEFAULT_SHARD_SIZE", "explain_folder"]

#: Images per shard when `shard_size` is not given.
DEFAULT_SHARD_SIZE = 256


def explain_folder(
    model: str | os.PathLike | keras.Model | BatchExplainer,
    sources: str | os.PathLike | Iterable[str | os.PathLike],
    out: str | os.PathLike,
    *,
    method: str | None = None,
    layer: Any = None,
    threshold: float | None = None,
    save: str | None = None,
    heatmap_size: int | None = DEFAULT_HEATMAP_SIZE,
    batch_size: int = 16,
    resume: bool = False,
    workers: int | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    table_format: str = "auto",
    prefetch: int = 2,
    progress: bool = True,
    all_classes: bool = False,
    retry_skipped: bool = False,
) -> ExplainFolderSummary:
    """Predicts and explains every image of an archive, writing a table shard by shard.

    `sources` may mix image files (JPEG, PNG, DICOM), folders (searched recursively: the
    Kermany layout or any tree), glob patterns and `.txt` lists of paths (see
    `keras_cxr.data.find_images`); an image's label is the name of the nearest
    NORMAL/PNEUMONIA folder above it, else empty. Files are decoded and resized to the
    model's input (as in training) in `workers` threads, `prefetch` batches ahead of the
    model. A file that cannot be decoded, or is smaller than
    `keras_cxr.data.MIN_IMAGE_SIDE`, is skipped and listed with the reason; the run goes
    on. Every `shard_size` images (rounded up to whole batches), one shard is committed
    to `out`:

    * `results/part-N.parquet` (Parquet with pyarrow, else `.csv`): one row per image with
      `path`, `label`, `probability`, `decision`, `predicted` (class name), `score`, and
      for the fused map (`fused/...`) and each branch (`<branch>/...`) the columns of
      `keras_cxr.explain.heatmap_statistics`; `heatmaps` and `overlay` name its files;
    * `heatmaps/part-N.npz` (`save="heatmaps"` or `"both"`): paths and uint8 maps (255
      for 1.0), shrunk to `heatmap_size` (`keras_cxr.scale.read_heatmaps` reads them);
    * `overlays/<stem>-<hash>.png` (`save="overlays"` or `"both"`): the fused map on the
      image;
    * `skipped/part-N.csv`: `path`, `label`, `reason` of each skipped file.

    Each file is written atomically and the results part last, so a killed run loses at
    most the shard in progress. `out/manifest.json`, written first, names the model (by
    `keras_cxr.models.model_fingerprint`), the method, layers, threshold and `save`; with
    `resume=True` a run continues where it stopped, skipping every image already in it
    (explained or skipped; with `retry_skipped`, the skipped ones are tried again), and
    only with the same model and settings. Without `resume`, `out` must be new or empty:
    nothing is ever overwritten. Every commit is fsynced (`keras_cxr.atomic`), so after
    a power loss a part is whole or absent. A read that fails with an I/O error is
    retried a few times, then left pending (in no table) for the next resumed call.

    Args:
        model: A `.keras` file, a `keras.Model` or a ready `keras_cxr.explain.BatchExplainer`
            (then `method`, `layer` and `threshold` must stay None).
        sources: What to explain, one source or several.
        out: The run folder.
        method: A CAM method of `keras_cxr.explain.METHODS`. Defaults to None: "gradcam".
        layer: Target layers; None (default) picks one per branch.
        threshold: Decision threshold; None (default) uses the model file's, else 0.5.
        save: `"heatmaps"`, `"overlays"`, `"both"` or `"none"` (table only). Defaults to
            None: a resumed run's own, else `"heatmaps"` (as `keras-cxr explain`).
        heatmap_size: Longest side of the stored heatmaps, at most the input's; None keeps
            the input size. Defaults to 56 (a CAM of a 224-px input is 7×7 to 28×28).
        batch_size: Images per batch. Defaults to 16.
        resume: Continue the run in `out`. Defaults to False.
        workers: Decoding threads; None (default) uses one per core, at most 8.
        shard_size: Images per shard. Defaults to 256.
        table_format: `"auto"` (default: Parquet if pyarrow is installed, else CSV),
            `"parquet"` or `"csv"`. A resumed run keeps the format it started with.
        prefetch: Batches decoded ahead of the model. Defaults to 2.
        progress: Show a progress bar (images/s). Defaults to True.
        all_classes: Also explain every class (`BatchExplainer(all_classes=True)`): the
            heatmap shards hold `"heatmap@<class>"` maps, the table their statistics
            (`<class>/...` columns) and, with overlays, `overlay@<class>` files named
            `<stem>-<hash>-<class>.png`. Defaults to False.
        retry_skipped: With `resume`, explain again the files earlier calls skipped;
            `keras_cxr.scale.read_skipped` then lists each file once, with its latest
            reason, and none that got explained. Defaults to False.

    Returns:
        A `keras_cxr.scale.ExplainFolderSummary`.

    Raises:
        FileNotFoundError: A source or the model file does not exist.
        ValueError: No image is found, a bad option, a model that is not a classifier
            with a fixed input size (see `BatchExplainer`).
        NotADirectoryError: `out`, or a folder above it, is a file.
        keras_cxr.scale.OutputExistsError: `out` holds files but no run, or a run and
            `resume` is False.
        keras_cxr.scale.RunMismatchError: `resume` names a run of another model or
            settings.
        ImportError: `table_format="parquet"` without pyarrow.

    Example:
        >>> summary = keras_cxr.explain_folder(
        ...     "runs/demo/model.keras", "chest_xray/test", "explained", save="both"
        ... )
        >>> table = keras_cxr.scale.read_results("explained")
        >>> table["path"][0], table["probability"][0], table["fused/lung_share"][0]
    """
    started = time.perf_counter()
    if save is not None and save not in SAVE_OPTIONS:
        raise invalid_value("save", f"one of {list(SAVE_OPTIONS)}", save)
    batch_size = check_int("batch_size", batch_size)
    shard_size = check_int("shard_size", shard_size)
    if heatmap_size is not None:
        heatmap_size = check_int("heatmap_size", heatmap_size)
    check_int("prefetch", prefetch, minimum=0)
    if workers is not None:
        check_int("workers", workers)
    table_format = resolve_format(table_format)
    images = find_images(sources)
    existing = check_output(out, resume)
    settings = RunSettings(resolve_save(save, existing), table_format, heatmap_size, shard_size)
    explainer = _explainer(model, method, layer, threshold, batch_size, all_classes)

    def batches_of(pending: list[ImageSource]):
        batches = _explained_batches(explainer, pending, batch_size, workers, prefetch)
        return contextlib.nullcontext(batches)

    run = open_run(out, explainer, images, existing, settings, retry_skipped)
    return write_run(run, batches_of, progress=progress, started=started)


def _explained_batches(
    explainer: BatchExplainer,
    pending: list[ImageSource],
    batch_size: int,
    workers: int | None,
    prefetch: int,
) -> Iterator[ExplainedBatch]:
    """The images of `pending`, decoded in threads a few batches ahead and explained."""

    def read(source: ImageSource) -> np.ndarray:
        return read_image(source.path, explainer.color_mode, explainer.image_size, MIN_IMAGE_SIDE)

    for batch in prefetch_batches(pending, read, batch_size, workers=workers, prefetch=prefetch):
        if not batch.items:
            yield ExplainedBatch(None, None, batch.skipped, batch.pending)
            continue
        images = np.stack(batch.images)
        outputs = explainer(
            {
                "image": images,
                "path": np.asarray([str(s.path) for s in batch.items], dtype=str),
                "label": np.asarray([s.label for s in batch.items], dtype=str),
            }
        )
        yield ExplainedBatch(outputs, images, batch.skipped, batch.pending)


def _explainer(
    model, method, layer, threshold, batch_size: int, all_classes: bool = False
) -> BatchExplainer:
    if isinstance(model, BatchExplainer):
        given = {"method": method, "layer": layer, "threshold": threshold}
        given["all_classes"] = all_classes or None  # the explainer has its own
        conflicting = sorted(name for name, value in given.items() if value is not None)
        if conflicting:
            raise invalid_value(
                "model",
                f"a model or a BatchExplainer without {conflicting} (the explainer has its own)",
                "a BatchExplainer",
            )
        return model
    return BatchExplainer(
        model,
        method or "gradcam",
        layer,
        threshold=threshold,
        batch_size=batch_size,
        all_classes=all_classes,
    )
