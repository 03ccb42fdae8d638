"""The per-round metrics of a federated run: rows of `rounds.csv`, and their plot.

One row per round, site and split: `round, site, split, n, roc_auc, accuracy, loss,
local_seconds, round_seconds`. `site` is a site's name, `"all sites"` for the sites'
validation logits pooled, or `"held-out"` for the held-out test images; `accuracy` is at
probability 0.5 (the threshold is chosen once, after the last round), `loss` the binary
cross-entropy of the logits.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from keras_cxr.atomic import atomic_write, atomic_write_text
from keras_cxr.metrics import classification_report

COLUMNS = (
    "round",
    "site",
    "split",
    "n",
    "roc_auc",
    "accuracy",
    "loss",
    "local_seconds",
    "round_seconds",
)
#: The `site` of the pooled validation rows and of the held-out test rows.
ALL_SITES, HELD_OUT = "all sites", "held-out"


def logit_row(
    round_: int, site: str, split: str, labels: np.ndarray, logits: np.ndarray
) -> dict[str, object]:
    """One row of metrics of a split's logits (timings left empty).

    Args:
        round_: The 1-based round.
        site: The site (or `ALL_SITES`, `HELD_OUT`).
        split: `"val"` or `"test"`.
        labels: Labels in {0, 1}, `(N,)`.
        logits: Logits of the positive class, `(N,)`.

    Returns:
        A dict with the `COLUMNS` keys.

    Example:
        >>> import numpy as np
        >>> row = keras_cxr.federated.round_table.logit_row(
        ...     1, "site1", "val", np.array([0, 1]), np.array([-1.0, 2.0]))
        >>> row["roc_auc"], row["accuracy"]
        (1.0, 1.0)
    """
    labels = np.asarray(labels).reshape(-1)
    logits = np.asarray(logits, np.float64).reshape(-1)
    probabilities = 1.0 / (1.0 + np.exp(-logits))
    report = classification_report(labels, probabilities, 0.5)
    loss = float(np.mean(np.logaddexp(0.0, logits) - labels * logits))
    return {
        "round": round_,
        "site": site,
        "split": split,
        "n": len(labels),
        "roc_auc": report["roc_auc"],
        "accuracy": report["accuracy"],
        "loss": loss,
        "local_seconds": "",
        "round_seconds": "",
    }


def write_rows(path: str | os.PathLike, rows: Sequence[dict]) -> Path:
    """Writes the rows as CSV, atomically (the whole table, every round).

    Args:
        path: The CSV file.
        rows: Dicts with the `COLUMNS` keys.

    Returns:
        `path` as a `Path`.

    Example:
        >>> keras_cxr.federated.round_table.write_rows("run/rounds.csv", rows)
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue())


def read_rows(path: str | os.PathLike, up_to_round: int | None = None) -> list[dict]:
    """Reads `rounds.csv` back, optionally only the rows of rounds <= `up_to_round`.

    Args:
        path: The CSV file; a missing file reads as no rows.
        up_to_round: Last round kept; None keeps all.

    Returns:
        The rows, numbers parsed (`round` and `n` as int, metrics as float, empty as "").

    Example:
        >>> rows = keras_cxr.federated.round_table.read_rows("run/rounds.csv")
    """
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            parsed = {key: _number(key, value) for key, value in row.items()}
            if up_to_round is None or parsed["round"] <= up_to_round:
                rows.append(parsed)
    return rows


def write_plot(path: str | os.PathLike, rows: Sequence[dict]) -> Path:
    """Plots ROC AUC and loss per round, a line per site, pooled and held-out set.

    Args:
        path: The PNG file.
        rows: The rows of `rounds.csv`.

    Returns:
        `path` as a `Path`.

    Example:
        >>> keras_cxr.federated.round_table.write_plot("run/rounds.png", rows)
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8.4, 3.4), layout="constrained")
    axes = figure.subplots(1, 2)
    series = sorted({(row["site"], row["split"]) for row in rows})
    for axis, key in zip(axes, ("roc_auc", "loss")):
        for site, split in series:
            points = [
                (r["round"], r[key]) for r in rows if (r["site"], r["split"]) == (site, split)
            ]
            style = "-" if site in (ALL_SITES, HELD_OUT) else "--"
            rounds, values = zip(*points)
            axis.plot(rounds, values, style, marker="o", ms=3, label=f"{site} ({split})")
        axis.set(xlabel="round", title=key)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return atomic_write(path, lambda p: figure.savefig(p, format="png", dpi=100), suffix=".png")


def _number(key: str, value: str):
    if key in ("site", "split") or value == "":
        return value
    return int(value) if key in ("round", "n") else float(value)


__all__ = ["ALL_SITES", "COLUMNS", "HELD_OUT", "logit_row", "read_rows", "write_plot", "write_rows"]
