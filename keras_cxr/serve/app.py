"""`create_app`: the FastAPI application that explains uploaded chest X-rays, and its viewer.

Routes: `POST /v1/explain` (one image in, prediction and heatmaps out), `GET /v1/model`,
`GET /healthz`, `GET /openapi.json`, and the web viewer at `/` with its files under
`/static/`; with `run_dir`, the run viewer of an explained run under `/run/`. Requests
are explained in micro-batches by one worker thread (`keras_cxr.serve.MicroBatcher`);
decoding and PNG encoding run in the default thread pool, so the event loop only moves
bytes.
"""

import asyncio
import contextlib
import os
import time
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from keras_cxr import __version__
from keras_cxr.data.scan import MAX_IMAGE_PIXELS
from keras_cxr.explain.batch_explainer import BatchExplainer
from keras_cxr.serve._extra import require
from keras_cxr.serve.micro_batcher import MicroBatcher
from keras_cxr.serve.model_service import DEFAULT_MC_SAMPLES, ExplainRequest, ModelService
from keras_cxr.serve.responses import (
    DEFAULT_DISPLAY_SIZE,
    MAX_RAW_SIZE,
    display_image,
    explain_response,
)
from keras_cxr.serve.uploads import (
    DEFAULT_MAX_UPLOAD_BYTES,
    FILE_FIELD,
    MULTIPART_OVERHEAD_BYTES,
    UploadError,
    parse_multipart,
    read_capped,
    read_upload,
)

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    import fastapi
    import keras

#: Media types of the viewer's files; a file of any other kind is not served.
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
# The viewer loads nothing from elsewhere and runs no inline script.
_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_EXPLAIN_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
                "required": [FILE_FIELD],
            }
        }
    },
}


