"""Does `keras-cxr serve` survive hostile traffic for minutes, with flat memory and right answers?

A soak test on loopback, bounded in time: `--clients` threads send, for `--duration`
seconds, a mix of good uploads (phantom PNGs), decompression bombs (a 16-bit RGB PNG
header claiming 10,000² pixels), malformed bodies (random bytes, a broken multipart) and
slow clients that send half a body and hang up. It reports, side by side in one run:

* the status of every answer: 5xx other than 503 (busy) and 504 (deadline) is a failure;
* p50 / p99 latency of the good requests, against the same requests sent one at a time
  on the idle server first (target: p99 within 3×);
* the server's resident memory after the warm-up and at the end (target: within +20 %);
* whether every good answer's probability equals the offline `BatchExplainer`'s on the
  same bytes.

The server runs in its own process (as `keras-cxr serve` does); the clients share the
machine with it, so on a shared machine the latencies are indicative.

Usage:
    python benchmarks/serve_soak.py [--clients 64] [--duration 600] [--image-size 224]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: Share of each kind of request in the mix, in this order.
MIX = (("good", 6), ("bomb", 1), ("malformed", 1), ("slow", 1))
#: Probabilities equal to the offline explainer's within this (float32 through JSON).
TOLERANCE = 1e-5


@dataclass
class SoakResult:
    """What the clients saw: statuses per kind, good latencies, wrong answers."""

    statuses: Counter = field(default_factory=Counter)  # (kind, status) -> count
    latencies: list[float] = field(default_factory=list)  # good requests answered 200
    mismatches: int = 0  # good answers whose probability differs from the offline one
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def server_errors(self) -> int:
        """Answers in the 5xx range other than 503 (busy) and 504 (deadline)."""
        return sum(
            count
            for (_, status), count in self.statuses.items()
            if isinstance(status, int) and status >= 500 and status not in (503, 504)
        )

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return 1000 * ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def bomb_png() -> bytes:
    """A PNG header claiming 10,000² 16-bit RGB pixels (600 MB decoded), a few bytes long."""
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 10_000, 10_000, 16, 2, 0, 0, 0)
    rows = zlib.compress(bytes(4 * 60_001))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def multipart(data: bytes, content_type: str = "image/png") -> tuple[bytes, str]:
    """A `multipart/form-data` body holding `data` in the field `file`."""
    boundary = "keras-cxr-soak-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), (
        f"multipart/form-data; boundary={boundary}"
    )


def offline_probabilities(model_path: str | Path, uploads: list[bytes]) -> list[float]:
    """The offline `BatchExplainer`'s probability for each upload, decoded as the server does."""
    import numpy as np

    from keras_cxr.data import decode_image_bytes
    from keras_cxr.explain import BatchExplainer

    explainer = BatchExplainer(model_path, warm_up=False)
    images = np.stack(
        [decode_image_bytes(data, image_size=explainer.image_size) for data in uploads]
    )
    return [float(p) for p in explainer({"image": images})["probability"]]


def soak(
    host: str,
    port: int,
    uploads: list[bytes],
    expected: list[float],
    clients: int,
    duration: float,
    seed: int = 0,
) -> SoakResult:
    """`clients` threads sending the `MIX` of requests for `duration` seconds.

    Args:
        host, port: The server (loopback).
        uploads: Good PNG uploads; `expected[i]` is the offline probability of `uploads[i]`.
        expected: See `uploads`.
        clients: Concurrent client threads.
        duration: Seconds to keep sending (requests under way then finish).
        seed: Picks each client's order through the mix.

    Returns:
        A `SoakResult`.
    """
    import random

    result = SoakResult()
    good = [multipart(data) for data in uploads]
    bad = {
        "bomb": multipart(bomb_png()),
        "malformed": (b"--x\r\nnonsense", "multipart/form-data; boundary=x"),
    }
    kinds = [kind for kind, weight in MIX for _ in range(weight)]
    stop_at = time.perf_counter() + duration

    def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        connection = None
        while time.perf_counter() < stop_at:
            kind = rng.choice(kinds)
            if kind == "slow":
                _slow_client(host, port, good[0][0], good[0][1])
                with result.lock:
                    result.statuses[(kind, "hung up")] += 1
                continue
            item = rng.randrange(len(good))
            body, content_type = good[item] if kind == "good" else bad[kind]
            connection = connection or http.client.HTTPConnection(host, port, timeout=120)
            started = time.perf_counter()
            try:
                connection.request(
                    "POST", "/v1/explain?images=none", body, {"Content-Type": content_type}
                )
                response = connection.getresponse()
                payload = response.read()
                status: int | str = response.status
            except (OSError, http.client.HTTPException) as error:
                status, payload = type(error).__name__, b""
                connection.close()
                connection = None
            elapsed = time.perf_counter() - started
            with result.lock:
                result.statuses[(kind, status)] += 1
                if kind == "good" and status == 200:
                    result.latencies.append(elapsed)
                    probability = json.loads(payload)["probability"]
                    result.mismatches += abs(probability - expected[item]) > TOLERANCE
        if connection is not None:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


