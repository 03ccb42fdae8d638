"""`keras_cxr.atomic`: files and folders that are never seen half-written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from keras_cxr.atomic import (
    atomic_folder,
    atomic_write,
    atomic_write_json,
    existing_snapshot,
    fsync_files,
)


def test_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "metrics.json"
    atomic_write_json(path, {"auc": 0.9})

    def crash(temporary):
        temporary.write_text('{"auc": 0.')  # half-written
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, crash)
    assert json.loads(path.read_text()) == {"auc": 0.9}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_keep_previous_renames_the_replaced_file(tmp_path):
    path = tmp_path / "best.weights.h5"
    atomic_write(path, lambda p: p.write_bytes(b"first"), keep_previous=True)
    atomic_write(path, lambda p: p.write_bytes(b"second"), keep_previous=True)
    assert path.read_bytes() == b"second"
    assert (tmp_path / "best.weights.h5.prev").read_bytes() == b"first"


def test_json_turns_numpy_and_non_finite_values_into_plain_json(tmp_path):
    path = atomic_write_json(
        tmp_path / "x.json", {"a": np.float32(0.5), "b": np.arange(2), "c": float("nan")}
    )
    assert json.loads(path.read_text()) == {"a": 0.5, "b": [0, 1], "c": None}


def test_folder_snapshot_falls_back_to_prev_between_the_two_renames(tmp_path):
    folder = tmp_path / "last"
    for value in ("1", "2"):
        with atomic_folder(folder) as temporary:
            (temporary / "state.json").write_text(value)
    assert (folder / "state.json").read_text() == "2"
    assert (tmp_path / "last.prev" / "state.json").read_text() == "1"
    # A kill right after `last` was moved to `last.prev` leaves only the previous one.
    import shutil

    shutil.rmtree(folder)
    assert existing_snapshot(folder) == tmp_path / "last.prev"


def test_failed_folder_snapshot_keeps_the_old_one(tmp_path):
    folder = tmp_path / "last"
    with atomic_folder(folder) as temporary:
        (temporary / "state.json").write_text("good")
    with pytest.raises(RuntimeError), atomic_folder(folder) as temporary:
        (temporary / "state.json").write_text("half")
        raise RuntimeError("killed")
    assert (folder / "state.json").read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]


# ----------------------------------------------------------------- model files


def _record_syncs(monkeypatch) -> list[tuple[str, str]]:
    """Logs `("fsync", name)` and `("replace", name)` in the order they happen."""
    import os

    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(handle):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{handle}").rsplit("/", 1)[1]))
        return real_fsync(handle)

    def replace(source, target):
        events.append(("replace", str(target).rsplit("/", 1)[1]))
        return real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self/fd"), reason="needs /proc")
def test_the_data_is_fsynced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events = _record_syncs(monkeypatch)
    atomic_write_json(tmp_path / "part.json", {"rows": 3})
    assert [kind for kind, _ in events] == ["fsync", "replace", "fsync"]
    assert events[0][1].startswith(".part.") and events[0][1].endswith(".json")  # temporary
    assert events[1:] == [("replace", "part.json"), ("fsync", tmp_path.name)]

    events.clear()
    with atomic_folder(tmp_path / "snapshot") as folder:
        (folder / "weights.h5").write_bytes(b"w")
    names = [name for _, name in events]
    assert names.index("weights.h5") < names.index("snapshot")  # file synced before swap
    assert events[-2:] == [("replace", "snapshot"), ("fsync", tmp_path.name)]


@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self/fd"), reason="needs /proc")
def test_files_written_for_later_are_flushed_together(tmp_path, monkeypatch):
    events = _record_syncs(monkeypatch)
    for name in ("a.png", "b.png"):
        atomic_write(tmp_path / name, lambda p: p.write_bytes(b"png"), durable=False)
    assert [kind for kind, _ in events] == ["replace", "replace"]  # nothing flushed yet
    events.clear()
    fsync_files([tmp_path / "a.png", tmp_path / "b.png"])
    assert sorted(events) == [("fsync", "a.png"), ("fsync", "b.png"), ("fsync", tmp_path.name)]
    assert events[-1] == ("fsync", tmp_path.name)  # the folder after its files
