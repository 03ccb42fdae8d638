"""`BatchExplainer`: a classifier loaded once, explaining batches given as dicts of arrays.

The dict-in, dict-out shape is the one of Ray Data's `map_batches` and of a request to an
HTTP server: a batch is `{"image": pixels, ...}`, the answer holds the prediction, the
heatmaps and every other key of the request unchanged. The constructor does the slow
work (loading the model, building and compiling the explainer), so one instance serves
many batches: construct it once per worker (Ray's actor pattern) and call it per batch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.explain.stored_threshold import decided_elsewhere
from keras_cxr.models.loading import file_metadata, load_model
from keras_cxr.models.metadata import (  # DEFAULT_THRESHOLD, kept importable from here
    DEFAULT_THRESHOLD,  # noqa: F401
    decision_threshold,
    read_metadata,
)
from keras_cxr.models.prediction import positive_probability
from keras_cxr.models.temperature import (
    DEFAULT_TEMPERATURE,
    calibrated_probabilities,
    check_temperature,
    stored_temperature,
)

#: Class names used when the model file stores none.
DEFAULT_CLASS_NAMES = ("NORMAL", "PNEUMONIA")
#: Keys of every output, besides one `"heatmap/<branch>"` per target layer.
OUTPUT_KEYS = ("probability", "decision", "score", "heatmap")


class BatchExplainer:
    """Predicts and explains batches of chest X-rays given as `{"image": ..., ...}` dicts.

    The model is loaded (from a `.keras` file, with the decision threshold, temperature
    and class names stored in it by `keras_cxr.models.save_model`) and its explainer
    compiled once, in the constructor. Each call resizes the images to the model's input
    exactly as training reads files (`keras_cxr.data.resize_images`), predicts, divides
    the logits by the temperature (`keras_cxr.models.calibrated_probabilities`: the
    `"probability"` is the calibrated one, which the threshold was chosen on), and
    explains the class decided at the threshold: for a binary model, the positive class where
    `probability >= threshold`, else the negative one; for a k-way softmax, the
    arg-max. The heatmaps are those of `method` on the model's target layers: the fused
    map and one map per layer (per backbone branch for a `keras_cxr.StackedEnsemble`).

    Args:
        model: A `.keras` file path or a `keras.Model`: a classifier with a fixed input
            size and a `(n, 1)` sigmoid or `(n, k)` softmax output.
        method: A method name, as `keras_cxr.explain.get_method` takes it (a CAM, a
            pixel or an attention method; the last two give the fused map only).
            Defaults to "gradcam".
        layer: Target layers as `keras_cxr.GradCAM` takes them; None (default) picks the
            last feature map of every branch.
        threshold: Decision threshold in [0, 1]; None (default) uses the one stored in
            the model file (also for a model that `keras_cxr.load_model` loaded: it
            keeps the file's metadata), else 0.5.
        temperature: Temperature of the logits, > 0; None (default) uses the one stored
            in the model file, else 1 (uncalibrated). The explained `score` is the model's
            own, not rescaled.
        score: The explained score, `"logit"` (default) or `"probability"`.
        batch_size: Images per compiled explainer call. Defaults to 16.
        all_classes: Also explain every class, whatever the decision: one fused map per
            class under `"heatmap@<class name>"` (e.g. `"heatmap@VIRAL"`), k more passes
            of the explainer. Defaults to False.
        warm_up: Explain one blank image in the constructor, so that the compilation
            happens there and not in the first call. Defaults to True.

    Returns:
        A callable; `explainer(batch)` returns a dict with `"probability"` (float32
        `(n,)`: of the positive class for a binary model, of the decided class for a
        k-way one), `"decision"` (int64 `(n,)`: the class index), `"score"` (float32
        `(n,)`: the explained score), `"heatmap"` (float32 `(n, H, W)` in [0, 1] at
        the model's input size), `"heatmap/<branch>"` for each name of `branches`,
        `"heatmap@<class>"` for each class with `all_classes`, and every key of `batch`
        except `"image"`, unchanged.

    Raises:
        FileNotFoundError: If the model file does not exist.
        keras_cxr.ModelFileError: If the file is not a loadable `.keras` model.
        ValueError: For a model that is not such a classifier or has no fixed input
            size, an unknown `method` or layer, or a bad `threshold`.

    Example:
        >>> explainer = keras_cxr.explain.BatchExplainer("runs/demo/model.keras")
        >>> out = explainer({"image": images, "path": np.array(["a.png", "b.png"])})
        >>> out["probability"], out["decision"], out["heatmap"].shape, out["path"]
    """

    def __init__(
        self,
        model: str | os.PathLike | keras.Model,
        method: str = "gradcam",
        layer: Any = None,
        *,
        threshold: float | None = None,
        temperature: float | None = None,
        score: str = "logit",
        batch_size: int = 16,
        all_classes: bool = False,
        warm_up: bool = True,
    ) -> None:
        from keras_cxr.explain import get_method  # the package's __init__ imports this module

        explainer_class = get_method(method)
        self.model_path: Path | None = None
        if isinstance(model, (str, os.PathLike)):
            self.model_path = Path(model)
            metadata = read_metadata(self.model_path)
            model = load_model(self.model_path, compile=False)
        elif isinstance(model, keras.Model):
            metadata = file_metadata(model)  # what keras_cxr.load_model read with it
        else:
            expected = "a .keras file path or a keras.Model"
            raise invalid_value("model", expected, type(model).__name__)
        self.model = model
        self.metadata = metadata
        self.image_size, self.color_mode = _input_of(model)
        self.explainer = _build_explainer(explainer_class, model, layer, score, batch_size)
        self.units = _check_classifier(model, self.explainer)
        self.method = explainer_class.method_name
        # Pixel methods explain the input: no target layers, one (fused) map.
        self.target_layers: list[str] = list(getattr(self.explainer, "target_layers", []))
        self.score = getattr(self.explainer, "score", score)
        self.branches: list[str] = branch_names(self.target_layers)
        self.threshold, self.threshold_source = decision_threshold(threshold, metadata)
        if temperature is not None:
            self.temperature = check_temperature(temperature)
        else:
            self.temperature = stored_temperature(metadata)
        self.class_names = tuple(metadata.get("class_names") or DEFAULT_CLASS_NAMES)
        if len(self.class_names) != max(2, self.units):
            self.class_names = tuple(str(c) for c in range(max(2, self.units)))
        self.all_classes = bool(all_classes)
        if warm_up:
            channels = 1 if self.color_mode == "grayscale" else 3
            self({"image": np.zeros((1, *self.image_size, channels), np.uint8)})

    @property
    def heatmap_keys(self) -> list[str]:
        """The output keys holding heatmaps: `"heatmap"`, then `"heatmap/<branch>"`.

        Args:
            None: a property.

        Returns:
            The keys, fused map first.

        Raises:
            Nothing: it only reads what it is given.

        Example:
            >>> keras_cxr.explain.BatchExplainer(model).heatmap_keys
            ['heatmap', 'heatmap/mobilenet_v2', 'heatmap/densenet169']
        """
        keys = ["heatmap", *(f"heatmap/{branch}" for branch in self.branches)]
        return keys + [f"heatmap@{name}" for name in self.class_names if self.all_classes]

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Predicts and explains one batch.

        Args:
            batch: `"image"`: uint8 or float pixels as `(n, h, w, 3)`, `(n, h, w, 1)`,
                grayscale `(n, h, w)`, or a list of images of any sizes (resized to the
                model's input); any other key: passed through unchanged.

        Returns:
            The dict described in the class docstring.

        Raises:
            ValueError: If `"image"` is missing or not images, another key would
                overwrite an output, or a passed-through array or list does not have one
                entry per image (scalars and strings pass as they are).

        Example:
            >>> out = keras_cxr.explain.BatchExplainer(model)({"image": images})
            >>> sorted(out)
            ['decision', 'heatmap', 'heatmap/b3', 'heatmap/b5', 'probability', 'score']
        """
        images, passed = self._split_batch(batch)
        explanation = self.explainer.explain(images.astype(np.float32))
        probability, decision = self._decide(explanation.predictions)
        heatmaps = {"heatmap": explanation.heatmaps}
        for key, path in zip(self.heatmap_keys[1:], self.target_layers):
            heatmaps[key] = explanation.layer_heatmaps[path]
        scores = explanation.scores
        changed = np.flatnonzero(decision != explanation.class_index)
        if changed.size:  # the threshold decided otherwise than the arg-max: explain that class
            again = self.explainer.explain(images[changed].astype(np.float32), decision[changed])
            scores = scores.copy()
            scores[changed] = again.scores
            heatmaps = {key: maps.copy() for key, maps in heatmaps.items()}
            heatmaps["heatmap"][changed] = again.heatmaps
            for key, path in zip(self.heatmap_keys[1:], self.target_layers):
                heatmaps[key][changed] = again.layer_heatmaps[path]
        for index, name in enumerate(self.class_names if self.all_classes else ()):
            heatmaps[f"heatmap@{name}"] = self.explainer.explain(
                images.astype(np.float32), index
            ).heatmaps
        return {
            "probability": probability.astype(np.float32),
            "decision": decision.astype(np.int64),
            "score": np.asarray(scores, np.float32),
            **{key: np.asarray(maps, np.float32) for key, maps in heatmaps.items()},
            **passed,
        }

    def _split_batch(self, batch: Mapping[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        if not isinstance(batch, Mapping) or "image" not in batch:
            received = sorted(batch) if isinstance(batch, Mapping) else type(batch).__name__
            raise invalid_value("batch", 'a dict with an "image" key', received)
        # Imported here: `keras_cxr.data` loads tf.data, which `import keras_cxr.explain`
        # must not load under the JAX and PyTorch backends.
        from keras_cxr.data.images import resize_images

        images = resize_images(batch["image"], self.image_size, self.color_mode)
        passed = {key: value for key, value in batch.items() if key != "image"}
        taken = sorted(set(passed) & {*OUTPUT_KEYS, *self.heatmap_keys})
        if taken:
            raise invalid_value(
                "batch", f"no key named like an output; rename {taken}", sorted(batch)
            )
        for key, value in passed.items():
            per_image = isinstance(value, (list, tuple)) or np.ndim(value) > 0
            if per_image and len(value) != len(images):
                raise invalid_value(
                    "batch",
                    f'one entry per image in every key ({len(images)} images in "image")',
                    f"{len(value)} entries in {key!r}",
                )
        return images, passed

    def _decide(self, predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`(probability, decision)` from the model's outputs, calibrated, at the threshold."""
        predictions = np.asarray(predictions, np.float64)
        if self.temperature != DEFAULT_TEMPERATURE:
            predictions = calibrated_probabilities(predictions, self.temperature)
        if self.units <= 2:
            probability = positive_probability(predictions)
            return probability, (probability >= self.threshold).astype(np.int64)
        decision = predictions.argmax(axis=-1)
        return predictions[np.arange(len(decision)), decision], decision


def branch_names(target_layers: list[str]) -> list[str]:
    """Short names of target-layer paths: the branch (the model holding the layer).

    `"stacked_backbones/mobilenet_v2/out_relu"` gives `"mobilenet_v2"`; a layer at the top
    level gives its own name. Where two layers would get the same name, both keep their
    full path.

    Args:
        target_layers: Paths, as in `keras_cxr.GradCAM(model).target_layers`.

    Returns:
        One name per path, in order.

    Raises:
        Nothing: it only reads what it is given.

    Example:
        >>> keras_cxr.explain.batch_explainer.branch_names(["stacked_backbones/b3/relu"])
        ['b3']
    """
    short = [path.split("/")[-2] if "/" in path else path for path in target_layers]
    return [name if short.count(name) == 1 else path for name, path in zip(short, target_layers)]


def _build_explainer(explainer_class, model, layer, score: str, batch_size: int):
    """The explainer: a CAM on `layer`, a pixel method, or a noise wrapper over Saliency."""

    # It explains the raw decision, then again where the stored threshold decides otherwise.
    return decided_elsewhere(_explainer_of(explainer_class, model, layer, score, batch_size))


def _explainer_of(explainer_class, model, layer, score: str, batch_size: int):
    from keras_cxr.explain import BaseAttribution, is_cam

    if is_cam(explainer_class):
        return explainer_class(model, layer, score=score, batch_size=batch_size)
    if layer is not None:
        raise invalid_value(
            "layer",
            f"None for {explainer_class.method_name}, which explains the input pixels "
            "(target layers are for the CAM methods)",
            layer,
        )
    if issubclass(explainer_class, BaseAttribution):
        return explainer_class(model, score=score, batch_size=batch_size)
    return explainer_class(model)  # SmoothGrad / VarGrad: over Saliency, their defaults


def _input_of(model: keras.Model) -> tuple[tuple[int, int], str]:
    """`((height, width), color_mode)` of the model's image input."""
    shape = tuple(model.input_shape) if _has_inputs(model) else ()
    if len(shape) != 4 or shape[1] is None or shape[2] is None or shape[3] not in (1, 3):
        expected = (
            "a model with one fixed-size image input (batch, height, width, 1 or 3), to "
            "which images are resized"
        )
        received = f"{model.name} with input shape {shape or 'unknown'}"
        if _input_count(model) > 1:
            expected += " (explain a several-input model with `explain(images, inputs=...)`)"
            received = f"{model.name} with {_input_count(model)} inputs"
        raise invalid_value("model", expected, received)
    return (int(shape[1]), int(shape[2])), "grayscale" if shape[3] == 1 else "rgb"


def _has_inputs(model: keras.Model) -> bool:
    return _input_count(model) == 1


def _input_count(model: keras.Model) -> int:
    try:
        return len(model.inputs)
    except (AttributeError, ValueError, TypeError):
        return 0


def _check_classifier(model: keras.Model, explainer) -> int:
    """The output's units, after checking it is a sigmoid unit or a softmax."""
    shape = tuple(model.outputs[0].shape) if len(model.outputs) == 1 else ()
    # The explainer found the activation while splitting off the logits (a noise wrapper's
    # inner explainer did).
    activation = getattr(explainer, "_activation", None)
    if activation is None and hasattr(explainer, "explainer"):
        activation = getattr(explainer.explainer, "_activation", None)
    units = shape[1] if len(shape) == 2 else None
    expected = "sigmoid" if units == 1 else "softmax"
    if units is not None and activation == expected:
        return int(units)
    outputs = [tuple(output.shape) for output in model.outputs]
    raise invalid_value(
        "model",
        "a classifier with one output, (n, 1) with a sigmoid or (n, k) with a softmax "
        "activation on its last layer",
        f"{model.name} with outputs {outputs} and activation {activation}",
    )
