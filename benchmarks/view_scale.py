"""Does `keras-cxr view` stay responsive on a 50,000-row run?

Writes a synthetic explained run (a manifest and `--rows` rows of results in Parquet parts
of `--part-rows`, with the columns `keras_cxr.explain_folder` writes for a two-branch
model; no images or heatmaps, which the table does not need), serves it with
`keras_cxr.serve.create_run_app` in this process, and drives Debian's Chromium with
Playwright:

- first paint: from `page.goto` to the first page of rows drawn, cold (the server reads
  every part) and warm (a reload);
- sort: from a click on a column heading to its first page drawn, median over columns
  and both directions;
- search and filter: the same, for a file-name search and the false-positive filter;
- the server's own time for a sort (`RunTable.query`), without the browser;
- the server's resident memory above its start once the run is loaded (this process:
  Chromium and Playwright's driver run in their own).

Targets (issue 31): first paint <= 2 s, sort <= 300 ms, memory <= 300 MB above start.
The browser shares the machine with the server; on a shared machine the numbers are
indicative.

Usage:
    python benchmarks/view_scale.py [--rows 50000] [--part-rows 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
BRANCHES = ("fused", "b3", "b5")
STATISTICS = ("peak_row", "peak_col", "central_share", "lung_share")


def write_run(out: Path, rows: int, part_rows: int, seed: int = 0) -> Path:
    """A synthetic run folder: the manifest and `rows` rows in parts of `part_rows`."""
    from keras_cxr.scale.results_table import part_name, resolve_format, write_part

    table_format = resolve_format("auto")
    rng = np.random.default_rng(seed)
    (out / "results").mkdir(parents=True)
    manifest = {"kind": "keras_cxr.explain_folder", "model_name": "synthetic",
                "method": "gradcam", "branches": ["b3", "b5"], "threshold": 0.5,
                "class_names": ["NORMAL", "PNEUMONIA"], "save": "heatmaps",
                "table_format": table_format}  # fmt: skip
    (out / "manifest.json").write_text(json.dumps(manifest))
    for number, start in enumerate(range(0, rows, part_rows)):
        n = min(part_rows, rows - start)
        labels = rng.choice(["NORMAL", "PNEUMONIA"], n)
        probability = np.clip(rng.normal(np.where(labels == "PNEUMONIA", 0.7, 0.3), 0.2), 0, 1)
        decision = (probability >= 0.5).astype(int)
        names = [f"image-{start + i:06d}.jpeg" for i in range(n)]
        paths = [f"/archive/test/{label}/{name}" for label, name in zip(labels, names)]
        columns = {
            "path": paths,
            "label": labels,
            "probability": probability,
            "decision": decision,
            "predicted": np.where(decision == 1, "PNEUMONIA", "NORMAL"),
            "score": np.log(probability + 1e-6) - np.log1p(1e-6 - probability),
        }
        for branch in BRANCHES:
            for name in STATISTICS:
                columns[f"{branch}/{name}"] = rng.random(n)
        columns["heatmaps"] = [""] * n
        columns["overlay"] = [""] * n
        write_part(out / "results" / part_name(number, table_format), columns, table_format)
    return out


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def timed_redraw(page, action, expected: str) -> float:
    """Seconds from `action()` to the rows answering `expected` (a query fragment) drawn."""
    started = time.perf_counter()
    action()
    page.wait_for_selector(f"#rows[data-loaded*='{expected}']", timeout=60_000)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--part-rows", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from keras_cxr.serve import BackgroundServer, create_run_app

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        run = write_run(Path(folder) / "run", args.rows, args.part_rows)
        print(f"wrote {args.rows} rows in {len(os.listdir(run / 'results'))} parts "
              f"({time.perf_counter() - started:.1f} s)")  # fmt: skip
        baseline = rss_mb()
        app = create_run_app(run, flags_file=Path(folder) / "triage.json")
        with BackgroundServer(app) as server, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            first = timed_redraw(page, lambda: page.goto(f"{server.url}/"), "offset=0")
            warm = [timed_redraw(page, page.reload, "offset=0") for _ in range(args.repeats)]
            sorts = []
            for column in ("probability", "name", "fused/lung_share", "b3/central_share"):
                for order in ("desc", "asc") if column == "probability" else ("asc", "desc"):
                    heading = f"#header-row th[data-column='{column}']"
                    sort = quote(column, safe="")
                    expected = f"order={order}&filter=all&q=&offset=0&limit=100&sort={sort}"
                    sorts.append(timed_redraw(page, lambda h=heading: page.click(h), expected))
            search = timed_redraw(page, lambda: page.fill("#search", "image-0421"), "q=image-0421")
            fp = timed_redraw(page, lambda: page.select_option("#filter", "false_positive"),
                              "filter=false_positive")  # fmt: skip
            browser.close()
        loaded = rss_mb()
        table = app.state.table
        query = []
        for _ in range(args.repeats):
            tick = time.perf_counter()
            table.query(sort="probability", order="desc")
            query.append(time.perf_counter() - tick)
    print(f"first paint, cold (server reads {args.rows} rows): {first * 1000:.0f} ms")
    print(f"first paint, warm (reload), median of {args.repeats}: "
          f"{statistics.median(warm) * 1000:.0f} ms")  # fmt: skip
    print(f"sort, click to rows drawn, median of {len(sorts)}: "
          f"{statistics.median(sorts) * 1000:.0f} ms (max {max(sorts) * 1000:.0f} ms)")  # fmt: skip
    print(f"search (debounced 200 ms in the page): {search * 1000:.0f} ms")
    print(f"false-positive filter: {fp * 1000:.0f} ms")
    print(f"server sort alone (RunTable.query, median): {statistics.median(query) * 1000:.1f} ms")
    print(f"server memory above start: {loaded - baseline:.0f} MB")


if __name__ == "__main__":
    main()
