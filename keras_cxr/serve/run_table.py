"""`RunTable`: the results of an explained run, read as it grows, sorted and filtered on demand.

The run folder of `keras_cxr.explain_folder` is read, never written: each complete results
part is read once and kept (parts are written atomically and never change), and every
query first looks for parts that appeared since, so a run still being written shows its
new rows on the next request. Sorting, filtering and paging run on NumPy columns, so a
50,000-row run answers in milliseconds.
"""

from __future__ import annotations

import os
import threading
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from keras_cxr._validation import invalid_value
from keras_cxr.scale.heatmap_shards import HEATMAP_SCALE
from keras_cxr.scale.results_table import (
    RESULTS_FOLDER,
    PartMismatchError,
    part_files,
    read_part,
)
from keras_cxr.scale.run_manifest import read_manifest

__all__ = ["FILTERS", "LOW_CONFIDENCE_MARGIN", "RunTable"]

#: Row filters: every row, the four outcomes where the label is known, the decisions
#: within `LOW_CONFIDENCE_MARGIN` of the threshold, and the fused maps mostly off the lungs.
FILTERS = ("all", "false_positive", "false_negative", "true_positive", "true_negative",
           "wrong", "low_confidence", "off_lungs", "unlabelled")  # fmt: skip
#: How close to the threshold a probability counts as a low-confidence decision.
LOW_CONFIDENCE_MARGIN = 0.1
#: Below this share of the fused map inside the lung boxes, a map is "off the lungs".
OFF_LUNGS_SHARE = 0.5
_ORDERS = ("asc", "desc")


