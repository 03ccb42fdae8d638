"""`list_models`: the models under a folder, with their version records and headline metrics.

Reads only each file's metadata (`keras_cxr.models.read_metadata`), never the weights, so
a folder of many runs lists in moments. `keras-cxr models DIR` prints the rows as a table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keras_cxr.models.loading import ModelFileError
from keras_cxr.models.metadata import read_metadata

#: Columns of `format_models`, in order.
COLUMNS = ("model", "fingerprint", "created", "recipe", "config", "parent", "roc_auc", "threshold")


@dataclass(frozen=True)
class ModelVersion:
    """One model file and what its metadata says of it.

    Attributes:
        path: The `.keras` file.
        fingerprint: `keras_cxr.models.model_fingerprint` at training, or None.
        created: UTC creation time (ISO 8601), or None.
        recipe: The training recipe's name, or None.
        config_hash: The training config's hash (`TrainConfig.fingerprint()`), or None.
        parent: The fingerprint (else the path) of the model it was trained from, or None.
        roc_auc: Validation ROC AUC (macro for several classes), or None.
        threshold: The stored decision threshold, or None.
        error: Why the metadata could not be read, or None.

    Example:
        >>> keras_cxr.training.list_models("runs")[0].fingerprint
        '3f9a0c1d5e7b2a44'
    """

    path: Path
    fingerprint: str | None = None
    created: str | None = None
    recipe: str | None = None
    config_hash: str | None = None
    parent: str | None = None
    roc_auc: float | None = None
    threshold: float | None = None
    error: str | None = None

    def row(self) -> dict[str, Any]:
        """The values of `COLUMNS`, the model's path relative to nothing (as found)."""
        values = {
            "model": str(self.path),
            "fingerprint": self.fingerprint,
            "created": self.created,
            "recipe": self.recipe,
            "config": self.config_hash,
            "parent": self.parent,
            "roc_auc": self.roc_auc,
            "threshold": self.threshold,
        }
        return {name: values[name] for name in COLUMNS}


def model_version(path: str | os.PathLike) -> ModelVersion:
    """What the metadata of one model file says of its version.

    Args:
        path: A `.keras` file.

    Returns:
        A `ModelVersion`; a file whose metadata cannot be read gets `error` set, not an
        exception, so that one broken file does not hide the others.

    Example:
        >>> keras_cxr.training.model_versions.model_version("runs/demo/model.keras").recipe
        'demo'
    """
    path = Path(path)
    try:
        metadata = read_metadata(path)
    except (ModelFileError, OSError) as error:
        return ModelVersion(path, error=str(error))
    version = metadata.get("version") or {}
    parent = version.get("parent") or {}
    metrics = metadata.get("val_metrics") or {}
    auc = metrics.get("roc_auc", metrics.get("macro_roc_auc"))
    return ModelVersion(
        path=path,
        fingerprint=version.get("fingerprint"),
        created=version.get("created"),
        recipe=metadata.get("recipe"),
        config_hash=version.get("config_hash"),
        parent=parent.get("fingerprint") or parent.get("path"),
        roc_auc=None if auc is None else float(auc),
        threshold=metadata.get("threshold"),
    )


def list_models(folder: str | os.PathLike) -> list[ModelVersion]:
    """Every `.keras` file under `folder`, newest first (files without a record last).

    Args:
        folder: The folder to search, recursively.

    Returns:
        One `ModelVersion` per file, sorted by creation time, newest first, then by path.

    Raises:
        NotADirectoryError: If `folder` is not a folder.

    Example:
        >>> [m.recipe for m in keras_cxr.training.list_models("runs")]
        ['pretrained', 'offline']
    """
    root = Path(folder)
    if not root.is_dir():
        raise NotADirectoryError(f"No folder at {str(root)!r}: pass the folder that holds runs.")
    versions = [model_version(path) for path in sorted(root.rglob("*.keras"))]
    dated = sorted((v for v in versions if v.created), key=lambda v: v.created, reverse=True)
    return dated + [v for v in versions if not v.created]


def format_models(versions: list[ModelVersion]) -> str:
    """The versions as a plain-text table, one row a model (the `keras-cxr models` output).

    Args:
        versions: From `list_models`.

    Returns:
        The table, columns `COLUMNS`; "-" for what a file does not record, and a row
        "MODEL  error: ..." for a file that could not be read.

    Example:
        >>> print(keras_cxr.training.model_versions.format_models(list_models("runs")))
    """

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    rows = [list(COLUMNS)]
    errors = []
    for version in versions:
        if version.error:
            errors.append(f"{version.path}  error: {version.error}")
        else:
            rows.append([cell(value) for value in version.row().values()])
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip() for row in rows
    ]
    return "\n".join([*lines, *errors])


__all__ = ["COLUMNS", "ModelVersion", "format_models", "list_models", "model_version"]
