"""`RequestLimits`: what one server lets a request take, and how it says no under load.

A hospital deployment fails under overload, not under the happy path: every request gets
a deadline, decoding runs in a bounded number of threads, the micro-batcher's queue is
bounded, and a client that has gone stops costing the model. Each limit answers with its
own status: 503 with `Retry-After` when the server is full or its worker is restarting,
504 when the deadline passes.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from keras_cxr._validation import check_int, invalid_value

__all__ = [
    "DEFAULT_ALLOWED_HOSTS",
    "ClientGoneError",
    "DeadlineError",
    "RequestLimits",
    "allowed_hosts_for",
    "until_done_or_gone",
]

#: Host names a server answers by default: this machine's. A page on any other site that
#: points its own name at 127.0.0.1 (DNS rebinding) sends its name in `Host` and is refused.
DEFAULT_ALLOWED_HOSTS = ("localhost", "127.0.0.1", "[::1]")
#: Addresses that bind every interface: they name no host a client would send.
WILDCARD_ADDRESSES = ("0.0.0.0", "::", "[::]", "")


def allowed_hosts_for(address: str, given: Sequence[str] | None = None) -> tuple[str, ...]:
    """The `Host` names a server bound to `address` answers, unless `given` says otherwise.

    A server bound to a machine's own address (e.g. 10.0.0.5) is reached as
    `http://10.0.0.5:8000/`, so that name must pass the `Host` check; a wildcard address
    (0.0.0.0) names nothing, and the localhost names stay the only ones allowed until
    `given` adds the names clients use.

    Args:
        address: The address the server binds.
        given: Names chosen by the user (`--allowed-host`), used as they are; None or
            empty for the defaults.

    Returns:
        `given`, else `DEFAULT_ALLOWED_HOSTS` plus `address` (IPv6 in brackets, lower
        case) when it is not a wildcard or already among them.

    Example:
        >>> allowed_hosts_for("10.0.0.5")
        ('localhost', '127.0.0.1', '[::1]', '10.0.0.5')
        >>> allowed_hosts_for("0.0.0.0", ["cxr.hospital.org"])
        ('cxr.hospital.org',)
    """
    if given:
        return tuple(given)
    if address in WILDCARD_ADDRESSES:
        return DEFAULT_ALLOWED_HOSTS
    name = f"[{address}]" if ":" in address and not address.startswith("[") else address
    name = name.lower()
    return (
        DEFAULT_ALLOWED_HOSTS if name in DEFAULT_ALLOWED_HOSTS else (*DEFAULT_ALLOWED_HOSTS, name)
    )


_T = TypeVar("_T")


class DeadlineError(TimeoutError):
    """A request ran past its deadline (HTTP 504)."""


class ClientGoneError(ConnectionError):
    """The client closed its connection before its answer was ready."""


@dataclass(frozen=True)
class RequestLimits:
    """The limits of one server, each checked on every request.

    Attributes:
        max_queue: The most requests waiting for the explain worker; one more gets 503
            with `Retry-After`. Defaults to 64. A hard cap on memory; what keeps
            latency bounded is `max_queue_wait`.
        max_queue_wait: The most seconds a new request may be expected to wait for the
            requests ahead of it; past it, 503 with a `Retry-After` of that wait
            (`keras_cxr.serve.AdmissionControl`). None (default): the idle time of a
            request, measured (`DEFAULT_QUEUE_WAIT_FACTOR`); `math.inf` turns
            admission control off.
        max_decodes: The most uploads decoded at once (each may take up to the
            decoded-size budget, `keras_cxr.data.MAX_DECODED_BYTES`, in memory); others
            wait their turn within their deadline. Defaults to one per core, at most 4.
        timeout: Seconds from a request's arrival to its answer; past it, 504. Defaults
            to 30.
        retry_after: Seconds a 503 asks the client to wait while the worker restarts,
            and when the queue is full but the expected wait is not known. Defaults to 1.
        allowed_hosts: Host names (without port) the `Host` header may carry; `"*"`
            allows any. Defaults to `DEFAULT_ALLOWED_HOSTS`.

    Args:
        max_queue, max_queue_wait, max_decodes, timeout, retry_after, allowed_hosts:
            As above.

    Returns:
        The frozen record.

    Raises:
        ValueError: For a limit below 1 (or a timeout or retry_after that is not a
            positive number, or a negative max_queue_wait), or no allowed host.

    Example:
        >>> keras_cxr.serve.RequestLimits(max_queue=16, timeout=10.0).max_decodes >= 1
        True
    """

    max_queue: int = 64
    max_queue_wait: float | None = None
    max_decodes: int = field(default_factory=lambda: min(4, os.cpu_count() or 1))
    timeout: float = 30.0
    retry_after: float = 1.0
    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS

    def __post_init__(self) -> None:
        check_int("max_queue", self.max_queue)
        check_int("max_decodes", self.max_decodes)
        wait = self.max_queue_wait
        if wait is not None and (not isinstance(wait, (int, float)) or not wait >= 0):
            raise invalid_value("max_queue_wait", "a number of seconds >= 0, or None", wait)
        for name in ("timeout", "retry_after"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise invalid_value(name, "a number of seconds > 0", value)
        hosts = tuple(self.allowed_hosts)
        if not hosts or not all(isinstance(host, str) and host for host in hosts):
            raise invalid_value("allowed_hosts", "one or more host names, or '*'", hosts)
        object.__setattr__(self, "allowed_hosts", tuple(host.lower() for host in hosts))

    @property
    def retry_after_header(self) -> dict[str, str]:
        """`{"Retry-After": seconds}` for a 503, in whole seconds (at least 1)."""
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}

    def remaining(self, started: float) -> float:
        """Seconds left before the deadline of a request that arrived at `started`.

        Args:
            started: `time.perf_counter()` when the request arrived.

        Returns:
            The seconds left, at least 0.

        Raises:
            Nothing: it subtracts.

        Example:
            >>> limits.remaining(time.perf_counter()) <= limits.timeout
            True
        """
        return max(0.0, self.timeout - (time.perf_counter() - started))


async def until_done_or_gone(
    work: Awaitable[_T],
    is_disconnected: Callable[[], Awaitable[bool]],
    timeout: float,
    poll: float = 0.05,
) -> _T:
    """Awaits `work`, giving up when the client disconnects or `timeout` passes.

    Giving up cancels `work`, so the micro-batcher drops the request before the model
    runs (`keras_cxr.serve.MicroBatcher.submit`).

    Args:
        work: What the request waits for.
        is_disconnected: Tells whether the client has gone (`request.is_disconnected`).
        timeout: Seconds to wait at most.
        poll: Seconds between two looks at the connection. Defaults to 0.05.

    Returns:
        What `work` returned.

    Raises:
        DeadlineError: `timeout` passed first.
        ClientGoneError: The client disconnected first.
        Exception: Whatever `work` raised.

    Example:
        >>> row = await until_done_or_gone(batcher.submit(item), request.is_disconnected, 30)
    """
    task = asyncio.ensure_future(work)
    deadline = time.perf_counter() + timeout
    try:
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise DeadlineError(f"The request took more than its {timeout:.1f} s.")
            done, _ = await asyncio.wait({task}, timeout=min(poll, left))
            if done:
                return task.result()
            if await is_disconnected():
                raise ClientGoneError("The client closed the connection.")
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def describe(limits: RequestLimits) -> dict[str, Any]:
    """The limits as `/healthz` reports them."""
    return {
        "max_queue": limits.max_queue,
        "max_decodes": limits.max_decodes,
        "timeout_s": limits.timeout,
    }
