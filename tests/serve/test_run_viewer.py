"""The run viewer end to end in headless Chromium: sort, filter, open a case, flag, export."""

from __future__ import annotations

import csv
import os

import pytest

from keras_cxr.serve import BackgroundServer, create_run_app
from keras_cxr.serve.run_summary import run_summary
from tests._chromium import CHROMIUM, CHROMIUM_FLAGS

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK), reason=f"chromium is not installed at {CHROMIUM}"
)


def _column(page, name: str) -> list[str]:
    position = page.eval_on_selector_all(
        "#header-row th", "(cells, name) => cells.findIndex((c) => c.dataset.column === name)", name
    )
    return page.eval_on_selector_all(
        f"#body tr td:nth-child({position + 1})", "(cells) => cells.map((c) => c.textContent)"
    )


def test_sort_filter_open_flag_and_export(explained_run, tmp_path):
    flags_file = tmp_path / "triage.json"
    app = create_run_app(explained_run, flags_file=flags_file)
    with BackgroundServer(app) as server, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.set_default_timeout(10_000)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{server.url}/")
        page.wait_for_selector("#page-info:has-text('of 19')")
        assert page.inner_text("#run-summary").endswith("threshold 0.481")
        # The summary: one histogram per label (the loose PNG has none), the threshold drawn.
        page.wait_for_selector("#confusion tr")
        titles = page.locator(".histogram h3").all_inner_texts()
        assert titles == ["p(unlabelled), 1 rows", "p(NORMAL), 9 rows", "p(PNEUMONIA), 9 rows",
                          "calibration (labelled rows)", "where the fused maps peak"]  # fmt: skip
        summary = run_summary(app.state.table)
        filled = sum(1 for count in summary["calibration"]["count"] if count)
        assert page.locator("svg.calibration circle").count() == filled
        assert page.locator("svg.peaks rect").count() == 64

        # Sort: the first click on probability sorts high to low, the second low to high.
        page.click("#header-row th[data-column='probability']")
        page.wait_for_selector("#rows[data-loaded*='order=desc'][data-loaded*='sort=probability']")
        shown = [float(text) for text in _column(page, "probability")]
        assert shown == sorted(shown, reverse=True)
        rows = app.state.table.query(sort="probability", order="desc", limit=19)["rows"]
        assert _column(page, "name") == [row["name"] for row in rows]

        # Filter: false positives only, as the API counts them.
        expected = app.state.table.query(filter="false_positive", limit=100)["matched"]
        page.select_option("#filter", "false_positive")
        page.wait_for_selector("#rows[data-loaded*='filter=false_positive']")
        assert page.inner_text("#page-info").startswith(f"1–{expected} of {expected} ")
        assert set(_column(page, "outcome")) == {"FP"}

        # Open the first false positive; j moves to the next; its image and map load.
        page.click("#body tr:first-child")
        first = _column(page, "name")[0]
        page.wait_for_selector(f"#case-name:text-is('{first}')")
        page.keyboard.press("j")
        second = _column(page, "name")[1]
        page.wait_for_selector(f"#case-name:text-is('{second}')")
        assert page.get_attribute("#body tr.selected", "data-index") is not None
        # Functions, not expressions: the page's policy forbids evaluating strings.
        page.wait_for_function(
            "() => ['case-image', 'case-heat']"
            ".every((id) => document.getElementById(id).naturalWidth > 0)"
        )
        page.locator("#opacity").fill("80")
        assert page.evaluate("document.getElementById('case-heat').style.opacity") == "0.8"
        assert page.inner_text("#opacity-value") == "80 %"

        # Flag it with f, write a note, and export the CSV.
        page.keyboard.press("f")
        page.wait_for_selector("#case-status:text-is('Flagged; saved.')")
        assert page.is_checked("#flag-toggle")
        page.fill("#note", "check the left base")
        page.click("#save-note")
        page.wait_for_selector("#case-status:text-is('Flagged; saved.')")
        page.wait_for_function(
            "() => document.querySelector('#body tr.selected').classList.contains('flagged')"
        )
        with page.expect_download() as download:
            page.click("#export")
        exported = tmp_path / "exported.csv"
        download.value.save_as(exported)
        with open(exported, newline="", encoding="utf-8") as file:
            (row,) = list(csv.DictReader(file))
        assert row["path"].endswith("/" + second) and row["outcome"] == "FP"
        assert (row["flagged"], row["note"]) == ("true", "check the left base")
        assert flags_file.exists() and not (explained_run / "triage.json").exists()

        page.select_option("#filter", "flagged")
        page.wait_for_selector("#rows[data-loaded*='filter=flagged']")
        assert page.inner_text("#page-info").startswith("1–1 of 1 ")
        assert _column(page, "name") == [second]
        assert errors == []
        browser.close()
