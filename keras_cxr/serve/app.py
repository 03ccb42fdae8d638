"""`create_app`: the FastAPI application that explains uploaded chest X-rays, and its viewer.

Routes: `POST /v1/explain` (one image in, prediction and heatmaps out), `GET /v1/model`,
`GET /healthz`, `GET /openapi.json`, and the web viewer at `/` with its files under
`/static/`; with `run_dir`, the run viewer of an explained run under `/run/`. Requests
are explained in micro-batches by one supervised worker thread
(`keras_cxr.serve.MicroBatcher`); decoding and PNG encoding run in the default thread
pool, so the event loop only moves bytes. `keras_cxr.serve.RequestLimits` bounds what a
request may take: its deadline, the decodes at once, the queue, the `Host` names; and
`keras_cxr.serve.AdmissionControl` refuses, before decoding, a request that would wait
longer than `max_queue_wait` behind the work already accepted.
"""

import asyncio
import contextlib
import os
import time
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from keras_cxr import __version__
from keras_cxr.data.image_header import MAX_IMAGE_PIXELS
from keras_cxr.explain.batch_explainer import BatchExplainer
from keras_cxr.serve._extra import require
from keras_cxr.serve.admission_control import AdmissionControl
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
from keras_cxr.serve.service_time import ServiceTime
from keras_cxr.serve.uploads import (
    DEFAULT_MAX_UPLOAD_BYTES,
    FILE_FIELD,
    MULTIPART_OVERHEAD_BYTES,
    UploadError,
    parse_multipart,
    read_capped,
    read_upload,
)
from keras_cxr.serve.web_pages import (
    add_host_check,
    add_security_headers,
    add_static_routes,
    static_files,
)

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    import fastapi
    import keras

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
    request is as fast as the others, and no batch compiles under load; then one call
    at batch 1 and one at `max_batch_size` are timed, the start of the service-time
    estimate of admission control (`keras_cxr.serve.ServiceTime`). The
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
        limits: The queue, queue-wait, decode, deadline and `Host` limits. Defaults to
            None: `keras_cxr.serve.RequestLimits()` (64 queued, a wait budget of the
            measured idle time of a request, 30 s, localhost names only).
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
    service_time = ServiceTime.from_timings(service.time_batches((1, max_batch_size)))
    info = service.model_info()
    static = static_files()
    body_limit = max_upload_bytes + MULTIPART_OVERHEAD_BYTES
    limits = RequestLimits() if limits is None else limits
    admission = AdmissionControl(service_time, max_batch_size, limits.max_queue_wait)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        app.state.batcher = MicroBatcher(
            app.state.admission.timed(service.explain_batch),
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
    app.state.admission = admission
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
        if isinstance(error, QueueFullError):  # overload: wait for the work accepted
            seconds = getattr(error, "retry_after", None)  # as its message says
            seconds = seconds or request.app.state.admission.retry_after()
            headers = {"Retry-After": str(seconds)}
        else:  # a worker restarting
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
        # Refused here, before its decode, if it would wait past the budget (503); its
        # place is held until its answer is ready.
        with request.app.state.admission.admit():
            decodes: asyncio.Semaphore = request.app.state.decodes
            try:  # at most max_decodes uploads in memory at once, within the deadline
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
        worker's counts, the request limits and admission control's budget and counts."""
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
            "admission": request.app.state.admission.describe(),
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    add_static_routes(app, static)
    if run_dir is not None:
        from keras_cxr.serve.run_app import create_run_app  # it builds on this module

        # The Host check above covers the mounted page too.
        run_app = create_run_app(run_dir, display_size=display_size, allowed_hosts=("*",))
        app.mount("/run", run_app)
    return app


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
