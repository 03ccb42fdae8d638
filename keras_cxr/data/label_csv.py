"""`read_label_csv`: a multi-label CSV in either layout, told apart by its header."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

from keras_cxr.data.chestxray14 import read_chestxray14
from keras_cxr.data.chexpert import read_chexpert
from keras_cxr.data.label_table import LabelTable

#: The columns of a CheXpert-layout CSV that describe the study, not a finding.
CHEXPERT_INFO_COLUMNS = ("Path", "Sex", "Age", "Frontal/Lateral", "AP/PA")


def read_label_csv(
    csv_path: str | os.PathLike,
    images: str | os.PathLike,
    uncertainty: str = "u_ones",
    findings: Sequence[str] | None = None,
    strict: bool = True,
) -> LabelTable:
    """Reads a ChestX-ray14- or CheXpert-layout CSV, whichever its header shows.

    A header with `Image Index` and `Finding Labels` is read by
    `keras_cxr.data.read_chestxray14` (images found by name under `images`); one with
    `Path` by `keras_cxr.data.read_chexpert` (paths relative to `images`, with the
    `uncertainty` policy). This is what `keras-cxr train --labels-csv` calls.

    Args:
        csv_path: The CSV.
        images: The image folder (ChestX-ray14) or the root the paths are relative to
            (CheXpert).
        uncertainty: CheXpert's policy for -1 labels, one of
            `keras_cxr.data.UNCERTAINTY_POLICIES`; unused for ChestX-ray14. Defaults to
            "u_ones".
        findings: The findings wanted, in order. Defaults to None: the 14 of
            ChestX-ray14, or every CheXpert-layout column other than
            `CHEXPERT_INFO_COLUMNS`.
        strict: Raise on bad rows instead of skipping them. Defaults to True.

    Returns:
        A `keras_cxr.data.LabelTable`.

    Raises:
        FileNotFoundError: The CSV or the image folder does not exist.
        ValueError: The header fits neither layout, or as the readers raise.

    Example:
        >>> table = keras_cxr.data.read_label_csv("Data_Entry_2017.csv", "images")
    """
    path = Path(csv_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"No label CSV at {str(path)!r}.")
    with open(path, encoding="utf-8-sig", newline="") as file:
        header = [name.strip() for name in next(csv.reader(file), [])]
    if "Image Index" in header and "Finding Labels" in header:
        return read_chestxray14(path, images, findings, strict)
    if "Path" in header:
        if findings is None:
            findings = [name for name in header if name and name not in CHEXPERT_INFO_COLUMNS]
        return read_chexpert(path, images, uncertainty, findings, strict=strict)
    raise ValueError(
        f"Cannot tell the layout of {str(path)!r} from its header {header}: a ChestX-ray14 "
        "CSV has `Image Index` and `Finding Labels` columns, a CheXpert CSV a `Path` column "
        "and one column per finding. Rename the columns to one of these layouts."
    )
