"""Does `keras-cxr serve` survive hostile traffic for minutes, with flat memory and right answers?

A soak test on loopback, bounded in time: `--clients` concurrent clients send, for
`--seconds` seconds, a mix of good uploads (phantom PNGs), decompression bombs (a 16-bit
RGB PNG header claiming 10,000² pixels), malformed bodies (random bytes, a broken
multipart) and slow clients that send half a body and hang up. A client told 503 waits
the `Retry-After` it was given (plus up to 20 % jitter) before its next request, as a
well-behaved client does. It reports, side by side in one run:

* the status of every answer, per kind: 5xx other than 503 (busy) and 504 (deadline) is
  a failure;
* p50 / p99 latency of the good requests answered, against the same requests sent one at
  a time on the idle server first (target: p99 within 3×), and the share of good
  requests shed (503);
* the server's resident memory after the warm-up and at the end (target: within +20 %);
* whether every good answer's probability equals the offline `BatchExplainer`'s on the
  same bytes;
* the server's own counts (`/healthz`): admitted, shed, dropped, worker restarts.

The clients are asyncio tasks in one thread, speaking HTTP/1.1 over kept-alive
connections with prepared request bytes: 64 of them take a small share of a 2-core
machine, where 64 threads (or an HTTP library's per-request work) would compete with the
server for the CPU. The server runs in its own process (as `keras-cxr serve` does); on a
shared machine the latencies are indicative.

Usage:
    python benchmarks/serve_soak.py [--clients 64] [--seconds 600] [--image-size 224]
        [--model compact|ensemble] [--max-queue-wait SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: Share of each kind of request in the mix, in this order.
MIX = (("good", 6), ("bomb", 1), ("malformed", 1), ("slow", 1))
#: Probabilities equal to the offline explainer's within this (float32 through JSON).
TOLERANCE = 1e-5
#: The most a client waits for one answer, in seconds.
CLIENT_TIMEOUT = 120.0
#: Jitter added to `Retry-After` (a share of it), so that shed clients do not return at once.
BACKOFF_JITTER = 0.2


@dataclass
class SoakResult:
    """What the clients saw: statuses per kind, good latencies, wrong answers, concurrency."""

    statuses: Counter = field(default_factory=Counter)  # (kind, status) -> count
    latencies: list[float] = field(default_factory=list)  # good requests answered 200
    server_ms: list[float] = field(default_factory=list)  # their `timings_ms.total`
    mismatches: int = 0  # good answers whose probability differs from the offline one
    clients: int = 0  # client tasks that ran
    in_flight: int = 0  # requests sent and not yet answered, now
    most_in_flight: int = 0  # the most at once
    backoff: float = 0.0  # seconds the clients waited as Retry-After told them

    @property
    def server_errors(self) -> int:
        """Answers in the 5xx range other than 503 (busy) and 504 (deadline)."""
        return sum(
            count
            for (_, status), count in self.statuses.items()
            if isinstance(status, int) and status >= 500 and status not in (503, 504)
        )

    @property
    def shed_share(self) -> float:
        """The share of good requests answered 503 (shed under load)."""
        good = sum(count for (kind, _), count in self.statuses.items() if kind == "good")
        return self.statuses[("good", 503)] / good if good else float("nan")

    def percentile(self, share: float, server: bool = False) -> float:
        """Milliseconds of the good requests at `share` (of their time in the server)."""
        ordered = sorted(self.server_ms if server else [1000 * s for s in self.latencies])
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def sending(self, delta: int) -> None:
        self.in_flight += delta
        self.most_in_flight = max(self.most_in_flight, self.in_flight)


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


def request_bytes(host: str, port: int, body: bytes, content_type: str) -> bytes:
    """A whole `POST /v1/explain?images=none` HTTP/1.1 request, ready to send."""
    head = (
        f"POST /v1/explain?images=none HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def exchange(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes
) -> tuple[int, dict[str, str], bytes]:
    """Sends one prepared request and reads its answer: status, headers (lower case), body."""
    reader, writer = connection
    writer.write(request)
    await writer.drain()
    lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def soak(
    host: str,
    port: int,
    uploads: list[bytes],
    expected: list[float],
    clients: int,
    duration: float,
    seed: int = 0,
) -> SoakResult:
    """`clients` concurrent asyncio clients sending the `MIX` of requests for `duration` s.

    Args:
        host, port: The server (loopback).
        uploads: Good PNG uploads; `expected[i]` is the offline probability of `uploads[i]`.
        expected: See `uploads`.
        clients: Concurrent clients, each sending one request after the other.
        duration: Seconds to keep sending (requests under way then finish).
        seed: Picks each client's order through the mix.

    Returns:
        A `SoakResult`.
    """
    return asyncio.run(_soak(host, port, uploads, expected, clients, duration, seed))


async def _soak(host, port, uploads, expected, clients, duration, seed) -> SoakResult:
    result = SoakResult(clients=clients)
    good = [request_bytes(host, port, *multipart(data)) for data in uploads]
    bomb = request_bytes(host, port, *multipart(bomb_png()))
    malformed = request_bytes(host, port, b"--x\r\nnonsense", "multipart/form-data; boundary=x")
    slow = request_bytes(host, port, *multipart(uploads[0]))
    kinds = [kind for kind, weight in MIX for _ in range(weight)]
    stop_at = time.perf_counter() + duration

    async def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        connection = None
        while time.perf_counter() < stop_at:
            kind = rng.choice(kinds)
            if kind == "slow":
                await _slow_client(host, port, slow, result)
                continue
            item = rng.randrange(len(good))
            request = {"good": good[item], "bomb": bomb, "malformed": malformed}[kind]
            started = time.perf_counter()
            result.sending(+1)
            try:
                connection = connection or await asyncio.open_connection(host, port)
                status, headers, payload = await asyncio.wait_for(
                    exchange(connection, request), CLIENT_TIMEOUT
                )
            except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError) as error:
                status, headers, payload = type(error).__name__, {"connection": "close"}, b""
            finally:
                result.sending(-1)
            elapsed = time.perf_counter() - started
            result.statuses[(kind, status)] += 1
            if kind == "good" and status == 200:
                result.latencies.append(elapsed)
                answer = json.loads(payload)
                result.server_ms.append(answer["timings_ms"]["total"])
                result.mismatches += abs(answer["probability"] - expected[item]) > TOLERANCE
            if headers.get("connection") == "close" and connection is not None:
                connection[1].close()
                connection = None
            if status == 503:  # wait as told, with jitter
                wait = float(headers.get("retry-after", "1")) * (1 + BACKOFF_JITTER * rng.random())
                result.backoff += wait
                await asyncio.sleep(wait)
        if connection is not None:
            connection[1].close()

    await asyncio.gather(*(client(index) for index in range(clients)))
    return result


async def _slow_client(host: str, port: int, request: bytes, result: SoakResult) -> None:
    """Sends the headers and half the body, waits a little, and hangs up."""
    _, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request[: len(request) // 2])
        await writer.drain()
        await asyncio.sleep(0.2)
    finally:
        writer.close()
    result.statuses[("slow", "hung up")] += 1


def idle_latencies(host: str, port: int, uploads: list[bytes]) -> SoakResult:
    """Each good upload sent once, one at a time, on the idle server (the same client)."""

    async def one_by_one() -> SoakResult:
        result = SoakResult(clients=1)
        connection = await asyncio.open_connection(host, port)
        for data in uploads:
            started = time.perf_counter()
            status, _, payload = await exchange(
                connection, request_bytes(host, port, *multipart(data))
            )
            result.statuses[("good", status)] += 1
            result.latencies.append(time.perf_counter() - started)
            result.server_ms.append(json.loads(payload)["timings_ms"]["total"])
        connection[1].close()
        return result

    return asyncio.run(one_by_one())


def server_counts(port: int) -> dict:
    """The server's `/healthz`: admitted, shed, dropped, restarts."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as answer:
        return json.loads(answer.read())


