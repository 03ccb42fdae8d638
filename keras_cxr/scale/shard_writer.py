"""`ShardWriter`: one shard of an explained archive, gathered batch by batch, then committed.

A shard is complete when its results part exists, and that part is written last: first
the heatmaps (`heatmaps/part-N.npz`), then the skipped files (`skipped/part-N.csv`),
then the results (`results/part-N.parquet` or `.csv`), each atomically. A run killed at
any moment therefore leaves whole shards and, at worst, files of the one shard whose
results part is missing; `remove_incomplete` deletes those before a resumed run writes
that shard again. Overlays are written as their batch comes (keeping them in memory
until the commit would cost a shard's worth of images); an interrupted shard's overlays
are simply written again.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from keras_cxr.atomic import atomic_write, fsync_files
from keras_cxr.data.sources import ImageSource
from keras_cxr.explain.heatmap_statistics import heatmap_statistics
from keras_cxr.scale.heatmap_shards import HEATMAPS_FOLDER, quantize, write_heatmap_shard
from keras_cxr.scale.results_table import (
    RESULTS_FOLDER,
    SKIPPED_FOLDER,
    part_name,
    part_numbers,
    write_part,
)
from keras_cxr.viz.overlay import overlay

OVERLAYS_FOLDER = "overlays"
#: Longest side of the stored heatmaps when `heatmap_size` is not given: a CAM of a 224-px
#: input is 7×7 to 28×28, so 56 keeps all it shows at a sixteenth of the input's pixels.
DEFAULT_HEATMAP_SIZE = 56
#: What `save=` may keep besides the table.
SAVE_OPTIONS = ("heatmaps", "overlays", "both", "none")


class ShardWriter:
    """Gathers the rows, heatmaps and skipped files of shard `number`, and commits them.

    Args:
        out: The run folder.
        number: The shard number.
        heatmap_keys: The heatmap keys of the explainer's outputs (`"heatmap"` first).
        save: One of `SAVE_OPTIONS`.
        table_format: `"parquet"` or `"csv"`.
        class_names: Names of the classes, by decision index.
        heatmap_size: Longest side of the stored heatmaps (shrunk with area averaging,
            never enlarged); None keeps the model's input size. Defaults to
            `DEFAULT_HEATMAP_SIZE`. The table's statistics use the full-size maps.

    Returns:
        A writer; `len(writer)` counts the images it holds, explained or skipped.

    Raises:
        Nothing of its own: `commit` raises `OSError` if the folder cannot be written.

    Example:
        >>> writer = ShardWriter("explained", 0, explainer.heatmap_keys, "both", "csv",
        ...                      ("NORMAL", "PNEUMONIA"))
        >>> writer.add(explainer({"image": images, "path": paths, "label": labels}), images)
        >>> writer.commit()
    """

    def __init__(
        self,
        out: str | os.PathLike,
        number: int,
        heatmap_keys: Sequence[str],
        save: str,
        table_format: str,
        class_names: Sequence[str],
        heatmap_size: int | None = DEFAULT_HEATMAP_SIZE,
    ) -> None:
        self.out = Path(out)
        self.heatmap_size = heatmap_size
        self.number = number
        self.heatmap_keys = list(heatmap_keys)
        self.save = save
        self.table_format = table_format
        self.class_names = list(class_names)
        self._rows: dict[str, list] = {}
        self._maps: dict[str, list[np.ndarray]] = {key: [] for key in self.heatmap_keys}
        self._skipped: list[tuple[ImageSource, str]] = []
        self._unsynced: list[Path] = []  # overlays written, flushed together at the commit

    def __len__(self) -> int:
        return len(self._rows.get("path", ())) + len(self._skipped)

    def add(self, outputs: dict[str, Any], images: np.ndarray) -> None:
        """Adds one explained batch: `BatchExplainer` outputs with `"path"` and `"label"`.

        Args:
            outputs: The explainer's dict for the batch.
            images: The images it explained, at the model's input size, for overlays.

        Returns:
            None; the rows and maps wait in memory for `commit`.

        Raises:
            OSError: If an overlay cannot be written.

        Example:
            >>> writer.add(explainer({"image": images, "path": paths, "label": labels}), images)
        """
        rows = self._table_rows(outputs)
        if self.save in ("overlays", "both"):
            for key in ("heatmap", *_class_keys(self.heatmap_keys)):
                column = key.replace("heatmap", "overlay", 1)  # "overlay", "overlay@VIRAL"
                rows[column] = self._write_overlays(
                    outputs["path"], images, outputs[key], key.partition("@")[2]
                )
        for name, values in rows.items():
            self._rows.setdefault(name, []).extend(values)
        if self.save in ("heatmaps", "both"):
            for key in self.heatmap_keys:  # kept as they will be written: small uint8 maps
                maps = stored_size(np.asarray(outputs[key]), self.heatmap_size)
                self._maps[key].append(quantize(maps))

    def add_skipped(self, skipped: Sequence[tuple[ImageSource, str]]) -> None:
        """Adds files that could not be decoded, each with its reason.

        Args:
            skipped: `(source, reason)` pairs, as in `keras_cxr.data.DecodedBatch.skipped`.

        Returns:
            None; they are written to `skipped/part-N.csv` by `commit`.

        Raises:
            Nothing: it only keeps them.

        Example:
            >>> writer.add_skipped(batch.skipped)
        """
        self._skipped.extend(skipped)

    def commit(self) -> Path:
        """Writes the shard: heatmaps, skipped files, then the results part, atomically.

        The overlays written since the last commit are flushed first, together
        (`keras_cxr.atomic.fsync_files`), so that a part never names an overlay a power
        loss could still take away.

        Returns:
            The results part written.

        Raises:
            OSError: If a file cannot be written.

        Example:
            >>> writer.commit()
            PosixPath('explained/results/part-00000.parquet')
        """
        fsync_files(self._unsynced)  # the overlays reach the disk before the parts naming them
        self._unsynced = []
        paths = self._rows.get("path", [])
        if self.save in ("heatmaps", "both") and paths:
            maps = {}
            for key in self.heatmap_keys:  # each list freed as it is joined: one copy at most
                maps[key] = np.concatenate(self._maps[key])
                self._maps[key] = []
            write_heatmap_shard(
                _mkdir(self.out / HEATMAPS_FOLDER) / part_name(self.number, "npz"), paths, maps
            )
        if self._skipped:
            write_part(
                _mkdir(self.out / SKIPPED_FOLDER) / part_name(self.number, "csv"),
                {
                    "path": [str(source.path) for source, _ in self._skipped],
                    "label": [source.label for source, _ in self._skipped],
                    "reason": [reason for _, reason in self._skipped],
                },
                "csv",
            )
        target = _mkdir(self.out / RESULTS_FOLDER) / part_name(self.number, self.table_format)
        return write_part(target, self._rows or self._empty_columns(), self.table_format)

    def _table_rows(self, outputs: dict[str, Any]) -> dict[str, list]:
        decision = np.asarray(outputs["decision"])
        rows: dict[str, list] = {
            "path": [str(path) for path in outputs["path"]],
            "label": [str(label) for label in outputs["label"]],
            "probability": list(outputs["probability"]),
            "decision": list(decision),
            "predicted": [self._class_name(index) for index in decision],
            "score": list(outputs["score"]),
        }
        given = {
            name.removeprefix(STATISTICS_PREFIX): column
            for name, column in outputs.items()
            if name.startswith(STATISTICS_PREFIX)
        }
        statistics = given or map_statistics(outputs, self.heatmap_keys)
        rows.update({name: list(column) for name, column in statistics.items()})
        if self.save in ("heatmaps", "both"):
            shard = f"{HEATMAPS_FOLDER}/{part_name(self.number, 'npz')}"
            rows["heatmaps"] = [shard] * len(decision)
        return rows

    def _class_name(self, index: int) -> str:
        return self.class_names[index] if 0 <= index < len(self.class_names) else str(index)

    def _empty_columns(self) -> dict[str, list]:
        """The columns of a shard in which every file was skipped: names, no rows."""
        return {name: [] for name in result_columns(self.heatmap_keys, self.save)}

    def _write_overlays(
        self, paths, images: np.ndarray, heatmaps: np.ndarray, class_name: str = ""
    ) -> list[str]:
        folder = _mkdir(self.out / OVERLAYS_FOLDER)
        names = []
        for path, rgb in zip(paths, overlay(images, heatmaps)):
            name = overlay_name(path, class_name)
            ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB image
                raise OSError(f"OpenCV could not encode the overlay of {path}.")
            data = encoded.tobytes()
            written = atomic_write(folder / name, lambda p, d=data: p.write_bytes(d), durable=False)
            self._unsynced.append(written)
            names.append(f"{OVERLAYS_FOLDER}/{name}")
        return names


def result_columns(heatmap_keys: Sequence[str], save: str) -> list[str]:
    """The columns of every results part of a run, in order.

    The run's manifest records them, and `keras_cxr.scale.read_results` checks each part
    against them, so that a part written by another run or version is refused by name.

    Args:
        heatmap_keys: The explainer's heatmap keys (`"heatmap"` first).
        save: One of `SAVE_OPTIONS`.

    Returns:
        The column names.

    Raises:
        Nothing: it names columns.

    Example:
        >>> keras_cxr.scale.shard_writer.result_columns(["heatmap"], "none")[:3]
        ['path', 'label', 'probability']
    """
    names = ["path", "label", "probability", "decision", "predicted", "score"]
    stats = heatmap_statistics({_statistics_name(key): np.zeros((0, 1, 1)) for key in heatmap_keys})
    names += list(stats)
    names += ["heatmaps"] if save in ("heatmaps", "both") else []
    if save in ("overlays", "both"):
        names += [
            "overlay",
            *(k.replace("heatmap", "overlay", 1) for k in _class_keys(heatmap_keys)),
        ]
    return names


def map_statistics(outputs: dict[str, Any], heatmap_keys: Sequence[str]) -> dict[str, np.ndarray]:
    """The table's heatmap-statistics columns of one explained batch, from its full maps.

    A Ray actor computes them before it shrinks the maps it sends to the driver (as
    `STATISTICS_PREFIX + name` columns), so that the table is the one `explain_folder`
    writes from the same full-size maps.

    Args:
        outputs: `keras_cxr.explain.BatchExplainer` outputs.
        heatmap_keys: The heatmap keys to describe (`"heatmap"`, `"heatmap/<branch>"`).

    Returns:
        `"fused/peak_row"`-style columns, as `keras_cxr.explain.heatmap_statistics` names
        them (`"fused"` for the fused map, the branch for each other).

    Raises:
        KeyError: A key of `heatmap_keys` is not in `outputs`.

    Example:
        >>> columns = keras_cxr.scale.shard_writer.map_statistics(outputs, ["heatmap"])
        >>> sorted(columns)[:2]
        ['fused/central_share', 'fused/lung_share']
    """
    return heatmap_statistics({_statistics_name(key): outputs[key] for key in heatmap_keys})


def stored_size(maps: np.ndarray, heatmap_size: int | None) -> np.ndarray:
    """Maps `(n, H, W)` shrunk so that their longer side is at most `heatmap_size`.

    Args:
        maps: Heatmaps in [0, 1].
        heatmap_size: The longest side kept; None, or a side already within it, returns
            `maps` unchanged. The aspect ratio is kept (each side rounded).

    Returns:
        float32 maps `(n, h, w)`, resized with `cv2.INTER_AREA` (the mean of each cell).

    Raises:
        Nothing: the size was checked by `explain_folder`.

    Example:
        >>> keras_cxr.scale.shard_writer.stored_size(np.zeros((2, 224, 224)), 56).shape
        (2, 56, 56)
    """
    height, width = maps.shape[1:3]
    if heatmap_size is None or max(height, width) <= heatmap_size:
        return maps
    factor = heatmap_size / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    resized = [cv2.resize(m.astype(np.float32), size, interpolation=cv2.INTER_AREA) for m in maps]
    return np.stack(resized) if resized else np.zeros((0, size[1], size[0]), np.float32)


def overlay_name(path: str | os.PathLike, class_name: str = "") -> str:
    """The overlay file of an image: its stem and a short hash of its full path, `.png`.

    The hash keeps `a/NORMAL/1.jpeg` and `b/NORMAL/1.jpeg` apart; the same image always
    gets the same name, so a resumed run overwrites rather than duplicates. The map of one
    class (`BatchExplainer(all_classes=True)`) ends in that class's name.

    Args:
        path: The image file (absolute, as in the results table).
        class_name: The explained class, for a per-class map; "" for the decided class.
            Defaults to "".

    Returns:
        A file name like `IM-0001-0001-3fa2c1d0.png` (`...-3fa2c1d0-VIRAL.png`).

    Raises:
        Nothing: only the path's text is read.

    Example:
        >>> keras_cxr.scale.shard_writer.overlay_name("/data/NORMAL/IM-0001-0001.jpeg")
        'IM-0001-0001-5b0e1c5a.png'
    """
    text = os.fspath(path)
    stem = re.sub(r"[^\w.-]+", "_", Path(text).stem)
    suffix = "-" + re.sub(r"[^\w.-]+", "_", class_name) if class_name else ""
    return f"{stem}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:8]}{suffix}.png"


def remove_incomplete(out: str | os.PathLike) -> None:
    """Deletes what an interrupted shard left: parts without results, hidden temporaries.

    Args:
        out: The run folder.

    Returns:
        None.

    Raises:
        OSError: If a file cannot be removed.

    Example:
        >>> keras_cxr.scale.shard_writer.remove_incomplete("explained")
    """
    out = Path(out)
    complete = set(part_numbers(out / RESULTS_FOLDER))
    for folder in (HEATMAPS_FOLDER, SKIPPED_FOLDER, RESULTS_FOLDER, OVERLAYS_FOLDER):
        if not (out / folder).is_dir():
            continue
        for path in (out / folder).iterdir():
            number = re.match(r"^part-(\d{5,})\.", path.name)
            orphan = (
                folder != OVERLAYS_FOLDER and number is not None and int(number[1]) not in complete
            )
            if path.is_file() and (path.name.startswith(".") or orphan):
                path.unlink()


#: Prefix of precomputed statistics columns in a batch (see `map_statistics`).
STATISTICS_PREFIX = "statistics:"


def _statistics_name(heatmap_key: str) -> str:
    """`"heatmap"` → `"fused"`, `"heatmap/b3"` → `"b3"`, `"heatmap@VIRAL"` → `"VIRAL"`.

    The prefix of the key's table columns.
    """
    if heatmap_key == "heatmap":
        return "fused"
    return heatmap_key.removeprefix("heatmap/").removeprefix("heatmap@")


def _class_keys(heatmap_keys: Sequence[str]) -> list[str]:
    """The per-class keys, `"heatmap@<class>"`, of `BatchExplainer(all_classes=True)`."""
    return [key for key in heatmap_keys if key.startswith("heatmap@")]


def _mkdir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder
