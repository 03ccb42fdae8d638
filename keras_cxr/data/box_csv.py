"""Bounding boxes of findings from a CSV, as RSNA Pneumonia Detection publishes them.

The RSNA challenge's `stage_2_train_labels.csv` has one line per box,
`patientId,x,y,width,height,Target`, in pixels of the original image; an image with no
finding has one line with the four box fields empty. `read_box_csv` reads that layout
(and any CSV with an image column and those four), checking every line, and
`boxes_to_mask` rasterises an image's boxes at any size.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np

from keras_cxr.data._layout import IMAGE_EXTENSIONS

__all__ = ["BOX_FIELDS", "IMAGE_COLUMNS", "boxes_to_mask", "image_name", "read_box_csv"]

#: The box columns, in pixels of the original image: top-left corner, width, height.
BOX_FIELDS = ("x", "y", "width", "height")
#: Names accepted for the column naming the image (its file name, with or without the
#: extension), compared without case.
IMAGE_COLUMNS = ("patientid", "image", "filename", "file")

Box = tuple[float, float, float, float]


def read_box_csv(path: str | os.PathLike) -> dict[str, list[Box]]:
    """Reads the boxes of every image named in a box CSV.

    The header must have an image column (`patientId`, `image`, `filename` or `file`, in
    any case) and `x`, `y`, `width`, `height`; other columns (RSNA's `Target`) are
    ignored. Each line is one box of its image; an image may have several lines. A line
    whose four box fields are all empty says the image has no finding. Images are named
    by their file name without the extension (`a.dcm` and `a` are one image).

    Args:
        path: The CSV file.

    Returns:
        Image name (without extension) → its boxes `(x, y, width, height)` in original
        pixels, `[]` for an image listed with no finding; in the file's order.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the header lacks a column, or a line is malformed (a field
            missing, not a number, a negative or zero size, or only some box fields
            empty); the message gives the line number, counting the header as line 1.

    Example:
        >>> from pathlib import Path
        >>> _ = Path("boxes.csv").write_text(
        ...     "patientId,x,y,width,height,Target\\na,10,20,30,40,1\\na,50,50,5,5,1\\nb,,,,,0\\n")
        >>> keras_cxr.data.read_box_csv("boxes.csv")
        {'a': [(10.0, 20.0, 30.0, 40.0), (50.0, 50.0, 5.0, 5.0)], 'b': []}
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No box CSV at {str(path)!r}.")
    with open(path, newline="", encoding="utf-8-sig") as file:
        rows = csv.reader(file)
        header = next(rows, None)
        if header is None:
            raise ValueError(f"The box CSV {str(path)!r} is empty: expected a header line.")
        columns = _columns(path, header)
        boxes: dict[str, list[Box]] = {}
        for line, row in enumerate(rows, start=2):
            if not any(field.strip() for field in row):
                continue  # a blank line
            name, box = _parse_line(path, line, row, columns)
            boxes.setdefault(name, [])
            if box is not None:
                boxes[name].append(box)
    return boxes


def _columns(path: Path, header: list[str]) -> list[int]:
    """Positions of the image column and the four box columns in the header."""
    names = [name.strip().lower() for name in header]
    image = next((names.index(n) for n in IMAGE_COLUMNS if n in names), None)
    missing = [f for f in BOX_FIELDS if f not in names]
    if image is None or missing:
        wanted = ([] if image is not None else ["patientId (or image)"]) + missing
        raise ValueError(
            f"The box CSV {str(path)!r} has no column {', '.join(wanted)} in its header "
            f"(line 1: {','.join(header)!r}). Expected e.g. RSNA's "
            "'patientId,x,y,width,height,Target'."
        )
    return [image, *(names.index(field) for field in BOX_FIELDS)]


def _parse_line(path: Path, line: int, row: list[str], columns: list[int]):
    """`(image name, box or None)` of one line; ValueError naming the line otherwise."""
    where = f"{str(path)!r}, line {line}"
    if len(row) <= max(columns):
        raise ValueError(
            f"Malformed box CSV {where}: {len(row)} fields, expected at least "
            f"{max(columns) + 1} (the header's columns). The line: {','.join(row)!r}."
        )
    name = image_name(row[columns[0]])
    if not name:
        raise ValueError(f"Malformed box CSV {where}: the image name is empty.")
    fields = [row[index].strip() for index in columns[1:]]
    if not any(fields):
        return name, None  # no finding
    try:
        x, y, width, height = (float(field) for field in fields)
    except ValueError:
        raise ValueError(
            f"Malformed box CSV {where}: x, y, width and height must all be numbers (or "
            f"all empty for no finding); got {dict(zip(BOX_FIELDS, fields))}."
        ) from None
    if not all(math.isfinite(v) for v in (x, y, width, height)) or width <= 0 or height <= 0:
        raise ValueError(
            f"Malformed box CSV {where}: a box needs finite coordinates and a width and "
            f"height > 0; got {dict(zip(BOX_FIELDS, fields))}."
        )
    return name, (x, y, width, height)


def image_name(file_name: str) -> str:
    """A file name without its image extension (`a.dcm` → `a`; `1.2.840` stays whole)."""
    name = file_name.strip()
    stem, dot, extension = name.rpartition(".")
    return stem if dot and f".{extension.lower()}" in IMAGE_EXTENSIONS else name


def boxes_to_mask(
    boxes: list[Box], image_size: tuple[int, int], mask_size: tuple[int, int] | None = None
) -> np.ndarray:
    """The region mask of an image's boxes, optionally rescaled to another size.

    A pixel is inside when its centre lies inside a box, so a box scaled down with its
    image covers the same share of it. Boxes reaching past the image are clipped.

    Args:
        boxes: `(x, y, width, height)` in pixels of the original image.
        image_size: `(height, width)` of the original image.
        mask_size: `(height, width)` of the mask; None for `image_size`. Defaults to None.

    Returns:
        A bool array of shape `mask_size`, all False for no boxes.

    Example:
        >>> mask = keras_cxr.data.boxes_to_mask([(0, 0, 50, 50)], (100, 100), (4, 4))
        >>> mask.astype(int).tolist()
        [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    """
    height, width = image_size
    rows, cols = mask_size or image_size
    # Centres of the mask's pixels, in the original image's pixel coordinates.
    y = (np.arange(rows) + 0.5) * height / rows
    x = (np.arange(cols) + 0.5) * width / cols
    mask = np.zeros((rows, cols), dtype=bool)
    for left, top, box_width, box_height in boxes:
        inside_y = (y >= top) & (y < top + box_height)
        inside_x = (x >= left) & (x < left + box_width)
        mask |= inside_y[:, None] & inside_x[None, :]
    return mask
