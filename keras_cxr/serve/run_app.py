"""`create_run_app`: the FastAPI application of `keras-cxr view`, a page over an explained run.

Routes, all read-only over the run except the flags: `GET /v1/run` (the manifest and the
columns), `GET /v1/run/rows` (one sorted, filtered, searched page of rows),
`GET /v1/run/cases/{index}` (one row with its flag), its images under
`/v1/run/cases/{index}/image.png`, `.../heatmap.png?key=...` and `.../overlay.png`,
`PUT /v1/run/cases/{index}/flag` (flag and note, saved to their own file),
`GET /v1/run/flags.csv`, `GET /v1/run/summary` (histograms and confusion), and the page
at `/` with its files under `/static/`.
"""

import asyncio
import base64
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from keras_cxr import __version__
from keras_cxr.data.images import read_image
from keras_cxr.serve._extra import require
from keras_cxr.serve.request_limits import DEFAULT_ALLOWED_HOSTS
from keras_cxr.serve.responses import DEFAULT_DISPLAY_SIZE, display_image, encode_png
from keras_cxr.serve.run_summary import run_summary
from keras_cxr.serve.run_table import FILTERS, RunTable
from keras_cxr.serve.triage_flags import TRIAGE_FILE, TriageFlags
from keras_cxr.serve.web_pages import (
    add_host_check,
    add_security_headers,
    add_static_routes,
    static_files,
)
from keras_cxr.viz.overlay import colorize

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    import fastapi

__all__ = ["MAX_PAGE_ROWS", "create_run_app"]

#: The most rows one `/v1/run/rows` answer holds.
MAX_PAGE_ROWS = 1000


