"""Reading the CheXpert layout: a `Path` column and one 1 / 0 / -1 / blank column per finding."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.data._label_csv import check_findings, csv_rows, report_problems
from keras_cxr.data.label_table import LabelTable

#: The 14 observations of CheXpert, spelled as in its CSV header.
CHEXPERT_FINDINGS = (
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)
#: What an uncertain (-1) label becomes: `"u_ones"` positive, `"u_zeros"` negative,
#: `"ignore"` masked (NaN), as in Irvin et al. (2019).
UNCERTAINTY_POLICIES = {"u_ones": 1.0, "u_zeros": 0.0, "ignore": float("nan")}
#: What a blank (unmentioned) label becomes: `"negative"` 0 or `"ignore"` NaN.
BLANK_POLICIES = {"negative": 0.0, "ignore": float("nan")}
_VALUES = {"1": 1.0, "1.0": 1.0, "0": 0.0, "0.0": 0.0, "-1": -1.0, "-1.0": -1.0, "": None}
_PATIENT = re.compile(r"^patient\d+$", re.IGNORECASE)


def read_chexpert(
    csv_path: str | os.PathLike,
    root: str | os.PathLike,
    uncertainty: str = "u_ones",
    findings: Sequence[str] | None = None,
    blank: str = "negative",
    strict: bool = True,
) -> LabelTable:
    """Reads a CheXpert-layout CSV (`train.csv`, `valid.csv`) into a `LabelTable`.

    `Path` gives each image relative to `root`, the folder that holds the data set's own
    folder (`CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg`); `root`
    may also be that folder itself. The patient is the `patientNNNNN` folder of the path
    (a path without one is its own patient, with a warning). Each finding column holds
    1 (positive), 0 (negative), -1 (uncertain) or nothing (not mentioned); `1.0`, `0.0`
    and `-1.0` are read the same. The uncertainty policy maps -1: U-Ones to 1, U-Zeros
    to 0, ignore to NaN (a masked label). Blanks are negative unless `blank="ignore"`.

    A row is bad when its image is missing, its path leaves `root`, a label is anything
    else, or the row has the wrong number of fields. With `strict=True` every bad row is
    reported in one `keras_cxr.data.LabelRowError` naming its CSV line; with
    `strict=False` they are skipped with one warning and listed in `LabelTable.skipped`.

    Args:
        csv_path: The CSV.
        root: The folder that `Path` is relative to.
        uncertainty: One of `UNCERTAINTY_POLICIES`. Defaults to "u_ones".
        findings: The finding columns wanted, in order. Defaults to None
            (`CHEXPERT_FINDINGS`).
        blank: One of `BLANK_POLICIES`. Defaults to "negative".
        strict: Raise on bad rows instead of skipping them. Defaults to True.

    Returns:
        A `keras_cxr.data.LabelTable` of 0, 1 or NaN labels.

    Raises:
        FileNotFoundError: The CSV or `root` does not exist.
        ValueError: A bad policy, `findings`, or a missing column.
        keras_cxr.data.LabelRowError: (a `ValueError`) bad rows, with `strict=True`.

    Example:
        >>> table = keras_cxr.data.read_chexpert(
        ...     "CheXpert-v1.0-small/train.csv", ".", uncertainty="ignore")
        >>> int(table.mask.sum()) < table.labels.size
        True

    Reference:
        Irvin et al. "CheXpert: A Large Chest Radiograph Dataset with Uncertainty Labels
        and Expert Comparison." AAAI 2019. https://arxiv.org/abs/1901.07031
    """
    if uncertainty not in UNCERTAINTY_POLICIES:
        raise invalid_value("uncertainty", f"one of {list(UNCERTAINTY_POLICIES)}", uncertainty)
    if blank not in BLANK_POLICIES:
        raise invalid_value("blank", f"one of {list(BLANK_POLICIES)}", blank)
    findings = check_findings(findings, CHEXPERT_FINDINGS)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"The CheXpert root {str(root)!r} does not exist. Pass the folder that the "
            "`Path` column is relative to."
        )
    path, _, rows = csv_rows(csv_path, ("Path", *findings))
    policy = {-1.0: UNCERTAINTY_POLICIES[uncertainty], None: BLANK_POLICIES[blank]}
    kept, problems, unnamed = [], [], []
    for line, row in rows:
        try:
            if None in row:
                raise ValueError(row[None])
            values = [_value(row[name], name, policy) for name in findings]
            image, patient = _locate(row["Path"], root)
        except ValueError as error:
            problems.append((line, str(error)))
            continue
        if patient is None:
            unnamed.append(row["Path"])
            patient = row["Path"]
        kept.append((line, image, patient, values))
    report_problems(path, problems, strict)
    if unnamed:
        warnings.warn(
            f"{len(unnamed)} paths name no patientNNNNN folder (e.g. {unnamed[0]!r}); each "
            "such image is treated as its own patient.",
            stacklevel=2,
        )
    labels = np.array([values for *_, values in kept], np.float32).reshape(-1, len(findings))
    return LabelTable(
        [image for _, image, _, _ in kept],
        labels,
        [patient for _, _, patient, _ in kept],
        findings,
        [line for line, *_ in kept],
        problems,
    )


def _value(text: str, finding: str, policy: dict) -> float:
    if text not in _VALUES:
        raise ValueError(f"malformed label {text!r} for {finding!r}; expected 1, 0, -1 or blank")
    value = _VALUES[text]
    return policy.get(value, value)


def _locate(text: str, root: Path) -> tuple[Path, str | None]:
    """The image file of a `Path` value, and the patient folder it names (or None)."""
    relative = PurePosixPath(text.replace("\\", "/"))
    if not text or relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"`Path` {text!r} must be a relative path inside the root folder")
    candidates = [root.joinpath(*relative.parts)]
    if len(relative.parts) > 1 and relative.parts[0] == root.name:
        candidates.append(root.joinpath(*relative.parts[1:]))
    image = next((candidate for candidate in candidates if candidate.is_file()), None)
    if image is None:
        raise ValueError(f"image file {text!r} not found under {str(root)!r}")
    patient = next((part for part in relative.parts if _PATIENT.match(part)), None)
    return image, patient