def _slow_client(host: str, port: int, body: bytes, content_type: str) -> None:
    """Sends the headers and half the body, waits a little, and hangs up."""
    with socket.create_connection((host, port), timeout=10) as connection:
        head = (
            f"POST /v1/explain HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        connection.sendall(head + body[: len(body) // 2])
        time.sleep(0.2)


def idle_latencies(host: str, port: int, uploads: list[bytes]) -> SoakResult:
    """Each good upload sent once, one at a time, on the idle server."""
    result = SoakResult()
    connection = http.client.HTTPConnection(host, port, timeout=120)
    for data in uploads:
        body, content_type = multipart(data)
        started = time.perf_counter()
        connection.request("POST", "/v1/explain?images=none", body, {"Content-Type": content_type})
        response = connection.getresponse()
        response.read()
        result.statuses[("good", response.status)] += 1
        result.latencies.append(time.perf_counter() - started)
    connection.close()
    return result


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from serve_load import phantom_pngs, rss_mb, start_server, write_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of soak")
    parser.add_argument("--warm-up", type=float, default=20.0, help="seconds before the RSS base")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--model", choices=("compact", "ensemble"), default="compact")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()

    uploads = phantom_pngs(16, 384)
    with tempfile.TemporaryDirectory() as folder:
        model_path = write_model(Path(folder), args.image_size, args.model)
        expected = offline_probabilities(model_path, uploads)
        server = start_server(model_path, args.port, 16)
        try:
            idle = idle_latencies("127.0.0.1", args.port, uploads * 2)
            soak("127.0.0.1", args.port, uploads, expected, args.clients, args.warm_up, seed=1)
            rss_start = rss_mb(server.pid)
            run = soak("127.0.0.1", args.port, uploads, expected, args.clients, args.duration)
            rss_end = rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(60)
    print(f"model {args.model} at {args.image_size} px, {args.clients} clients, "
          f"{args.duration:.0f} s, {os.cpu_count()} CPUs")  # fmt: skip
    for (kind, status), count in sorted(run.statuses.items(), key=str):
        print(f"  {kind:>10} {status!s:>10} {count:>7}")
    p99, idle_p99 = run.percentile(0.99), idle.percentile(0.99)
    print(f"good requests: p50 {run.percentile(0.5):.0f} ms, p99 {p99:.0f} ms; idle p50 "
          f"{idle.percentile(0.5):.0f} ms, p99 {idle_p99:.0f} ms: p99 ratio "
          f"{p99 / idle_p99:.1f} (target <= 3)")  # fmt: skip
    print(f"server RSS after warm-up {rss_start:.0f} MB, at the end {rss_end:.0f} MB: "
          f"{100 * (rss_end / rss_start - 1):+.1f} % (target <= +20 %)")  # fmt: skip
    print(f"5xx other than 503/504: {run.server_errors}; good answers unlike the offline "
          f"BatchExplainer's: {run.mismatches} of {len(run.latencies)}")  # fmt: skip
    if idle.latencies:
        print(f"(idle median {statistics.median(idle.latencies) * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