class RunTable:
    """The rows of an explained run folder, with an outcome per row, queried by page.

    Each row carries the results table's columns (`path`, `label`, `probability`,
    `decision`, `predicted`, the heatmap statistics of the fused map and each branch) and
    two derived ones: `name` (the file name) and `outcome`: `"TP"`, `"FP"`, `"FN"`,
    `"TN"` for a two-class run whose label is one of its classes, `"right"` / `"wrong"`
    for more classes, `""` where the label is unknown.

    Args:
        run_dir: The output folder of `keras_cxr.explain_folder` (it holds
            `manifest.json`).

    Returns:
        The table; `query` pages it, `row` gives one row, `heatmap` one stored map.

    Raises:
        FileNotFoundError: If `run_dir` holds no `manifest.json` (not an explained run).

    Example:
        >>> table = keras_cxr.serve.RunTable("explained")
        >>> page = table.query(sort="probability", order="desc", filter="false_positive")
        >>> page["matched"], page["rows"][0]["name"]
    """

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        manifest = read_manifest(self.run_dir)
        if manifest is None:
            raise FileNotFoundError(
                f"{str(self.run_dir)!r} holds no manifest.json: pass the output folder of "
                "`keras-cxr explain ... --out DIR` (or keras_cxr.explain_folder)."
            )
        self.manifest = manifest
        self.class_names = [str(name) for name in manifest.get("class_names", [])]
        self.threshold = float(manifest.get("threshold") or 0.5)
        self._parts: dict[str, dict[str, np.ndarray]] = {}
        self._columns: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def refresh(self) -> dict[str, np.ndarray]:
        """Reads the results parts written since the last call, and returns every column.

        Returns:
            Column name → NumPy array over every row, `name` and `outcome` included.

        Raises:
            ImportError: For Parquet parts without pyarrow.
            keras_cxr.scale.results_table.PartMismatchError: A new part with other
                columns than the run's (it is not kept: the rows so far stay readable
                once it is moved away).

        Example:
            >>> len(table.refresh()["path"])
            18
        """
        with self._lock:
            files = part_files(self.run_dir / RESULTS_FOLDER)
            new = [path for path in files if path.name not in self._parts]
            for path in new:
                part = read_part(path)
                first = next(iter(self._parts.values()), part)
                if set(part) != set(first):  # as read_parts refuses it: named, not mixed in
                    missing, extra = sorted(set(first) - set(part)), sorted(set(part) - set(first))
                    raise PartMismatchError(
                        f"{str(path)!r} does not hold the run's columns (missing {missing}, "
                        f"extra {extra}): it was written by another run or keras_cxr version."
                    )
                self._parts[path.name] = part
            if new or not self._columns:
                tables = [self._parts[path.name] for path in files]
                self._columns = self._with_derived(_concatenate(tables))
            return self._columns

    def query(
        self,
        sort: str | None = None,
        order: str = "asc",
        filter: str = "all",
        search: str = "",
        offset: int = 0,
        limit: int = 100,
        only: np.ndarray | None = None,
    ) -> dict[str, Any]:
        """One page of the rows, sorted, filtered and searched.

        Args:
            sort: A column to sort by (stable; NaN last either way); None keeps the run's
                order. Defaults to None.
            order: "asc" or "desc". Defaults to "asc".
            filter: One of `FILTERS`. Defaults to "all".
            search: Keep the rows whose file path contains this text (case-insensitive).
                Defaults to "".
            offset: The first matching row to return. Defaults to 0.
            limit: The most rows to return. Defaults to 100.
            only: Boolean mask over every row to intersect with (flagged rows). Defaults
                to None.

        Returns:
            `{"total", "matched", "offset", "rows"}`: `rows` are dicts of the columns with
            `index` (the row's number in the run, for `row` and `heatmap`).

        Raises:
            ValueError: For an unknown column, order or filter, naming the known ones.

        Example:
            >>> table.query(sort="probability", order="desc", limit=2)["rows"][0]["index"]
            7
        """
        columns = self.refresh()
        total = len(columns.get("path", ()))
        if sort is not None and sort not in columns:
            raise invalid_value("sort", f"one of {sorted(columns)}", sort)
        if order not in _ORDERS:
            raise invalid_value("order", f"one of {list(_ORDERS)}", order)
        mask = self.filter_mask(filter, columns)
        if only is not None:
            mask &= only
        if search:
            mask &= np.char.find(np.char.lower(columns["path"]), search.lower()) >= 0
        selected = np.flatnonzero(mask)
        if sort is not None:
            selected = selected[_sort_order(columns[sort][selected], order == "desc")]
        page = selected[offset : offset + limit]
        return {
            "total": total,
            "matched": len(selected),
            "offset": offset,
            "rows": [self._row(columns, int(index)) for index in page],
        }

    def filter_mask(self, name: str, columns: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """The boolean mask of one of `FILTERS` over every row.

        Args:
            name: The filter.
            columns: The columns (`refresh()`); None reads them. Defaults to None.

        Returns:
            A bool array, one entry per row.

        Raises:
            ValueError: For an unknown filter, naming the known ones.

        Example:
            >>> int(table.filter_mask("false_positive").sum())
            3
        """
        columns = self.refresh() if columns is None else columns
        if name not in FILTERS:
            raise invalid_value("filter", f"one of {list(FILTERS)}", name)
        outcome = columns.get("outcome", np.zeros(0, str))
        if name == "all":
            return np.ones(len(outcome), bool)
        if name == "low_confidence":
            return np.abs(columns["probability"] - self.threshold) < LOW_CONFIDENCE_MARGIN
        if name == "off_lungs":
            share = columns.get("fused/lung_share")
            return np.zeros(len(outcome), bool) if share is None else share < OFF_LUNGS_SHARE
        if name == "wrong":
            return np.isin(outcome, ["FP", "FN", "wrong"])
        if name == "unlabelled":
            return outcome == ""
        return outcome == {"false_positive": "FP", "false_negative": "FN",
                           "true_positive": "TP", "true_negative": "TN"}[name]  # fmt: skip

    def row(self, index: int) -> dict[str, Any]:
        """Row `index` of the run, as `query` gives rows.

        Args:
            index: The row's number in the run, from 0.

        Returns:
            The row's columns, JSON-ready (NaN as None).

        Raises:
            IndexError: If the run has no such row (yet).

        Example:
            >>> table.row(0)["name"]
            'IM-0005-0001.jpeg'
        """
        columns = self.refresh()
        total = len(columns.get("path", ()))
        if not 0 <= index < total:
            raise IndexError(f"The run has {total} rows; there is no row {index}.")
        return self._row(columns, index)

    def heatmap(self, index: int, key: str = "heatmap") -> np.ndarray:
        """The stored map of row `index` (`keras_cxr.scale.read_heatmaps` values), in [0, 1].

        Args:
            index: The row's number in the run.
            key: "heatmap" (the fused map) or "heatmap/<branch>". Defaults to "heatmap".

        Returns:
            float32 `(H, W)` in [0, 1].

        Raises:
            IndexError: If the run has no such row.
            LookupError: If the run saved no heatmaps, or none under `key`.

        Example:
            >>> table.heatmap(0, "heatmap/b3").shape
            (32, 32)
        """
        row = self.row(index)
        shard = row.get("heatmaps") or ""
        path = (self.run_dir / shard).resolve()
        if not shard or not path.is_relative_to(self.run_dir.resolve()) or not path.is_file():
            raise LookupError(f"The run saved no heatmap for row {index} (save='overlays'?).")
        try:
            with np.load(path) as data:
                if key not in data.files or key == "path":
                    keys = [name for name in data.files if name != "path"]
                    raise LookupError(f"No heatmap {key!r} in the run; it has {keys}.")
                found = np.flatnonzero(data["path"] == row["path"])
                if not len(found):
                    raise LookupError(f"The heatmap shard {shard!r} lacks row {index}.")
                return data[key][found[0]].astype(np.float32) / np.float32(HEATMAP_SCALE)
        except (OSError, zipfile.BadZipFile) as error:
            raise LookupError(f"Cannot read the heatmap shard {shard!r} ({error}).") from error

    def _with_derived(self, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not columns:
            return {}
        paths = columns["path"]
        names = np.asarray([os.path.basename(path) for path in paths], dtype=str)
        return {**columns, "name": names, "outcome": self._outcomes(columns)}

    def _outcomes(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        labels = columns.get("label", np.full(len(columns["path"]), "", dtype=str))
        known = np.isin(labels, self.class_names)
        outcome = np.full(len(labels), "", dtype="<U5")
        if len(self.class_names) == 2:
            truth = labels == self.class_names[1]
            decided = columns["decision"] == 1
            for text, value in (("TP", truth & decided), ("FP", ~truth & decided),
                                ("FN", truth & ~decided), ("TN", ~truth & ~decided)):  # fmt: skip
                outcome[known & value] = text
            return outcome
        right = labels == columns.get("predicted", labels)
        outcome[known & right] = "right"
        outcome[known & ~right] = "wrong"
        return outcome

    @staticmethod
    def _row(columns: dict[str, np.ndarray], index: int) -> dict[str, Any]:
        return {"index": index, **{name: _json(values[index]) for name, values in columns.items()}}


def _concatenate(tables: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not tables:
        return {}
    return {name: np.concatenate([table[name] for table in tables]) for name in tables[0]}


def _sort_order(values: np.ndarray, descending: bool) -> np.ndarray:
    """A stable order of `values`, NaN last whichever the direction."""
    if values.dtype.kind != "f":
        order = np.argsort(values, kind="stable")
        return order[::-1] if descending else order
    finite = ~np.isnan(values)
    keys = np.where(finite, -values if descending else values, 0.0)
    return np.lexsort((keys, ~finite))


def _json(value: Any) -> Any:
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return str(value)
