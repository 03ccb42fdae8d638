"""`render_model_card`: a model card (`keras_cxr.training.model_cards`) as Markdown."""

from __future__ import annotations

import json
from typing import Any

#: Metrics shown in the card's tables, in this order, where present.
HEADLINE_METRICS = (
    "roc_auc",
    "accuracy",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "ece",
    "brier",
    "macro_roc_auc",
    "balanced_accuracy",
)
NOT_RECORDED = "not recorded"


def _value(value: Any) -> str:
    if value is None:
        return NOT_RECORDED
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value)
    return str(value)


def _metric_table(metrics: dict[str, Any] | None) -> list[str]:
    """Rows `| metric | value | 95 % interval |` of the headline metrics in `metrics`."""
    if not metrics:
        return [NOT_RECORDED.capitalize() + ".", ""]
    intervals = metrics.get("intervals") or {}
    rows = ["| metric | value | interval |", "|---|---|---|"]
    for name in HEADLINE_METRICS:
        if name not in metrics:
            continue
        interval = intervals.get(name)
        span = "" if not interval else f"{interval['low']:.3f} to {interval['high']:.3f}"
        if interval:
            span += f" ({interval['confidence']:.0%})"
        rows.append(f"| {name} | {_value(metrics[name])} | {span} |")
    count = metrics.get("n")
    tail = [f"On {count} images ({metrics.get('n_positive')} positive)."] if count else []
    return [*rows, "", *tail, ""]


def _parent(parent: dict[str, Any] | None) -> str:
    if not parent:
        return "the backbones' starting weights below"
    return f"`{parent['path']}` (fingerprint `{_value(parent.get('fingerprint'))}`)"


def _details(details: dict[str, Any]) -> list[str]:
    version = details.get("version") or {}
    parent = version.get("parent")
    architecture = details["architecture"]
    lines = [
        f"- **File**: `{details['path']}`",
        f"- **Fingerprint**: `{_value(version.get('fingerprint'))}`"
        f" (training config `{_value(version.get('config_hash'))}`)",
        f"- **Created**: {_value(version.get('created'))}",
        f"- **Trained from**: {_parent(parent)}",
        f"- **Recipe**: {_value(details.get('recipe'))}; task {_value(details.get('task'))}; "
        f"classes {_value(details.get('classes'))}",
        f"- **Input**: {architecture['input']}",
        f"- **Head**: dense units {_value(architecture['head_units'])}; backbones trained: "
        f"{_value(architecture['backbones_trained'])}; fine-tuned layers: "
        f"{_value(architecture['fine_tuned_layers'])}",
    ]
    for name, source in architecture["backbones"].items():
        lines.append(f"- **Backbone `{name}`**: {source}")
    packages = version.get("packages")
    if packages:
        lines.append("- **Packages**: " + ", ".join(f"{k} {v}" for k, v in packages.items()))
    return [*lines, ""]


def _training_data(data: dict[str, Any] | None) -> list[str]:
    if not data:
        return [NOT_RECORDED.capitalize() + ".", ""]
    lines = [
        f"Folder `{data['folder']}`; split {data['split']}; {data['skipped']} files skipped.",
        "",
    ]
    lines += ["| split | images | patients | classes | naming cohorts |", "|---|---|---|---|---|"]
    for name, split in data["splits"].items():
        classes = ", ".join(f"{k} {v}" for k, v in split["classes"].items())
        cohorts = ", ".join(f"{k} {v}" for k, v in split["cohorts"].items())
        lines.append(
            f"| {name} | {split['images']} | {split['patients']} | {classes} | {cohorts} |"
        )
    return [*lines, ""]


def _shift_table(shift: dict[str, Any] | None) -> list[str]:
    """The shift-aware validation's rows side by side: patient split, cohort-matched, worst."""
    if not shift:
        return ["Not run for this model (`TrainConfig.shift_validation`).", ""]
    columns = {
        "patient split": shift.get("patient"),
        "cohort-matched": shift.get("cohort_matched"),
        "worst shifted copy": shift.get("worst_shifted"),
    }
    present = {name: row for name, row in columns.items() if row}
    rows = ["| metric | " + " | ".join(present) + " |", "|---" * (len(present) + 1) + "|"]
    for name in HEADLINE_METRICS:
        if any(name in row for row in present.values()):
            cells = " | ".join(_value(row.get(name)) for row in present.values())
            rows.append(f"| {name} | {cells} |")
    return [*rows, "", f"At threshold {_value(shift.get('threshold'))}.", ""]


