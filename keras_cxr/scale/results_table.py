"""The results table of an explained archive: one Parquet or CSV part per shard.

Each part is written atomically (`keras_cxr.atomic.atomic_write`), so a reader, or a run
killed mid-write, only ever sees whole parts. Parquet needs pyarrow; without it the parts
are CSV, which any tool reads. The table of a run is the union of its parts, in order.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.atomic import atomic_write
from keras_cxr.scale.run_manifest import read_manifest

RESULTS_FOLDER = "results"
SKIPPED_FOLDER = "skipped"
TABLE_FORMATS = ("auto", "parquet", "csv")
#: Columns that hold text, and columns that hold integers; every other one holds floats.
TEXT_COLUMNS = frozenset({"path", "label", "predicted", "heatmaps", "overlay", "reason"})
INTEGER_COLUMNS = frozenset({"decision"})
_PART = re.compile(r"^part-(\d{5,})\.(parquet|csv)$")


def resolve_format(table_format: str) -> str:
    """`"parquet"` or `"csv"`: `"auto"` picks Parquet when pyarrow is installed.

    Args:
        table_format: `"auto"`, `"parquet"` or `"csv"`.

    Returns:
        `"parquet"` or `"csv"`.

    Raises:
        ValueError: For another value.
        ImportError: For `"parquet"` without pyarrow, saying how to install it.

    Example:
        >>> keras_cxr.scale.results_table.resolve_format("csv")
        'csv'
    """
    if table_format not in TABLE_FORMATS:
        raise invalid_value("table_format", f"one of {list(TABLE_FORMATS)}", table_format)
    if table_format == "csv":
        return "csv"
    try:
        import pyarrow  # noqa: F401
    except ImportError as error:
        if table_format == "auto":
            return "csv"
        raise ImportError(
            "Writing the results table as Parquet needs pyarrow: pip install pyarrow "
            "(or pass table_format='csv')."
        ) from error
    return "parquet"


def part_name(number: int, table_format: str) -> str:
    """The file name of part `number`: `part-00000.parquet`.

    Args:
        number: The shard number, from 0.
        table_format: `"parquet"`, `"csv"` or `"npz"`.

    Returns:
        The file name.

    Raises:
        Nothing: it only formats the name.

    Example:
        >>> keras_cxr.scale.results_table.part_name(3, "csv")
        'part-00003.csv'
    """
    return f"part-{number:05d}.{table_format}"


def part_numbers(folder: str | os.PathLike) -> list[int]:
    """The numbers of the complete table parts in `folder`, in order.

    Args:
        folder: A `results/` or `skipped/` folder, which may not exist.

    Returns:
        The sorted part numbers.

    Raises:
        Nothing: a missing folder gives an empty list.

    Example:
        >>> keras_cxr.scale.results_table.part_numbers("explained/results")
        [0, 1, 2]
    """
    return [int(_PART.match(path.name)[1]) for path in part_files(folder)]


def part_files(folder: str | os.PathLike) -> list[Path]:
    """The complete table parts in `folder`, in order (hidden temporaries ignored).

    Args:
        folder: A `results/` or `skipped/` folder, which may not exist.

    Returns:
        Their paths, sorted by part number.

    Raises:
        Nothing: a missing folder gives an empty list.

    Example:
        >>> keras_cxr.scale.results_table.part_files("explained/results")[0].name
        'part-00000.parquet'
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m[1]), path) for path in folder.iterdir() if (m := _PART.match(path.name))]
    return [path for _, path in sorted(found)]


def write_part(path: str | os.PathLike, columns: Mapping[str, Sequence], table_format: str) -> Path:
    """Writes one table part atomically; an empty part keeps its columns.

    Args:
        path: The part's file.
        columns: Column name → values, all of one length.
        table_format: `"parquet"` or `"csv"`.

    Returns:
        `path` as a `Path`.

    Raises:
        OSError: If the file cannot be written.

    Example:
        >>> keras_cxr.scale.results_table.write_part(
        ...     "results/part-00000.csv", {"path": ["a.png"], "probability": [0.9]}, "csv"
        ... )
    """
    columns = {name: _typed(name, values) for name, values in columns.items()}
    if table_format == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({name: pa.array(values) for name, values in columns.items()})
        return atomic_write(path, lambda p: pq.write_table(table, p))
    return atomic_write(path, lambda p: _write_csv(p, columns))


class PartMismatchError(ValueError):
    """A table part that does not belong to its run: other columns, or torn rows.

    Example:
        >>> keras_cxr.scale.read_results("explained")
        Traceback (most recent call last):
        keras_cxr.scale.results_table.PartMismatchError: 'explained/results/part-00003.csv' ...
    """


