"""Reading the NIH ChestX-ray14 layout: `Data_Entry_2017.csv` and its nested image folders."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from keras_cxr.data._label_csv import (
    check_findings,
    csv_rows,
    image_files_by_name,
    report_problems,
)
from keras_cxr.data.label_table import LabelTable

#: The 14 findings of ChestX-ray14, spelled as in `Finding Labels`, in the paper's order.
CHESTXRAY14_FINDINGS = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
)
#: The `Finding Labels` value of an image without any finding.
NO_FINDING = "No Finding"
_COLUMNS = ("Image Index", "Finding Labels", "Patient ID")


def read_chestxray14(
    csv_path: str | os.PathLike,
    images: str | os.PathLike,
    findings: Sequence[str] | None = None,
    strict: bool = True,
) -> LabelTable:
    """Reads a ChestX-ray14-layout CSV and finds each image in a folder tree.

    Each row names an image (`Image Index`, a file name), its patient (`Patient ID`) and
    its findings (`Finding Labels`, separated by `|`, or `No Finding`). The image is looked
    up by name anywhere under `images`, so the NIH download's `images_001/images/...`
    folders work as they are; `.dcm` names are read as DICOM. Other columns are ignored.

    A row is bad when its image is missing (or found twice), its patient is blank, a label
    is unknown or repeated, `No Finding` comes with a finding, or the image is named twice
    in the CSV. With `strict=True` every bad row is reported in one
    `keras_cxr.data.LabelRowError` naming its CSV line; with `strict=False` bad rows are
    skipped with one warning and listed in `LabelTable.skipped`.

    Args:
        csv_path: The CSV, e.g. `Data_Entry_2017.csv`.
        images: The folder holding the images, searched with its subfolders.
        findings: The label columns wanted, in order. Findings of ChestX-ray14 left out
            are dropped from the rows; any other label is an unknown finding. Defaults to
            None (`CHESTXRAY14_FINDINGS`).
        strict: Raise on bad rows instead of skipping them. Defaults to True.

    Returns:
        A `keras_cxr.data.LabelTable` of 0/1 labels, one row per usable CSV row.

    Raises:
        FileNotFoundError: The CSV or the image folder does not exist.
        ValueError: A required column is missing, `findings` is empty or repeats a name.
        keras_cxr.data.LabelRowError: (a `ValueError`) bad rows, with `strict=True`.

    Example:
        >>> table = keras_cxr.data.read_chestxray14("Data_Entry_2017.csv", "images")
        >>> table.findings[:3]
        ('Atelectasis', 'Cardiomegaly', 'Effusion')

    Reference:
        Wang, Peng, Lu, Lu, Bagheri, Summers. "ChestX-ray8: Hospital-scale Chest X-ray
        Database and Benchmarks on Weakly-Supervised Classification and Localization of
        Common Thorax Diseases." CVPR 2017. https://arxiv.org/abs/1705.02315
    """
    findings = check_findings(findings, CHESTXRAY14_FINDINGS)
    column_of = {name: k for k, name in enumerate(findings)}
    known = set(CHESTXRAY14_FINDINGS) | set(findings)
    path, _, rows = csv_rows(csv_path, _COLUMNS)
    files = image_files_by_name(images)
    kept: list[tuple[int, str, list[int], object]] = []
    problems: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        try:
            columns = _finding_columns(row, column_of, known)
            image = _image_file(row["Image Index"], files, seen, line)
            patient = row["Patient ID"]
            if not patient:
                raise ValueError("blank `Patient ID`")
        except ValueError as error:
            problems.append((line, str(error)))
            continue
        kept.append((line, patient, columns, image))
    report_problems(path, problems, strict)
    labels = np.zeros((len(kept), len(findings)), dtype=np.float32)
    for row_index, (_, _, columns, _) in enumerate(kept):
        labels[row_index, columns] = 1
    return LabelTable(
        [image for *_, image in kept],
        labels,
        [patient for _, patient, _, _ in kept],
        findings,
        [line for line, *_ in kept],
        problems,
    )


def _finding_columns(row: dict, column_of: dict[str, int], known: set[str]) -> list[int]:
    if None in row:
        raise ValueError(row[None])
    text = row["Finding Labels"]
    if text == NO_FINDING:
        return []
    names = [name.strip() for name in text.split("|")]
    if not text or "" in names:
        raise ValueError(f"malformed `Finding Labels` {text!r} (an empty label)")
    if NO_FINDING in names:
        raise ValueError(f"{NO_FINDING!r} together with findings in {text!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"a finding repeated in {text!r}")
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown finding {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return [column_of[name] for name in names if name in column_of]


def _image_file(name: str, files: dict, seen: dict[str, int], line: int):
    if not name:
        raise ValueError("blank `Image Index`")
    if name in seen:
        raise ValueError(f"image {name!r} is already on line {seen[name]}")
    seen[name] = line
    if name not in files:
        raise ValueError(f"image file {name!r} not found in the image folder")
    if files[name] is None:
        raise ValueError(f"image file {name!r} is in two folders; keep one")
    return files[name]
