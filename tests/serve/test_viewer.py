"""The web viewer end to end in headless Chromium: upload, overlay, the API's numbers."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from tests._chromium import CHROMIUM, CHROMIUM_FLAGS

from ._http import post_image

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK), reason=f"chromium is not installed at {CHROMIUM}"
)


@pytest.fixture(scope="module")
def page(server):
    """A Chromium page on the viewer, its script's errors collected in `page.errors`."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        page = browser.new_page(viewport={"width": 1100, "height": 860})
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.goto(f"{server.url}/")
        page.wait_for_selector("#model-summary:has-text('model.keras')")
        yield page
        browser.close()


def test_upload_shows_the_overlay_and_the_apis_numbers(page, client, phantom_pngs, tmp_path):
    path = phantom_pngs[1]
    api = post_image(client, path.read_bytes()).json()
    page.check("#uncertainty-toggle")
    page.set_input_files("#file-input", str(path))
    page.wait_for_selector("#result:not([hidden])")
    loaded = "(images) => images.every((image) => image.complete && image.naturalWidth > 0)"
    for _ in range(100):  # polled from here: the page's policy forbids evaluating strings
        if page.eval_on_selector_all("img", loaded):
            break
        page.wait_for_timeout(50)
    assert page.eval_on_selector_all("img", loaded), "the PNGs of the answer did not load"
    assert page.inner_text("#status") == f"{path.name}: explained."
    shown = page.inner_text("#probability")
    assert shown == page.evaluate("(x) => x.toFixed(3)", api["probability"])
    assert float(shown) == pytest.approx(api["probability"], abs=5e-4)
    assert float(page.inner_text("#threshold")) == pytest.approx(api["threshold"], abs=5e-4)
    assert page.inner_text("#decision-label") == api["decision"]["label"]
    assert page.inner_text("#uncertainty").startswith("± 0.")
    assert "dropout samples" in page.inner_text("#uncertainty")
    assert page.locator("#branches figcaption").all_inner_texts() == ["b3", "b5"]
    width = page.evaluate("document.getElementById('probability-bar').style.width")
    assert width == f"{100 * api['probability']:.1f}%"
    # The overlay is the API's fused colour map, drawn over the API's image.
    heat = page.get_attribute("#heat-image", "src")
    assert heat == f"data:image/png;base64,{api['heatmaps']['fused']['colormap_png']}"
    assert page.get_attribute("#base-image", "src").endswith(api["image"]["png"])
    page.locator("#opacity").fill("80")
    opacities = page.eval_on_selector_all("img.heat", "(all) => all.map((i) => i.style.opacity)")
    assert opacities == ["0.8", "0.8", "0.8"] and page.inner_text("#opacity-value") == "80 %"
    screenshot = tmp_path / "viewer.png"
    page.screenshot(path=str(screenshot), full_page=True)
    image = cv2.imread(str(screenshot))
    assert image.shape[1] == 1100 and image.std() > 10  # a page, not a blank
    assert page.errors == []


def test_a_bad_file_shows_the_reason(page, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_bytes(np.random.default_rng(2).bytes(3000))
    page.set_input_files("#file-input", str(bad))
    page.wait_for_selector("#status.error")
    status = page.inner_text("#status")
    assert status.startswith("notes.png: The file is not a JPEG, PNG or DICOM image")
    assert status.endswith("(HTTP 415)")
    assert page.errors == []
