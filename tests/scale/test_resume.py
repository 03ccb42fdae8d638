"""Interrupted and resumed runs of `keras_cxr.explain_folder` end with the same table."""

from __future__ import annotations

import numpy as np
import pytest

import keras_cxr
from keras_cxr.explain import BatchExplainer
from keras_cxr.scale import RunMismatchError, read_heatmaps, read_results

from ._reference import STORED_TOLERANCE, image_files


class _DiesOnCall(BatchExplainer):
    """The module's explainer, raising on its `calls + 1`-th batch, like a killed run."""

    def __init__(self, inner: BatchExplainer, calls: int) -> None:
        self.__dict__.update(inner.__dict__)
        self._left = calls

    def __call__(self, batch):
        if self._left == 0:
            raise RuntimeError("killed")
        self._left -= 1
        return super().__call__(batch)


def _run(explainer, sources, out, **overrides):
    options = {"batch_size": 4, "shard_size": 4, "table_format": "csv", "progress": False}
    options.update(overrides)
    return keras_cxr.explain_folder(explainer, sources, out, **options)


@pytest.fixture(scope="module")
def uninterrupted(explainer, archive, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "out"
    _run(explainer, archive, out)
    return read_results(out), read_heatmaps(out)


def _assert_same_run(out, uninterrupted):
    table, maps = uninterrupted
    again, again_maps = read_results(out), read_heatmaps(out)
    assert list(again) == list(table)
    for name in table:
        if name == "heatmaps":  # where a row's maps are depends on where the run stopped
            for path, shard in zip(again["path"], again["heatmaps"]):
                with np.load(out / shard) as data:
                    assert path in data["path"]
        elif table[name].dtype.kind == "f":
            np.testing.assert_allclose(again[name], table[name], rtol=1e-6, atol=1e-6)
        else:
            np.testing.assert_array_equal(again[name], table[name], err_msg=name)
    assert list(again_maps["path"]) == list(maps["path"])
    np.testing.assert_allclose(again_maps["heatmap"], maps["heatmap"], atol=STORED_TOLERANCE)


def test_resume_skips_what_is_done_and_ends_with_the_same_table(
    explainer, archive, tmp_path, uninterrupted
):
    out = tmp_path / "out"
    files = image_files(archive)
    first = _run(explainer, files[:9], out)  # the first half, as if the run stopped there
    resumed = _run(explainer, archive, out, resume=True)
    assert (first.explained, resumed.explained, resumed.resumed) == (9, 9, 9)
    _assert_same_run(out, uninterrupted)
    assert _run(explainer, archive, out, resume=True).explained == 0


def test_a_run_killed_after_one_shard_keeps_whole_shards_and_resumes(
    explainer, archive, tmp_path, uninterrupted
):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="killed"):
        _run(_DiesOnCall(explainer, calls=1), archive, out)
    assert [p.name for p in (out / "results").iterdir()] == ["part-00000.csv"]
    assert [p.name for p in (out / "heatmaps").iterdir()] == ["part-00000.npz"]
    assert len(read_results(out)["path"]) == 4
    summary = _run(explainer, archive, out, resume=True)
    assert (summary.resumed, summary.explained) == (4, 14)
    _assert_same_run(out, uninterrupted)


def test_leftovers_of_a_shard_killed_while_committing_are_removed(
    explainer, archive, tmp_path, uninterrupted
):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="killed"):
        _run(_DiesOnCall(explainer, calls=2), archive, out, shard_size=8)
    # What a kill between the heatmap shard and the results part, or inside a write, leaves.
    (out / "heatmaps" / "part-00001.npz").write_bytes(b"half a shard")
    (out / "results" / ".part-00001.x1y2.csv").write_bytes(b"temporary")
    summary = _run(explainer, archive, out, resume=True, shard_size=8)
    assert (summary.resumed, summary.explained) == (8, 10)
    assert not any(p.name.startswith(".") for p in (out / "results").iterdir())
    _assert_same_run(out, uninterrupted)


def test_resume_refuses_another_models_or_methods_run(
    explainer, model_file, two_branch_ensemble, archive, tmp_path
):
    out = tmp_path / "out"
    _run(explainer, archive / "test" / "NORMAL", out)
    other = keras_cxr.models.save_model(
        keras_cxr.StackedEnsemble(
            backbones=["cnn_3x3"], input_shape=(32, 32, 3), weights=None, head_units=(4,)
        ),
        tmp_path / "other.keras",
    )
    with pytest.raises(RunMismatchError, match=r"explained by another model.*model_fingerprint '"):
        _run(other, archive, out, resume=True)
    with pytest.raises(RunMismatchError, match=r"method 'gradcam' there, 'hirescam' now"):
        _run(model_file, archive, out, resume=True, method="hirescam")
    with pytest.raises(RunMismatchError, match=r"threshold 0.4809 there, 0.5 now"):
        _run(model_file, archive, out, resume=True, threshold=0.5)
    with pytest.raises(RunMismatchError, match=r"save 'heatmaps' there, 'both' now"):
        _run(explainer, archive, out, resume=True, save="both")
    assert len(read_results(out)["path"]) == 3  # the run is left as it was


