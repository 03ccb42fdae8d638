"""Tables (mean ± sd over seeds), JSON and figures of `explanation_quality.py`."""

from __future__ import annotations

import numpy as np
from _quality_model import DOWNSAMPLING

from keras_cxr.viz import plot_grid


def aggregate(runs: list[list[dict]]) -> list[dict]:
    """Per method, the mean and sd (ddof=1) over seeds of every numeric figure.

    `runs` holds one list of rows per seed, methods in the same order. NaN (an undefined
    figure, e.g. Spearman when every randomized map is empty) is left out of the mean;
    `<key>_seeds` counts the seeds that had the figure.
    """
    summary = []
    for rows in zip(*runs):
        merged = {"method": rows[0]["method"]}
        for key, value in rows[0].items():
            if isinstance(value, (bool, str)) or not np.isscalar(value):
                continue
            values = np.array([row[key] for row in rows], dtype=float)
            values = values[np.isfinite(values)]
            merged[key] = float(values.mean()) if values.size else float("nan")
            merged[f"{key}_sd"] = float(values.std(ddof=1)) if values.size > 1 else float("nan")
            merged[f"{key}_seeds"] = int(values.size)
        summary.append(merged)
    return summary


def cell(row: dict, key: str, digits: int = 3) -> str:
    """`mean ± sd` (or the mean alone for one seed, `n/a` when undefined)."""
    mean, sd = row.get(key, float("nan")), row.get(f"{key}_sd", float("nan"))
    if not np.isfinite(mean):
        return "n/a"
    text = f"{mean:.{digits}f}"
    # Counts (0 digits) vary little or not at all: the mean alone.
    return f"{text} ± {sd:.{digits}f}" if np.isfinite(sd) and digits else text


QUALITY_COLUMNS = [
    ("images", "images", 0),
    ("pointing_0px", "pointing 0 px ↑", 3),
    (f"pointing_{DOWNSAMPLING}px", f"pointing ≤{DOWNSAMPLING} px ↑", 3),
    ("pointing_15px", "pointing ≤15 px ↑", 3),
    ("energy_in_lesion", "energy in lesion ↑", 3),
    ("energy_ratio", "energy / lesion area ↑", 1),
    ("deletion_auc", "deletion AUC ↓", 3),
    ("insertion_auc", "insertion AUC ↑", 3),
    ("head_randomized_spearman", "rand. head: Spearman ↓", 2),
    ("randomized_spearman", "rand. all: Spearman ↓", 2),
    ("randomized_ssim", "rand. all: SSIM ↓", 2),
    ("ssim_with_empty_map", "SSIM with an empty map", 2),
    ("randomized_empty_share", "rand. all: empty maps", 2),
    ("forward_multiple", "time / forward pass", 1),
]
#: The Quantus families (`_quality_families.FAMILY_METRICS`), one table of their own.
FAMILY_COLUMNS = [
    ("relevance_mass_accuracy", "relevance mass ↑", 3),
    ("relevance_rank_accuracy", "relevance rank ↑", 3),
    ("sparseness", "sparseness (Gini)", 3),
    ("complexity", "complexity (entropy)", 2),
    ("faithfulness_correlation", "faithfulness corr. ↑", 2),
    ("road", "ROAD: class kept ↓", 3),
    ("max_sensitivity", "max-sensitivity ↓", 2),
    ("random_logit", "random logit: SSIM ↓", 2),
]
MARKER_COLUMNS = [
    ("normal_energy_marker", "normal model: energy on marker", 3),
    ("shortcut_energy_marker", "shortcut model: energy on marker ↑", 3),
    ("normal_pointing_marker", f"normal model: peak ≤{DOWNSAMPLING} px of marker", 2),
    ("shortcut_pointing_marker", f"shortcut model: peak ≤{DOWNSAMPLING} px of marker ↑", 2),
]


def markdown_table(rows: list[dict], columns: list[tuple[str, str, int]]) -> str:
    """One row per method; every cell `mean ± sd` over the seeds."""
    header = "| method | " + " | ".join(title for _, title, _ in columns) + " |"
    rule = "|---|" + "---:|" * len(columns)
    body = [
        f"| {row['method']} | " + " | ".join(cell(row, key, d) for key, _, d in columns) + " |"
        for row in rows
    ]
    return "\n".join([header, rule, *body])


def json_safe(value):
    """Nested results with NaN/inf turned into null and arrays left out: strict JSON."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items() if not isinstance(v, np.ndarray)}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def save_methods_figure(path, images, lesion_masks, marker_masks, heatmaps, titles, title):
    """Every method's heatmap on the same images, one column a method, regions outlined."""
    figure = plot_grid(images, heatmaps, titles=titles, cell_size=1.25, title=title)
    axes = np.asarray(figure.axes).reshape(len(images), 1 + len(heatmaps))
    for row, axis_row in enumerate(axes):
        for axis in axis_row:
            for masks, colour in ((lesion_masks, "lime"), (marker_masks, "white")):
                if masks is not None and masks[row].any():
                    axis.contour(masks[row], levels=[0.5], colors=colour, linewidths=0.6)
        for axis in axis_row:
            axis.title.set_fontsize(6)
    figure.savefig(path, dpi=90)