def read_parts(
    folder: str | os.PathLike, columns: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Reads every part of a folder back into one table, parts in order, checking each.

    Every part must hold the same columns: `columns` when given (the run's manifest
    lists them), else those of the first part; and every CSV row as many cells as the
    header names. A part that fails is refused by name rather than mixed in.

    Args:
        folder: A `results/` or `skipped/` folder.
        columns: The columns every part must hold, in any order. Defaults to None:
            those of the first part.

    Returns:
        Column name → NumPy array (text as `str`, `decision` as int64, the rest float32);
        `{}` when there is no part.

    Raises:
        ImportError: For Parquet parts without pyarrow, saying how to install it.
        PartMismatchError: A part with other columns, or a torn CSV row.

    Example:
        >>> table = keras_cxr.scale.results_table.read_parts("explained/results")
        >>> table["path"][0], table["probability"][0]
    """
    paths = part_files(folder)
    tables = [_read_part(path) for path in paths]
    if not tables:
        return {}
    expected = set(tables[0] if columns is None else columns)
    for path, table in zip(paths, tables):
        if set(table) != expected:
            missing, extra = sorted(expected - set(table)), sorted(set(table) - expected)
            raise PartMismatchError(
                f"{str(path)!r} does not hold the run's columns (missing {missing}, extra "
                f"{extra}): it was written by another run or keras_cxr version. Move it "
                "out of the folder, or explain into a new one."
            )
    return {
        name: np.concatenate([_typed(name, table[name]) for table in tables]) for name in tables[0]
    }


def read_part(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads one table part, typed as `read_parts` types it.

    Args:
        path: A `part-N.parquet` or `part-N.csv` file.

    Returns:
        Column name → NumPy array (text as `str`, `decision` as int64, the rest float32).

    Raises:
        ImportError: For a Parquet part without pyarrow, saying how to install it.

    Example:
        >>> keras_cxr.scale.results_table.read_part("explained/results/part-00000.csv")["path"]
    """
    return {name: _typed(name, values) for name, values in _read_part(Path(path)).items()}


def read_results(out: str | os.PathLike) -> dict[str, np.ndarray]:
    """The results table of an explained archive: one row per explained image.

    Args:
        out: The output folder of `keras_cxr.explain_folder`.

    Returns:
        Column name → NumPy array, rows in the order they were explained (see
        `keras_cxr.explain_folder` for the columns); `{}` before the first shard.
        `pandas.DataFrame(read_results(out))` makes a data frame of it.

    Raises:
        ImportError: For Parquet parts without pyarrow, saying how to install it.

    Example:
        >>> table = keras_cxr.scale.read_results("explained")
        >>> worst = np.argsort(table["fused/lung_share"])[:10]  # maps mostly off the lungs
        >>> table["path"][worst]
    """
    return read_parts(Path(out) / RESULTS_FOLDER, manifest_columns(out))


def manifest_columns(out: str | os.PathLike) -> list[str] | None:
    """The results columns the run's manifest lists, or None (no manifest, or an old one).

    Args:
        out: The run folder.

    Returns:
        The column names, or None.

    Raises:
        Nothing: an unreadable manifest gives None.

    Example:
        >>> keras_cxr.scale.results_table.manifest_columns("explained")[:2]
        ['path', 'label']
    """
    manifest: dict[str, Any] = read_manifest(out) or {}
    columns = manifest.get("columns")
    return list(columns) if isinstance(columns, list) else None


def read_skipped(out: str | os.PathLike) -> dict[str, np.ndarray]:
    """The files of an explained archive that could not be decoded, with the reason.

    A file retried by a resumed run (`retry_skipped=True`) is listed once, with its
    latest reason, and not at all once it was explained.

    Args:
        out: The output folder of `keras_cxr.explain_folder`.

    Returns:
        `"path"`, `"label"` and `"reason"` → str arrays; `{}` when nothing is skipped.

    Raises:
        Nothing of its own: the skipped parts are CSV.

    Example:
        >>> keras_cxr.scale.read_skipped("explained")["reason"][0]
        "Cannot decode '/data/x.jpeg': it is not a readable JPEG or PNG file ..."
    """
    skipped = read_parts(Path(out) / SKIPPED_FOLDER)
    if not skipped:
        return skipped
    explained = set(read_results(out).get("path", ()))
    latest = {path: row for row, path in enumerate(skipped["path"])}
    keep = [row for path, row in latest.items() if path not in explained]
    if len(keep) == len(skipped["path"]):
        return skipped
    keep.sort()
    return {name: column[keep] for name, column in skipped.items()} if keep else {}


def _typed(name: str, values) -> np.ndarray:
    if name in TEXT_COLUMNS or name.startswith("overlay@"):  # per-class overlays
        return np.asarray([str(value) for value in values], dtype=str)
    if name in INTEGER_COLUMNS:
        return np.asarray([int(value) for value in values], dtype=np.int64)
    return np.asarray([float(value) for value in values], dtype=np.float32)


def _write_csv(path: Path, columns: Mapping[str, np.ndarray]) -> None:
    names = list(columns)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(names)
        for row in zip(*(columns[name] for name in names)):
            writer.writerow([_cell(value) for value in row])


def _cell(value) -> str:
    if isinstance(value, np.floating):
        return repr(float(value))  # the shortest text that reads back to the same float32
    return str(value)


def _read_part(path: Path) -> dict[str, list]:
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as error:
            raise ImportError(
                f"{str(path)!r} is a Parquet file, and reading it needs pyarrow: "
                "pip install pyarrow."
            ) from error
        return pq.read_table(path).to_pydict()
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    if not rows:
        raise PartMismatchError(f"{str(path)!r} is empty: not a whole part (no header).")
    names, body = rows[0], rows[1:]
    for number, row in enumerate(body, start=2):
        if len(row) != len(names):
            raise PartMismatchError(
                f"{str(path)!r} is torn: line {number} has {len(row)} of {len(names)} cells."
            )
    return {name: [row[index] for row in body] for index, name in enumerate(names)}
