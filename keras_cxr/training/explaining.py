"""`explain_files`: Grad-CAM (or another CAM) figures for image files, with the prediction."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from keras_cxr.atomic import atomic_write, atomic_write_json
from keras_cxr.data.image_splits import BINARY_CLASS_NAMES
from keras_cxr.data.images import read_images
from keras_cxr.explain import get_method
from keras_cxr.models.prediction import predict_logits
from keras_cxr.models.temperature import DEFAULT_TEMPERATURE
from keras_cxr.training.calibrating import positive_probability_of
from keras_cxr.viz.grid import plot_grid


@dataclass(frozen=True)
class ExplainedImage:
    """One explained image file and where its figure went.

    Attributes:
        source: The image file.
        figure: The PNG written: the image, one overlay per branch and the fused overlay.
        probability: Predicted probability of pneumonia.
        predicted: Predicted class name at the threshold.
        explained_class: The class whose evidence the heatmaps show.

    Example:
        >>> explained = keras_cxr.training.explain_files(model, ["x.jpeg"], "out")[0]
        >>> explained.predicted, explained.figure.name
        ('PNEUMONIA', 'x_gradcam_PNEUMONIA_0.93.png')
    """

    source: Path
    figure: Path
    probability: float
    predicted: str
    explained_class: str


def explain_files(
    model: keras.Model,
    paths: list[str | os.PathLike],
    out: str | os.PathLike,
    method: str = "gradcam",
    threshold: float = 0.5,
    class_names: tuple[str, ...] = BINARY_CLASS_NAMES,
    progress: bool = False,
    temperature: float = DEFAULT_TEMPERATURE,
) -> list[ExplainedImage]:
    """Explains image files and writes one figure per image, named after its prediction.

    Each image (JPEG, PNG or DICOM, any size of at least
    `keras_cxr.data.MIN_IMAGE_SIDE` pixels) is read as the model expects it and
    resized to the model's input. The explained class is the predicted one at
    `threshold`. For an ensemble, the figure has one overlay per branch and the fused one;
    its title gives the file, the predicted class and probability. Figures go to
    `out/<stem>_<method>_<CLASS>_<p>.png`; `out/predictions.json` lists them all. Every
    image is read and checked before anything is written.

    Args:
        model: A binary classifier (e.g. a loaded `keras_cxr.StackedEnsemble`).
        paths: Image files.
        out: Output folder, created if needed.
        method: A name of `keras_cxr.explain.METHODS`. Defaults to "gradcam".
        threshold: Decision threshold (`p >= threshold` is pneumonia). Defaults to 0.5.
        class_names: Names of the two classes. Defaults to `("NORMAL", "PNEUMONIA")`.
        progress: Show a progress bar. Defaults to False.
        temperature: Temperature of the logits (`keras_cxr.models.stored_temperature`):
            the probabilities and the decision are the calibrated ones. Defaults to 1.

    Returns:
        One `keras_cxr.training.ExplainedImage` per path, in order.

    Raises:
        FileNotFoundError: An image does not exist.
        ValueError: An image cannot be decoded or is too small, or `method` is unknown.
        OSError: `out` cannot be written.

    Example:
        >>> model = keras_cxr.load_model("runs/demo/model.keras")
        >>> keras_cxr.training.explain_files(model, ["x.jpeg"], "explained", "gradcam++")
    """
    from tqdm.auto import tqdm

    if not paths:
        raise ValueError("No image to explain: pass at least one image file.")
    explainer_class = get_method(method)
    height, width, channels = model.input_shape[1:]
    color_mode = "grayscale" if channels == 1 else "rgb"
    if height != width:
        raise ValueError(
            f"Only square model inputs are supported; the model takes {width}×{height}."
        )
    paths = [Path(p) for p in paths]
    images = read_images(paths, height, color_mode, progress, "reading images")
    probabilities = positive_probability_of(predict_logits(model, images), temperature)
    predicted = (probabilities >= threshold).astype(np.int64)
    explainer = explainer_class(model)
    explanation = explainer.explain(images.astype(np.float32), predicted)
    branches = explanation.layer_heatmaps if len(explanation.layer_heatmaps) > 1 else {}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    stems = _unique_stems(paths)
    for index in tqdm(range(len(paths)), desc="drawing", disable=not progress, leave=False):
        rows = slice(index, index + 1)
        columns = {_branch(path): maps[rows] for path, maps in branches.items()}
        columns["fused" if branches else explanation.method] = explanation.heatmaps[rows]
        label, probability = class_names[predicted[index]], float(probabilities[index])
        figure = plot_grid(images[rows], columns, titles=[f"{label} p={probability:.2f}"])
        figure.suptitle(
            f"{paths[index].name}: {label} (p(pneumonia) = {probability:.2f}, threshold "
            f"{threshold:.2f}) · {explanation.method}",
            fontsize=9,
        )
        target = out / f"{stems[index]}_{method_slug(method)}_{label}_{probability:.2f}.png"
        atomic_write(target, lambda p, f=figure: f.savefig(p, format="png", dpi=110))
        results.append(ExplainedImage(paths[index], target, probability, label, label))
    atomic_write_json(
        out / "predictions.json",
        [
            {
                "image": r.source,
                "figure": r.figure.name,
                "probability": r.probability,
                "predicted": r.predicted,
                "threshold": threshold,
                "temperature": temperature,
                "method": method,
            }
            for r in results
        ],
    )
    return results


def method_slug(method: str) -> str:
    """A file-name-safe spelling of a method name ("gradcam++" → "gradcampp")."""
    return re.sub(r"[^a-z0-9]+", "", method.lower().replace("+", "p"))


def _branch(path: str) -> str:
    """The branch (backbone) name of a target-layer path like `stacked_backbones/cnn_3x3/x`."""
    parts = path.split("/")
    return parts[-2] if len(parts) >= 2 else parts[-1]


def _unique_stems(paths: list[Path]) -> list[str]:
    seen: dict[str, int] = {}
    stems = []
    for path in paths:
        stem = re.sub(r"[^\w.-]+", "_", path.stem)
        count = seen.get(stem, 0)
        seen[stem] = count + 1
        stems.append(stem if count == 0 else f"{stem}_{count + 1}")
    return stems
