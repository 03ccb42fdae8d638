"""`keras_cxr.scale.ray.explain_dataset` on a local Ray cluster writes `explain_folder`'s run.

One cluster of 2 CPUs serves the module. Its workers are given this checkout's keras_cxr
(`PYTHONPATH`), and a test checks that they import it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

import keras_cxr
from keras_cxr.scale import read_heatmaps, read_manifest, read_results, read_skipped

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from keras_cxr.scale.ray import explain_dataset  # noqa: E402

from ._reference import STORED_TOLERANCE  # noqa: E402

CHECKOUT = str(Path(keras_cxr.__file__).resolve().parents[1])
OPTIONS = {"batch_size": 4, "shard_size": 8, "table_format": "csv", "progress": False}


@pytest.fixture(scope="module", autouse=True)
def cluster():
    if ray.is_initialized():  # pragma: no cover - another module's cluster
        ray.shutdown()
    paths = [CHECKOUT, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}},
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def damaged_archive(archive, tmp_path_factory):
    """The phantoms and three files that cannot be used: corrupt, empty, too small."""
    root = shutil.copytree(archive, tmp_path_factory.mktemp("damaged") / "chest_xray")
    (root / "test" / "NORMAL" / "broken.jpeg").write_bytes(b"\xff\xd8 not really a JPEG")
    (root / "train" / "NORMAL" / "empty.png").write_bytes(b"")
    cv2.imwrite(str(root / "train" / "PNEUMONIA" / "icon.png"), np.zeros((8, 8), np.uint8))
    return root


@pytest.fixture(scope="module")
def single_process(explainer, damaged_archive, tmp_path_factory):
    """The run folder `explain_folder` writes, to compare against."""
    out = tmp_path_factory.mktemp("folder") / "out"
    keras_cxr.explain_folder(explainer, damaged_archive, out, save="both", **OPTIONS)
    return out


def test_workers_import_this_checkout():
    @ray.remote
    def where() -> str:
        import keras_cxr

        return keras_cxr.__file__

    assert ray.get(where.remote()) == keras_cxr.__file__


def _assert_same_run(out: Path, expected: Path) -> None:
    table, reference = read_results(out), read_results(expected)
    assert list(table) == list(reference)
    assert list(table["path"]) == list(reference["path"])  # input order, same shards
    for name in reference:
        if reference[name].dtype.kind == "f":
            np.testing.assert_allclose(table[name], reference[name], atol=1e-5, err_msg=name)
        else:
            np.testing.assert_array_equal(table[name], reference[name], err_msg=name)
    maps, reference_maps = read_heatmaps(out), read_heatmaps(expected)
    assert sorted(maps) == sorted(reference_maps)
    assert list(maps["path"]) == list(reference_maps["path"])
    for key in reference_maps:
        if key != "path":
            np.testing.assert_allclose(
                maps[key], reference_maps[key], atol=STORED_TOLERANCE, err_msg=key
            )
    skipped, reference_skipped = read_skipped(out), read_skipped(expected)
    for name in ("path", "label", "reason"):
        assert list(skipped[name]) == list(reference_skipped[name]), name
    for folder in ("results", "heatmaps", "skipped", "overlays"):
        assert (out / folder).exists() == (expected / folder).exists(), folder
        if not (expected / folder).exists():
            continue
        files = sorted(p.name for p in (out / folder).iterdir())
        assert files == sorted(p.name for p in (expected / folder).iterdir()), folder


@pytest.mark.slow
def test_the_same_run_as_explain_folder(model_file, damaged_archive, single_process, tmp_path):
    out = tmp_path / "out"
    summary = explain_dataset(model_file, damaged_archive, out, save="both", **OPTIONS)
    assert (summary.explained, summary.skipped, summary.resumed) == (18, 3, 0)
    _assert_same_run(out, single_process)
    reasons = dict(
        zip((p.rsplit("/", 1)[1] for p in read_skipped(out)["path"]), read_skipped(out)["reason"])
    )
    assert reasons["broken.jpeg"].startswith("Cannot decode")
    assert "is 8×8 pixels; at least 32×32 is needed" in reasons["icon.png"]
    for name in sorted(p.name for p in (out / "overlays").iterdir())[:4]:
        drawn = cv2.imread(str(out / "overlays" / name)).astype(int)
        expected = cv2.imread(str(single_process / "overlays" / name)).astype(int)
        assert np.abs(drawn - expected).max() <= 1, name
    manifest, reference = read_manifest(out), read_manifest(single_process)
    assert manifest == reference  # so either function may resume the other's run
    again = keras_cxr.explain_folder(
        model_file, damaged_archive, out, save="both", resume=True, **OPTIONS
    )
    assert (again.explained, again.resumed) == (0, 21)


@pytest.mark.slow
def test_resume_after_a_lost_shard(model_file, damaged_archive, single_process, tmp_path):
    out = tmp_path / "out"
    explain_dataset(model_file, damaged_archive, out, save="both", **OPTIONS)
    (out / "results" / "part-00001.csv").unlink()  # killed while committing shard 1
    (out / "results" / "part-00002.csv").unlink()
    summary = explain_dataset(model_file, damaged_archive, out, save="both", resume=True, **OPTIONS)
    assert summary.resumed == 8 and summary.explained + summary.skipped == 13
    _assert_same_run(out, single_process)


@pytest.mark.slow
def test_two_actors_send_shrunk_maps_and_write_the_same_run(
    model_file, explainer, damaged_archive, tmp_path
):
    options = {**OPTIONS, "save": "heatmaps", "heatmap_size": 8}
    expected = tmp_path / "folder"
    keras_cxr.explain_folder(explainer, damaged_archive, expected, **options)
    out = tmp_path / "out"
    summary = explain_dataset(model_file, damaged_archive, out, concurrency=2, **options)
    assert (summary.explained, summary.skipped) == (18, 3)
    assert 0 < summary.startup_seconds < summary.seconds
    assert read_heatmaps(out)["heatmap"].shape == (18, 8, 8)
    _assert_same_run(out, expected)
