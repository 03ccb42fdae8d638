"""`keras_cxr.explain_folder`: the table, shards and overlays, read back and checked."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

import keras_cxr
from keras_cxr.scale import read_heatmaps, read_results, read_skipped
from keras_cxr.viz import overlay

from ._reference import HEATMAP_TOLERANCE, image_files, reference, reference_statistics


def _formats():
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return ["csv", pytest.param("parquet", marks=pytest.mark.skip(reason="needs pyarrow"))]
    return ["csv", "parquet"]


@pytest.mark.parametrize("table_format", _formats())
def test_table_and_heatmap_shards_hold_the_explainers_answers(
    explainer, archive, tmp_path, table_format
):
    out = tmp_path / "explained"
    summary = keras_cxr.explain_folder(
        explainer,
        archive,
        out,
        batch_size=4,
        shard_size=8,
        table_format=table_format,
        progress=False,
    )
    paths = image_files(archive)
    _, expected = reference(explainer, paths)  # one batch of 18, not batches of 4
    table = read_results(out)
    assert list(table["path"]) == [str(path) for path in paths]
    assert list(table["label"]) == [path.parent.name for path in paths]
    np.testing.assert_allclose(table["probability"], expected["probability"], rtol=1e-6)
    np.testing.assert_array_equal(table["decision"], expected["decision"])
    assert 0 < table["decision"].sum() < len(paths)  # the stored threshold splits them
    assert list(table["predicted"]) == [("NORMAL", "PNEUMONIA")[d] for d in expected["decision"]]
    np.testing.assert_allclose(table["score"], expected["score"], rtol=1e-5, atol=1e-6)
    for name, column in reference_statistics(explainer, expected).items():
        np.testing.assert_allclose(table[name], column, atol=1e-5, err_msg=name)
    suffix = "parquet" if table_format == "parquet" else "csv"
    assert [p.name for p in summary.tables] == [f"part-0000{i}.{suffix}" for i in range(3)]
    assert (summary.explained, summary.skipped, summary.resumed) == (18, 0, 0)
    maps = read_heatmaps(out)
    assert list(maps["path"]) == list(table["path"]) and maps["heatmap"].dtype == np.float32
    for key in explainer.heatmap_keys:
        np.testing.assert_allclose(maps[key], expected[key], atol=HEATMAP_TOLERANCE, err_msg=key)
    assert list(table["heatmaps"]) == [f"heatmaps/part-0000{i // 8}.npz" for i in range(18)]
    with np.load(out / "heatmaps" / "part-00002.npz") as shard:
        assert list(shard["path"]) == list(table["path"][16:])
        assert shard["heatmap/b3"].shape == (2, 32, 32)


def test_unreadable_files_are_skipped_with_the_reason(explainer, archive, tmp_path):
    root = shutil.copytree(archive / "test", tmp_path / "test")
    (root / "NORMAL" / "broken.jpeg").write_bytes(b"\xff\xd8 not really a JPEG")
    (root / "NORMAL" / "empty.png").write_bytes(b"")
    cv2.imwrite(str(root / "PNEUMONIA" / "icon.png"), np.zeros((8, 8), np.uint8))
    summary = keras_cxr.explain_folder(explainer, root, tmp_path / "out", progress=False)
    assert (summary.explained, summary.skipped) == (6, 3)
    skipped = read_skipped(tmp_path / "out")
    reasons = dict(zip((p.rsplit("/", 1)[1] for p in skipped["path"]), skipped["reason"]))
    assert reasons.keys() == {"broken.jpeg", "empty.png", "icon.png"}
    assert (
        reasons["broken.jpeg"].startswith("Cannot decode")
        and "JPEG or PNG" in reasons["broken.jpeg"]
    )
    assert "Cannot decode" in reasons["empty.png"]
    assert "is 8×8 pixels; at least 32×32 is needed" in reasons["icon.png"]
    assert list(skipped["label"]) == ["NORMAL", "NORMAL", "PNEUMONIA"]
    assert len(read_results(tmp_path / "out")["path"]) == 6
    assert [p.name for p in summary.skipped_files] == ["part-00000.csv"]


def test_overlays_show_the_fused_map_on_the_image(explainer, archive, tmp_path):
    out = tmp_path / "out"
    summary = keras_cxr.explain_folder(
        explainer, archive / "test" / "PNEUMONIA", out, save="overlays", progress=False
    )
    table = read_results(out)
    images, expected = reference(explainer, image_files(archive / "test" / "PNEUMONIA"))
    drawn = overlay(images, expected["heatmap"])
    for index, name in enumerate(table["overlay"]):
        written = cv2.cvtColor(cv2.imread(str(out / name)), cv2.COLOR_BGR2RGB)
        np.testing.assert_allclose(written, drawn[index], atol=1)
    assert summary.overlays == out / "overlays" and not (out / "heatmaps").exists()
    assert "heatmaps" not in table and summary.heatmaps == []


def test_save_none_writes_the_table_only(explainer, archive, tmp_path):
    keras_cxr.explain_folder(
        explainer, archive / "test", tmp_path / "out", save="none", progress=False
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["manifest.json", "results"]


def test_images_of_mixed_sizes_are_resized_like_training(explainer, tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "mixed"
    folder.mkdir()
    for index, (height, width) in enumerate([(32, 32), (64, 64), (50, 33), (200, 120)]):
        cv2.imwrite(str(folder / f"{index}.png"), rng.integers(0, 256, (height, width), np.uint8))
    keras_cxr.explain_folder(explainer, folder, tmp_path / "out", progress=False)
    _, expected = reference(explainer, image_files(folder))
    maps = read_heatmaps(tmp_path / "out")
    assert maps["heatmap"].shape == (4, 32, 32)
    np.testing.assert_allclose(maps["heatmap"], expected["heatmap"], atol=HEATMAP_TOLERANCE)


def test_a_model_file_is_loaded_with_its_threshold(model_file, archive, tmp_path):
    summary = keras_cxr.explain_folder(
        model_file, archive / "test", tmp_path / "out", method="hirescam", progress=False
    )
    manifest = keras_cxr.scale.read_manifest(tmp_path / "out")
    assert manifest["method"] == "hirescam" and manifest["threshold"] == 0.4809
    assert manifest["threshold_source"] == "model file" and manifest["model_path"] == str(
        model_file
    )
    assert summary.explained == 6


def test_a_shard_of_only_skipped_files_still_marks_them_done(explainer, tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    for name in ("a.jpeg", "b.png"):
        (folder / name).write_bytes(b"not an image")
    summary = keras_cxr.explain_folder(explainer, folder, tmp_path / "out", progress=False)
    assert (summary.explained, summary.skipped) == (0, 2)
    table = read_results(tmp_path / "out")
    assert len(table["path"]) == 0 and "fused/lung_share" in table and "b5/peak_row" in table
    again = keras_cxr.explain_folder(
        explainer, folder, tmp_path / "out", resume=True, progress=False
    )
    assert (again.resumed, again.skipped) == (2, 0)


def _write_dicom(path, gray: np.ndarray) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID, dataset.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    dataset.Rows, dataset.Columns = gray.shape
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 12, 11
    dataset.PixelRepresentation = 0
    dataset.PixelData = (gray.astype(np.uint16) * 16).tobytes()
    dataset.save_as(path, enforce_file_format=True)


def test_dicom_png_and_a_path_list_in_one_run(explainer, archive, tmp_path):
    pytest.importorskip("pydicom")
    jpeg = image_files(archive / "test" / "PNEUMONIA")[0]
    gray = cv2.imread(str(jpeg), cv2.IMREAD_GRAYSCALE)
    (tmp_path / "PNEUMONIA").mkdir()
    dicom, png = tmp_path / "PNEUMONIA" / "scan.dcm", tmp_path / "scan.png"
    _write_dicom(dicom, gray)
    cv2.imwrite(str(png), cv2.resize(gray, (64, 48)))
    listing = tmp_path / "chosen.txt"
    listing.write_text(f"PNEUMONIA/scan.dcm\n{png}\n{jpeg}\n")
    keras_cxr.explain_folder(explainer, listing, tmp_path / "out", progress=False)
    table = read_results(tmp_path / "out")
    files = sorted([dicom, png, jpeg])
    assert list(table["path"]) == [str(path) for path in files]
    assert dict(zip(table["path"], table["label"]))[str(dicom)] == "PNEUMONIA"
    _, expected = reference(explainer, files)
    np.testing.assert_allclose(table["probability"], expected["probability"], rtol=1e-6)
    maps = read_heatmaps(tmp_path / "out")
    np.testing.assert_allclose(maps["heatmap"], expected["heatmap"], atol=HEATMAP_TOLERANCE)


def test_stored_heatmaps_are_shrunk_to_heatmap_size_and_quantized(explainer, archive, tmp_path):
    out = tmp_path / "out"
    keras_cxr.explain_folder(explainer, archive / "test", out, heatmap_size=16, progress=False)
    _, expected = reference(explainer, image_files(archive / "test"))
    with np.load(out / "heatmaps" / "part-00000.npz") as shard:
        stored = shard["heatmap"]
    assert stored.dtype == np.uint8 and stored.shape[1:] == (16, 16)
    # Each stored pixel is the mean of a 2×2 cell of the full map (32 px input), × 255.
    cells = expected["heatmap"].reshape(-1, 16, 2, 16, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(stored / 255.0, cells, atol=HEATMAP_TOLERANCE)
    assert keras_cxr.scale.read_manifest(out)["heatmap_size"] == 16
    with pytest.raises(keras_cxr.scale.RunMismatchError, match="heatmap_size"):
        keras_cxr.explain_folder(
            explainer, archive / "test", out, heatmap_size=8, resume=True, progress=False
        )


def test_heatmap_size_must_be_a_positive_integer(explainer, archive, tmp_path):
    with pytest.raises(ValueError, match="heatmap_size"):
        keras_cxr.explain_folder(
            explainer, archive / "test", tmp_path / "out", heatmap_size=0, progress=False
        )
    assert not (tmp_path / "out").exists()