def _operating_point(point: dict[str, Any]) -> list[str]:
    calibration = point.get("calibration") or {}
    decision = (
        "the arg-max of the calibrated outputs"
        if point.get("decision") == "argmax"
        else f"positive when the calibrated probability is at least "
        f"{_value(point.get('threshold'))}"
    )
    return [
        f"- **Decision**: {decision}",
        f"- **Chosen for**: {_value(point.get('chosen_for'))}, on {_value(point.get('chosen_on'))}",
        f"- **Temperature**: {_value(point.get('temperature'))}; validation ECE "
        f"{_value(calibration.get('ece_before'))} before, {_value(calibration.get('ece_after'))} "
        "after calibration",
        "",
    ]


def _sanity(sanity: dict[str, Any] | None) -> list[str]:
    if not sanity:
        return [
            "Not run (`keras-cxr model-card --sanity-data DIR` runs the model-randomization "
            "check of Adebayo et al. 2018 on images of DIR).",
            "",
        ]
    verdict = (
        "**fails**: its maps still correlate with the trained model's after the "
        "randomization, so they do not show what the model learned"
        if sanity["survives_randomization"]
        else "passes: its maps change once the learned weights are destroyed"
    )
    rows = ["| randomized down to | Spearman | SSIM | constant maps |", "|---|---|---|---|"]
    for row in sanity["layers"]:
        rows.append(
            f"| `{row['layer']}` | {_value(row['spearman'])} | {_value(row['ssim'])} | "
            f"{row['constant_maps']} |"
        )
    return [
        f"Model randomization ({sanity['mode']}, top layers first) of `{sanity['method']}` "
        f"on {sanity['images']} images: the method {verdict}.",
        "",
        *rows,
        "",
    ]


def render_model_card(card: dict[str, Any]) -> str:
    """The Markdown text of a model card.

    Args:
        card: A dict from `keras_cxr.training.model_cards`.

    Returns:
        Markdown with one `##` section per model-card section; values the card does not
        hold read "not recorded".

    Example:
        >>> text = keras_cxr.training.render_model_card(card)
        >>> text.splitlines()[0]
        '# Model card: model.keras'
    """
    details, metrics = card["model_details"], card["metrics"]
    evaluation = card.get("evaluation_data")
    sections = [
        f"# Model card: {details['name']}",
        "",
        "## Model details",
        *_details(details),
        "## Intended use",
        f"- **Primary**: {card['intended_use']['primary']}",
        f"- **Out of scope**: {card['intended_use']['out_of_scope']}",
        "",
        "## Factors",
        f"- **Relevant**: {card['factors']['relevant']}",
        f"- **Evaluated**: {card['factors']['evaluated']}",
        "",
        "## Metrics",
        "### Operating point and calibration",
        *_operating_point(metrics["operating_point"]),
        "### Internal validation (patient split)",
        *_metric_table(metrics.get("validation")),
        "### Shift-aware validation (other cohorts, shifted copies)",
        *_shift_table(metrics.get("shift_validation")),
        "### Evaluation",
        *_metric_table(metrics.get("evaluation")),
        "## Evaluation data",
        (
            NOT_RECORDED.capitalize() + ": no evaluation folder was given."
            if evaluation is None
            else f"`{_value(evaluation.get('data'))}`, evaluated into `{evaluation['folder']}`."
        ),
        "",
        "## Training data",
        *_training_data(card.get("training_data")),
        "## Explanation sanity",
        *_sanity(card.get("explanation_sanity")),
        "## Ethical considerations",
        card["ethical_considerations"],
        "",
        "## Caveats and recommendations",
        card["caveats_and_recommendations"],
        "",
    ]
    return "\n".join(sections)


__all__ = ["render_model_card"]
