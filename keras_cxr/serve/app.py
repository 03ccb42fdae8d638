"""`create_app`: the FastAPI application that explains uploaded chest X-rays, and its viewer.

Routes: `POST /v1/explain` (one image in, prediction and heatmaps out), `GET /v1/model`,
`GET /healthz`, `GET /openapi.json`, and the web viewer at `/` with its files under
`/static/`; with `run_dir`, the run viewer of an explained run under `/run/`. Requests
are explained in micro-batches by one supervised worker thread
(`keras_cxr.serve.MicroBatcher`); decoding and PNG encoding run in the default thread
pool, so the event loop only moves bytes. `keras_cxr.serve.RequestLimits` bounds what a
request may take: its deadline, the decodes at once, the queue, the `Host` names.
"""

import asyncio
import contextlib
import os
import time
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from keras_cxr import __version__
from keras_cxr.data.image_header import MAX_IMAGE_PIXELS
from keras_cxr.explain.batch_explainer import BatchExplainer
from keras_cxr.serve._extra import require
from keras_cxr.serve.micro_batcher import MicroBatcher, QueueFullError, WorkerUnavailableError
from keras_cxr.serve.model_service import DEFAULT_MC_SAMPLES, ExplainRequest, ModelService
from keras_cxr.serve.request_limits import (
    ClientGoneError,
    DeadlineError,
    RequestLimits,
    describe,
    until_done_or_gone,
)
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
    limits: RequestLimits | None = None,
    run_dir: "str | os.PathLike | None" = None,
) -> "fastapi.FastAPI":
    """Builds the explanation server for one model: load and compile now, serve later.

    The model is loaded and its explainer compiled (and warmed up at every batch size up
    to `max_batch_size`: `keras_cxr.serve.ModelService.warm_up`) here, so the first
    request is as fast as the others, and no batch compiles under load. The
    micro-batcher's worker thread starts and stops with the application's lifespan
    (uvicorn runs it). `/docs` and `/redoc` are off: their pages load scripts from a
    CDN; `/openapi.json` describes the API.

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
        limits: The queue, decode, deadline and `Host` limits. Defaults to None:
            `keras_cxr.serve.RequestLimits()` (64 queued, 30 s, localhost names only).
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
    from fastapi.responses import JSONResponse, Response

    if isinstance(model, BatchExplainer):
        explainer = model
    else:
        explainer = BatchExplainer(model, method, threshold=threshold, batch_size=max_batch_size)
    service = ModelService(explainer, mc_samples)
    service.warm_up(max_batch_size)  # no compilation inside the worker under load
    info = service.model_info()
    static = static_files()
    body_limit = max_upload_bytes + MULTIPART_OVERHEAD_BYTES
    limits = RequestLimits() if limits is None else limits

    @contextlib.asynccontextmanager
    async def lifespan(app):
        app.state.batcher = MicroBatcher(
            service.explain_batch,
            max_batch_size,
            max_wait_ms,
            max_queue=limits.max_queue,
            restart_delay=limits.retry_after,
        )
        app.state.decodes = asyncio.Semaphore(limits.max_decodes)
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
    app.state.limits = limits
    add_host_check(app, limits.allowed_hosts)

    @app.exception_handler(UploadError)
    async def refused(request, error: UploadError):
        return JSONResponse({"detail": error.reason}, status_code=error.status)

    @app.exception_handler(DeadlineError)
    async def too_slow(request, error: DeadlineError):
        return JSONResponse({"detail": str(error)}, status_code=504)

    from starlette.requests import ClientDisconnect

    async def gone(request, error: Exception):
        return Response(status_code=499)  # nobody reads it: the client has gone

    # A client that hangs up mid-body (ClientDisconnect) or while waiting: not a crash.
    for disconnect in (ClientGoneError, ClientDisconnect):
        app.add_exception_handler(disconnect, gone)

    async def busy(request, error: RuntimeError):
        headers = request.app.state.limits.retry_after_header
        return JSONResponse({"detail": str(error)}, status_code=503, headers=headers)

    for overload in (QueueFullError, WorkerUnavailableError):
        app.add_exception_handler(overload, busy)

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
        limits: RequestLimits = request.app.state.limits
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
        decodes: asyncio.Semaphore = request.app.state.decodes
        try:  # at most max_decodes uploads in memory at once, waiting within the deadline
            await asyncio.wait_for(decodes.acquire(), limits.remaining(started))
        except TimeoutError:
            raise DeadlineError("The request waited past its deadline to be decoded.") from None
        try:
            image, display = await asyncio.to_thread(
                _decode, service, data, declared, max_upload_bytes, max_pixels, shown
            )
        finally:
            decodes.release()
        del data
        decoded = time.perf_counter()
        row = await until_done_or_gone(
            request.app.state.batcher.submit(ExplainRequest(image, uncertainty)),
            request.is_disconnected,
            limits.remaining(started),
        )
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
    async def healthz(request: fastapi.Request) -> JSONResponse:
        """Liveness (503 while the explain worker is dead and being restarted), the
        worker's counts and the request limits."""
        batcher = request.app.state.batcher
        healthy = batcher.healthy
        body = {
            "status": "ok" if healthy else "unavailable",
            "explain_calls": batcher.calls,
            "explained_images": batcher.items,
            "queued": batcher.queued,
            "dropped": batcher.dropped,
            "worker_restarts": batcher.restarts,
            "last_worker_death": batcher.last_death,
            "limits": describe(request.app.state.limits),
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    add_static_routes(app, static)
    if run_dir is not None:
        from keras_cxr.serve.run_app import create_run_app  # it builds on this module

        # The Host check above covers the mounted page too.
        run_app = create_run_app(run_dir, display_size=display_size, allowed_hosts=("*",))
        app.mount("/run", run_app)
    return app


def add_host_check(app: "fastapi.FastAPI", allowed_hosts: "tuple[str, ...] | list[str]") -> None:
    """Refuses (400) a request whose `Host` header names none of `allowed_hosts`.

    A page on another site that rebinds its DNS name to 127.0.0.1 sends its own name in
    `Host`, so the check stops it reading or changing what a local server holds.

    Args:
        app: The application.
        allowed_hosts: The host names (no port); `"*"` among them allows any.

    Returns:
        None: a middleware is added to `app` unless `"*"` is allowed.

    Raises:
        Nothing.

    Example:
        >>> keras_cxr.serve.app.add_host_check(app, ("localhost", "127.0.0.1", "[::1]"))
    """
    if "*" not in allowed_hosts:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))


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