def test_a_read_that_keeps_failing_with_io_errors_is_left_pending(
    explainer, archive, tmp_path, monkeypatch
):
    import errno

    from keras_cxr.data import images, prefetch
    from keras_cxr.scale import read_skipped

    flaky = sorted((archive / "test" / "NORMAL").iterdir())[1]
    real_fromfile = np.fromfile

    def fromfile(path, *args, **kwargs):
        if str(path) == str(flaky):
            raise OSError(errno.EIO, "Input/output error")
        return real_fromfile(path, *args, **kwargs)

    monkeypatch.setattr(images.np, "fromfile", fromfile)
    monkeypatch.setattr(prefetch.time, "sleep", lambda seconds: None)
    out = tmp_path / "out"
    with pytest.warns(RuntimeWarning, match=r"1 file\(s\) kept failing with I/O errors.*resume"):
        summary = _run(explainer, archive / "test", out)
    assert (summary.explained, summary.skipped, summary.pending) == (5, 0, 1)
    assert "pending   1 file kept failing with I/O errors" in str(summary)
    assert str(flaky) not in set(read_results(out)["path"]) and read_skipped(out) == {}

    monkeypatch.setattr(images.np, "fromfile", real_fromfile)  # the share is back
    again = _run(explainer, archive / "test", out, resume=True)
    assert (again.explained, again.resumed, again.pending) == (1, 5, 0)
    assert str(flaky) in set(read_results(out)["path"])


def test_retry_skipped_explains_files_fixed_since(explainer, archive, tmp_path):
    import shutil

    from keras_cxr.scale import read_skipped

    root = shutil.copytree(archive / "test", tmp_path / "scans")
    good = sorted((root / "NORMAL").iterdir())[0]
    broken, still_broken = root / "NORMAL" / "broken.png", root / "NORMAL" / "zz.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    still_broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "out"
    first = _run(explainer, root, out)
    assert (first.explained, first.skipped) == (6, 2)

    broken.write_bytes(good.read_bytes())  # re-exported
    unchanged = _run(explainer, root, out, resume=True)
    assert (unchanged.explained, unchanged.resumed) == (0, 8)  # skipped files count as done
    retried = _run(explainer, root, out, resume=True, retry_skipped=True)
    assert (retried.explained, retried.skipped, retried.resumed) == (1, 1, 6)
    assert str(broken) in set(read_results(out)["path"])
    skipped = read_skipped(out)
    assert list(skipped["path"]) == [str(still_broken)]  # once, with its latest reason
    assert skipped["reason"][0] == (
        f"Cannot decode {str(still_broken)!r}: it is not a readable JPEG or PNG file "
        "(corrupt, truncated or another format). Remove or re-export it."
    )


def test_a_recalibrated_model_does_not_resume_into_the_same_table(explainer, archive, tmp_path):
    import copy

    out = tmp_path / "out"
    _run(explainer, archive / "test", out)
    recalibrated = copy.copy(explainer)
    recalibrated.temperature = explainer.temperature * 2.0
    with pytest.raises(RunMismatchError, match=r"temperature 1.0 there, 2.0 now"):
        _run(recalibrated, archive / "test", out, resume=True)


def test_a_resume_without_save_keeps_what_the_run_saves(explainer, archive, tmp_path):
    from keras_cxr.scale import read_manifest

    out = tmp_path / "out"
    _run(explainer, archive / "test" / "NORMAL", out, save="overlays")
    again = _run(explainer, archive / "test", out, resume=True)  # no save: the run's own
    assert again.overlays == out / "overlays" and again.explained == 3
    assert read_manifest(out)["save"] == "overlays"
    new = _run(explainer, archive / "test" / "NORMAL", tmp_path / "new")
    assert read_manifest(tmp_path / "new")["save"] == "heatmaps" and new.overlays is None


def test_parts_are_checked_against_the_manifest_when_read(explainer, archive, tmp_path):
    from keras_cxr.scale.results_table import PartMismatchError

    out = tmp_path / "out"
    _run(explainer, archive / "test", out)  # shards of 4: parts 0 and 1
    part = out / "results" / "part-00001.csv"
    lines = part.read_text().splitlines()
    part.write_text("\n".join([lines[0].replace(",score,", ",logit,"), *lines[1:]]) + "\n")
    with pytest.raises(PartMismatchError, match=r"part-00001.csv' does not hold the run's "
                       r"columns \(missing \['score'\], extra \['logit'\]\)"):  # fmt: skip
        read_results(out)
    part.write_text("\n".join([lines[0], lines[1], lines[2][: len(lines[2]) // 2]]) + "\n")
    with pytest.raises(PartMismatchError, match=r"part-00001.csv' is torn: line 3 has"):
        _run(explainer, archive / "test", out, resume=True)
