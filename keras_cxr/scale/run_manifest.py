"""The manifest of an explained archive: which model and method made it, and folder rules.

`manifest.json` is the first file written into the output folder. It names the model (by
`keras_cxr.models.model_fingerprint`, so a copy of the file is the same model and a
retrained one is not), the method, target layers, score, threshold, temperature, class
names, what is saved and at which size, the keras_cxr version, and the table's columns:
everything that changes a row.
Only a folder with a manifest is a run: a folder holding anything else is never written
into, a run is only continued with `resume=True`, and only by the same model and
settings, so one table never mixes two models' answers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from keras_cxr._output_folder import check_writable
from keras_cxr.atomic import atomic_write_json

MANIFEST_FILE = "manifest.json"
#: The `kind` of an explained-archive manifest, telling it from other tools' manifests.
KIND = "keras_cxr.explain_folder"
#: Manifest fields that must match for a run to be resumed: everything that changes a row.
IDENTITY_FIELDS = (
    "model_fingerprint",
    "method",
    "target_layers",
    "score",
    "threshold",
    "temperature",
    "class_names",
    "all_classes",
    "image_size",
    "color_mode",
    "save",
    "heatmap_size",
    "keras_cxr_version",
)
# What a manifest written before a field existed meant by its absence.
_ABSENT_MEANS = {"all_classes": False}


class OutputExistsError(FileExistsError):
    """The output folder holds files that are not an explained archive, or a finished run.

    Example:
        >>> try:
        ...     keras_cxr.explain_folder("model.keras", "chest_xray", "out")
        ... except keras_cxr.scale.OutputExistsError:
        ...     keras_cxr.explain_folder("model.keras", "chest_xray", "out", resume=True)
    """


class RunMismatchError(ValueError):
    """`resume=True` names a run made by another model, method, layers or settings.

    Example:
        >>> keras_cxr.explain_folder("other.keras", "chest_xray", "out", resume=True)
        Traceback (most recent call last):
        keras_cxr.scale.run_manifest.RunMismatchError: 'out' was explained by another ...
    """


def read_manifest(out: str | os.PathLike) -> dict[str, Any] | None:
    """The manifest of the run in `out`, or None when `out` holds no run.

    Args:
        out: A folder.

    Returns:
        The manifest dict, or None if there is no `manifest.json` of this kind.

    Raises:
        Nothing of its own: an unreadable or foreign manifest counts as no run.

    Example:
        >>> keras_cxr.scale.read_manifest("explained")["method"]
        'gradcam'
    """
    path = Path(out) / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("kind") == KIND else None


def check_output(out: str | os.PathLike, resume: bool) -> dict[str, Any] | None:
    """Checks that `out` may take a run, before any model is loaded; creates nothing.

    | `out` holds            | `resume=False`        | `resume=True`                  |
    |------------------------|-----------------------|--------------------------------|
    | nothing (or is absent) | a new run             | a new run                      |
    | an explained archive   | `OutputExistsError`   | continued (its manifest back)  |
    | other files            | `OutputExistsError`   | `OutputExistsError`            |

    Args:
        out: The output folder.
        resume: Continue the run in `out`, if there is one.

    Returns:
        The existing run's manifest when it is to be continued, else None.

    Raises:
        NotADirectoryError: If `out` (or a folder above it) is a file.
        PermissionError: If the folder cannot be written.
        OutputExistsError: As in the table.

    Example:
        >>> keras_cxr.scale.run_manifest.check_output("new_folder", resume=False) is None
        True
    """
    out = Path(out)
    check_writable(out)
    if not (out.is_dir() and any(out.iterdir())):
        return None
    manifest = read_manifest(out)
    if manifest is None:
        raise OutputExistsError(
            f"{str(out)!r} holds files but no explained archive (no keras_cxr "
            f"{MANIFEST_FILE}); refusing to write into it. Pick a new or empty output folder."
        )
    if not resume:
        raise OutputExistsError(
            f"{str(out)!r} already holds an explained archive. Continue it with resume=True "
            "(--resume), or pick another output folder."
        )
    return manifest


def start_run(
    out: str | os.PathLike, manifest: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any]:
    """Writes the manifest of a new run, or checks that a resumed run is the same one.

    Args:
        out: The output folder, checked by `check_output`.
        manifest: The manifest of this call (see `IDENTITY_FIELDS`).
        existing: What `check_output` returned.

    Returns:
        The manifest in force: `existing` for a resumed run (its table format wins),
        else `manifest`, now written.

    Raises:
        RunMismatchError: If a field of `IDENTITY_FIELDS` differs from the existing run's.
        OSError: If the manifest cannot be written.

    Example:
        >>> keras_cxr.scale.run_manifest.start_run("new", {"kind": "..."}, None)
    """
    out = Path(out)
    if existing is not None:

        def value(of: dict[str, Any], field: str) -> Any:
            return of.get(field, _ABSENT_MEANS.get(field))

        differences = [
            f"{field} {value(existing, field)!r} there, {value(manifest, field)!r} now"
            for field in IDENTITY_FIELDS
            if _comparable(value(existing, field)) != _comparable(value(manifest, field))
        ]
        if differences:
            raise RunMismatchError(
                f"{str(out)!r} was explained by another model or with other settings "
                f"({'; '.join(differences)}), so resuming would mix two runs in one table. "
                "Resume with the same model, options and keras_cxr version, or pick a new "
                "output folder."
            )
        return existing
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / MANIFEST_FILE, {"kind": KIND, **manifest})
    return {"kind": KIND, **manifest}


def _comparable(value: Any) -> Any:
    """JSON round-trips tuples into lists and floats into their repr; compare alike."""
    return json.loads(json.dumps(value))
