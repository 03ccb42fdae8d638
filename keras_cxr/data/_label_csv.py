"""Reading a multi-label CSV row by row, with the line number of every bad row.

The public readers (`chestxray14.py`, `chexpert.py`) decide what a row means; this module
does what they share: opening the file, checking the header, counting physical lines
(a quoted field may span several), finding images in nested folders, and turning the
collected problems into one error or one warning.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

from keras_cxr._validation import invalid_value
from keras_cxr.data._layout import IMAGE_EXTENSIONS, is_clutter

#: Most bad rows named in one message; the rest are counted.
_SHOWN = 20


class LabelRowError(ValueError):
    """A label CSV has bad rows: missing files, unknown findings or malformed labels.

    Attributes:
        problems: `(line, reason)` of every bad row; line 1 is the header.

    Example:
        >>> try:
        ...     keras_cxr.data.read_chestxray14("Data_Entry_2017.csv", "images")
        ... except keras_cxr.data.LabelRowError as error:
        ...     first_line, reason = error.problems[0]
    """

    def __init__(self, csv_path: Path, problems: Sequence[tuple[int, str]]):
        self.problems = list(problems)
        super().__init__(
            problem_summary(csv_path, self.problems)
            + "\nFix or remove these rows, or pass strict=False to skip them."
        )


def problem_summary(csv_path: Path, problems: Sequence[tuple[int, str]]) -> str:
    """One message naming the bad rows of `csv_path` by line number."""
    lines = [f"  line {line}: {reason}" for line, reason in problems[:_SHOWN]]
    if len(problems) > _SHOWN:
        lines.append(f"  ... and {len(problems) - _SHOWN} more")
    return f"{len(problems)} bad rows in {str(csv_path)!r}:\n" + "\n".join(lines)


def report_problems(csv_path: Path, problems: list[tuple[int, str]], strict: bool) -> None:
    """Raise `LabelRowError` (strict) or warn once about the skipped rows."""
    if not problems:
        return
    if strict:
        raise LabelRowError(csv_path, problems)
    warnings.warn(f"Skipped {problem_summary(csv_path, problems)}", stacklevel=3)


def csv_rows(
    csv_path: str | os.PathLike, required: Sequence[str]
) -> tuple[Path, list[str], Iterator[tuple[int, dict[str, str]]]]:
    """Opens a CSV and checks its header; returns `(path, header, rows)`.

    `rows` yields `(line, row)`, where `line` is the physical line the row starts on (the
    header is line 1) and `row` maps each header name (stripped) to its stripped value.
    A row with more or fewer fields than the header is yielded with the key `None` set
    to a description of the problem.

    Raises:
        FileNotFoundError: The CSV does not exist.
        ValueError: The CSV is empty or a required column is missing.
    """
    path = Path(csv_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"No label CSV at {str(path)!r}.")
    text = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    reader = csv.reader(text)
    header = [name.strip() for name in next(reader, [])]
    if not header:
        raise ValueError(f"The label CSV {str(path)!r} is empty; it needs a header row.")
    missing = [name for name in required if name not in header]
    if missing:
        raise ValueError(
            f"The label CSV {str(path)!r} has no column {', '.join(map(repr, missing))}. "
            f"Its columns are {header}; rename the column or pass the matching reader."
        )

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        line = reader.line_num + 1
        for fields in reader:
            start, line = line, reader.line_num + 1
            if not any(field.strip() for field in fields):
                continue  # blank line
            row: dict = dict(zip(header, (field.strip() for field in fields)))
            if len(fields) != len(header):
                row[None] = f"{len(fields)} fields where the header has {len(header)}"
            yield start, row

    return path, header, rows()


def image_files_by_name(folder: str | os.PathLike) -> dict[str, Path | None]:
    """Every image file under `folder` (nested folders searched) by its file name.

    A name found in two places maps to None, so that a row naming it can be reported as
    ambiguous rather than silently read from either.

    Raises:
        FileNotFoundError: `folder` does not exist.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"The image folder {str(folder)!r} does not exist. Pass the folder that holds "
            "the images (nested folders such as images_001/images/ are searched)."
        )
    found: dict[str, Path | None] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(name for name in dirnames if not is_clutter(name))
        for name in filenames:
            if is_clutter(name) or not name.lower().endswith(IMAGE_EXTENSIONS):
                continue
            found[name] = None if name in found else Path(dirpath) / name
    return found


def check_findings(findings: Sequence[str] | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """`findings` as a tuple of distinct non-empty names, or `default` when None."""
    if findings is None:
        return default
    if isinstance(findings, str):
        raise invalid_value("findings", "a sequence of finding names, not one string", findings)
    findings = tuple(findings)
    if not findings or len(set(findings)) != len(findings) or not all(findings):
        raise invalid_value("findings", "distinct, non-empty finding names", findings)
    return findings