def report(args: argparse.Namespace, idle: SoakResult, run: SoakResult, rss: tuple, health: dict):
    """Prints every figure the targets of issue #29 need."""
    print(f"model {args.model} at {args.image_size} px, {run.clients} concurrent clients "
          f"(at most {run.most_in_flight} requests in flight at once), {args.duration:.0f} s, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print("answers per kind and status:")
    for (kind, status), count in sorted(run.statuses.items(), key=str):
        print(f"  {kind:>10} {status!s:>22} {count:>7}")
    p99, idle_p99 = run.percentile(0.99), idle.percentile(0.99)
    print(f"good requests answered: {len(run.latencies)}; p50 {run.percentile(0.5):.0f} ms, "
          f"p99 {p99:.0f} ms; idle p50 {idle.percentile(0.5):.0f} ms, p99 {idle_p99:.0f} ms: "
          f"p99 ratio {p99 / idle_p99:.2f} (target <= 3)")  # fmt: skip
    print(f"  of which in the server's handler (timings_ms.total): p50 "
          f"{run.percentile(0.5, True):.0f} ms, p99 {run.percentile(0.99, True):.0f} ms; idle "
          f"p50 {idle.percentile(0.5, True):.0f} ms, p99 {idle.percentile(0.99, True):.0f} ms"
          " (the rest: HTTP, the event loop's backlog, the clients, the machine)")  # fmt: skip
    print(f"good requests shed (503): {100 * run.shed_share:.1f} %; the clients waited "
          f"{run.backoff:.0f} s in all as Retry-After told them")  # fmt: skip
    rss_start, rss_end = rss
    print(f"server RSS after warm-up {rss_start:.0f} MB, at the end {rss_end:.0f} MB: "
          f"{100 * (rss_end / rss_start - 1):+.1f} % (target <= +20 %)")  # fmt: skip
    print(
        f"5xx other than 503/504: {run.server_errors} (target 0); good answers unlike the "
        f"offline BatchExplainer's: {run.mismatches} of {len(run.latencies)} (target 0)"
    )
    admission = health.get("admission", {})
    print(f"server (/healthz): budget {admission.get('max_queue_wait_s')} s, admitted "
          f"{admission.get('admitted')}, shed {admission.get('shed')}, dropped before the "
          f"model {health.get('dropped')}, worker restarts {health.get('worker_restarts')}, "
          f"explain calls {health.get('explain_calls')} for {health.get('explained_images')} "
          "images")  # fmt: skip
    if idle.latencies:
        print(f"(idle: {len(idle.latencies)} requests one at a time, median "
              f"{statistics.median(idle.latencies) * 1000:.0f} ms)")  # fmt: skip


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from serve_load import phantom_pngs, rss_mb, start_server, write_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument(
        "--seconds", "--duration", dest="duration", type=float, default=600.0,
        help="seconds of soak after the warm-up (default: 600)",
    )  # fmt: skip
    parser.add_argument("--warm-up", type=float, default=20.0, help="seconds before the RSS base")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--model", choices=("compact", "ensemble"), default="compact")
    parser.add_argument("--max-batch-size", type=int, default=16)
    parser.add_argument(
        "--max-queue-wait", type=float, default=None,
        help="the server's --max-queue-wait (default: its own, the idle time of one "
        "image; inf: no admission control)",
    )  # fmt: skip
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()

    uploads = phantom_pngs(16, 384)
    with tempfile.TemporaryDirectory() as folder:
        model_path = write_model(Path(folder), args.image_size, args.model)
        expected = offline_probabilities(model_path, uploads)
        server = start_server(model_path, args.port, args.max_batch_size, args.max_queue_wait)
        try:
            soak("127.0.0.1", args.port, uploads, expected, args.clients, args.warm_up, seed=1)
            time.sleep(2.0)  # the warm-up's clients waiting out a Retry-After have gone
            idle = idle_latencies("127.0.0.1", args.port, uploads * 4)
            rss_start = rss_mb(server.pid)
            run = soak("127.0.0.1", args.port, uploads, expected, args.clients, args.duration)
            rss_end = rss_mb(server.pid)
            health = server_counts(args.port)
        finally:
            server.terminate()
            server.wait(60)
    report(args, idle, run, (rss_start, rss_end), health)


if __name__ == "__main__":
    main()
