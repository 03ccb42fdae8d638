"""The manifest decides whether a folder may take a run, and whether it is the same run."""

from __future__ import annotations

import json

import pytest

from keras_cxr.scale import OutputExistsError, RunMismatchError, read_manifest
from keras_cxr.scale.run_manifest import KIND, check_output, start_run

MANIFEST = {
    "model_fingerprint": "abc",
    "method": "gradcam",
    "target_layers": ["a/b"],
    "score": "logit",
    "threshold": 0.5,
    "save": "heatmaps",
    "table_format": "csv",
}


def test_a_new_run_writes_its_manifest_first(tmp_path):
    out = tmp_path / "new" / "run"
    assert check_output(out, resume=False) is None and not out.exists()
    assert start_run(out, MANIFEST, None) == {"kind": KIND, **MANIFEST}
    assert json.loads((out / "manifest.json").read_text())["kind"] == KIND
    assert read_manifest(out)["method"] == "gradcam"


def test_resume_returns_the_existing_manifest_and_keeps_its_format(tmp_path):
    start_run(tmp_path, MANIFEST, None)
    existing = check_output(tmp_path, resume=True)
    same = start_run(tmp_path, {**MANIFEST, "table_format": "parquet"}, existing)
    assert same["table_format"] == "csv"


def test_every_identity_field_must_match(tmp_path):
    start_run(tmp_path, MANIFEST, None)
    existing = check_output(tmp_path, resume=True)
    changed = {**MANIFEST, "target_layers": ["a/c"], "score": "probability"}
    with pytest.raises(
        RunMismatchError,
        match=r"target_layers \['a/b'\] there, \['a/c'\] now; score 'logit' there, "
        r"'probability' now\), so resuming would mix two runs",
    ):
        start_run(tmp_path, changed, existing)


def test_foreign_or_broken_manifests_are_not_runs(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    assert read_manifest(tmp_path) is None
    with pytest.raises(OutputExistsError, match=r"no keras_cxr manifest\.json"):
        check_output(tmp_path, resume=True)


@pytest.mark.parametrize(
    ("field", "there", "now"),
    [
        ("temperature", 1.0, 1.7),
        ("class_names", ["NORMAL", "PNEUMONIA"], ["normal", "pneumonia"]),
        ("all_classes", False, True),
        ("heatmap_size", 56, 28),
        ("save", "heatmaps", "overlays"),
        ("keras_cxr_version", "0.1.0", "0.2.0"),
        ("image_size", [224, 224], [256, 256]),
    ],
)
def test_everything_that_changes_a_row_must_match(tmp_path, field, there, now):
    start_run(tmp_path, {**MANIFEST, field: there}, None)
    existing = check_output(tmp_path, resume=True)
    with pytest.raises(RunMismatchError, match=rf"\({field} .* there, .* now\), so resuming"):
        start_run(tmp_path, {**MANIFEST, field: now}, existing)


def test_a_manifest_without_all_classes_meant_false(tmp_path):
    start_run(tmp_path, MANIFEST, None)  # written before the field existed
    existing = check_output(tmp_path, resume=True)
    assert start_run(tmp_path, {**MANIFEST, "all_classes": False}, existing) == existing
