"""`keras_cxr.training.write_report`: the self-contained HTML report of a trained tiny model."""

from __future__ import annotations

import base64
from html.parser import HTMLParser

import cv2
import numpy as np

from keras_cxr.models import read_metadata
from keras_cxr.training import write_report


def test_report_is_self_contained_with_metrics_plots_and_galleries(trained, test_set, tmp_path):
    metadata = read_metadata(trained.model_path)
    result = write_report(
        trained.model,
        test_set,
        tmp_path / "report.html",
        metadata["threshold"],
        "validation",
        gallery_size=3,
        mc_samples=5,
        temperature=metadata["temperature"],
        n_resamples=100,
    )
    page = _Page()
    page.feed(result.path.read_text(encoding="utf-8"))
    assert page.headings[:2] == ["Metrics", "Figures"]
    assert "Most confident correct cases" in page.headings
    assert "Most confidently wrong cases" in page.headings
    # every metric with its patient-level interval: "0.6800 [0.4000, 0.9000]"
    intervals = result.evaluation.intervals
    assert str(intervals["roc_auc"]).startswith(f"{result.evaluation.metrics['roc_auc']:.4f} [")
    assert str(intervals["roc_auc"]) in page.cells and str(intervals["brier"]) in page.cells
    assert "ece before calibration" in page.cells
    assert f"{metadata['temperature']:.4f}" in page.cells
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
