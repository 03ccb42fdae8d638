"""`keras_cxr.viz.report`: structure of the HTML page, embedded PNGs, escaping, a real browser."""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest

from keras_cxr.viz.report import GalleryItem, png_data_uri, render_html_report, write_html_report
from tests._chromium import CHROMIUM_FLAGS


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.images, self.text, self.scripts = [], [], [], 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs))
        if tag in ("script", "link", "iframe"):
            self.scripts += 1

    def handle_data(self, data):
        if data.strip():
            self.text.append(data.strip())


def _decode(src: str) -> np.ndarray:
    assert src.startswith("data:image/png;base64,")
    data = base64.b64decode(src.split(",", 1)[1])
    assert data.startswith(b"\x89PNG")
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def _figure():
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 2))
    figure.subplots().plot([0, 1], [0, 1])
    return figure


def _sections():
    ramp = np.tile(np.linspace(0, 1, 40, dtype=np.float32), (30, 1))
    ok, png = cv2.imencode(".png", (ramp * 255).astype(np.uint8))
    assert ok
    return dict(
        title="Report <b>1</b>",
        subtitle="model a.keras & data b/",
        metrics={"roc_auc": 0.98765, "ece": float("nan"), "n": 20, "cm": [[1, 2], [3, 4]]},
        figures={"ROC": png.tobytes(), "figure": _figure(), "array": ramp},
        galleries={
            "Confident": [
                GalleryItem(
                    [("image", ramp), ("fused", np.dstack([ramp] * 3))],
                    ["truth PNEUMONIA", "p = 0.9"],
                    "ok",
                )
            ],
            "Wrong": [],
        },
        notes=["Threshold chosen on validation."],
    )


def test_page_has_the_sections_the_table_and_only_embedded_pngs():
    page = _Page()
    page.feed(render_html_report(**_sections()))
    assert page.tags[0] == "html" and "table" in page.tags
    assert page.scripts == 0  # nothing to fetch, nothing to run
    sections = ["Metrics", "Figures", "Confident", "Wrong", "Notes"]
    assert [t for t in page.text if t in sections] == sections
    assert "0.9877" in page.text and "n/a" in page.text and "[[1, 2], [3, 4]]" in page.text
    assert "No case." in page.text
    shapes = [_decode(image["src"]).shape[:2] for image in page.images]
    assert len(shapes) == 5
    assert shapes[2] == (30, 40) and shapes[3] == (30, 40)


def test_text_is_escaped():
    html = render_html_report(**_sections())
    assert "Report &lt;b&gt;1&lt;/b&gt;" in html and "<b>1</b>" not in html
    assert "a.keras &amp; data" in html


def test_png_data_uri_round_trips_arrays():
    image = np.random.default_rng(0).integers(0, 256, (12, 10, 3)).astype(np.uint8)
    decoded = cv2.cvtColor(_decode(png_data_uri(image)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(decoded, image)


def test_bad_figure_raises_and_leaves_the_previous_report(tmp_path):
    path = write_html_report(tmp_path / "report.html", title="first")
    with pytest.raises(ValueError, match="PNG bytes"):
        write_html_report(path, title="second", figures={"x": b"GIF89a..."})
    assert "<title>first</title>" in path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    with pytest.raises(ValueError, match="`highlight`"):
        render_html_report("x", galleries={"g": [GalleryItem([], [], "red")]})


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_report_renders_in_headless_chromium(tmp_path):
    path = write_html_report(tmp_path / "report.html", **_sections())
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}",
            f"--screenshot={shot}",
            "--window-size=1000,900",
            Path(path).as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (900, 1000)
    # Not a blank page: the table, the text and the embedded images drew something.
    assert (image < 200).mean() > 0.01