def create_app(
    model: "str | os.PathLike | keras.Model | BatchExplainer",
    *,
    method: str = "gradcam",
    threshold: float | None = None,
    max_batch_size: int = 16,
    max_wait_ms: float = 5.0,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_pixels: int = MAX_IMAGE_PIXELS,
    mc_samples: int = DEFAULT_MC_SAMPLES,
    display_size: int = DEFAULT_DISPLAY_SIZE,
    run_dir: "str | os.PathLike | None" = None,
) -> "fastapi.FastAPI":
    """Builds the explanation server for one model: load and compile now, serve later.

    The model is loaded and its explainer compiled (and warmed up) here, so the first
    request is as fast as the others. The micro-batcher's worker thread starts and stops
    with the application's lifespan (uvicorn runs it). `/docs` and `/redoc` are off:
    their pages load scripts from a CDN; `/openapi.json` describes the API.

    Args:
        model: A `.keras` file, a `keras.Model`, or a ready
            `keras_cxr.explain.BatchExplainer` (then `method` and `threshold` are its own).
        method: The explanation method (`keras_cxr.explain.get_method`). Defaults to
            "gradcam".
        threshold: Decision threshold; None (default) uses the one stored in the file.
        max_batch_size: The most requests explained in one call. Defaults to 16.
        max_wait_ms: How long a request may wait for others to join its batch, in
            milliseconds. Defaults to 5.
        max_upload_bytes: Largest image file accepted. Defaults to 32 MiB.
        max_pixels: Most pixels an image header may claim. Defaults to
            `keras_cxr.data.MAX_IMAGE_PIXELS`.
        mc_samples: MC-dropout samples when a request asks for the uncertainty.
            Defaults to 30.
        display_size: Longest side of the PNGs in an answer. Defaults to 320.
        run_dir: An explained run to review beside the model: the run viewer
            (`keras_cxr.serve.create_run_app`) is mounted at `/run/`. Defaults to None.

    Returns:
        A `fastapi.FastAPI` application; run it with `keras_cxr.serve.serve` or any ASGI
        server.

    Raises:
        ImportError: If FastAPI is not installed (`pip install "keras-cxr[serve]"`).
        FileNotFoundError, ValueError: As `keras_cxr.explain.BatchExplainer` raises, or
            `run_dir` is not an explained run.

    Example:
        >>> app = keras_cxr.serve.create_app("runs/demo/model.keras", max_wait_ms=10)
        >>> sorted(route.path for route in app.routes)[:3]
        ['/', '/healthz', '/openapi.json']
    """
    fastapi = require("fastapi")
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    if isinstance(model, BatchExplainer):
        explainer = model
    else:
        explainer = BatchExplainer(model, method, threshold=threshold, batch_size=max_batch_size)
    service = ModelService(explainer, mc_samples)
    info = service.model_info()
    static = static_files()
    body_limit = max_upload_bytes + MULTIPART_OVERHEAD_BYTES

    @contextlib.asynccontextmanager
    async def lifespan(app):
        app.state.batcher = MicroBatcher(service.explain_batch, max_batch_size, max_wait_ms)
        app.state.batcher.start()
        try:
            yield
        finally:
            await asyncio.to_thread(app.state.batcher.close)

    app = fastapi.FastAPI(
        title="keras_cxr",
        version=__version__,
        description="Explainable chest X-ray classification: one image in, the prediction "
        "and its heatmaps out.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service

    @app.exception_handler(UploadError)
    async def refused(request, error: UploadError):
        return JSONResponse({"detail": error.reason}, status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request, error: RequestValidationError):
        return JSONResponse({"detail": _one_line(error.errors())}, status_code=422)

    add_security_headers(app)

    @app.post("/v1/explain", openapi_extra={"requestBody": _EXPLAIN_BODY})
    async def explain(
        request: fastapi.Request,
        uncertainty: bool = False,
        raw_size: int = fastapi.Query(0, ge=0, le=MAX_RAW_SIZE),
        images: Literal["overlays", "colormaps", "none"] = "overlays",
    ) -> JSONResponse:
        """Predicts and explains one JPEG, PNG or DICOM image (multipart field `file`).

        `uncertainty=true` adds the MC-dropout spread of the probability (models with
        dropout in the head); `raw_size=N` adds each map averaged down to N pixels a side;
        `images` picks the PNGs: each map blended on the image and alone ("overlays"),
        alone ("colormaps"), or none.
        """
        started = time.perf_counter()
        if uncertainty and not service.uncertainty_available:
            raise UploadError(400, f"This model gives no uncertainty: "
                              f"{service.uncertainty_unavailable}")  # fmt: skip
        body = await read_capped(
            request.stream(), body_limit, request.headers.get("content-length")
        )
        data, declared = parse_multipart(body, request.headers.get("content-type"))
        del body
        received = time.perf_counter()
        # No PNG asked for: no display image to shrink.
        shown = display_size if images != "none" else None
        image, display = await asyncio.to_thread(
            _decode, service, data, declared, max_upload_bytes, max_pixels, shown
        )
        del data
        decoded = time.perf_counter()
        row = await request.app.state.batcher.submit(ExplainRequest(image, uncertainty))
        explained = time.perf_counter()
        answer = await asyncio.to_thread(explain_response, row, display, info, raw_size, images)
        finished = time.perf_counter()
        waited = (explained - decoded) * 1000.0
        answer["batch_size"] = row["batch_size"]
        answer["timings_ms"] = {
            "receive": (received - started) * 1000.0,
            "decode": (decoded - received) * 1000.0,
            "queue": max(0.0, waited - row["explain_ms"]),
            "explain": row["explain_ms"],
            "encode": (finished - explained) * 1000.0,
            "total": (finished - started) * 1000.0,
        }
        return JSONResponse(answer)

    @app.get("/v1/model")
    async def model_info() -> dict[str, Any]:
        """The model: backbones, input size, classes, threshold, keras_cxr version."""
        return info

    @app.get("/healthz")
    async def healthz(request: fastapi.Request) -> dict[str, Any]:
        """Liveness, and how many explain calls and images the worker has done."""
        batcher = request.app.state.batcher
        return {"status": "ok", "explain_calls": batcher.calls, "explained_images": batcher.items}

    add_static_routes(app, static)
    if run_dir is not None:
        from keras_cxr.serve.run_app import create_run_app  # it builds on this module

        app.mount("/run", create_run_app(run_dir, display_size=display_size))
    return app


def add_security_headers(app: "fastapi.FastAPI") -> None:
    """Adds the headers every answer carries: no sniffing, no referrer, API answers uncached.

    Args:
        app: The application.

    Returns:
        None: a middleware is added to `app`.

    Raises:
        Nothing.

    Example:
        >>> keras_cxr.serve.app.add_security_headers(fastapi.FastAPI())
    """

    @app.middleware("http")
    async def headers(request, call_next):
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if "/v1/" in request.url.path:  # the run viewer's API too, mounted at /run/v1/
            response.headers["Cache-Control"] = "no-store"
        return response


def add_static_routes(app: "fastapi.FastAPI", static: dict[str, tuple[bytes, str]]) -> None:
    """Serves `static` (`static_files()`): `index.html` at `/`, every file at `/static/NAME`.

    Each file carries a Content-Security-Policy that lets the page load only its own
    files; any other name is a 404.

    Args:
        app: The application.
        static: `{file name: (content, media type)}`.

    Returns:
        None: the routes are added to `app`.

    Raises:
        Nothing.

    Example:
        >>> keras_cxr.serve.app.add_static_routes(app, static_files("run_static"))
    """
    import fastapi
    from fastapi.responses import Response

    def static_response(name: str) -> Response:
        if name not in static:
            raise fastapi.HTTPException(404, f"No file {name!r} in the viewer.")
        content, media_type = static[name]
        headers = {"Content-Security-Policy": _CONTENT_SECURITY_POLICY}
        return Response(content, media_type=media_type, headers=headers)

    @app.get("/", include_in_schema=False)
    async def viewer() -> Response:
        return static_response("index.html")

    @app.get("/static/{name}", include_in_schema=False)
    async def static_file(name: str) -> Response:
        return static_response(name)


def static_files(folder_name: str = "static") -> dict[str, tuple[bytes, str]]:
    """The viewer's files, read once from the package: only these are ever served.

    Args:
        folder_name: The package folder: "static" (the upload viewer, default) or
            "run_static" (the run viewer of `keras-cxr view`).

    Returns:
        `{file name: (content, media type)}` for the HTML, JS, CSS and image files in
        `keras_cxr/serve/<folder_name>/` (no subfolders, so no path can lead elsewhere).

    Raises:
        FileNotFoundError: If the package was installed without its static files.

    Example:
        >>> sorted(keras_cxr.serve.app.static_files())
        ['index.html', 'theme.css', 'viewer.css', 'viewer.js']
    """
    folder = resources.files("keras_cxr.serve").joinpath(folder_name)
    files = {}
    for entry in folder.iterdir():
        suffix = os.path.splitext(entry.name)[1].lower()
        if entry.is_file() and suffix in _MEDIA_TYPES:
            files[entry.name] = (entry.read_bytes(), _MEDIA_TYPES[suffix])
    if "index.html" not in files:
        raise FileNotFoundError(
            f"keras_cxr/serve/{folder_name}/index.html is missing: reinstall keras_cxr with its "
            'package data (pip install "keras-cxr[serve]").'
        )
    return files


def _decode(
    service: ModelService,
    data: bytes,
    declared: str,
    max_bytes: int,
    max_pixels: int,
    display_size: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The upload at the model's input and at display size, or as it is when `display_size`
    is None (runs in a pool thread)."""
    image = read_upload(data, declared, max_bytes=max_bytes, max_pixels=max_pixels)
    shown = image if display_size is None else display_image(image, display_size)
    return service.prepare(image), shown


def _one_line(errors: list[dict[str, Any]]) -> str:
    """FastAPI's validation errors as one sentence: `where: what; where: what`."""
    parts = []
    for error in errors:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "query")
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg"))
    return "Invalid request: " + "; ".join(parts) + "."
