"""`keras_cxr.training.explain_files`: figures for image files, named after the prediction."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from keras_cxr.data import MIN_IMAGE_SIDE
from keras_cxr.training import explain_files


def test_explain_files_writes_one_figure_per_image_named_after_the_prediction(
    trained, phantom_data, tmp_path
):
    import pydicom  # noqa: F401 - the DICOM input needs it
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    jpeg = sorted((phantom_data / "test" / "PNEUMONIA").glob("*.jpeg"))[0]
    gray = cv2.imread(str(jpeg), cv2.IMREAD_GRAYSCALE)
    big_png = tmp_path / "big.png"
    cv2.imwrite(str(big_png), cv2.resize(gray, (96, 80)))
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    ds.Rows, ds.Columns = gray.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = (gray.astype(np.uint16) * 16).tobytes()
    dicom = tmp_path / "scan.dcm"
    ds.save_as(dicom, enforce_file_format=True)

    results = explain_files(
        trained.model, [jpeg, big_png, dicom], tmp_path / "out", "gradcam++", threshold=0.5
    )
    assert [r.source for r in results] == [jpeg, big_png, dicom]
    for result in results:
        assert result.figure.is_file() and cv2.imread(str(result.figure)) is not None
        assert result.predicted in result.figure.name and "gradcampp" in result.figure.name
        assert result.predicted == ("PNEUMONIA" if result.probability >= 0.5 else "NORMAL")
    listed = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert [item["figure"] for item in listed] == [r.figure.name for r in results]


def test_explain_refuses_a_too_small_image_before_writing(trained, tmp_path):
    tiny = tmp_path / "icon.png"
    cv2.imwrite(str(tiny), np.zeros((MIN_IMAGE_SIDE - 1, 40), np.uint8))
    with pytest.raises(ValueError, match=r"40×31 pixels; at least 32×32"):
        explain_files(trained.model, [tiny], tmp_path / "out")
    assert not (tmp_path / "out").exists()