def create_run_app(
    run_dir: str | os.PathLike,
    *,
    flags_file: str | os.PathLike | None = None,
    display_size: int = DEFAULT_DISPLAY_SIZE,
    allowed_hosts: Sequence[str] = DEFAULT_ALLOWED_HOSTS,
) -> "fastapi.FastAPI":
    """Builds the run viewer: a JSON API and a page over the output folder of `explain_folder`.

    The run is read, never written; results parts that appear while the app runs are read
    on the next request. The only file written is the reviewer's flags and notes
    (`keras_cxr.serve.TriageFlags`), atomically. Images are served only for rows of the
    run: the source image (shrunk to `display_size`), a stored heatmap as a colour map,
    and the stored overlay PNG.

    Args:
        run_dir: The output folder of `keras_cxr.explain_folder` / `keras-cxr explain`.
        flags_file: Where the flags and notes are kept. Defaults to
            `run_dir/triage.json`.
        display_size: Longest side of the source image as served. Defaults to 320.
        allowed_hosts: Host names the `Host` header may carry, others get 400 (DNS
            rebinding); `"*"` allows any. Defaults to
            `keras_cxr.serve.request_limits.DEFAULT_ALLOWED_HOSTS` (localhost names).

    Returns:
        A `fastapi.FastAPI` application; run it with `keras_cxr.serve.BackgroundServer`
        or any ASGI server.

    Raises:
        ImportError: If FastAPI is not installed (`pip install "keras-cxr[serve]"`).
        FileNotFoundError: If `run_dir` is not an explained run (no `manifest.json`).
        ValueError: If `flags_file` exists and is not a flags file.

    Example:
        >>> app = keras_cxr.serve.create_run_app("explained")
        >>> keras_cxr.serve.BackgroundServer(app).start().url
        'http://127.0.0.1:54321'
    """
    fastapi = require("fastapi")
    from fastapi.responses import JSONResponse, Response

    table = RunTable(run_dir)
    run_path = table.run_dir.resolve()
    flags = TriageFlags(run_path / TRIAGE_FILE if flags_file is None else flags_file)
    app = fastapi.FastAPI(
        title="keras_cxr run viewer",
        version=__version__,
        description="Review an explained run: its rows, maps, flags and notes.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.table, app.state.flags = table, flags
    add_host_check(app, tuple(host.lower() for host in allowed_hosts))
    add_security_headers(app)

    @app.exception_handler(ValueError)
    async def bad_value(request, error: ValueError):
        return JSONResponse({"detail": str(error)}, status_code=400)

    @app.exception_handler(LookupError)  # IndexError included
    async def not_found(request, error: LookupError):
        return JSONResponse({"detail": str(error).strip("'\"")}, status_code=404)

    @app.get("/v1/run")
    async def run_info() -> dict[str, Any]:
        """The run's manifest, its columns and row count, the filters, the flags file."""
        columns = await asyncio.to_thread(table.refresh)
        return {
            "run_dir": str(run_path),
            "manifest": table.manifest,
            "rows": len(columns.get("path", ())),
            "columns": list(columns),
            "filters": [*FILTERS, "flagged"],
            "flags_file": str(flags.path),
        }

    @app.get("/v1/run/rows")
    async def rows(
        sort: str | None = None,
        order: str = "asc",
        filter: str = "all",
        q: str = "",
        offset: int = fastapi.Query(0, ge=0),
        limit: int = fastapi.Query(100, ge=1, le=MAX_PAGE_ROWS),
    ) -> dict[str, Any]:
        """One page of rows: sorted by `sort`, kept by `filter` and the search `q`."""

        def page() -> dict[str, Any]:
            only = None
            name = filter
            if filter == "flagged":
                only, name = flags.mask(table.refresh().get("path", np.zeros(0, str))), "all"
            answer = table.query(sort or None, order, name, q, offset, limit, only)
            for row in answer["rows"]:
                row["flagged"] = flags.get(row["path"])["flagged"]
            return answer

        return await asyncio.to_thread(page)

    @app.get("/v1/run/cases/{index}")
    async def case(index: int) -> dict[str, Any]:
        """Row `index` with its flag and note, and the maps stored for it."""
        row = await asyncio.to_thread(table.row, index)
        maps = [name for name in ("heatmap", *_branch_keys(table)) if row.get("heatmaps")]
        return {**row, **flags.get(row["path"]), "maps": maps,
                "has_overlay": bool(row.get("overlay"))}  # fmt: skip

    @app.put("/v1/run/cases/{index}/flag")
    async def set_flag(index: int, request: fastapi.Request) -> dict[str, Any]:
        """Sets the flag and/or note of row `index`: JSON `{"flagged": bool, "note": str}`."""
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError('The body must be a JSON object: {"flagged": true, "note": "..."}.')
        row = await asyncio.to_thread(table.row, index)
        flagged, note = body.get("flagged"), body.get("note")
        if note is not None and not isinstance(note, str):
            raise ValueError(f"`note` must be text; received {note!r}.")
        entry = await asyncio.to_thread(flags.set, row["path"], flagged, note)
        return {"index": index, "path": row["path"], **entry}

    @app.get("/v1/run/flags.csv")
    async def flags_csv() -> Response:
        """The flagged and annotated images as CSV (a download)."""

        def text() -> str:
            paths = table.refresh().get("path", np.zeros(0, str))
            found = np.flatnonzero(np.isin(paths, flags.paths()))
            return flags.csv_text({str(paths[i]): table.row(int(i)) for i in found})

        headers = {"Content-Disposition": 'attachment; filename="triage.csv"'}
        return Response(await asyncio.to_thread(text), media_type="text/csv", headers=headers)

    @app.get("/v1/run/summary")
    async def summary(
        bins: int = fastapi.Query(20, ge=2, le=200), peak_grid: int = fastapi.Query(8, ge=1, le=64)
    ) -> dict[str, Any]:
        """Histograms per label, confusion at the threshold, calibration, where maps peak."""
        return await asyncio.to_thread(run_summary, table, bins, peak_grid)

    def png(pixels: np.ndarray) -> Response:
        return Response(base64.b64decode(encode_png(pixels)), media_type="image/png")

    @app.get("/v1/run/cases/{index}/image.png")
    async def image(index: int) -> Response:
        """The row's source image, shrunk to the display size."""
        path = (await asyncio.to_thread(table.row, index))["path"]
        try:
            pixels = await asyncio.to_thread(read_image, path)
        except (OSError, ValueError) as error:
            raise LookupError(f"The image of row {index} cannot be read ({error}).") from error
        return png(display_image(pixels, display_size))

    @app.get("/v1/run/cases/{index}/heatmap.png")
    async def heatmap(index: int, key: str = "heatmap") -> Response:
        """A stored map of the row (`heatmap` fused, `heatmap/<branch>`), as a colour map."""
        values = await asyncio.to_thread(table.heatmap, index, key)
        return png(colorize(values[None])[0])

    @app.get("/v1/run/cases/{index}/overlay.png")
    async def overlay(index: int) -> Response:
        """The overlay PNG the run stored for the row."""
        stored = (await asyncio.to_thread(table.row, index)).get("overlay") or ""
        path = (run_path / stored).resolve()
        if not stored or not path.is_relative_to(run_path) or not path.is_file():
            raise LookupError(f"The run stored no overlay for row {index} (save='heatmaps'?).")
        return Response(path.read_bytes(), media_type="image/png")

    theme = static_files()["theme.css"]  # the colours both viewers share
    add_static_routes(app, {"theme.css": theme, **static_files("run_static")})
    return app


def _branch_keys(table: RunTable) -> list[str]:
    return [f"heatmap/{branch}" for branch in table.manifest.get("branches") or []]
