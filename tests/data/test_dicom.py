import sys

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGLSLossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from keras_cxr.data import read_dicom, read_image


def dicom_dataset(
    pixels=None, photometric="MONOCHROME2", syntax=ExplicitVRLittleEndian, **elements
):
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = syntax
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = SecondaryCaptureImageStorage
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.Modality = "CR"
    if pixels is not None:
        pixels = np.asarray(pixels, dtype=np.uint16)
        dataset.Rows, dataset.Columns = pixels.shape
        dataset.SamplesPerPixel = 1
        dataset.PhotometricInterpretation = photometric
        dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 12, 11
        dataset.PixelRepresentation = 0
        dataset.PixelData = pixels.tobytes()
    for keyword, value in elements.items():
        setattr(dataset, keyword, value)
    return dataset


def save(dataset, path):
    dataset.save_as(path, enforce_file_format=True)
    return path


RAMP = np.arange(0, 4096, 64, dtype=np.uint16).reshape(8, 8)
RAMP_VALUES = RAMP.astype(float)


def test_monochrome1_is_the_inverse_of_monochrome2(tmp_path):
    mono2 = read_dicom(save(dicom_dataset(RAMP), tmp_path / "m2.dcm"), output="float")
    mono1 = read_dicom(
        save(dicom_dataset(RAMP, "MONOCHROME1"), tmp_path / "m1.dcm"), output="float"
    )
    assert mono2.dtype == np.float32 and mono2.shape == (8, 8)
    np.testing.assert_allclose(mono1, 1 - mono2, atol=1e-6)
    # Without a window the full stored range maps onto [0, 1]; bright stays bright.
    assert mono2[0, 0] == 0 and mono2[-1, -1] == 1
    assert mono1[0, 0] == 1 and mono1[-1, -1] == 0


def test_rescale_and_window_match_a_hand_computation(tmp_path):
    dataset = dicom_dataset(
        RAMP, RescaleSlope=2, RescaleIntercept=-1024, WindowCenter=1000, WindowWidth=3000
    )
    path = save(dataset, tmp_path / "w.dcm")
    values = RAMP_VALUES * 2 - 1024  # modality values
    # DICOM PS3.3 C.11.2.1.2.1, LINEAR: ((x - (c - 0.5)) / (w - 1) + 0.5), clipped to [0, 1].
    expected = np.clip((values - 999.5) / 2999 + 0.5, 0, 1)
    np.testing.assert_allclose(read_dicom(path, output="float"), expected, atol=1e-6)
    uint8 = read_dicom(path)
    assert uint8.dtype == np.uint8
    np.testing.assert_array_equal(uint8, np.rint(expected * 255).astype(np.uint8))
    assert uint8.min() == 0 and uint8.max() == 255  # the window clips both ends


def test_first_of_several_windows_and_linear_exact(tmp_path):
    dataset = dicom_dataset(
        RAMP, WindowCenter=[2048, 100], WindowWidth=[1024, 50], VOILUTFunction="LINEAR_EXACT"
    )
    got = read_dicom(save(dataset, tmp_path / "w.dcm"), output="float")
    np.testing.assert_allclose(got, np.clip((RAMP_VALUES - 2048) / 1024 + 0.5, 0, 1), atol=1e-6)


def test_sigmoid_window(tmp_path):
    dataset = dicom_dataset(RAMP, WindowCenter=2000, WindowWidth=800, VOILUTFunction="SIGMOID")
    got = read_dicom(save(dataset, tmp_path / "w.dcm"), output="float")
    np.testing.assert_allclose(got, 1 / (1 + np.exp(-4 * (RAMP_VALUES - 2000) / 800)), atol=1e-6)


def test_voi_lut_sequence_is_applied(tmp_path):
    item = Dataset()
    item.LUTDescriptor = [4, 0, 16]  # 4 entries, the first for stored value 0, 16 bits
    item.LUTData = np.array([0, 100, 300, 400], np.uint16).tobytes()
    dataset = dicom_dataset([[0, 1], [2, 3]], VOILUTSequence=[item])
    got = read_dicom(save(dataset, tmp_path / "lut.dcm"), output="float")
    np.testing.assert_allclose(got, [[0, 0.25], [0.75, 1]], atol=1e-6)


def test_read_image_reads_dicom_like_any_image(tmp_path):
    path = save(dicom_dataset(RAMP), tmp_path / "a.dcm")
    image = read_image(path)
    assert image.shape == (8, 8, 3)
    np.testing.assert_array_equal(image[..., 1], read_dicom(path))


def test_not_a_dicom_file(tmp_path):
    path = tmp_path / "a.dcm"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200)
    with pytest.raises(ValueError, match="is not a DICOM file"):
        read_dicom(path)


def test_no_pixel_data(tmp_path):
    path = save(dicom_dataset(None), tmp_path / "report.dcm")
    with pytest.raises(ValueError, match="has no pixel data"):
        read_dicom(path)


def test_compressed_without_decoder_names_syntax_and_packages(tmp_path):
    dataset = dicom_dataset(np.zeros((4, 4)), syntax=JPEGLSLossless)
    dataset.PixelData = encapsulate([b"\xff\xd8\xff\xf7" + b"\x00" * 20])
    dataset["PixelData"].VR = "OB"
    path = save(dataset, tmp_path / "jls.dcm")
    with pytest.raises(
        RuntimeError, match=r"JPEG-LS Lossless.*\(1\.2\.840\.10008\.1\.2\.4\.80\)"
    ) as info:
        read_dicom(path)
    assert "pip install pyjpegls" in str(info.value) and "python-gdcm" in str(info.value)


def test_inconsistent_pixel_data_is_a_value_error(tmp_path):
    dataset = dicom_dataset(np.zeros((4, 4)))
    dataset.PixelData = b"\x00" * 6  # 4 x 4 x 16 bits needs 32 bytes
    with pytest.raises(ValueError, match=r"Cannot decode the pixel data of .*short\.dcm"):
        read_dicom(save(dataset, tmp_path / "short.dcm"))


def test_multi_frame_is_refused(tmp_path):
    dataset = dicom_dataset(np.zeros((4, 4)), NumberOfFrames=2)
    dataset.PixelData = np.zeros((2, 4, 4), np.uint16).tobytes()
    with pytest.raises(ValueError, match="holds 2 frames; read_dicom reads single-frame"):
        read_dicom(save(dataset, tmp_path / "multi.dcm"))


def test_unknown_output_is_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"argument `output`. Expected one of"):
        read_dicom(tmp_path / "x.dcm", output="uint16")


def test_missing_pydicom_says_how_to_install(tmp_path, monkeypatch):
    for name in [name for name in sys.modules if name.startswith("pydicom")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pydicom", None)  # makes `import pydicom` fail
    with pytest.raises(ImportError, match=r"pip install keras_cxr\[dicom\]"):
        read_dicom(tmp_path / "x.dcm")
    monkeypatch.undo()
    assert pydicom.dcmread  # the real module is back for the other tests
