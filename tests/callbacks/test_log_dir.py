"""Tests of `keras_cxr.callbacks.log_dir.LogDir`."""

from __future__ import annotations

import pytest

from keras_cxr.callbacks.log_dir import LogDir

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def test_made_on_first_use_and_noticed_when_deleted(tmp_path):
    log_dir = LogDir(tmp_path / "logs" / "gradcam")
    assert log_dir.path == str(tmp_path / "logs" / "gradcam") and not log_dir.exists()
    problems = []
    assert log_dir.ensure(problems) and log_dir.exists() and problems == []
    assert log_dir.ensure(problems) and problems == []
    (tmp_path / "logs" / "gradcam").rmdir()
    assert log_dir.ensure(problems) and log_dir.exists()
    assert problems == ["log_dir had been deleted during training, so it was created again"]


def test_a_folder_that_cannot_be_made_is_a_problem_not_an_error(tmp_path):
    (tmp_path / "file").write_text("")
    problems = []
    assert not LogDir(tmp_path / "file" / "gradcam").ensure(problems)
    assert len(problems) == 1 and problems[0].startswith("log_dir could not be created (")
