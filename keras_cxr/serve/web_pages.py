"""The web pages' plumbing both servers share: static files, security headers, the Host check.

The upload viewer (`keras_cxr.serve.create_app`) and the run viewer
(`keras_cxr.serve.run_app`) serve their own files from the package, only those, each under
a Content-Security-Policy that lets a page load nothing from elsewhere; every answer carries
`nosniff` and `no-referrer`, API answers are not cached, and a `Host` header outside the
allowed names is refused (DNS rebinding).
"""

from __future__ import annotations

import os
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    import fastapi

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


def add_host_check(app: fastapi.FastAPI, allowed_hosts: tuple[str, ...] | list[str]) -> None:
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
        >>> keras_cxr.serve.web_pages.add_host_check(app, ("localhost", "127.0.0.1", "[::1]"))
    """
    if "*" not in allowed_hosts:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))


def add_security_headers(app: fastapi.FastAPI) -> None:
    """Adds the headers every answer carries: no sniffing, no referrer, API answers uncached.

    Args:
        app: The application.

    Returns:
        None: a middleware is added to `app`.

    Raises:
        Nothing.

    Example:
        >>> keras_cxr.serve.web_pages.add_security_headers(fastapi.FastAPI())
    """

    @app.middleware("http")
    async def headers(request, call_next):
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if "/v1/" in request.url.path:  # the run viewer's API too, mounted at /run/v1/
            response.headers["Cache-Control"] = "no-store"
        return response


def add_static_routes(app: fastapi.FastAPI, static: dict[str, tuple[bytes, str]]) -> None:
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
        >>> keras_cxr.serve.web_pages.add_static_routes(app, static_files("run_static"))
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
        >>> sorted(keras_cxr.serve.web_pages.static_files())
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


__all__ = ["add_host_check", "add_security_headers", "add_static_routes", "static_files"]
