"""The stages a Ray dataset of image paths goes through: decoding, then explaining.

`decode_batch` runs in Ray tasks and reads files exactly as `keras_cxr.explain_folder`
does; `ExplainActor` holds one `keras_cxr.explain.BatchExplainer` per Ray actor and calls
`explain_rows`. A file that fails to decode stays a row, with its reason, so that the
driver lists it as skipped. Plain NumPy in, plain NumPy out: nothing here imports Ray.
"""

from __future__ import annotations

import numpy as np

from keras_cxr import __version__
from keras_cxr.data.images import MIN_IMAGE_SIDE, read_image
from keras_cxr.data.prefetch import read_with_retry
from keras_cxr.explain.batch_explainer import BatchExplainer
from keras_cxr.scale.shard_writer import STATISTICS_PREFIX, map_statistics, stored_size

__all__ = ["ExplainActor", "decode_batch", "explain_rows"]


def decode_batch(
    batch: dict[str, np.ndarray], image_size: tuple[int, int], color_mode: str
) -> dict[str, np.ndarray]:
    """Reads the files of a batch as `explain_folder` does; a failure becomes a reason.

    Args:
        batch: `"path"` and `"label"` arrays, one entry per file.
        image_size: `(height, width)` of the model's input.
        color_mode: `"rgb"` or `"grayscale"`.

    Returns:
        `batch` with `"image"`: uint8 `(n, height, width, channels)` (blank for a file
        that failed), `"reason"`: why each file failed, `""` where it decoded, and
        `"pending"`: True where the read kept failing with I/O errors
        (`keras_cxr.data.prefetch.read_with_retry`), to be tried by a resumed run.

    Raises:
        Nothing: a file that cannot be read is a row with a reason, never an error.

    Example:
        >>> keras_cxr.scale.ray_stages.decode_batch(
        ...     {"path": np.array(["a.png"]), "label": np.array([""])}, (224, 224), "rgb"
        ... )["reason"]
        array(['Cannot decode ...'], dtype='<U...')
    """
    channels = 1 if color_mode == "grayscale" else 3
    images = np.zeros((len(batch["path"]), *image_size, channels), np.uint8)
    reasons, pending = [], []

    def read(path) -> np.ndarray:
        return read_image(str(path), color_mode, image_size, MIN_IMAGE_SIDE)

    for row, path in enumerate(batch["path"]):
        outcome = read_with_retry(read, path)
        if outcome.image is not None:
            images[row] = outcome.image.reshape(images.shape[1:])
        reasons.append(outcome.reason or "")
        pending.append(outcome.pending)
    return {
        **batch,
        "image": images,
        "reason": np.asarray(reasons, dtype=str),
        "pending": np.asarray(pending, dtype=bool),
    }


class ExplainActor:
    """One Ray actor: a `BatchExplainer` built once, explaining the decoded rows it is given.

    Ray Data constructs it once per actor (`map_batches(ExplainActor, concurrency=n,
    fn_constructor_kwargs=...)`), so the model is loaded and compiled once per actor.

    Args:
        model_path: The `.keras` file, readable by the actor under this path.
        method: The CAM method name.
        target_layers: Target-layer paths, as the driver's explainer resolved them.
        threshold: The decision threshold, as the driver resolved it.
        batch_size: Images per compiled explainer call.
        keep_images: Keep `"image"` in the answers (for overlays).
        driver_version: The driver's `keras_cxr.__version__`.
        heatmap_size: Shrink the maps sent back to this longest side, as the run stores
            them (ignored with `keep_images`: overlays are drawn from full maps).
            Defaults to None: full maps.

    Returns:
        A callable; `actor(batch)` is `explain_rows(explainer, batch)`.

    Raises:
        RuntimeError: The actor's keras_cxr is not the driver's version.
        FileNotFoundError, ValueError: As `keras_cxr.explain.BatchExplainer` raises.

    Example:
        >>> actor = keras_cxr.scale.ray_stages.ExplainActor(
        ...     "/shared/model.keras", "gradcam", ["b3/relu"], 0.5, 16, False, "0.1.0"
        ... )
        >>> actor(keras_cxr.scale.ray_stages.decode_batch(rows, (32, 32), "rgb"))
    """

    def __init__(
        self,
        model_path: str,
        method: str,
        target_layers: list[str],
        threshold: float,
        batch_size: int,
        keep_images: bool,
        driver_version: str,
        heatmap_size: int | None = None,
    ) -> None:
        if driver_version != __version__:
            raise RuntimeError(
                f"This Ray worker runs keras_cxr {__version__}, the driver {driver_version}: "
                "install the driver's version on every node, so one table holds one "
                "code's answers."
            )
        self.explainer = BatchExplainer(
            model_path, method, target_layers, threshold=threshold, batch_size=batch_size
        )
        self.keep_images = keep_images
        self.heatmap_size = None if keep_images else heatmap_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return explain_rows(
            self.explainer, batch, keep_images=self.keep_images, heatmap_size=self.heatmap_size
        )


def explain_rows(
    explainer: BatchExplainer,
    batch: dict[str, np.ndarray],
    *,
    keep_images: bool = False,
    heatmap_size: int | None = None,
) -> dict[str, np.ndarray]:
    """Explains the decoded rows of a `decode_batch` batch; failed rows keep their reason.

    Args:
        explainer: The `keras_cxr.explain.BatchExplainer`.
        batch: `decode_batch`'s output.
        keep_images: Keep `"image"` in the answer (the driver draws overlays from it).
            Defaults to False: fewer bytes through Ray's object store.
        heatmap_size: Shrink the maps to this longest side (`stored_size`), after the
            table's statistics are taken from the full maps (`STATISTICS_PREFIX` columns):
            at 56 px, 1/16 of the bytes of 224-px maps. Defaults to None: full maps.

    Returns:
        `"path"`, `"label"`, `"reason"`, the explainer's outputs (zeros in failed rows),
        with `heatmap_size` the statistics columns, and, with `keep_images`, `"image"`;
        one entry per row of `batch`.

    Raises:
        ValueError: As `keras_cxr.explain.BatchExplainer` raises for bad images.

    Example:
        >>> rows = keras_cxr.scale.ray_stages.decode_batch(batch, explainer.image_size, "rgb")
        >>> keras_cxr.scale.ray_stages.explain_rows(explainer, rows)["probability"]
    """
    decoded = np.asarray(batch["reason"]) == ""
    answer = {key: np.asarray(batch[key]) for key in ("path", "label", "reason")}
    answer["pending"] = np.asarray(batch.get("pending", np.zeros(len(decoded), bool)))
    if keep_images:
        answer["image"] = np.asarray(batch["image"])
    count = len(decoded)
    size = explainer.image_size
    blank = {
        "probability": np.zeros(count, np.float32),
        "decision": np.zeros(count, np.int64),
        "score": np.zeros(count, np.float32),
        **{key: np.zeros((count, *size), np.float32) for key in explainer.heatmap_keys},
    }
    outputs = explainer({"image": np.asarray(batch["image"])[decoded]}) if decoded.any() else {}
    for key, column in blank.items():
        if key in outputs:
            column[decoded] = outputs[key]
        answer[key] = column
    if heatmap_size is not None:
        statistics = map_statistics(answer, explainer.heatmap_keys)
        answer.update({STATISTICS_PREFIX + name: column for name, column in statistics.items()})
        for key in explainer.heatmap_keys:
            answer[key] = stored_size(answer[key], heatmap_size)
    return answer
