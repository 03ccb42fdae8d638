"""`explain_dataset`: `keras_cxr.explain_folder` spread over the workers of a Ray cluster.

The driver lists the files (`keras_cxr.data.find_images`), and a Ray dataset of their
paths and labels flows through two stages: Ray tasks decode the files exactly as
`explain_folder` does (`keras_cxr.data.read_image`; a file that fails stays a row, with
its reason), and `concurrency` actors, each holding one `keras_cxr.explain.BatchExplainer`
(the model loaded and compiled once per actor), predict and explain them. The driver
takes the answers in input order and writes the run folder with the same
`keras_cxr.scale.shard_writer.ShardWriter`, manifest and resume rules as
`explain_folder`, so the two make the same folder and either can resume the other's run.

Ray is optional: this module imports without it, and `explain_dataset` says how to
install it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from keras_cxr import __version__
from keras_cxr._validation import check_int, invalid_value
from keras_cxr.data.sources import ImageSource, find_images
from keras_cxr.explain.batch_explainer import OUTPUT_KEYS, BatchExplainer
from keras_cxr.scale.explain_folder import DEFAULT_SHARD_SIZE
from keras_cxr.scale.ray_stages import ExplainActor, decode_batch
from keras_cxr.scale.results_table import resolve_format
from keras_cxr.scale.run_folder import RunSettings, open_run, resolve_save
from keras_cxr.scale.run_manifest import check_output
from keras_cxr.scale.shard_loop import ExplainedBatch, write_run
from keras_cxr.scale.shard_writer import DEFAULT_HEATMAP_SIZE, SAVE_OPTIONS, STATISTICS_PREFIX
from keras_cxr.scale.summary import ExplainFolderSummary

__all__ = ["INSTALL_HINT", "explain_dataset"]

#: How to install what `explain_dataset` needs.
INSTALL_HINT = "pip install 'keras_cxr[ray]'"


def explain_dataset(
    model: str | os.PathLike,
    sources: str | os.PathLike | Iterable[str | os.PathLike],
    out: str | os.PathLike,
    *,
    concurrency: int = 1,
    batch_size: int = 16,
    method: str | None = None,
    layer: Any = None,
    threshold: float | None = None,
    save: str | None = None,
    heatmap_size: int | None = DEFAULT_HEATMAP_SIZE,
    resume: bool = False,
    shard_size: int = DEFAULT_SHARD_SIZE,
    table_format: str = "auto",
    progress: bool = True,
    ray_address: str | None = None,
    ray_remote_args: dict[str, Any] | None = None,
    retry_skipped: bool = False,
) -> ExplainFolderSummary:
    """`keras_cxr.explain_folder` on a Ray cluster: the same run folder, explained by actors.

    Sources, labels, the table, heatmap shards, overlays, the skipped list, the manifest
    and `resume` are those of `keras_cxr.explain_folder` (see it for the files); the
    answers are the same to float rounding, and a run started by one function can be
    resumed by the other. The work is spread instead of threaded: Ray tasks decode the
    files, `concurrency` actors explain them (each loads the model file once), and the
    driver, the only writer, commits shard after shard in input order (Ray Data's
    `preserve_order` is set while the run lasts). The driver loads the model too, to
    fingerprint it for the manifest and check the options before any work starts.

    `model` must be a `.keras` file that every node can read under that path (a shared
    file system): a `keras.Model` in memory is refused rather than pickled, and not
    saved to a temporary file either, which the other machines of a cluster could not
    read. The sources must be readable by every node under their paths too.

    Without a running Ray, a local one is started (`ray.init(address=ray_address)`, no
    dashboard, worker logs kept off the driver) and shut down at the end; a Ray already
    initialised by the caller (`ray.init(...)` with whatever resources and
    `runtime_env`) is used and left running. keras_cxr must be importable on every
    worker, at the driver's version.

    Args:
        model: A `.keras` file path.
        sources: What to explain, as `keras_cxr.data.find_images` takes it.
        out: The run folder.
        concurrency: Explaining actors (model copies). Defaults to 1.
        batch_size: Images per decoding task batch, actor call and driver batch.
            Defaults to 16.
        method: A CAM method of `keras_cxr.explain.METHODS`. Defaults to None: "gradcam".
        layer: Target layers; None (default) picks one per branch. The driver resolves
            them to layer paths, which the actors receive.
        threshold: Decision threshold; None (default) uses the model file's, else 0.5.
        save: `"heatmaps"`, `"overlays"`, `"both"` or `"none"` (table only). Defaults to
            None: a resumed run's own, else `"heatmaps"`.
        heatmap_size: Longest side of the stored heatmaps, as in `explain_folder`.
            Defaults to 56; None keeps the input size.
        resume: Continue the run in `out`. Defaults to False.
        shard_size: Images per shard. Defaults to 256.
        table_format: `"auto"` (default), `"parquet"` or `"csv"`.
        progress: Show a progress bar on the driver (images/s). Defaults to True.
        ray_address: The cluster to connect to when Ray is not initialised yet
            (`"auto"`, `"ray://head:10001"`); None (default) starts a local one.
        ray_remote_args: Resources of each actor, as `map_batches` takes them, e.g.
            `{"num_gpus": 1}` or `{"num_cpus": 4}`. Defaults to None: Ray's defaults.
        retry_skipped: With `resume`, explain again the files earlier calls skipped.
            Defaults to False.

    Returns:
        A `keras_cxr.scale.ExplainFolderSummary`; its `explaining_seconds` include the
        actors' start (worker processes, model loading).

    Raises:
        ImportError: Ray (Ray Data) is not installed, or `table_format="parquet"`
            without pyarrow.
        FileNotFoundError: A source or the model file does not exist.
        ValueError: `model` is not a path, a bad option, no image is found, a model
            that `keras_cxr.explain.BatchExplainer` refuses.
        NotADirectoryError: `out`, or a folder above it, is a file.
        keras_cxr.scale.OutputExistsError: `out` holds files but no run, or a run and
            `resume` is False.
        keras_cxr.scale.RunMismatchError: `resume` names a run of another model or
            settings.
        RuntimeError: An actor runs another keras_cxr version than the driver.

    Example:
        >>> from keras_cxr.scale.ray import explain_dataset
        >>> summary = explain_dataset(
        ...     "runs/demo/model.keras", "chest_xray/test", "explained", concurrency=4
        ... )
        >>> keras_cxr.scale.read_results("explained")["probability"][:3]
    """
    started = time.perf_counter()
    model_path = _model_path(model)
    if save is not None and save not in SAVE_OPTIONS:
        raise invalid_value("save", f"one of {list(SAVE_OPTIONS)}", save)
    concurrency = check_int("concurrency", concurrency)
    batch_size = check_int("batch_size", batch_size)
    shard_size = check_int("shard_size", shard_size)
    if heatmap_size is not None:
        heatmap_size = check_int("heatmap_size", heatmap_size)
    if ray_remote_args is not None and not isinstance(ray_remote_args, dict):
        raise invalid_value("ray_remote_args", "a dict or None", ray_remote_args)
    ray = _import_ray()
    table_format = resolve_format(table_format)
    images = find_images(sources)
    existing = check_output(out, resume)
    settings = RunSettings(resolve_save(save, existing), table_format, heatmap_size, shard_size)
    explainer = BatchExplainer(
        model_path, method or "gradcam", layer, threshold=threshold, warm_up=False
    )

    @contextlib.contextmanager
    def batches_of(pending: list[ImageSource]) -> Iterator[Iterator[ExplainedBatch]]:
        with _connected(ray, ray_address), _ordered(ray):
            batches = _explained_batches(
                ray,
                explainer,
                pending,
                settings.save,
                batch_size,
                concurrency,
                ray_remote_args or {},
                heatmap_size,
            )
            yield (_as_explained(batch, explainer) for batch in batches)

    run = open_run(out, explainer, images, existing, settings, retry_skipped)
    return write_run(run, batches_of, progress=progress, started=started)


def _model_path(model: Any) -> Path:
    if isinstance(model, (str, os.PathLike)):
        return Path(model).expanduser().resolve()  # actors may run in other folders
    raise invalid_value(
        "model",
        "a .keras file path, which every Ray actor loads itself (save a keras.Model "
        "with keras_cxr.models.save_model first; a model object is not pickled)",
        type(model).__name__,
    )


def _import_ray():
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise ImportError(
            f"keras_cxr.scale.ray.explain_dataset needs Ray Data: {INSTALL_HINT}"
        ) from error
    return ray


@contextlib.contextmanager
def _connected(ray, address: str | None) -> Iterator[None]:
    """Ray as the caller left it, or a cluster connected (or started) for this call."""
    if ray.is_initialized():
        yield
        return
    ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _ordered(ray) -> Iterator[None]:
    """Results in input order and Ray's own progress bars off, restored afterwards."""
    context = ray.data.DataContext.get_current()
    saved = context.execution_options.preserve_order, context.enable_progress_bars
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    try:
        yield
    finally:
        context.execution_options.preserve_order, context.enable_progress_bars = saved


def _explained_batches(
    ray,
    explainer: BatchExplainer,
    pending: list[ImageSource],
    save: str,
    batch_size: int,
    concurrency: int,
    remote_args: dict[str, Any],
    heatmap_size: int | None,
) -> Iterator[dict[str, np.ndarray]]:
    """The explained rows as numpy batches of `batch_size`, in the order of `pending`."""
    rows = [{"path": str(source.path), "label": source.label} for source in pending]
    blocks = max(1, min(len(rows), -(-len(rows) // batch_size)))
    dataset = ray.data.from_items(rows, override_num_blocks=min(blocks, 200))
    decoded = dataset.map_batches(
        decode_batch,
        batch_size=batch_size,
        batch_format="numpy",
        fn_kwargs={"image_size": explainer.image_size, "color_mode": explainer.color_mode},
    )
    explained = decoded.map_batches(
        ExplainActor,
        batch_size=batch_size,
        batch_format="numpy",
        concurrency=concurrency,
        fn_constructor_kwargs={
            "model_path": str(explainer.model_path),
            "method": explainer.method,
            "target_layers": list(explainer.target_layers),
            "threshold": explainer.threshold,
            "batch_size": batch_size,
            "keep_images": save in ("overlays", "both"),
            "driver_version": __version__,
            "heatmap_size": heatmap_size,
        },
        **remote_args,
    )
    return explained.iter_batches(batch_size=batch_size, batch_format="numpy")


def _as_explained(batch: dict[str, np.ndarray], explainer: BatchExplainer) -> ExplainedBatch:
    """An actor's answer as the shard loop takes it: rows that failed become skipped files,
    or pending ones after persistent I/O errors."""
    decoded = np.asarray(batch["reason"]) == ""
    pending = np.asarray(batch.get("pending", np.zeros(len(decoded), bool)), dtype=bool)
    paths, labels, reasons = (np.asarray(batch[key]) for key in ("path", "label", "reason"))

    def failed(rows: np.ndarray) -> list[tuple[ImageSource, str]]:
        return [
            (ImageSource(Path(str(paths[row])), str(labels[row])), str(reasons[row]))
            for row in np.flatnonzero(rows)
        ]

    skipped, left = failed(~decoded & ~pending), failed(~decoded & pending)
    if not decoded.any():
        return ExplainedBatch(None, None, skipped, left)
    keys = ["path", "label", *OUTPUT_KEYS[:-1], *explainer.heatmap_keys]
    keys += [key for key in batch if key.startswith(STATISTICS_PREFIX)]
    outputs = {key: np.asarray(batch[key])[decoded] for key in keys}
    images = batch["image"][decoded] if "image" in batch else None
    return ExplainedBatch(outputs, images, skipped, left)
