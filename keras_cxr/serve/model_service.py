"""`ModelService`: what the server does with a model: prepare images, explain batches, describe it.

It wraps a `keras_cxr.explain.BatchExplainer` (loaded and compiled once) and adds what a
request may ask for besides the heatmaps: the MC-dropout spread of the prediction
(`keras_cxr.metrics.mc_dropout_predict`), when the model's head has dropout. Its
`explain_batch` is the function the `keras_cxr.serve.MicroBatcher` worker calls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from keras_cxr import __version__
from keras_cxr._validation import check_int
from keras_cxr.data.images import resize_images
from keras_cxr.explain.batch_explainer import BatchExplainer

#: Dropout samples drawn for the uncertainty of one prediction, by default.
DEFAULT_MC_SAMPLES = 30


@dataclass(frozen=True)
class ExplainRequest:
    """One image to explain, at the model's input size, and whether to sample dropout.

    Attributes:
        image: Pixels `(height, width, channels)` as the model takes them
            (`ModelService.prepare`).
        uncertainty: Also draw MC-dropout samples of the prediction.

    Args:
        image, uncertainty: The attributes above.

    Returns:
        The frozen dataclass.

    Raises:
        Nothing of its own: a plain record.

    Example:
        >>> request = keras_cxr.serve.ExplainRequest(service.prepare(image), False)
    """

    image: np.ndarray
    uncertainty: bool = False


class ModelService:
    """A loaded classifier explaining batches of requests, with optional MC dropout.

    Args:
        explainer: The `keras_cxr.explain.BatchExplainer` of the model.
        mc_samples: Dropout samples per image when a request asks for the uncertainty,
            an integer >= 2. Defaults to `DEFAULT_MC_SAMPLES` (30).

    Returns:
        The service.

    Raises:
        ValueError: For `mc_samples` below 2.

    Example:
        >>> service = keras_cxr.serve.ModelService(keras_cxr.explain.BatchExplainer(path))
        >>> rows = service.explain_batch([keras_cxr.serve.ExplainRequest(service.prepare(x))])
        >>> rows[0]["probability"], rows[0]["heatmap"].shape
    """

    def __init__(
        self,
        explainer: BatchExplainer,
        mc_samples: int = DEFAULT_MC_SAMPLES,
        warm_up: bool = True,
    ) -> None:
        self.explainer = explainer
        self.mc_samples = check_int("mc_samples", mc_samples, minimum=2)
        #: Why MC dropout cannot be sampled for this model, or None when it can.
        self.uncertainty_unavailable: str | None = _why_no_dropout(explainer)
        if warm_up and self.uncertainty_available:  # compile the backbones' predict now
            channels = 1 if explainer.color_mode == "grayscale" else 3
            self._draws(np.zeros((1, *explainer.image_size, channels), np.float32))

    def warm_up(self, max_batch_size: int) -> list[int]:
        """Compiles the explainer now for every batch size the micro-batcher can send.

        The JAX backend compiles one executable per padded batch size (powers of two,
        `keras_cxr.backend.compile_function`) on first use; without this, the first
        batch of each size under load would compile inside the single worker and stall
        every request queued behind it. Other backends run the same blank batches, so
        their first calls are warm too.

        Args:
            max_batch_size: The most requests the micro-batcher puts in one call.

        Returns:
            The batch sizes explained: the powers of two below `max_batch_size`, then
            `max_batch_size` itself.

        Raises:
            ValueError: For a `max_batch_size` below 1.

        Example:
            >>> service.warm_up(16)
            [1, 2, 4, 8, 16]
        """
        max_batch_size = check_int("max_batch_size", max_batch_size)
        sizes = [1 << power for power in range(max_batch_size.bit_length())]
        sizes = [size for size in sizes if size < max_batch_size] + [max_batch_size]
        channels = 1 if self.explainer.color_mode == "grayscale" else 3
        for size in sizes:
            self.explainer(
                {"image": np.zeros((size, *self.explainer.image_size, channels), np.uint8)}
            )
        return sizes

    def time_batches(self, sizes: tuple[int, ...]) -> dict[int, float]:
        """Seconds of one warm `explain_batch` call of blank images at each size.

        Call it after `warm_up`: a first call of a size may compile, and is not what the
        worker's calls will take. `keras_cxr.serve.ServiceTime.from_timings` turns the
        result into the estimate admission control starts from.

        Args:
            sizes: Batch sizes to time, each >= 1.

        Returns:
            `{size: seconds}`.

        Raises:
            ValueError: For a size below 1.

        Example:
            >>> sizes = service.warm_up(16)
            >>> service.time_batches((1, 16))
            {1: 0.011, 16: 0.026}
        """
        channels = 1 if self.explainer.color_mode == "grayscale" else 3
        timings = {}
        for size in sizes:
            size = check_int("sizes", size)
            blank = np.zeros((*self.explainer.image_size, channels), np.uint8)
            requests = [ExplainRequest(blank)] * size
            started = time.perf_counter()
            self.explain_batch(requests)
            timings[size] = time.perf_counter() - started
        return timings

    @property
    def uncertainty_available(self) -> bool:
        """Whether requests may ask for the MC-dropout spread.

        Args:
            None: a property.

        Returns:
            True for a `StackedEnsemble`-shaped binary model whose head has dropout.

        Raises:
            Nothing: it only reads what the constructor found.

        Example:
            >>> service.uncertainty_available
            True
        """
        return self.uncertainty_unavailable is None

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """Brings a decoded image to the model's input size and channels.

        Args:
            image: uint8 pixels `(h, w, 3)` of any size (`keras_cxr.serve.read_upload`).

        Returns:
            `(height, width, channels)` at the model's input, resized as files are read
            (`keras_cxr.data.resize_images`).

        Raises:
            ValueError: For pixels that are not an image.

        Example:
            >>> service.prepare(np.zeros((500, 400, 3), np.uint8)).shape
            (224, 224, 3)
        """
        return resize_images([image], self.explainer.image_size, self.explainer.color_mode)[0]

    def explain_batch(self, requests: list[ExplainRequest]) -> list[dict[str, Any]]:
        """Explains the requests in one call of the explainer (and one of MC dropout).

        Args:
            requests: The images, each prepared at the model's input size.

        Returns:
            One dict per request: the `BatchExplainer` outputs of its image (scalars
            and `(H, W)` heatmaps), `"draws"` (float64 `(mc_samples,)` dropout samples
            of the probability, or None when not asked for), `"explain_ms"` (the time
            of the whole batch) and `"batch_size"`.

        Raises:
            ValueError: If a request asks for the uncertainty the model cannot give.

        Example:
            >>> [row["batch_size"] for row in service.explain_batch(requests)]
            [3, 3, 3]
        """
        started = time.perf_counter()
        images = np.stack([request.image for request in requests])
        out = self.explainer({"image": images})
        sampled = [i for i, request in enumerate(requests) if request.uncertainty]
        draws = self._draws(images[sampled]) if sampled else None
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        rows = []
        for index in range(len(requests)):
            row: dict[str, Any] = {key: value[index] for key, value in out.items()}
            row["draws"] = draws[:, sampled.index(index)] if index in sampled else None
            row["explain_ms"] = elapsed_ms
            row["batch_size"] = len(requests)
            rows.append(row)
        return rows

    def model_info(self) -> dict[str, Any]:
        """What `GET /v1/model` answers: the model, its inputs, classes and threshold.

        Returns:
            A JSON-ready dict: `keras_cxr_version`, `backend`, `model` (file name or
            model name), `backbones`, `input_size` `[height, width]`, `color_mode`,
            `classes`, `threshold`, `threshold_source`, `calibrated` (the model carries
            a temperature), `method`, `score`, `target_layers`, `branches` and
            `uncertainty` (`available`, `samples`, `reason`).

        Raises:
            Nothing: it only reads the loaded model.

        Example:
            >>> service.model_info()["input_size"]
            [224, 224]
        """
        import keras

        explainer = self.explainer
        model = explainer.model
        backbones = getattr(model, "backbones", None)
        return {
            "keras_cxr_version": __version__,
            "backend": keras.backend.backend(),
            "model": explainer.model_path.name if explainer.model_path else model.name,
            "backbones": list(backbones) if isinstance(backbones, dict) else explainer.branches,
            "input_size": list(explainer.image_size),
            "color_mode": explainer.color_mode,
            "classes": list(explainer.class_names),
            "threshold": explainer.threshold,
            "threshold_source": explainer.threshold_source,
            "calibrated": "temperature" in explainer.metadata,
            "method": explainer.method,
            "score": explainer.score,
            "target_layers": explainer.target_layers,
            "branches": explainer.branches,
            "uncertainty": {
                "available": self.uncertainty_available,
                "samples": self.mc_samples,
                "reason": self.uncertainty_unavailable,
            },
        }

    def _draws(self, images: np.ndarray) -> np.ndarray:
        from keras_cxr.metrics.uncertainty import mc_dropout_predict

        if not self.uncertainty_available:
            raise ValueError(f"This model gives no uncertainty: {self.uncertainty_unavailable}")
        return mc_dropout_predict(
            self.explainer.model, images, samples=self.mc_samples, batch_size=len(images)
        )


def _why_no_dropout(explainer: BatchExplainer) -> str | None:
    """Why MC dropout cannot be sampled, or None when the head has dropout to sample."""
    import keras

    from keras_cxr.models.head import head_layers

    if explainer.units > 2:
        return "MC dropout is sampled for binary classifiers only."
    try:
        head = head_layers(explainer.model)
    except ValueError:
        return "the model is not a StackedEnsemble (no head after `stacked_backbones`)."
    if not any(isinstance(layer, keras.layers.Dropout) and layer.rate > 0 for layer in head):
        return "the model's head has no dropout layer with a rate above 0."
    return None
