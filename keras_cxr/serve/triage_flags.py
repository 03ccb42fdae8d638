"""`TriageFlags`: a reviewer's flags and notes on the rows of a run, kept in their own file.

The file (`triage.json` beside the results, by default) is the only thing the run viewer
writes: each change rewrites it atomically (`keras_cxr.atomic.atomic_write_json`, the
last version kept as `.prev`), so a crash never leaves half a file, and the run's results
parts are never touched. Flags are keyed by the image's path, so they survive a run that
grows or is resumed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from keras_cxr.atomic import atomic_write_json

__all__ = ["TRIAGE_FILE", "TriageFlags"]

#: The file name of the flags, in the run folder unless another file is given.
TRIAGE_FILE = "triage.json"
#: The longest note kept, in characters.
MAX_NOTE_CHARS = 10_000
_CSV_COLUMNS = ("path", "flagged", "note", "label", "probability", "decision", "outcome")


class TriageFlags:
    """Flags and notes on a run's images, read from and saved to one JSON file.

    Args:
        path: The JSON file; it need not exist yet.

    Returns:
        The flags; `set` changes one image's entry and saves, `csv_text` exports them.

    Raises:
        ValueError: If `path` exists but is not a flags file of this kind.

    Example:
        >>> flags = keras_cxr.serve.TriageFlags("explained/triage.json")
        >>> flags.set("/data/NORMAL/IM-0001.jpeg", flagged=True, note="check the apex")
        {'flagged': True, 'note': 'check the apex'}
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = self._load()

    def _load(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        try:
            entries = json.loads(self.path.read_text(encoding="utf-8"))["flags"]
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"{str(self.path)!r} is not a triage flags file ({error}); move it away or "
                "pass another file for the flags."
            ) from error
        return {str(path): dict(entry) for path, entry in entries.items()}

    def get(self, path: str) -> dict[str, Any]:
        """The entry of one image: `{"flagged": bool, "note": str}` (unflagged by default).

        Args:
            path: The image's path, as the results table holds it.

        Returns:
            A copy of the entry.

        Example:
            >>> flags.get("/data/NORMAL/IM-0001.jpeg")["flagged"]
            True
        """
        entry = self._entries.get(path, {})
        return {"flagged": bool(entry.get("flagged", False)), "note": str(entry.get("note", ""))}

    def set(
        self, path: str, flagged: bool | None = None, note: str | None = None
    ) -> dict[str, Any]:
        """Changes one image's flag and/or note and saves the file atomically.

        Args:
            path: The image's path, as the results table holds it.
            flagged: The new flag; None keeps it. Defaults to None.
            note: The new note; None keeps it. Defaults to None.

        Returns:
            The image's entry after the change.

        Raises:
            ValueError: If the note is longer than `MAX_NOTE_CHARS`.
            OSError: If the file cannot be written.

        Example:
            >>> flags.set("/data/NORMAL/IM-0001.jpeg", flagged=False)["note"]
            'check the apex'
        """
        if note is not None and len(note) > MAX_NOTE_CHARS:
            raise ValueError(f"A note holds at most {MAX_NOTE_CHARS} characters; this has "
                             f"{len(note)}.")  # fmt: skip
        with self._lock:
            entry = self.get(path)
            if flagged is not None:
                entry["flagged"] = bool(flagged)
            if note is not None:
                entry["note"] = note
            if entry["flagged"] or entry["note"]:
                self._entries[path] = entry
            else:
                self._entries.pop(path, None)
            atomic_write_json(self.path, {"flags": self._entries}, keep_previous=True)
            return dict(entry)

    def mask(self, paths: np.ndarray) -> np.ndarray:
        """Which of `paths` are flagged.

        Args:
            paths: The image paths of a run's rows.

        Returns:
            A bool array, one entry per path.

        Example:
            >>> flags.mask(np.array(["/data/NORMAL/IM-0001.jpeg", "b.png"])).tolist()
            [True, False]
        """
        flagged = [path for path, entry in self._entries.items() if entry.get("flagged")]
        return np.isin(paths, flagged)

    def csv_text(self, rows: dict[str, dict[str, Any]]) -> str:
        """The flagged or annotated images as CSV, with their row's label and prediction.

        Args:
            rows: Image path → its row in the run (`keras_cxr.serve.RunTable.row`); an
                image not in the run gets empty columns.

        Returns:
            CSV text with a header: path, flagged, note, label, probability, decision,
            outcome; images in path order.

        Example:
            >>> print(flags.csv_text({}))
            path,flagged,note,label,probability,decision,outcome
            /data/NORMAL/IM-0001.jpeg,true,check the apex,,,,
        """
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(_CSV_COLUMNS)
        for path in sorted(self._entries):
            entry, row = self.get(path), rows.get(path, {})
            writer.writerow([path, "true" if entry["flagged"] else "false", entry["note"],
                             *(_cell(row.get(name)) for name in _CSV_COLUMNS[3:])])  # fmt: skip
        return buffer.getvalue()

    def paths(self) -> list[str]:
        """The images with an entry (flagged or with a note), in path order.

        Returns:
            Their paths.

        Example:
            >>> flags.paths()
            ['/data/NORMAL/IM-0001.jpeg']
        """
        return sorted(self._entries)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)
