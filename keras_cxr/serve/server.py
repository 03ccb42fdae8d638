"""Running the explanation server with uvicorn: in the foreground, or in a background thread.

`serve` is what `keras-cxr serve` runs. It binds to the loopback interface unless told
otherwise and warns when it is not: the server has no authentication and no TLS.
`BackgroundServer` runs an application in a thread on a free port, for notebooks, tests
and benchmarks.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import socket
import threading
import time
import warnings
from typing import TYPE_CHECKING, Any

from keras_cxr.serve._extra import require
from keras_cxr.serve.app import create_app
from keras_cxr.serve.request_limits import (
    DEFAULT_ALLOWED_HOSTS,
    RequestLimits,
    allowed_hosts_for,
)

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    import fastapi
    import keras

    from keras_cxr.explain.batch_explainer import BatchExplainer

#: Where the server listens unless told otherwise: this machine only.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine's loopback interface only.

    Args:
        host: A host name or an IP address.

    Returns:
        True for `localhost` and loopback addresses (`127.0.0.0/8`, `::1`); False for
        anything else, `0.0.0.0` and `::` (every interface) included.

    Raises:
        Nothing: it only reads the text.

    Example:
        >>> keras_cxr.serve.is_loopback("127.0.0.1"), keras_cxr.serve.is_loopback("0.0.0.0")
        (True, False)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warn_if_exposed(host: str, port: int) -> None:
    """Warns when the server would be reachable from other machines.

    Args:
        host: The address it binds to.
        port: Its port.

    Returns:
        None.

    Raises:
        Nothing: a `UserWarning` is issued for a non-loopback `host`.

    Example:
        >>> keras_cxr.serve.server.warn_if_exposed("0.0.0.0", 8000)  # warns
    """
    if not is_loopback(host):
        warnings.warn(
            f"Serving on {host}:{port}, reachable from other machines. The server has no "
            "authentication and no TLS: anyone who reaches the port can send images and "
            "read the answers. Bind 127.0.0.1, or put it behind a reverse proxy that adds "
            "both.",
            UserWarning,
            stacklevel=2,
        )


def serve(
    model: str | os.PathLike | keras.Model | BatchExplainer,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    log_level: str = "info",
    **options: Any,
) -> None:
    """Loads the model and serves it with uvicorn until interrupted.

    Args:
        model: As `keras_cxr.serve.create_app` takes it.
        host: The address to bind. Defaults to "127.0.0.1" (this machine only); any
            other address warns (`warn_if_exposed`).
        port: The port. Defaults to 8000.
        log_level: uvicorn's log level. Defaults to "info". The access log holds the
            request line and status, never an image.
        **options: Passed to `keras_cxr.serve.create_app` (`max_batch_size`,
            `max_wait_ms`, `max_upload_bytes`, `limits`, ...). Without `limits`, or with
            limits that allow only the default host names, `host` is added to the names
            the `Host` header may carry (`allowed_hosts_for`), as `keras-cxr serve` does.

    Returns:
        None, when the server stops (Ctrl-C).

    Raises:
        ImportError: If the `serve` extra is not installed.
        OSError: If the address cannot be bound.
        FileNotFoundError, ValueError: As `create_app` raises.

    Example:
        >>> keras_cxr.serve.serve("runs/demo/model.keras", port=8000)  # blocks
    """
    uvicorn = require("uvicorn")
    warn_if_exposed(host, port)
    limits = options.get("limits") or RequestLimits()
    if limits.allowed_hosts == DEFAULT_ALLOWED_HOSTS:
        options["limits"] = dataclasses.replace(limits, allowed_hosts=allowed_hosts_for(host))
    app = create_app(model, **options)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


def serve_run(
    run_dir: str | os.PathLike,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    log_level: str = "info",
    **options: Any,
) -> None:
    """Serves the run viewer over an explained run with uvicorn until interrupted.

    Args:
        run_dir: The output folder of `keras_cxr.explain_folder`.
        host: The address to bind. Defaults to "127.0.0.1"; any other address warns.
        port: The port. Defaults to 8000.
        log_level: uvicorn's log level. Defaults to "info".
        **options: Passed to `keras_cxr.serve.create_run_app` (`flags_file`, ...).
            Without `allowed_hosts`, the localhost names and `host` are allowed.

    Returns:
        None, when the server stops (Ctrl-C).

    Raises:
        ImportError: If the `serve` extra is not installed.
        FileNotFoundError: If `run_dir` is not an explained run.
        OSError: If the address cannot be bound.

    Example:
        >>> keras_cxr.serve.serve_run("explained", port=8000)  # blocks; what `keras-cxr view` runs
    """
    from keras_cxr.serve.run_app import create_run_app

    uvicorn = require("uvicorn")
    options.setdefault("allowed_hosts", allowed_hosts_for(host))
    app = create_run_app(run_dir, **options)
    warn_if_exposed(host, port)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


class BackgroundServer:
    """Runs an ASGI application with uvicorn in a background thread.

    The socket is bound before the thread starts (port 0 picks a free port), so the
    address is known and taken when `start` returns; `start` waits until the server
    accepts connections (the application's start-up done).

    Args:
        app: The application (`keras_cxr.serve.create_app`).
        host: The address to bind. Defaults to "127.0.0.1".
        port: The port; 0 (default) takes a free one.
        log_level: uvicorn's log level. Defaults to "warning".

    Returns:
        The server; `url` is its base URL once started, `app` the application.

    Raises:
        ImportError: If uvicorn is not installed.

    Example:
        >>> with keras_cxr.serve.BackgroundServer(app) as server:
        ...     httpx.get(f"{server.url}/healthz").json()["status"]
        'ok'
    """

    def __init__(
        self,
        app: fastapi.FastAPI,
        host: str = DEFAULT_HOST,
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        uvicorn = require("uvicorn")
        self.app = app
        self.host = host
        self._socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host.strip("[]"), port))
        self.port = int(self._socket.getsockname()[1])
        # log_config=None: uvicorn's loggers keep the process's logging set-up (a
        # notebook's, pytest's) instead of handlers bound to the sys.stderr of the moment.
        config = uvicorn.Config(app, log_level=log_level, lifespan="on", log_config=None)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        """The server's base URL, e.g. `http://127.0.0.1:54321`.

        Args:
            None: a property.

        Returns:
            The URL, without a trailing slash.

        Raises:
            Nothing: it only formats the address.

        Example:
            >>> server.url
            'http://127.0.0.1:54321'
        """
        host = f"[{self.host.strip('[]')}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 60.0) -> BackgroundServer:
        """Starts the thread and waits until the server accepts connections.

        Args:
            timeout: Seconds to wait. Defaults to 60.

        Returns:
            The server itself.

        Raises:
            RuntimeError: If the server did not start in time (or its start-up failed).

        Example:
            >>> server = keras_cxr.serve.BackgroundServer(app).start()
        """
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"The server on {self.url} did not start within {timeout:g} s; its "
                    "log above says why."
                )
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Asks the server to finish its requests and stop, and waits for the thread.

        Args:
            timeout: Seconds to wait for the thread. Defaults to 30.

        Returns:
            None.

        Raises:
            Nothing: a thread still running after `timeout` is a daemon, left to end.

        Example:
            >>> server.stop()
        """
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
