"""Evaluation, explanation figures and the HTML report of a trained tiny model."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser

import cv2
import numpy as np
import pytest

from keras_cxr.data import MIN_IMAGE_SIDE, load_image_folder
from keras_cxr.metrics import roc_auc
from keras_cxr.models import read_metadata
from keras_cxr.training import evaluate_model, explain_files, write_report


@pytest.fixture(scope="module")
def trained(resumed_run):
    return resumed_run[2]


@pytest.fixture(scope="module")
def test_set(trained, phantom_data):
    return load_image_folder(phantom_data / "test", 32, progress=False)


def test_evaluation_counts_match_a_hand_count(trained, test_set, tmp_path):
    threshold = read_metadata(trained.model_path)["threshold"]
    evaluation = evaluate_model(trained.model, test_set.images, test_set.labels, threshold)
    p, y = evaluation.probabilities, test_set.labels
    predicted = p >= threshold
    tp, tn = int((predicted & (y == 1)).sum()), int((~predicted & (y == 0)).sum())
    fp, fn = int((predicted & (y == 0)).sum()), int((~predicted & (y == 1)).sum())
    m = evaluation.metrics
    assert m["confusion_matrix"] == [[tn, fp], [fn, tp]]
    assert m["sensitivity"] == pytest.approx(tp / (tp + fn))
    assert m["specificity"] == pytest.approx(tn / (tn + fp))
    assert m["accuracy"] == pytest.approx((tp + tn) / len(y))
    assert m["roc_auc"] == pytest.approx(roc_auc(y, p))
    written = evaluation.save(tmp_path, extra={"model": str(trained.model_path)})
    saved = json.loads(written["metrics"].read_text())
    assert saved["threshold"] == pytest.approx(threshold) and saved["model"]
    for name in ("roc", "reliability", "confusion_matrix"):
        image = cv2.imread(str(written[name]))
        assert image is not None and image.shape[0] > 100


def test_load_image_folder_accepts_a_split_or_a_root(phantom_data, test_set):
    from_root = load_image_folder(phantom_data, 32, progress=False)
    np.testing.assert_array_equal(from_root.images, test_set.images)
    assert test_set.images.shape == (20, 32, 32, 3)
    assert sorted(set(test_set.labels.tolist())) == [0, 1]


def test_folder_without_class_folders_is_refused(tmp_path):
    (tmp_path / "misc").mkdir()
    with pytest.raises(ValueError, match="no NORMAL and PNEUMONIA sub-folders"):
        load_image_folder(tmp_path, 32)


def test_wrong_image_size_for_the_model_is_a_clear_error(trained, test_set):
    with pytest.raises(ValueError, match=r"\(N, 32, 32, 3\)"):
        evaluate_model(trained.model, test_set.images[:, :16, :16], test_set.labels)


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


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.headings, self.cells, self._tag = [], [], [], None

    def handle_starttag(self, tag, attrs):
        self._tag = tag
        if tag == "img":
            self.images.append(dict(attrs))

    def handle_data(self, data):
        if self._tag == "h2" and data.strip():
            self.headings.append(data.strip())
        if self._tag == "td":
            self.cells.append(data.strip())


def test_report_is_self_contained_with_metrics_plots_and_galleries(trained, test_set, tmp_path):
    threshold = read_metadata(trained.model_path)["threshold"]
    result = write_report(
        trained.model,
        test_set,
        tmp_path / "report.html",
        threshold,
        "validation",
        gallery_size=3,
        mc_samples=5,
    )
    page = _Page()
    page.feed(result.path.read_text(encoding="utf-8"))
    assert page.headings[:2] == ["Metrics", "Figures"]
    assert "Most confident correct cases" in page.headings
    assert "Most confidently wrong cases" in page.headings
    assert f"{result.evaluation.metrics['roc_auc']:.4f}" in page.cells
    assert page.images, "no image in the report"
    for image in page.images:
        assert image["src"].startswith("data:image/png;base64,")
        data = base64.b64decode(image["src"].split(",", 1)[1])
        assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None
    # each gallery card: the image and its overlay (one branch: no per-branch columns)
    cards = len(result.confident) + len(result.wrong)
    assert sum(1 for image in page.images if image.get("alt") == "image") == cards
    assert sum(1 for image in page.images if image.get("alt") == "gradcam") == cards
    assert result.uncertainty is not None and result.uncertainty.shape == (20,)
    assert len(result.confident) == min(
        3, int((result.evaluation.predictions == test_set.labels).sum())
    )
