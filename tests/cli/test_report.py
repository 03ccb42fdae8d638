"""`keras-cxr report`: one self-contained HTML file, and bad input."""

from __future__ import annotations

import html
import re

import pytest

from keras_cxr.cli import main
from keras_cxr.training.caveats import INTERNAL_VALIDATION

from ._helpers import error_line

pytestmark = pytest.mark.backends  # also run under JAX and PyTorch


def report(demo, out, *flags: str) -> int:
    """The exit status of `keras-cxr report` on the demo model and its test split."""
    model, data = demo / "model.keras", demo / "data" / "test"
    return main(["report", "--model", str(model), "--data", str(data), "--out", str(out), *flags])


def test_report_writes_one_html_file(demo, tmp_path):
    out = tmp_path / "report.html"
    assert report(demo, out, "--gallery", "2", "--mc-samples", "3", "--quiet") == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Most confidently wrong cases" in page
    assert "data:image/png;base64," in page and "Training history" in page
    # an overlay per branch of the two-branch demo model, then the fused one
    for label in ("cnn_3x3", "cnn_7x7", "fused"):
        assert f'alt="{label}"' in page
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    # every metric with its bootstrap interval, and the reliability before and after
    assert re.search(r"<td>roc_auc</td><td>\d\.\d{4} \[\d\.\d{4}, \d\.\d{4}\]</td>", page)
    assert "<td>brier</td>" in page and "<td>ece before calibration</td>" in page
    assert "Reliability diagram (before and after temperature scaling)" in page
    assert "percentile bootstrap intervals over 1000 resamples" in page
    assert html.escape(INTERNAL_VALIDATION, quote=False) in page


def test_max_images_spreads_the_sample_over_the_folder(demo, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert report(demo, out, "--max-images", "6", "--mc-samples", "0", "--quiet") == 0
    assert "on 6 images" in capsys.readouterr().out


# ----------------------------------------------------------------- bad input
def test_unwritable_output_folder(demo, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert report(demo, blocker / "r.html", "--mc-samples", "0", "--quiet") == 1
    assert error_line(capsys).startswith("error: ")
    assert blocker.read_text() == "x"
