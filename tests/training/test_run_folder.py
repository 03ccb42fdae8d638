"""`keras_cxr.training.run_folder`: which folders a run may write into, and what it removes."""

from __future__ import annotations

import pytest

from keras_cxr.training import RunExistsError, check_writable
from keras_cxr.training.run_folder import MARKER_FILE, holds_run, prepare_run_folder


def test_new_and_empty_folders_become_marked_run_folders(tmp_path):
    fresh = prepare_run_folder(tmp_path / "a" / "b", resume=False, overwrite=False)
    assert (fresh / MARKER_FILE).is_file() and holds_run(fresh)
    (tmp_path / "empty").mkdir()
    assert holds_run(prepare_run_folder(tmp_path / "empty", resume=False, overwrite=False))


def test_a_folder_of_other_files_is_refused_and_left_untouched(tmp_path):
    (tmp_path / "model.keras").write_bytes(b"the user's own model")
    with pytest.raises(RunExistsError, match="holds files but no keras_cxr training run"):
        prepare_run_folder(tmp_path, resume=False, overwrite=False)
    with pytest.raises(RunExistsError, match="--overwrite"):
        prepare_run_folder(tmp_path, resume=True, overwrite=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]
    assert (tmp_path / "model.keras").read_bytes() == b"the user's own model"


def test_overwrite_writes_beside_other_files_and_keeps_them(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    prepare_run_folder(tmp_path, resume=False, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert holds_run(tmp_path)


def test_an_existing_run_needs_resume_or_overwrite(tmp_path):
    prepare_run_folder(tmp_path, resume=False, overwrite=False)
    (tmp_path / "history.csv").write_text("stage,epoch\nmain,0\n")
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "best_main.weights.h5").write_bytes(b"x")
    with pytest.raises(RunExistsError, match="already holds a training run"):
        prepare_run_folder(tmp_path, resume=False, overwrite=False)
    assert prepare_run_folder(tmp_path, resume=True, overwrite=False) == tmp_path
    assert (tmp_path / "history.csv").exists()  # resuming removes nothing
    prepare_run_folder(tmp_path, resume=False, overwrite=True)
    assert not (tmp_path / "history.csv").exists()
    assert not (tmp_path / "checkpoints").exists()


def test_runs_written_before_the_marker_still_count_as_runs(tmp_path):
    (tmp_path / "history.csv").write_text("stage,epoch\n")
    assert holds_run(tmp_path)
    with pytest.raises(RunExistsError, match="already holds a training run"):
        prepare_run_folder(tmp_path, resume=False, overwrite=False)


def test_check_writable_names_the_file_in_the_way_and_creates_nothing(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="is a file"):
        check_writable(tmp_path / "file" / "run")
    check_writable(tmp_path / "new" / "deeper")
    assert not (tmp_path / "new").exists()
